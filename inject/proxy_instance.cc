#include "inject/proxy_instance.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/failpoint.h"
#include "common/file.h"
#include "common/strings.h"

namespace sc::inject {

std::string formatContainerRecord(const ContainerRecord& r) {
  return "pid=" + std::to_string(r.pid) + "\nstart_time=" + std::to_string(r.start_time) +
         "\nshim_pid=" + std::to_string(r.shim_pid) + "\ncgroup=" + r.cgroup + "\n";
}

Result<ContainerRecord> parseContainerRecord(std::string_view text) {
  ContainerRecord r;
  for (const std::string& line : split(text, '\n')) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "cgroup") {
      r.cgroup = v;
      continue;
    }
    auto n = parseUint(v);
    if (!n) return makeError(ErrorCode::kInvalidArgument, "parse", "proxy record", "bad value for " + k);
    if (k == "pid") r.pid = static_cast<pid_t>(*n);
    if (k == "start_time") r.start_time = *n;
    if (k == "shim_pid") r.shim_pid = static_cast<pid_t>(*n);
  }
  if (r.pid <= 0) return makeError(ErrorCode::kInvalidArgument, "parse", "proxy record", "no pid");
  return r;
}

ProxyInstance::ProxyInstance(ProxyInstanceSpec spec, std::unique_ptr<TaskCgroup> cg,
                             std::unique_ptr<ProxyDriver> driver)
    : spec_(std::move(spec)), cgroup_(std::move(cg)), driver_(std::move(driver)) {}

Result<std::unique_ptr<ProxyInstance>> ProxyInstance::start(const ProxyInstanceSpec& spec) {
  SC_ASSIGN_OR_RETURN(std::unique_ptr<TaskCgroup> cg, TaskCgroup::create(spec.cgroup));
  std::unique_ptr<ProxyInstance> p(
      new ProxyInstance(spec, std::move(cg), HaproxyDriver::create(spec.config, spec.uid)));
  auto undo = [&](Error e) -> Error {
    (void)p->destroy();
    return e;
  };
  // The parents must let the proxy's uid through. The task directory is root's and the proxy's
  // group's (0710: the proxy reads its configuration there and writes nothing; no other proxy enters),
  // the run directory in it the proxy's alone (0700).
  const std::string state_dir = proxyStateDir(spec.config);
  const std::string parent = std::filesystem::path(state_dir).parent_path().string();
  if (Result<void> r = makeDirs(parent, 0755); !r.ok()) return undo(r.error());
  if (!spec.config.state_dir.empty()) {
    if (Result<void> r = makeDirs(state_dir, 0710); !r.ok()) return undo(r.error());
    if (chown(state_dir.c_str(), 0, spec.gid) != 0 || chmod(state_dir.c_str(), 0710) != 0)
      return undo(errnoError(errno, "own", state_dir));
  }
  if (Result<void> r = makeDirs(spec.config.run_dir, 0700); !r.ok()) return undo(r.error());
  if (chown(spec.config.run_dir.c_str(), spec.uid, spec.gid) != 0 || chmod(spec.config.run_dir.c_str(), 0700) != 0)
    return undo(errnoError(errno, "own", spec.config.run_dir));
  if (Result<void> r = failpoint::check("proxy.after_cgroup"); !r.ok()) return undo(r.error());
  if (Result<void> r = p->driver_->writeConfig(spec.config); !r.ok()) return undo(r.error());
  if (Result<void> r = failpoint::check("proxy.after_config"); !r.ok()) return undo(r.error());
  if (Result<void> r = p->launch(); !r.ok()) return undo(r.error());
  return p;
}

