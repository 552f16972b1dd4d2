// A program a test runs in the background (a server, the agent): stdout and stderr appended to a
// log file, SIGKILLed if the test process dies, always reaped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace sc::testing {

class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  ~BackgroundProcess() { stop(); }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // Starts argv[0] (an absolute path) with argv; fails the test when fork fails.
  void start(const std::vector<std::string>& argv, const std::string& log_path);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // True once the process exited (it is then reaped).
  bool exited();
  // Sends `sig` and reaps; returns the raw wait status, or -1 when nothing runs.
  int kill(int sig);
  // SIGTERM, up to `grace` for it to exit, then SIGKILL. Returns the raw wait status (or -1).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  pid_t pid_ = -1;
};

// The whole of a (log) file, or "" when it cannot be read.
std::string readTestFile(const std::string& path);

}  // namespace sc::testing
