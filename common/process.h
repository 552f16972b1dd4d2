// Process: runs a program by absolute path with an argv vector. Never a shell.
//
// The child gets only stdin/stdout/stderr (every other descriptor is closed), an unblocked signal
// mask, and the environment given (or a minimal PATH/LANG one). Output is captured up to a cap;
// a deadline kills the child with SIGKILL.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace sc {

struct ProcessOptions {
  std::string path;               // absolute path of the program
  std::vector<std::string> args;  // arguments after argv[0] (argv[0] is `path`)
  std::vector<std::string> env;   // "K=V" entries; empty means a minimal default environment
  std::string stdin_data;         // written to the child's stdin, then stdin is closed
  std::chrono::milliseconds timeout{10'000};
  // Namespaces for the child, entered between fork and exec (never on a thread of ours):
  std::string netns_path;        // setns() into this network namespace (e.g. /run/netns/sc-abc)
  bool new_netns = false;        // unshare() a fresh, empty network namespace (probes)
  size_t max_output = 4u << 20;  // bytes kept of each of stdout and stderr
};

struct ProcessResult {
  int exit_code = -1;   // the exit status, or -1 when killed by a signal
  int term_signal = 0;  // the signal that ended it, or 0
  std::string out;
  std::string err;

  bool success() const { return exit_code == 0; }
  // "exit status 2" / "killed by signal 9", plus the first line of stderr when there is one.
  std::string describe() const;
};

// Starts, feeds, waits. An error means the program could not be started, or the deadline passed
// (the child is killed and reaped before this returns); a non-zero exit is a normal ProcessResult.
Result<ProcessResult> runProcess(const ProcessOptions& options);

// The seam the rest of the code uses, so unit tests can record commands instead of running them.
class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  virtual Result<ProcessResult> run(const ProcessOptions& options) = 0;
};

class RealProcessRunner final : public ProcessRunner {
 public:
  // ProcessRunner
  Result<ProcessResult> run(const ProcessOptions& options) override { return runProcess(options); }
};

}  // namespace sc
