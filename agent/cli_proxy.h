// `scagent proxy up|down|status`: run one task's proxy by hand (operators, tests).
#pragma once

#include <string>
#include <vector>

#include "agent/cli.h"

namespace sc::agent {

int cmdProxy(const std::vector<std::string>& args, CliIo io);

}  // namespace sc::agent
