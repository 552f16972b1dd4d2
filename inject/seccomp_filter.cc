#include "inject/seccomp_filter.h"

#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>
#include <memory>

#include "common/unique_fd.h"

namespace sc::inject {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }
};
using CtxPtr = std::unique_ptr<void, CtxDeleter>;

// The namespace flags clone(2) must not carry (Docker's mask 0x7E020000). CLONE_NEWTIME shares its
// bit with the exit signal in clone(2), so only unshare(2) could ask for it, and unshare is refused.
constexpr scmp_datum_t kCloneNamespaceFlags =
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
static_assert(kCloneNamespaceFlags == 0x7E020000);

// The personas Docker allows: the default, PER_LINUX32, UNAME26, both, and the query 0xffffffff.
constexpr scmp_datum_t kPersonas[] = {PER_LINUX, PER_LINUX32, UNAME26, scmp_datum_t{UNAME26} | PER_LINUX32,
                                      0xffffffffu};

// The native number of `name`, or a negative value when this libseccomp or architecture lacks it.
int nativeNumber(const char* name) { return seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, name); }

Result<void> addRule(scmp_filter_ctx c, uint32_t action, const char* name, unsigned count, const scmp_arg_cmp* args) {
  const int nr = nativeNumber(name);
  if (nr < 0) return ok();  // unknown here: the default action answers it
  const int rc = seccomp_rule_add_array(c, action, nr, count, args);
  if (rc != 0) return errnoError(-rc, "add seccomp rule for", name);
  return ok();
}

Result<void> allow(scmp_filter_ctx c, const char* name, std::initializer_list<scmp_arg_cmp> args = {}) {
  return addRule(c, SCMP_ACT_ALLOW, name, static_cast<unsigned>(args.size()), args.begin());
}

// The rules that look at arguments, as in Docker's profile (see the header).
Result<void> addConditionalRules(scmp_filter_ctx c, uint64_t capabilities) {
  SC_TRY(allow(c, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, kCloneNamespaceFlags, 0)}));
  SC_TRY(addRule(c, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, nullptr));
  SC_TRY(allow(c, "socket", {SCMP_A0(SCMP_CMP_LT, AF_ALG)}));
  for (scmp_datum_t family = AF_ALG + 1; family < AF_VSOCK; ++family) {
    SC_TRY(allow(c, "socket", {SCMP_A0(SCMP_CMP_EQ, family)}));
  }
  SC_TRY(allow(c, "socket", {SCMP_A0(SCMP_CMP_GT, AF_VSOCK)}));
  for (scmp_datum_t persona : kPersonas) SC_TRY(allow(c, "personality", {SCMP_A0(SCMP_CMP_EQ, persona)}));
  if ((capabilities >> CAP_SYS_CHROOT) & 1) SC_TRY(allow(c, "chroot"));
  return ok();
}

Result<SeccompProgram> exportBpf(scmp_filter_ctx c) {
  UniqueFd mem(memfd_create("sc-seccomp", MFD_CLOEXEC));
  if (!mem.valid()) return errnoError(errno, "create", "memfd for seccomp");
  int rc = seccomp_export_bpf(c, mem.get());
  if (rc != 0) return errnoError(-rc, "export", "seccomp filter");
  off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    return makeError(ErrorCode::kInternal, "export", "seccomp filter", "bad BPF size");
  }
  SeccompProgram p;
  p.code.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  if (pread(mem.get(), p.code.data(), static_cast<size_t>(size), 0) != size) {
    return errnoError(errno, "read", "seccomp filter");
  }
  return p;
}

}  // namespace

const std::vector<std::string>& allowedSyscalls() {
  static const std::vector<std::string> kAllowed = {
      // Docker's unconditional list (moby/profiles seccomp/default.json).
      "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
      "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
      "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
      "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
      "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve",
      "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
      "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl",
      "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
      "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue",
      "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
      "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
      "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
      "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname",
      "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
      "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
      "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
      "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
      "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek",
      "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier",
      "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall",
      "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
      "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd",
      "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
      "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
      "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
      "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
      "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
      "remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2", "restart_syscall",
      "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
      "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
      "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
      "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
      "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
      "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
      "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
      "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
      "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
      "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget",
      "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
      "splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync",
      "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
      "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
      "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
      "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat",
      "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
      // Docker's per-architecture additions (ppc64le, arm, x86_64/x32/x86, s390, riscv64); on any
      // other architecture libseccomp does not resolve them and they are skipped.
      "sync_file_range2", "swapcontext", "arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
      "set_tls", "arch_prctl", "modify_ldt", "s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr",
      "riscv_flush_icache"};
  return kAllowed;
}

const std::vector<std::string>& refusedSyscalls() {
  static const std::vector<std::string> kRefused = {
      // io_uring: a kernel surface with a long record of exploits; Docker dropped it in v25.
      "io_uring_setup", "io_uring_enter", "io_uring_register",
      // eBPF, the key ring, userfaultfd (a tool of kernel race exploits), perf events.
      "bpf", "keyctl", "add_key", "request_key", "userfaultfd", "perf_event_open",
      // Namespaces and mounts: no new namespace, no joining another, no mount of any kind.
      "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
      "move_mount", "open_tree", "mount_setattr",
      // Another process's memory and descriptors.
      "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
      // The kernel and the machine.
      "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
      "acct", "iopl", "ioperm", "settimeofday", "stime", "clock_settime", "clock_settime64", "sethostname",
      "setdomainname", "syslog", "quotactl", "quotactl_fd", "lookup_dcookie", "vhangup", "fanotify_init",
      "open_by_handle_at", "uselib", "nfsservctl", "vm86", "vm86old", "lsm_get_self_attr", "lsm_set_self_attr",
      "lsm_list_modules"};
  return kRefused;
}

Result<SeccompProgram> buildContainerSeccomp(uint64_t capabilities) {
  CtxPtr ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  if (!ctx) return makeError(ErrorCode::kInternal, "create", "seccomp filter", "seccomp_init failed");
  auto c = static_cast<scmp_filter_ctx>(ctx.get());
  for (const std::string& name : allowedSyscalls()) SC_TRY(allow(c, name.c_str()));
  SC_TRY(addConditionalRules(c, capabilities));
  return exportBpf(c);
}

}  // namespace sc::inject
