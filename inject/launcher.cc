#include "inject/launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/file.h"
#include "common/strings.h"
#include "inject/app_rootfs.h"
#include "inject/seccomp_filter.h"

namespace sc::inject {
namespace {

// The steps of the child, in order (Mesos' launch order: mounts, hostname, rlimits, identity,
// capabilities, no_new_privs, seccomp, exec). A failure reports {step, errno}.
enum Step : int {
  kStepSetns = 1,
  kStepUnshare,
  kStepFork,
  kStepWaitGo,
  kStepPrivate,
  kStepProc,
  kStepTmp,
  kStepHosts,
  kStepRunDir,
  kStepReadOnly,
  kStepTmpRw,
  kStepRunDirRw,
  kStepHostname,
  kStepStdio,
  kStepRlimit,
  kStepBounding,
  kStepKeepCaps,
  kStepGroups,
  kStepGid,
  kStepUid,
  kStepCapset,
  kStepAmbient,
  kStepNoNewPrivs,
  kStepSeccomp,
  kStepExec,
  kStepChdir,
  kStepCloneView,
  kStepHide,
  kStepViewPath
};

const char* stepName(int step) {
  static const char* kNames[] = {"?",
                                 "join network namespace",
                                 "unshare namespaces",
                                 "fork container init",
                                 "wait for the agent",
                                 "make mounts private",
                                 "mount /proc",
                                 "mount /tmp",
                                 "bind /etc/hosts",
                                 "bind the run directory",
                                 "make the root read-only",
                                 "make /tmp writable",
                                 "make the run directory writable",
                                 "set the hostname",
                                 "set up stdio",
                                 "raise the open files limit",
                                 "drop the bounding set",
                                 "keep capabilities",
                                 "drop supplementary groups",
                                 "set gid",
                                 "set uid",
                                 "set capabilities",
                                 "raise ambient NET_BIND_SERVICE",
                                 "set no_new_privs",
                                 "load the seccomp filter",
                                 "exec",
                                 "change to /",
                                 "clone the task directory",
                                 "hide the agent's directories",
                                 "make the task directory's mount point"};
  if (const char* name = rootfsStepName(step)) return name;
  return step > 0 && step <= kStepViewPath ? kNames[step] : "?";
}

struct Report {
  int step = 0;
  int err = 0;
};

[[noreturn]] void fail(int fd, int step) {
  Report r{step, errno};
  [[maybe_unused]] ssize_t n = write(fd, &r, sizeof r);
  _exit(127);
}

int mountSetattr(const char* path, unsigned flags, uint64_t set, uint64_t clr) {
  mount_attr attr{};
  attr.attr_set = set;
  attr.attr_clr = clr;
  return static_cast<int>(syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr));
}

// Everything the child needs, prepared before fork: the child only makes system calls.
struct ChildPlan {
  int netns_fd = -1;
  int report_fd = -1;
  int go_fd = -1;
  int stdin_fd = -1;
  int log_fd = -1;
  const char* hosts = nullptr;
  const char* view_dir = nullptr;             // bound back into the view: run_dir or its task directory
  const char* const* hidden = nullptr;        // nullptr-ended: covered by an empty read-only tmpfs
  const char* const* view_parents = nullptr;  // nullptr-ended: "/a", "/a/b", ... view_dir itself
  const char* hostname = nullptr;
  const char* binary = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t caps = 0;
  sock_fprog* seccomp = nullptr;
  const RootfsPlan* rootfs = nullptr;  // apps; nullptr: the host's root, read-only
};

// Closes every descriptor but the plan's own, at once after fork: the agent's listening sockets,
// state files and, above all, the write end of the go pipe. Were that one inherited, an agent that
// died before saying "go" would leave the init blocked on the pipe forever, holding the agent's
// metrics socket and files. Only system calls: this runs in a child of a threaded process.
void closeAllBut(const ChildPlan& p) {
  int keep[] = {p.netns_fd, p.report_fd, p.go_fd, p.stdin_fd, p.log_fd};
  std::sort(std::begin(keep), std::end(keep));
  unsigned from = 3;
  for (int fd : keep) {
    if (fd < 0 || static_cast<unsigned>(fd) < from) continue;
    if (static_cast<unsigned>(fd) > from) close_range(from, static_cast<unsigned>(fd) - 1, 0);
    from = static_cast<unsigned>(fd) + 1;
  }
  close_range(from, ~0u, 0);
}

[[noreturn]] void containerInit(const ChildPlan& p) {
  const int rep = p.report_fd;
  char go = 0;
  if (read(p.go_fd, &go, 1) != 1) fail(rep, kStepWaitGo);
  close(p.go_fd);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(rep, kStepPrivate);
  if (p.rootfs) {
    if (int step = enterAppRootfs(p.rootfs)) fail(rep, step);
  } else {
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) fail(rep, kStepProc);
    // Sources first: a source under /tmp or a hidden directory would be hidden by what covers it.
    // The task directory is taken as a detached copy of its mount, attached again once the agent's
    // directories are covered, so the proxy sees its own and no other task's.
    const int view =
        static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, p.view_dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (view < 0) fail(rep, kStepCloneView);
    if (p.hosts && mount(p.hosts, "/etc/hosts", nullptr, MS_BIND, nullptr) != 0) fail(rep, kStepHosts);
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=16m") != 0) fail(rep, kStepTmp);
    // A directory already out of sight (beneath the private /tmp) needs no cover: ENOENT.
    for (const char* const* h = p.hidden; h && *h; ++h) {
      if (mount("tmpfs", *h, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k,nr_inodes=1024") != 0 &&
          errno != ENOENT)
        fail(rep, kStepHide);
    }
    // Existing directories answer EEXIST; only those beneath a fresh tmpfs are made (on the tmpfs).
    for (const char* const* d = p.view_parents; d && *d; ++d) {
      if (mkdir(*d, 0755) != 0 && errno != EEXIST) fail(rep, kStepViewPath);
    }
    if (syscall(SYS_move_mount, view, "", AT_FDCWD, p.view_dir, MOVE_MOUNT_F_EMPTY_PATH) != 0) fail(rep, kStepRunDir);
    close(view);
    if (mountSetattr("/", AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0) != 0) fail(rep, kStepReadOnly);
    if (mountSetattr("/tmp", 0, 0, MOUNT_ATTR_RDONLY) != 0) fail(rep, kStepTmpRw);
    if (mountSetattr(p.view_dir, 0, 0, MOUNT_ATTR_RDONLY) != 0) fail(rep, kStepRunDirRw);
    // The agent's working directory may be hidden (under /tmp) or mean nothing inside; HAProxy, for
    // one, returns to its starting directory after reading its configuration.
    if (chdir("/") != 0) fail(rep, kStepChdir);
  }
  if (p.hostname && sethostname(p.hostname, strlen(p.hostname)) != 0) fail(rep, kStepHostname);
  if (dup2(p.stdin_fd, 0) < 0 || dup2(p.log_fd, 1) < 0 || dup2(p.log_fd, 2) < 0) fail(rep, kStepStdio);
  rlimit nofile{20000, 20000};
  if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) fail(rep, kStepRlimit);
  auto kept = [&](int cap) { return cap < 64 && ((p.caps >> cap) & 1) != 0; };
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (kept(cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(rep, kStepBounding);
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail(rep, kStepKeepCaps);
  if (setgroups(0, nullptr) != 0) fail(rep, kStepGroups);
  if (setresgid(p.gid, p.gid, p.gid) != 0) fail(rep, kStepGid);
  if (setresuid(p.uid, p.uid, p.uid) != 0) fail(rep, kStepUid);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    const auto word = static_cast<uint32_t>(p.caps >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = word;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) fail(rep, kStepCapset);
  // Ambient: a non-root program keeps them across exec (root gets its bounding set anyway).
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (kept(cap) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) fail(rep, kStepAmbient);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(rep, kStepNoNewPrivs);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
  if (p.seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p.seccomp, 0, 0) != 0) fail(rep, kStepSeccomp);
  // Keep 0-2 and the (close-on-exec) report pipe.
  if (rep > 3) close_range(3, static_cast<unsigned>(rep) - 1, 0);
  close_range(static_cast<unsigned>(rep) + 1, ~0u, 0);
  execve(p.binary, p.argv, p.envp);
  fail(rep, kStepExec);
}

// The shim: joins the network namespace, unshares the rest, forks the init, reports its pid,
// then waits for it and exits with its status.
[[noreturn]] void shim(const ChildPlan& p) {
  closeAllBut(p);
  const int rep = p.report_fd;
  if (p.netns_fd >= 0 && setns(p.netns_fd, CLONE_NEWNET) != 0) fail(rep, kStepSetns);
  if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) != 0) fail(rep, kStepUnshare);
  pid_t init = fork();
  if (init < 0) fail(rep, kStepFork);
  if (init == 0) containerInit(p);
  // Only the init reports from here on.
  [[maybe_unused]] ssize_t n = write(rep, &init, sizeof init);
  // Hold nothing of the agent's: its stdio (a caller may wait for EOF on it) and every other fd.
  dup2(p.stdin_fd, 0);
  dup2(p.stdin_fd, 1);
  dup2(p.stdin_fd, 2);
  close_range(3, ~0u, 0);
  // Ignore job-control and terminal signals aimed at the whole group; the agent signals the init.
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  int status = 0;
  while (waitpid(init, &status, 0) < 0 && errno == EINTR) {
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

std::vector<char*> cStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

Result<uint64_t> processStartTime(pid_t pid) {
  SC_ASSIGN_OR_RETURN(std::string stat, readFile("/proc/" + std::to_string(pid) + "/stat"));
  size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos)
    return makeError(ErrorCode::kInternal, "parse", "/proc/" + std::to_string(pid) + "/stat", "no ')'");
  std::vector<std::string> f = split(std::string_view(stat).substr(close_paren + 2), ' ');
  // f[0] is field 3 (state); field 22 is f[19].
  if (f.size() < 20) return makeError(ErrorCode::kInternal, "parse", "/proc/" + std::to_string(pid) + "/stat", "short");
  auto v = parseUint(f[19]);
  if (!v) return makeError(ErrorCode::kInternal, "parse", "/proc/" + std::to_string(pid) + "/stat", "bad start time");
  return *v;
}

