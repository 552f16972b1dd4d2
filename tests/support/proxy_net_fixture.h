// TEST-ONLY network fixture for root tests, until the tests switch to sc_netns (issue 3).
// Everything lives in namespaces named "sct<pid>-<name>": a hub namespace holding a bridge, and one
// namespace per task with eth0 on that bridge, lo up, an address from 10.77.0.0/24 and, on
// request, the ingress REDIRECT rule. Nothing touches the host's own network namespace. Stale
// namespaces, proxy cgroups ("scagent-sct<pid>-*") and run directories of earlier, dead test
// processes are removed first; the destructor removes our namespaces.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sc::testing {

class NetFixture {
 public:
  NetFixture();
  ~NetFixture();
  NetFixture(const NetFixture&) = delete;
  NetFixture& operator=(const NetFixture&) = delete;

  // Creates the namespace of task `name` with address 10.77.0.<host>. Returns its path.
  std::string addTask(const std::string& name, int host);
  std::string netnsPath(const std::string& name) const { return "/run/netns/" + nsName(name); }
  std::string address(const std::string& name) const { return "10.77.0." + std::to_string(hosts_.at(name)); }
  // nat PREROUTING: non-local tcp to container_port -> listener_port (awsvpc interception).
  void addRedirect(const std::string& name, int container_port, int listener_port);
  // Applies an iptables-restore document (--noflush) in the task's namespace.
  void applyRules(const std::string& name, const std::string& rules);
  const std::string& prefix() const { return prefix_; }

 private:
  std::string nsName(const std::string& name) const { return prefix_ + name; }
  std::string prefix_;
  std::map<std::string, int> hosts_;
};

// A background process (app server) started in a network namespace; killed on destruction.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::string& netns_path, std::vector<std::string> argv);
  ~BackgroundProcess();
  pid_t pid() const { return pid_; }
  void stop();

 private:
  pid_t pid_ = -1;
};

// busybox httpd serving `dir` on `port` in the namespace; `dir/id` holds `id`, and
// `dir/cgi-bin/fail` answers 500, `dir/cgi-bin/slow` answers 200 after 1 s.
std::unique_ptr<BackgroundProcess> startHttpd(const std::string& netns_path, const std::string& dir,
                                              const std::string& id, int port);

// HTTP GETs from inside a network namespace, on a dedicated thread (setns only there).
struct GetResult {
  long status = 0;  // 0: no response
  std::string body;
  std::string error;
};
std::vector<GetResult> getInNetns(const std::string& netns_path, const std::string& url, int count);

// A bounded load: requests one after another from a dedicated thread in the namespace, until stop().
class LoadLoop {
 public:
  LoadLoop(const std::string& netns_path, const std::string& url);
  ~LoadLoop();
  void stop();
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  std::map<std::string, int> bodies() const;  // valid after stop()
  std::vector<std::string> errors() const;    // valid after stop()

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  std::map<std::string, int> bodies_;
  std::vector<std::string> errors_;
  std::thread thread_;
};

}  // namespace sc::testing
