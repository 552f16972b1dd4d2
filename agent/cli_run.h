// `scagent run` (the host agent) and `scagent status` (its tasks, from the state directory).
#pragma once

#include <string>
#include <vector>

#include "agent/cli.h"

namespace sc::agent {

int cmdRun(const std::vector<std::string>& args, CliIo io);
int cmdStatus(const std::vector<std::string>& args, CliIo io);

}  // namespace sc::agent
