#include "inject/seccomp_filter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>

#include "common/unique_fd.h"

namespace sc::inject {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& name) {
  return std::find(v.begin(), v.end(), name) != v.end();
}

TEST(SeccompFilterTest, TheAttackSurfaceIsRefusedAndNeverAllowedByName) {
  const auto& allowed = allowedSyscalls();
  const auto& refused = refusedSyscalls();
  for (const char* name : {"io_uring_setup",
                           "io_uring_enter",
                           "io_uring_register",
                           "bpf",
                           "keyctl",
                           "add_key",
                           "request_key",
                           "mount",
                           "umount2",
                           "fsopen",
                           "fsmount",
                           "move_mount",
                           "open_tree",
                           "mount_setattr",
                           "pivot_root",
                           "unshare",
                           "setns",
                           "userfaultfd",
                           "perf_event_open",
                           "ptrace",
                           "process_vm_readv",
                           "process_vm_writev",
                           "kexec_load",
                           "kexec_file_load",
                           "init_module",
                           "finit_module",
                           "delete_module",
                           "reboot",
                           "swapon",
                           "swapoff"}) {
    EXPECT_TRUE(contains(refused, name)) << name;
    EXPECT_FALSE(contains(allowed, name)) << name;
  }
  for (const std::string& name : refused) EXPECT_FALSE(contains(allowed, name)) << name;
  // Argument-filtered: never allowed by name alone.
  for (const char* name : {"clone", "clone3", "socket", "personality", "chroot"}) {
    EXPECT_FALSE(contains(allowed, name)) << name;
    EXPECT_FALSE(contains(refused, name)) << name;
  }
}

TEST(SeccompFilterTest, WhatProgramsNeedIsAllowedAndListedOnce) {
  const auto& allowed = allowedSyscalls();
  for (const char* name : {"read",         "write",      "openat",       "close",   "mmap",       "epoll_create1",
                           "epoll_ctl",    "epoll_wait", "epoll_pwait",  "accept4", "bind",       "listen",
                           "connect",      "splice",     "sendmsg",      "recvmsg", "socketpair", "execve",
                           "wait4",        "futex",      "rt_sigaction", "prctl",   "setsockopt", "getrandom",
                           "memfd_create", "pidfd_open", "arch_prctl",   "vfork",   "fork"}) {
    EXPECT_TRUE(contains(allowed, name)) << name;
  }
  EXPECT_EQ(std::set<std::string>(allowed.begin(), allowed.end()).size(), allowed.size());
  const auto& refused = refusedSyscalls();
  EXPECT_EQ(std::set<std::string>(refused.begin(), refused.end()).size(), refused.size());
}

// What one system call returned: the value, and errno when it failed.
struct Outcome {
  long rc = 0;
  int err = 0;
};

struct Probe {
  const char* what;
  long (*call)();
};

// Each probe's arguments make the unfiltered kernel answer something other than EPERM whatever the
// caller's privileges (checked below), so an EPERM under the filter is the filter's.
const std::array kProbes = {
    Probe{"io_uring_setup", [] { return syscall(SYS_io_uring_setup, 1, nullptr); }},                  // EFAULT
    Probe{"bpf", [] { return syscall(SYS_bpf, 0, nullptr, 0); }},                                     // EINVAL
    Probe{"keyctl", [] { return syscall(SYS_keyctl, 9999, 0, 0, 0, 0); }},                            // EOPNOTSUPP
    Probe{"add_key", [] { return syscall(SYS_add_key, nullptr, nullptr, nullptr, 0, 0); }},           // EFAULT
    Probe{"umount2", [] { return syscall(SYS_umount2, "/nonexistent", 0xffff); }},                    // EINVAL
    Probe{"setns", [] { return syscall(SYS_setns, -1, 0); }},                                         // EBADF
    Probe{"ptrace", [] { return syscall(SYS_ptrace, PTRACE_PEEKDATA, 0, 0, 0); }},                    // ESRCH
    Probe{"perf_event_open", [] { return syscall(SYS_perf_event_open, nullptr, 0, -1, -1, ~0ul); }},  // EINVAL
    // CLONE_NEWUSER with CLONE_FS is invalid: EINVAL, and nothing is created.
    Probe{"clone NEWUSER", [] { return syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS | SIGCHLD, 0, 0, 0, 0); }},
    Probe{"clone3", [] { return syscall(SYS_clone3, nullptr, 0); }},  // EINVAL
    // In neither list: Docker allows it only with CAP_SYS_NICE. Succeeds unfiltered.
    Probe{"get_mempolicy", [] { return syscall(SYS_get_mempolicy, nullptr, nullptr, 0, nullptr, 0); }},
};

