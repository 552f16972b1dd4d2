// The scagent command line. main() wires the real dependencies; tests call runCli() directly
// with their own streams.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace sc::agent {

struct CliIo {
  std::ostream& out;
  std::ostream& err;
};

// Exit codes: 0 success; 1 the host is incompatible (check-host); 2 bad input or usage.
int runCli(const std::vector<std::string>& args, CliIo io);

}  // namespace sc::agent