Container::~Container() {
  // The container outlives this handle on purpose (it survives agent restarts); only reap a shim
  // that already exited.
  reap();
}

Result<Container> Container::launch(const ContainerSpec& spec, const std::function<Result<void>(pid_t)>& place) {
  if (spec.binary.empty() || spec.binary[0] != '/') {
    return makeError(ErrorCode::kInvalidArgument, "launch", spec.name, "binary must be an absolute path");
  }
  if (spec.run_dir.empty() || spec.run_dir[0] != '/') {
    return makeError(ErrorCode::kInvalidArgument, "launch", spec.name, "run_dir must be an absolute path");
  }
  SC_TRY(makeDirs(spec.run_dir, 0700));
  if (chown(spec.run_dir.c_str(), spec.uid, spec.gid) != 0 || chmod(spec.run_dir.c_str(), 0700) != 0) {
    return errnoError(errno, "own", spec.run_dir);
  }
  std::string view_dir = spec.view_dir.empty() ? spec.run_dir : spec.view_dir;
  if (view_dir[0] != '/' || (spec.run_dir + "/").find(view_dir + "/") != 0) {
    return makeError(ErrorCode::kInvalidArgument, "launch", spec.name, "view_dir must hold run_dir");
  }
  std::vector<std::string> hidden_s, parents_s;
  for (const std::string& h : spec.hidden_dirs) {
    struct stat st {};
    if (h.size() < 2 || h[0] != '/') {
      return makeError(ErrorCode::kInvalidArgument, "launch", spec.name, "cannot hide '" + h + "'");
    }
    if (::stat(h.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    hidden_s.push_back(h);
  }
  // One beneath another is hidden with it (and its mount point would not exist on the tmpfs).
  const std::vector<std::string> all_hidden = hidden_s;
  std::erase_if(hidden_s, [&](const std::string& h) {
    return std::any_of(all_hidden.begin(), all_hidden.end(),
                       [&](const std::string& o) { return o != h && (h + "/").starts_with(o + "/"); });
  });
  for (size_t i = view_dir.find('/', 1); i != std::string::npos; i = view_dir.find('/', i + 1)) {
    parents_s.push_back(view_dir.substr(0, i));
  }
  parents_s.push_back(view_dir);
  std::optional<SeccompProgram> filter;
  if (spec.seccomp) {
    SC_ASSIGN_OR_RETURN(filter, buildContainerSeccomp(spec.capabilities));
  }
  UniqueFd netns;
  if (!spec.netns_path.empty()) {
    netns.reset(::open(spec.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns.valid()) return errnoError(errno, "open", spec.netns_path);
  }
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return errnoError(errno, "open", "/dev/null");
  UniqueFd log;
  if (!spec.log_file.empty()) {
    // The proxy's log is in its own run directory: never follow what it planted there.
    SC_ASSIGN_OR_RETURN(log, openRegularForAppend(spec.log_file));
  }
  int report[2], go[2];
  if (pipe2(report, O_CLOEXEC) != 0) return errnoError(errno, "create", "pipe");
  UniqueFd report_r(report[0]), report_w(report[1]);
  if (pipe2(go, O_CLOEXEC) != 0) return errnoError(errno, "create", "pipe");
  UniqueFd go_r(go[0]), go_w(go[1]);

  std::vector<std::string> argv_s{spec.binary};
  argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
  std::vector<std::string> env_s =
      spec.env.empty() ? std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} : spec.env;
  std::vector<char*> argv = cStrings(argv_s);
  std::vector<char*> hidden = cStrings(hidden_s);
  std::vector<char*> view_parents = cStrings(parents_s);
  std::vector<char*> envp = cStrings(env_s);
  sock_fprog prog{};
  if (filter) prog = filter->prog();

  std::optional<AppRootfs> rootfs;
  if (!spec.rootfs.empty()) {
    SC_ASSIGN_OR_RETURN(rootfs, AppRootfs::prepare(spec));
  }

  ChildPlan p;
  p.rootfs = rootfs ? rootfs->plan() : nullptr;
  p.netns_fd = netns.get();
  p.report_fd = report_w.get();
  p.go_fd = go_r.get();
  p.stdin_fd = devnull.get();
  p.log_fd = log.valid() ? log.get() : devnull.get();
  p.hosts = spec.hosts_file.empty() ? nullptr : spec.hosts_file.c_str();
  p.view_dir = view_dir.c_str();
  p.hidden = hidden.data();
  p.view_parents = view_parents.data();
  p.hostname = spec.hostname.empty() ? nullptr : spec.hostname.c_str();
  p.binary = spec.binary.c_str();
  p.argv = argv.data();
  p.envp = envp.data();
  p.uid = spec.uid;
  p.gid = spec.gid;
  p.caps = spec.capabilities;
  p.seccomp = filter ? &prog : nullptr;

  pid_t shim_pid = fork();
  if (shim_pid < 0) return errnoError(errno, "fork", spec.name);
  if (shim_pid == 0) shim(p);

  report_w.reset();
  go_r.reset();
  Container c;
  c.record_.shim_pid = shim_pid;
  c.record_.cgroup = spec.cgroup;
  c.shim_is_child_ = true;
  auto abort = [&](Error e) -> Error {
    if (c.record_.pid > 0) ::kill(c.record_.pid, SIGKILL);
    ::kill(shim_pid, SIGKILL);
    int st = 0;
    while (waitpid(shim_pid, &st, 0) < 0 && errno == EINTR) {
    }
    c.shim_is_child_ = false;
    return e;
  };
  // First message: the init's pid (sizeof(pid_t) bytes) or a Report from the shim.
  char buf[sizeof(Report)];
  ssize_t n;
  do {
    n = read(report_r.get(), buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(Report))) {
    Report r;
    std::memcpy(&r, buf, sizeof r);
    return abort(makeError(ErrorCode::kInternal, "launch", spec.name,
                           std::string(stepName(r.step)) + ": " + std::strerror(r.err)));
  }
  if (n != static_cast<ssize_t>(sizeof(pid_t))) {
    return abort(makeError(ErrorCode::kInternal, "launch", spec.name, "the shim exited early"));
  }
  std::memcpy(&c.record_.pid, buf, sizeof(pid_t));
  c.pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, c.record_.pid, 0)));
  if (!c.pidfd_.valid()) return abort(errnoError(errno, "open pidfd of", spec.name));
  auto st = processStartTime(c.record_.pid);
  if (!st.ok()) return abort(st.error());
  c.record_.start_time = *st;
  if (place) {
    Result<void> placed = place(c.record_.pid);
    if (!placed.ok()) return abort(placed.error());
  }
  char go_byte = 1;
  if (write(go_w.get(), &go_byte, 1) != 1) return abort(errnoError(errno, "start", spec.name));
  go_w.reset();
  // Then EOF (exec succeeded: the close-on-exec pipe closed) or a Report from the init.
  do {
    n = read(report_r.get(), buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(Report))) {
    Report r;
    std::memcpy(&r, buf, sizeof r);
    return abort(makeError(ErrorCode::kInternal, "launch", spec.name,
                           std::string(stepName(r.step)) + ": " + std::strerror(r.err)));
  }
  return c;
}