// The ordinary calls, which the filter lets through.
const std::array kAllowedProbes = {
    Probe{"getpid", [] { return syscall(SYS_getpid); }},
    Probe{"epoll_create1", [] { return syscall(SYS_epoll_create1, 0); }},
    Probe{"socket AF_UNIX", [] { return syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); }},
    Probe{"socket AF_INET", [] { return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }},
    Probe{"personality query", [] { return syscall(SYS_personality, 0xffffffffu); }},
    Probe{"clone",
          [] {
            long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
            if (pid == 0) _exit(0);
            if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
            return pid;
          }},
};

constexpr size_t kMaxProbes = 16;
using Outcomes = std::array<Outcome, kMaxProbes>;

// Runs `probes` in a forked child that loaded `filter` (none: unfiltered) and returns what each
// call answered. Between fork and _exit the child makes system calls only.
template <size_t N>
Outcomes runInChild(const std::array<Probe, N>& probes, SeccompProgram* filter) {
  static_assert(N <= kMaxProbes);
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  sock_fprog prog{};
  if (filter) prog = filter->prog();
  const pid_t pid = fork();
  if (pid == 0) {
    Outcomes out{};
    if (filter && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, 2, &prog, 0, 0) != 0)) {
      _exit(2);
    }
    for (size_t i = 0; i < N; ++i) {
      errno = 0;
      out[i].rc = probes[i].call();
      out[i].err = out[i].rc < 0 ? errno : 0;
    }
    _exit(write(w.get(), &out, sizeof out) == sizeof out ? 0 : 3);
  }
  w.reset();
  Outcomes out{};
  EXPECT_EQ(read(r.get(), &out, sizeof out), static_cast<ssize_t>(sizeof out));
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  return out;
}

TEST(SeccompFilterTest, LoadedInAChildTheFilterRefusesTheAttacksWithEpermAndClone3WithEnosys) {
  auto filter = buildContainerSeccomp(0);
  ASSERT_TRUE(filter.ok()) << filter.error().message;
  const Outcomes plain = runInChild(kProbes, nullptr);
  const Outcomes filtered = runInChild(kProbes, &*filter);
  for (size_t i = 0; i < kProbes.size(); ++i) {
    const std::string what = kProbes[i].what;
    // The control: the kernel itself does not answer EPERM.
    EXPECT_NE(plain[i].err, EPERM) << what;
    EXPECT_EQ(filtered[i].rc, -1) << what;
    EXPECT_EQ(filtered[i].err, what == "clone3" ? ENOSYS : EPERM) << what << ": " << strerrorname_np(filtered[i].err);
  }
}

TEST(SeccompFilterTest, LoadedInAChildTheFilterLetsOrdinaryCallsThrough) {
  auto filter = buildContainerSeccomp(0);
  ASSERT_TRUE(filter.ok()) << filter.error().message;
  const Outcomes filtered = runInChild(kAllowedProbes, &*filter);
  for (size_t i = 0; i < kAllowedProbes.size(); ++i) {
    EXPECT_GE(filtered[i].rc, 0) << kAllowedProbes[i].what << ": " << strerrorname_np(filtered[i].err);
  }
}

// The families Docker refuses, and personas other than the few Docker allows.
TEST(SeccompFilterTest, SocketFamiliesAndPersonasOutsideDockersListAreRefused) {
  static const std::array probes = {
      Probe{"socket AF_ALG", [] { return syscall(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0); }},
      Probe{"socket AF_VSOCK", [] { return syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0); }},
      Probe{"personality READ_IMPLIES_EXEC", [] { return syscall(SYS_personality, READ_IMPLIES_EXEC); }},
  };
  auto filter = buildContainerSeccomp(0);
  ASSERT_TRUE(filter.ok()) << filter.error().message;
  const Outcomes plain = runInChild(probes, nullptr);
  const Outcomes filtered = runInChild(probes, &*filter);
  for (size_t i = 0; i < probes.size(); ++i) {
    EXPECT_NE(plain[i].err, EPERM) << probes[i].what;
    EXPECT_EQ(filtered[i].err, EPERM) << probes[i].what << ": " << strerrorname_np(filtered[i].err);
  }
}

// chroot(2) follows CAP_SYS_CHROOT, as in Docker's profile: a missing directory answers ENOENT only
// when the filter let the call through.
TEST(SeccompFilterTest, ChrootIsAllowedOnlyWithCapSysChroot) {
  static const std::array probes = {Probe{"chroot", [] { return syscall(SYS_chroot, "/nonexistent-sc-chroot"); }}};
  auto without = buildContainerSeccomp(0);
  auto with = buildContainerSeccomp(1ull << CAP_SYS_CHROOT);
  ASSERT_TRUE(without.ok() && with.ok());
  EXPECT_EQ(runInChild(probes, &*without)[0].err, EPERM);
  EXPECT_EQ(runInChild(probes, &*with)[0].err, ENOENT);
}

}  // namespace
}  // namespace sc::inject
