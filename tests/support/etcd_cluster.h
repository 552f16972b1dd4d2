// A real etcd (/usr/bin/etcd, Debian's etcd-server) for tests: N members on loopback with free
// ports and data directories under a test's temp dir. Stopped (SIGTERM, then SIGKILL) and its
// processes reaped by the destructor; the data lives in the caller's temp dir.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/background_process.h"

namespace sc::testing {

class EtcdCluster {
 public:
  // Starts `members` members under `dir` and waits until every one answers /health; a failure to
  // start fails the test (see ok()).
  EtcdCluster(const std::string& dir, int members = 1);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  bool ok() const { return ok_; }
  // "etcd://127.0.0.1:P1,127.0.0.1:P2,..."
  std::string url() const;
  // "http://127.0.0.1:P" per member.
  const std::vector<std::string>& clientUrls() const { return client_urls_; }
  // SIGKILLs one member (fail-over tests).
  void kill(int member);

 private:
  std::string dir_;
  std::vector<std::string> client_urls_;
  std::vector<std::unique_ptr<BackgroundProcess>> procs_;
  bool ok_ = false;
};

// True when /usr/bin/etcd exists (scripts/setup installs etcd-server).
bool etcdInstalled();

}  // namespace sc::testing
