#include "inject/seccomp_filter.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/unique_fd.h"

namespace sc::inject {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }
};
using CtxPtr = std::unique_ptr<void, CtxDeleter>;

// clone(2) with a namespace flag: one rule per flag (arg0 & flag == flag). clone3: ENOSYS.
Result<void> addCloneRules(scmp_filter_ctx c) {
  for (int flag :
       {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET}) {
    const auto bit = static_cast<scmp_datum_t>(static_cast<unsigned>(flag));
    int rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit));
    if (rc != 0) return errnoError(-rc, "add seccomp rule for", "clone");
  }
  int rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc != 0) return errnoError(-rc, "add seccomp rule for", "clone3");
  return ok();
}

}  // namespace

const std::vector<std::string>& deniedSyscalls() {
  static const std::vector<std::string> kDenied = {"mount",
                                                   "umount2",
                                                   "pivot_root",
                                                   "move_mount",
                                                   "open_tree",
                                                   "fsopen",
                                                   "fsconfig",
                                                   "fsmount",
                                                   "fspick",
                                                   "mount_setattr",
                                                   "ptrace",
                                                   "process_vm_readv",
                                                   "process_vm_writev",
                                                   "kexec_load",
                                                   "kexec_file_load",
                                                   "bpf",
                                                   "init_module",
                                                   "finit_module",
                                                   "delete_module",
                                                   "keyctl",
                                                   "add_key",
                                                   "request_key",
                                                   "unshare",
                                                   "setns",
                                                   "swapon",
                                                   "swapoff",
                                                   "reboot",
                                                   "perf_event_open",
                                                   "open_by_handle_at",
                                                   "name_to_handle_at",
                                                   "userfaultfd",
                                                   "iopl",
                                                   "ioperm",
                                                   "acct",
                                                   "settimeofday",
                                                   "clock_settime",
                                                   "clock_adjtime",
                                                   "adjtimex",
                                                   "sethostname",
                                                   "setdomainname",
                                                   "syslog",
                                                   "quotactl",
                                                   "lookup_dcookie",
                                                   "vhangup",
                                                   "personality",
                                                   "chroot",
                                                   "io_uring_setup",
                                                   "io_uring_enter",
                                                   "io_uring_register"};
  return kDenied;
}

Result<SeccompProgram> buildProxySeccomp() {
  CtxPtr ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return makeError(ErrorCode::kInternal, "create", "seccomp filter", "seccomp_init failed");
  auto c = static_cast<scmp_filter_ctx>(ctx.get());
  for (const std::string& name : deniedSyscalls()) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp: nothing to deny
    int rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0) return errnoError(-rc, "add seccomp rule for", name);
  }
  SC_TRY(addCloneRules(c));
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

}  // namespace sc::inject