Result<void> ProxyInstance::removeLeftovers(const ProxyInstanceSpec& spec) {
  std::vector<std::string> errors;
  auto cg = TaskCgroup::open(spec.cgroup.task_cgroup);
  if (cg.ok()) {
    // The proxy's init first (it takes its whole PID namespace with it), then any straggler.
    for (int i = 0; i < 300; ++i) {
      auto pids = (*cg)->proxyPids();
      if (!pids.ok() || pids->empty()) break;
      for (pid_t pid : *pids) ::kill(pid, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (Result<void> r = (*cg)->destroy(); !r.ok()) errors.push_back(r.error().message);
  }
  std::error_code ec;
  const std::string state_dir = proxyStateDir(spec.config);
  std::filesystem::remove_all(state_dir, ec);
  if (ec) errors.push_back("failed to remove '" + state_dir + "': " + ec.message());
  if (!errors.empty())
    return makeError(ErrorCode::kInternal, "remove leftovers of", spec.config.task_id, join(errors, "; "));
  return ok();
}

Result<std::unique_ptr<ProxyInstance>> ProxyInstance::adopt(const ProxyInstanceSpec& spec) {
  const std::string path = proxyStateDir(spec.config) + "/proxy.state";
  // In a record from before per-task uids the state sits in the proxy's own directory: a symlink or
  // FIFO planted there is not followed, and the record must name this task's own cgroup (not another
  // task's proxy).
  SC_ASSIGN_OR_RETURN(std::string text, readRegularFile(path, 4096));
  SC_ASSIGN_OR_RETURN(ContainerRecord record, parseContainerRecord(text));
  if (record.cgroup != spec.cgroup.task_cgroup) {
    return makeError(ErrorCode::kNotFound, "adopt", path,
                     "it names cgroup '" + record.cgroup + "', not '" + spec.cgroup.task_cgroup + "'");
  }
  SC_ASSIGN_OR_RETURN(Container c, Container::adopt(record));
  SC_ASSIGN_OR_RETURN(std::unique_ptr<TaskCgroup> cg, TaskCgroup::open(record.cgroup));
  // The configuration on disk is the one the proxy runs; read the membership from the spec given.
  std::unique_ptr<ProxyInstance> p(
      new ProxyInstance(spec, std::move(cg), HaproxyDriver::create(spec.config, spec.uid)));
  p->container_ = std::move(c);
  return p;
}

Result<void> ProxyInstance::launch() {
  ContainerSpec cs;
  cs.name = "proxy of task " + spec_.config.task_id;
  cs.netns_path = spec_.netns_path;
  cs.hostname = spec_.hostname;
  cs.hosts_file = spec_.hosts_file;
  cs.run_dir = spec_.config.run_dir;
  cs.view_dir = stateDir();
  cs.hidden_dirs = spec_.hidden_dirs;
  cs.log_file = logPath();
  cs.binary = driver_->binary();
  cs.args = driver_->args();
  cs.uid = spec_.uid;
  cs.gid = spec_.gid;
  cs.seccomp = spec_.seccomp;
  cs.cgroup = cgroup_->name();
  // Stale sockets of a previous proxy would make "is it up" checks lie.
  for (const std::string& s : {adminSocketPath(cs.run_dir), httpSocketPath(cs.run_dir), masterSocketPath(cs.run_dir)}) {
    ::unlink(s.c_str());
  }
  TaskCgroup* cg = cgroup_.get();
  SC_ASSIGN_OR_RETURN(container_, Container::launch(cs, [cg](pid_t pid) { return cg->attachProxy(pid); }));
  SC_FAILPOINT("proxy.after_launch");
  SC_TRY(writeFileAtomic(recordPath(), formatContainerRecord(container_.record()), 0600));
  return ok();
}

Result<void> ProxyInstance::killAll(std::chrono::milliseconds wait) {
  if (container_.pidfd() >= 0) {
    (void)container_.signal(SIGKILL);
    container_.waitExit(wait);
  }
  // Anything else left in the proxy cgroup (a worker that outlived its master).
  const auto end = std::chrono::steady_clock::now() + wait;
  for (;;) {
    auto pids = cgroup_->proxyPids();
    if (!pids.ok() || pids->empty()) break;
    for (pid_t pid : *pids) ::kill(pid, SIGKILL);
    if (std::chrono::steady_clock::now() > end) {
      return makeError(ErrorCode::kTimeout, "kill", "proxy cgroup " + cgroup_->proxyPath(), "processes remain");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // The shim exits right after its init; reap it so restarts leave no zombies behind.
  container_.reap(wait);
  return ok();
}

Result<void> ProxyInstance::restart() {
  SC_TRY(killAll(std::chrono::milliseconds(2000)));
  return launch();
}

Result<void> ProxyInstance::drain(std::chrono::milliseconds period, Clock& clock) {
  if (drained_ || !container_.running()) return ok();
  drained_ = true;
  // 1. No new connections on ingress; egress stays open for the app's own shutdown.
  SC_TRY(driver_->disableIngress());
  // 2. In-flight connections finish, up to the drain period.
  const auto end = clock.now() + period;
  while (clock.now() < end) {
    auto n = driver_->ingressSessions();
    if (!n.ok() || *n == 0) break;
    clock.sleepFor(std::chrono::milliseconds(50));
  }
  return ok();
}

Result<void> ProxyInstance::stop(const StopOptions& options, Clock& clock) {
  if (container_.running()) {
    (void)drain(options.drain, clock);  // a proxy that cannot be drained is still stopped
    // 3. Soft-stop: the master tells workers to finish, then exits.
    (void)container_.signal(SIGUSR1);
    container_.waitExit(options.kill_after);
  }
  return destroy();
}

Result<void> ProxyInstance::destroy() {
  std::vector<std::string> errors;
  if (Result<void> r = killAll(std::chrono::milliseconds(3000)); !r.ok()) errors.push_back(r.error().message);
  if (Result<void> r = cgroup_->destroy(); !r.ok()) errors.push_back(r.error().message);
  std::error_code ec;
  std::filesystem::remove_all(stateDir(), ec);
  if (ec) errors.push_back("failed to remove '" + stateDir() + "': " + ec.message());
  if (!errors.empty())
    return makeError(ErrorCode::kInternal, "tear down", "proxy of task " + spec_.config.task_id, join(errors, "; "));
  return ok();
}

}  // namespace sc::inject
