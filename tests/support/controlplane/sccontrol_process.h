// Runs the sccontrol binary in the background for e2e and fault tests: an ephemeral loopback
// port, a temporary data directory, and a kill that reaps.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "controlplane/sigv4.h"
#include "tests/support/background_process.h"

namespace sc::testing {

class SccontrolProcess {
 public:
  // Starts `SC_BINARY_DIR/controlplane/sccontrol --listen <listen> --data-dir <dir>` and waits
  // until it wrote its port file. Fails the test when it does not come up. A restart on the same
  // data directory passes the port the first run got, so its clients find it again.
  explicit SccontrolProcess(const std::string& data_dir, std::vector<std::string> extra_args = {},
                            const std::string& listen = "127.0.0.1:0");
  ~SccontrolProcess();  // SIGTERM, then SIGKILL after 5 s; always reaps
  SccontrolProcess(const SccontrolProcess&) = delete;
  SccontrolProcess& operator=(const SccontrolProcess&) = delete;

  bool up() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const controlplane::AccessKey& key() const { return key_; }
  const std::string& bootstrapToken() const { return bootstrap_; }
  // Sends `sig` and reaps; returns the raw wait status.
  int kill(int sig);
  // Sends `sig` without waiting (SIGHUP: sccontrol reloads and keeps running).
  void signal(int sig);
  // True once sccontrol exited (it is then reaped).
  bool exited() { return process_.exited(); }
  // sccontrol's stdout and stderr so far.
  std::string log() const { return readTestFile(log_); }

 private:
  BackgroundProcess process_;
  std::string log_;
  uint16_t port_ = 0;
  controlplane::AccessKey key_;
  std::string bootstrap_;
};

}  // namespace sc::testing
