// `scagent net up|down|show|recover`: the operator's handle on task network sandboxes.
#pragma once

#include <string>
#include <vector>

#include "agent/cli.h"

namespace sc::agent {

// args[0] is "net". Exit codes: 0 success; 1 the operation failed; 2 bad input or usage.
int cmdNet(const std::vector<std::string>& args, CliIo io);

}  // namespace sc::agent
