// Container launcher: runs a program in new mount, PID, UTS and IPC namespaces inside an existing
// network namespace, with a private /tmp, the task's hosts file at /etc/hosts, a run directory, a
// cgroup, a seccomp filter, the capabilities it is given and no more, no new privileges.
//
// Two views of the filesystem: the proxy sees the host read-only, minus `hidden_dirs` (each covered by
// an empty read-only tmpfs, e.g. the agent's run and state roots) and plus its `view_dir` (its own
// task directory, bound back writable for whoever owns what is in it); an app sees its image through an
// overlay (the image is the read-only lower layer, each container has its own writable layer), with
// a fresh /proc whose host-wide knobs are read-only or masked as in runc's default spec, a /dev
// tmpfs holding only null, zero, random, urandom and shm, nosuid and nodev everywhere. Every mount
// point inside the image is resolved beneath it (openat2 RESOLVE_IN_ROOT): a symlink in the image
// cannot send a mount, or a file the agent creates, outside; a FIFO or symlink where a file is
// mounted is replaced in the writable layer, never opened.
//
// Process shape: agent -> shim (the agent's forked child: joins the netns, unshares, waits) ->
// container init (pid 1 of the new PID namespace, execs the program). The shim relays the exit
// status; the agent supervises the container through a pidfd on its init, which also works after an
// agent restart (re-adoption by pid + start time + cgroup).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sc::inject {

inline constexpr uid_t kProxyUid = 20000;  // AppNetUID in the ECS agent
inline constexpr gid_t kProxyGid = 20000;
inline constexpr uint64_t kNetBindServiceOnly = 1ull << 10;  // CAP_NET_BIND_SERVICE

// A tmpfs mounted in an app container (linuxParameters.tmpfs).
struct TmpfsSpec {
  std::string path;                                          // absolute, inside the container
  std::vector<std::pair<std::string, std::string>> options;  // fsconfig strings: size, mode, uid, gid, nr_inodes
  uint64_t attrs = 0;                                        // MOUNT_ATTR_* beyond nosuid,nodev (rdonly, noexec)
};

struct ContainerSpec {
  std::string name;        // for messages
  std::string netns_path;  // /run/netns/<name>; empty: stay in the agent's network namespace
  std::string hostname;
  std::string hosts_file;  // bind-mounted read-only at /etc/hosts; empty: the host's
  std::string run_dir;     // stays writable inside; created 0700 and owned by uid/gid
  // The proxy: the directory bound back into its view (writable as far as its owners allow), holding
  // run_dir; empty: run_dir. Must exist.
  std::string view_dir;
  // The proxy: directories hidden under an empty read-only tmpfs (absolute, existing; others are
  // skipped); view_dir stays visible even beneath one of them.
  std::vector<std::string> hidden_dirs;
  // Empty: a read-only view of the host (the proxy). Otherwise the image directory (apps): the lower
  // layer of the container's root, never written.
  std::string rootfs;
  // Apps: the container's writable layer (upper/, work/) and the mount point of its root (root/);
  // created here, removed by the caller. Empty: <run_dir>.layer. Paths without ',', ':' or '\\'.
  std::string layer_dir;
  bool readonly_rootfs = false;    // apps: the root read-only (readonlyRootFilesystem); /tmp stays writable
  int64_t shm_bytes = 64ll << 20;  // apps: the size of /dev/shm (Docker's default)
  std::vector<TmpfsSpec> tmpfs;    // apps
  std::string log_file;            // stdout and stderr (appended); empty: /dev/null
  std::string binary;              // absolute path
  std::vector<std::string> args;
  std::vector<std::string> env;  // empty: PATH only
  uid_t uid = kProxyUid;
  gid_t gid = kProxyGid;
  // The capabilities the program keeps (bounding, permitted, effective, inheritable, ambient), as a
  // mask of 1 << CAP_*. The default: NET_BIND_SERVICE only (the proxy).
  uint64_t capabilities = kNetBindServiceOnly;
  // The allowlist of inject/seccomp_filter.h, built for `capabilities`; false only in tests (controls).
  bool seccomp = true;
  std::string cgroup;  // the task cgroup name (TaskCgroup); empty: none
};

// What the agent persists to find a running container again.
struct ContainerRecord {
  pid_t pid = 0;            // container init, in the host PID namespace
  uint64_t start_time = 0;  // /proc/<pid>/stat field 22
  pid_t shim_pid = 0;
  std::string cgroup;  // task cgroup name
};

// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot).
Result<uint64_t> processStartTime(pid_t pid);

class Container {
 public:
  Container() = default;
  Container(Container&&) noexcept = default;
  Container& operator=(Container&&) noexcept = default;
  ~Container();

  // Launches and returns once the program has been exec'd (or an error naming the failed step).
  // `place` runs in the agent with the init's pid before the init may continue (cgroup placement).
  static Result<Container> launch(const ContainerSpec& spec, const std::function<Result<void>(pid_t)>& place = {});
  // Finds a container launched earlier (maybe by another agent process); kNotFound when it is gone
  // or the pid was reused.
  static Result<Container> adopt(const ContainerRecord& record);

  const ContainerRecord& record() const { return record_; }
  pid_t pid() const { return record_.pid; }
  int pidfd() const { return pidfd_.get(); }
  // True while the container's init runs.
  bool running() const;
  // Waits up to `timeout` for the init to exit; true when it did.
  bool waitExit(std::chrono::milliseconds timeout);
  Result<void> signal(int sig);
  // Reaps the shim if it is our child, waiting up to `wait` for it to exit. Safe to call many times.
  void reap(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  // The program's exit status as the shim relayed it (128 + signal when killed); known once reap()
  // collected a shim that is our child, unknown for an adopted container.
  std::optional<int> exitCode() const { return exit_code_; }

 private:
  ContainerRecord record_;
  UniqueFd pidfd_;
  bool shim_is_child_ = false;
  std::optional<int> exit_code_;
};

}  // namespace sc::inject
