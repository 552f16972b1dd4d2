// The scagent command line. main() wires the real dependencies; tests call runCli() directly
// with their own streams.
//
// One convention for every command and subcommand:
//   --help / -h   prints that level's usage on stdout, exit 0;
//   usage errors  "scagent <cmd>: <message>" on stderr, a blank line, the usage; exit 2;
//   bad input     (a config or input file that does not parse) "scagent <cmd>: <message>", exit 2;
//   runtime       "scagent <cmd>: failed to <verb> '<object>': <cause>" on stderr, exit 1.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace sc::agent {

struct CliIo {
  std::ostream& out;
  std::ostream& err;
};

// Exit codes: 0 success; 1 a runtime failure (or check-host: the host is incompatible); 2 bad
// input or usage.
int runCli(const std::vector<std::string>& args, CliIo io);

// Shared by the command implementations (agent/cli_*.cc).
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// True when any of args[from..] is --help or -h.
bool wantsHelp(const std::vector<std::string>& args, size_t from);
// Prints `usage` on stdout; returns 0.
int printHelp(CliIo io, const std::string& usage);
// "scagent <cmd>: <message>", a blank line and `usage` on stderr; returns 2.
int usageError(CliIo io, const std::string& cmd, const std::string& message, const std::string& usage);
// "scagent <cmd>: <message>" on stderr; returns `code`.
int cliError(CliIo io, const std::string& cmd, const std::string& message, int code = kExitFailure);

}  // namespace sc::agent
