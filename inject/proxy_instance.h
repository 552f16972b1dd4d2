// One task's proxy: its cgroups, configuration, container and driver, from start to teardown.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "inject/cgroups.h"
#include "inject/launcher.h"
#include "inject/proxy_driver.h"

namespace sc::inject {

inline constexpr std::chrono::seconds kDefaultDrain{20};     // ECS/AppNet drain period
inline constexpr std::chrono::seconds kDefaultKillAfter{3};  // AppNet PID_STOP_DELAY_SEC

struct ProxyInstanceSpec {
  // config.state_dir: /run/scagent/tasks/<task> (root:<gid>, 0710: haproxy.cfg, proxy.state, proxy.log),
  // config.run_dir: <state_dir>/proxy (the proxy uid's, 0700: its sockets). Without a state_dir
  // (records from before per-task uids): run_dir is /run/scagent/tasks/<task> and holds everything.
  ProxyConfig config;
  std::string netns_path;  // the task's network namespace
  std::string hosts_file;  // the task's hosts file (bind-mounted at /etc/hosts)
  std::string hostname;
  CgroupSpec cgroup;  // task_cgroup "scagent-<task>", limits from the carve
  // The proxy's own identity: no other task's proxy runs as it (agent/task_steps.h leases it).
  uid_t uid = kProxyUid;
  gid_t gid = kProxyGid;
  // Hidden from the proxy (the agent's run and state roots): it sees its own task directory only.
  std::vector<std::string> hidden_dirs;
  bool seccomp = true;
};

struct StopOptions {
  std::chrono::milliseconds drain{kDefaultDrain};
  std::chrono::milliseconds kill_after{kDefaultKillAfter};
};

class ProxyInstance {
 public:
  // Creates the cgroups, writes the configuration and launches the proxy. Undoes its own partial
  // work on failure.
  static Result<std::unique_ptr<ProxyInstance>> start(const ProxyInstanceSpec& spec);
  // Finds a proxy started earlier from the record in its run directory; kNotFound when none runs.
  static Result<std::unique_ptr<ProxyInstance>> adopt(const ProxyInstanceSpec& spec);

  // Kills what is left of the old proxy (the whole cgroup) and launches a new one.
  Result<void> restart();
  // Drain: stop accepting on ingress, then wait (up to `period`) for in-flight ingress connections
  // to finish. Egress stays open for the app's own shutdown. Done once; later calls return at once.
  Result<void> drain(std::chrono::milliseconds period, Clock& clock);
  // drain() unless done already, soft-stop (SIGUSR1), SIGKILL after `kill_after`. Then removes
  // cgroups and the run directory.
  Result<void> stop(const StopOptions& options, Clock& clock);
  // Kills and removes everything now (no drain). Idempotent; reports every failure.
  Result<void> destroy();
  // Recovery when no proxy can be adopted (the agent died between launch and writing the record, or
  // the record is gone): kills whatever runs in the task's cgroups and removes them and the run
  // directory. Fine when nothing is there.
  static Result<void> removeLeftovers(const ProxyInstanceSpec& spec);

  ProxyDriver& driver() { return *driver_; }
  Container& container() { return container_; }
  TaskCgroup& cgroup() { return *cgroup_; }
  const ProxyInstanceSpec& spec() const { return spec_; }
  // The agent's own files, outside what the proxy can write (unless the spec has no state_dir).
  std::string stateDir() const { return proxyStateDir(spec_.config); }
  std::string recordPath() const { return stateDir() + "/proxy.state"; }
  std::string logPath() const { return stateDir() + "/proxy.log"; }

 private:
  ProxyInstance(ProxyInstanceSpec spec, std::unique_ptr<TaskCgroup> cg, std::unique_ptr<ProxyDriver> driver);
  Result<void> launch();
  Result<void> killAll(std::chrono::milliseconds wait);

  ProxyInstanceSpec spec_;
  std::unique_ptr<TaskCgroup> cgroup_;
  std::unique_ptr<ProxyDriver> driver_;
  Container container_;
  bool drained_ = false;
};

// Failpoints of start(), in order: proxy.after_cgroup, proxy.after_config, proxy.after_launch (the
// proxy runs, its record is not written yet).

// The record in the run directory: "pid=..\nstart_time=..\nshim_pid=..\ncgroup=..\n".
std::string formatContainerRecord(const ContainerRecord& r);
Result<ContainerRecord> parseContainerRecord(std::string_view text);

}  // namespace sc::inject
