// Task and proxy cgroups through libcgroup (the only file that includes its headers is
// inject/cgroups.cc). Layout: <controller root>/<task cgroup>/ with the task's memory limit and CPU
// shares, and <task cgroup>/proxy/ with the carved proxy memory.
// cgroup v1 (memory.limit_in_bytes, cpu.shares) and a pure v2 host (memory.max, cpu.weight); the
// pids controller, where the host has it, bounds the task's processes (pids.max).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace sc::inject {

enum class CgroupMode { kV1, kV2 };
// v2 when /sys/fs/cgroup is a cgroup2 mount with the memory controller; v1 otherwise.
CgroupMode detectCgroupMode();

struct CgroupSpec {
  std::string task_cgroup;  // e.g. "scagent-<task>"
  int64_t task_memory_bytes = 0;
  uint64_t cpu_shares = 0;  // 0: leave the default; v2 maps shares onto cpu.weight
  int64_t proxy_memory_bytes = 0;
  int64_t pids_max = 0;  // the task's pids.max (proxy and apps together); 0: unlimited
};

class TaskCgroup {
 public:
  // Creates (or takes over, if present) the task and proxy cgroups with the limits of `spec`.
  static Result<std::unique_ptr<TaskCgroup>> create(const CgroupSpec& spec);
  // Opens existing cgroups (re-adoption); no limits are written.
  static Result<std::unique_ptr<TaskCgroup>> open(const std::string& task_cgroup);
  ~TaskCgroup();
  TaskCgroup(const TaskCgroup&) = delete;
  TaskCgroup& operator=(const TaskCgroup&) = delete;

  const std::string& name() const { return name_; }
  std::string proxyPath() const { return name_ + "/proxy"; }
  Result<void> attachProxy(pid_t pid);
  // Puts an app container's init into <task cgroup>/app-<container>, created with the container's
  // hard memory limit (0: none; the task limit still applies). destroy() removes these too.
  Result<void> attachApp(const std::string& container, pid_t pid, int64_t memory_bytes);
  // The live pids in the proxy cgroup.
  Result<std::vector<pid_t>> proxyPids() const;
  Result<int64_t> proxyMemoryLimit() const;
  Result<int64_t> taskMemoryLimit() const;
  Result<int64_t> taskPidsLimit() const;  // INT64_MAX for "max"; an error without the pids controller
  // Removes the app, proxy and task cgroups. A process still inside (a container the agent lost
  // track of) is SIGKILLed first, never moved to the root cgroup. Idempotent.
  Result<void> destroy();

  // The directory of `relative` in the memory hierarchy (for reading files in tests and checks).
  static std::string memoryDir(const std::string& relative);

 private:
  struct Handles;
  explicit TaskCgroup(std::string name, std::unique_ptr<Handles> h);
  std::string name_;
  std::unique_ptr<Handles> h_;
};

}  // namespace sc::inject
