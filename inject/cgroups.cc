#include "inject/cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/file.h"
#include "common/strings.h"

namespace sc::inject {
namespace {

Result<void> initOnce() {
  static std::once_flag once;
  static int rc = 0;
  std::call_once(once, [] { rc = cgroup_init(); });
  if (rc != 0) return makeError(ErrorCode::kFailedPrecondition, "initialise", "libcgroup", cgroup_strerror(rc));
  return ok();
}

struct CgroupDeleter {
  void operator()(struct cgroup* cg) const {
    if (cg) cgroup_free(&cg);
  }
};
using CgroupPtr = std::unique_ptr<struct cgroup, CgroupDeleter>;

Error cgError(int rc, std::string_view verb, const std::string& object) {
  int e = rc == ECGOTHER ? cgroup_get_last_errno() : 0;
  return makeError(rc == ECGROUPNOTEXIST ? ErrorCode::kNotFound : ErrorCode::kInternal, verb, object,
                   e ? std::string(cgroup_strerror(rc)) + ": " + std::strerror(e) : std::string(cgroup_strerror(rc)));
}

// True when the pids controller is mounted (v1) or offered (v2).
bool pidsControllerAvailable(CgroupMode mode) {
  if (mode == CgroupMode::kV1) {
    struct statfs fs {};
    return ::statfs("/sys/fs/cgroup/pids", &fs) == 0 && fs.f_type == CGROUP_SUPER_MAGIC;
  }
  auto controllers = readFile("/sys/fs/cgroup/cgroup.controllers");
  if (!controllers.ok()) return false;
  for (const std::string& c : split(std::string(trim(*controllers)), ' '))
    if (c == "pids") return true;
  return false;
}

// One cgroup in the memory, cpu and (when the host has it) pids controllers. Every cgroup of a task
// is in the pids hierarchy, so that what runs in it counts against the task's pids.max.
Result<CgroupPtr> build(const std::string& name, int64_t memory, uint64_t shares, CgroupMode mode,
                        int64_t pids_max = 0) {
  CgroupPtr cg(cgroup_new_cgroup(name.c_str()));
  if (!cg) return makeError(ErrorCode::kInternal, "allocate", name, "cgroup_new_cgroup");
  struct cgroup_controller* mem = cgroup_add_controller(cg.get(), "memory");
  struct cgroup_controller* cpu = cgroup_add_controller(cg.get(), "cpu");
  if (!mem || !cpu) return makeError(ErrorCode::kInternal, "add controllers", name, "cgroup_add_controller");
  if (pidsControllerAvailable(mode)) {
    struct cgroup_controller* pids = cgroup_add_controller(cg.get(), "pids");
    if (!pids) return makeError(ErrorCode::kInternal, "add controllers", name, "cgroup_add_controller(pids)");
    if (pids_max > 0) {
      int rc = cgroup_add_value_int64(pids, "pids.max", pids_max);
      if (rc != 0) return cgError(rc, "set pids limit of", name);
    }
  }
  if (memory > 0) {
    int rc = mode == CgroupMode::kV1 ? cgroup_add_value_int64(mem, "memory.limit_in_bytes", memory)
                                     : cgroup_add_value_int64(mem, "memory.max", memory);
    if (rc != 0) return cgError(rc, "set memory limit of", name);
  }
  if (shares > 0) {
    int rc = 0;
    if (mode == CgroupMode::kV1) {
      rc = cgroup_add_value_uint64(cpu, "cpu.shares", shares);
    } else {
      // The kernel's own mapping of shares (2..262144) onto weight (1..10000).
      uint64_t weight = 1 + ((shares - 2) * 9999) / 262142;
      rc = cgroup_add_value_uint64(cpu, "cpu.weight", weight);
    }
    if (rc != 0) return cgError(rc, "set cpu shares of", name);
  }
  return cg;
}

Result<int64_t> readInt(const std::string& file) {
  SC_ASSIGN_OR_RETURN(std::string text, readFile(file));
  std::string_view t = trim(text);
  if (t == "max") return INT64_MAX;
  auto v = parseUint(t);
  if (!v) return makeError(ErrorCode::kInternal, "parse", file, "not a number: '" + std::string(t) + "'");
  return static_cast<int64_t>(*v);
}

// cgroupfs files take one write(2) in place (no temporary file and rename).
Result<void> writeControlFile(const std::string& path, std::string_view value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errnoError(errno, "open", path);
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return errnoError(err, "write", path);
  return ok();
}

}  // namespace

CgroupMode detectCgroupMode() {
  struct statfs fs {};
  if (::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) return CgroupMode::kV2;
  return CgroupMode::kV1;
}

struct TaskCgroup::Handles {
  CgroupMode mode = CgroupMode::kV1;
  CgroupPtr task;
  CgroupPtr proxy;
};

TaskCgroup::TaskCgroup(std::string name, std::unique_ptr<Handles> h) : name_(std::move(name)), h_(std::move(h)) {}
TaskCgroup::~TaskCgroup() = default;

std::string TaskCgroup::memoryDir(const std::string& relative) {
  return detectCgroupMode() == CgroupMode::kV1 ? "/sys/fs/cgroup/memory/" + relative : "/sys/fs/cgroup/" + relative;
}

Result<std::unique_ptr<TaskCgroup>> TaskCgroup::create(const CgroupSpec& spec) {
  SC_TRY(initOnce());
  auto h = std::make_unique<Handles>();
  h->mode = detectCgroupMode();
  if (h->mode == CgroupMode::kV2) {
    // Children of the task cgroup need the controllers delegated to them.
    SC_TRY(writeControlFile("/sys/fs/cgroup/cgroup.subtree_control",
                            pidsControllerAvailable(h->mode) ? "+memory +cpu +pids" : "+memory +cpu"));
  }
  SC_ASSIGN_OR_RETURN(h->task,
                      build(spec.task_cgroup, spec.task_memory_bytes, spec.cpu_shares, h->mode, spec.pids_max));
  int rc = cgroup_create_cgroup(h->task.get(), 0);
  if (rc != 0) return cgError(rc, "create cgroup", spec.task_cgroup);
  const std::string proxy = spec.task_cgroup + "/proxy";
  SC_ASSIGN_OR_RETURN(h->proxy, build(proxy, spec.proxy_memory_bytes, 0, h->mode));
  rc = cgroup_create_cgroup(h->proxy.get(), 0);
  if (rc != 0) {
    cgroup_delete_cgroup(h->task.get(), 0);
    return cgError(rc, "create cgroup", proxy);
  }
  return std::unique_ptr<TaskCgroup>(new TaskCgroup(spec.task_cgroup, std::move(h)));
}

Result<std::unique_ptr<TaskCgroup>> TaskCgroup::open(const std::string& task_cgroup) {
  SC_TRY(initOnce());
  auto h = std::make_unique<Handles>();
  h->mode = detectCgroupMode();
  struct stat st {};
  if (::stat(memoryDir(task_cgroup + "/proxy").c_str(), &st) != 0) return errnoError(errno, "open cgroup", task_cgroup);
  SC_ASSIGN_OR_RETURN(h->task, build(task_cgroup, 0, 0, h->mode));
  SC_ASSIGN_OR_RETURN(h->proxy, build(task_cgroup + "/proxy", 0, 0, h->mode));
  return std::unique_ptr<TaskCgroup>(new TaskCgroup(task_cgroup, std::move(h)));
}

Result<void> TaskCgroup::attachProxy(pid_t pid) {
  int rc = cgroup_attach_task_pid(h_->proxy.get(), pid);
  if (rc != 0) return cgError(rc, "attach pid " + std::to_string(pid) + " to", proxyPath());
  return ok();
}

Result<void> TaskCgroup::attachApp(const std::string& container, pid_t pid, int64_t memory_bytes) {
  const std::string name = name_ + "/app-" + container;
  SC_ASSIGN_OR_RETURN(CgroupPtr cg, build(name, memory_bytes, 0, h_->mode));
  int rc = cgroup_create_cgroup(cg.get(), 0);
  if (rc != 0) return cgError(rc, "create cgroup", name);
  rc = cgroup_attach_task_pid(cg.get(), pid);
  if (rc != 0) return cgError(rc, "attach pid " + std::to_string(pid) + " to", name);
  return ok();
}

namespace {

// The processes in one cgroup (memory hierarchy on v1).
Result<std::vector<pid_t>> readPids(const std::string& dir) {
  SC_ASSIGN_OR_RETURN(std::string text, readFile(dir + "/cgroup.procs"));
  std::vector<pid_t> pids;
  for (const std::string& l : split(text, '\n')) {
    if (auto v = parseUint(trim(l), INT32_MAX)) pids.push_back(static_cast<pid_t>(*v));
  }
  return pids;
}

// None when the cgroup is gone.
std::vector<pid_t> cgroupPids(const std::string& dir) {
  auto pids = readPids(dir);
  return pids.ok() ? *pids : std::vector<pid_t>{};
}

// SIGKILLs whatever still runs in `dir` and waits (up to 2 s) for it to go. Removing a cgroup
// with processes in it would move them to the root cgroup, where nothing would ever stop them.
Result<void> killRemaining(const std::string& dir) {
  for (int i = 0; i < 200; ++i) {
    std::vector<pid_t> pids = cgroupPids(dir);
    if (pids.empty()) return ok();
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    ::usleep(10'000);
  }
  return makeError(ErrorCode::kInternal, "empty cgroup", dir,
                   std::to_string(cgroupPids(dir).size()) + " process(es) still running after SIGKILL");
}

}  // namespace

Result<std::vector<pid_t>> TaskCgroup::proxyPids() const { return readPids(memoryDir(proxyPath())); }

Result<int64_t> TaskCgroup::proxyMemoryLimit() const {
  return readInt(memoryDir(proxyPath()) + (h_->mode == CgroupMode::kV1 ? "/memory.limit_in_bytes" : "/memory.max"));
}

Result<int64_t> TaskCgroup::taskPidsLimit() const {
  return readInt((h_->mode == CgroupMode::kV1 ? "/sys/fs/cgroup/pids/" : "/sys/fs/cgroup/") + name_ + "/pids.max");
}

Result<int64_t> TaskCgroup::taskMemoryLimit() const {
  return readInt(memoryDir(name_) + (h_->mode == CgroupMode::kV1 ? "/memory.limit_in_bytes" : "/memory.max"));
}

Result<void> TaskCgroup::destroy() {
  // Children first; a cgroup that is already gone counts as removed.
  std::vector<CgroupPtr> apps;
  std::vector<std::string> dirs;
  if (DIR* d = ::opendir(memoryDir(name_).c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.starts_with("app-")) {
        auto cg = build(name_ + "/" + n, 0, 0, h_->mode);
        if (cg.ok()) apps.push_back(std::move(*cg));
        dirs.push_back(memoryDir(name_ + "/" + n));
      }
    }
    ::closedir(d);
  }
  // The callers stop the proxy and the apps first; anything still inside (a container the agent
  // lost track of) dies here rather than escaping to the root cgroup.
  dirs.push_back(memoryDir(proxyPath()));
  dirs.push_back(memoryDir(name_));
  for (const std::string& dir : dirs) SC_TRY(killRemaining(dir));
  std::vector<struct cgroup*> order;
  for (auto& a : apps) order.push_back(a.get());
  order.push_back(h_->proxy.get());
  order.push_back(h_->task.get());
  for (struct cgroup* cg : order) {
    int rc = cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_IGNORE_MIGRATION);
    if (rc != 0 && rc != ECGROUPNOTEXIST) {
      // libcgroup reports a missing directory as ECGOTHER/ENOENT on some paths.
      if (!(rc == ECGOTHER && cgroup_get_last_errno() == ENOENT)) return cgError(rc, "remove cgroup", name_);
    }
  }
  return ok();
}

}  // namespace sc::inject