Result<Container> Container::adopt(const ContainerRecord& record) {
  if (record.pid <= 0) return makeError(ErrorCode::kNotFound, "adopt", "container", "no pid recorded");
  const std::string who = "pid " + std::to_string(record.pid);
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, record.pid, 0)));
  if (!fd.valid()) return makeError(ErrorCode::kNotFound, "adopt", who, std::strerror(errno));
  auto st = processStartTime(record.pid);
  if (!st.ok() || *st != record.start_time) {
    return makeError(ErrorCode::kNotFound, "adopt", who, "the process is gone (pid reused)");
  }
  if (!record.cgroup.empty()) {
    auto cg = readFile("/proc/" + std::to_string(record.pid) + "/cgroup");
    // The proxy lives in <task cgroup>/proxy, an app in <task cgroup>/app-<name>.
    if (!cg.ok() || cg->find(":/" + record.cgroup + "/") == std::string::npos) {
      return makeError(ErrorCode::kNotFound, "adopt", who, "not in cgroup '" + record.cgroup + "'");
    }
  }
  Container c;
  c.record_ = record;
  c.pidfd_ = std::move(fd);
  c.shim_is_child_ = false;
  return c;
}

bool Container::running() const {
  if (!pidfd_.valid()) return false;
  pollfd p{pidfd_.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

bool Container::waitExit(std::chrono::milliseconds timeout) {
  if (!pidfd_.valid()) return true;
  pollfd p{pidfd_.get(), POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (r < 0 && errno == EINTR);
  if (r > 0) reap();
  return r > 0;
}

Result<void> Container::signal(int sig) {
  if (!pidfd_.valid()) return makeError(ErrorCode::kNotFound, "signal", "container", "not running");
  if (syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0) != 0) {
    if (errno == ESRCH) return ok();
    return errnoError(errno, "signal", "pid " + std::to_string(record_.pid));
  }
  return ok();
}

void Container::reap(std::chrono::milliseconds wait) {
  const auto end = std::chrono::steady_clock::now() + wait;
  while (shim_is_child_) {
    int st = 0;
    pid_t r = waitpid(record_.shim_pid, &st, WNOHANG);
    if (r == record_.shim_pid || (r < 0 && errno != EINTR)) {
      if (r == record_.shim_pid) exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      shim_is_child_ = false;
      break;
    }
    if (std::chrono::steady_clock::now() >= end) break;
    usleep(1000);
  }
}

}  // namespace sc::inject
