// The containers' seccomp filter (apps and the proxy alike): an allowlist in the spirit of Docker's
// default profile. Built with libseccomp in the parent (only inject/seccomp_filter.cc includes
// seccomp.h) and exported as a BPF program the launcher's child loads with prctl(2), so the child
// allocates nothing between fork and exec.
//
// What the filter answers (docs/security.md):
//   * a name of `allowedSyscalls()`: allowed, whatever the arguments;
//   * clone(2): allowed unless a namespace flag is set (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
//     NEWUSER, NEWPID, NEWNET); CLONE_NEWUSER needs no capability, so only the filter stops it;
//   * clone3(2): ENOSYS (seccomp cannot read its flags from memory; glibc then falls back to clone);
//   * socket(2): allowed unless the family is AF_ALG or AF_VSOCK;
//   * personality(2): allowed for the personas Docker allows (0, PER_LINUX32, UNAME26 and both,
//     and 0xffffffff, the query);
//   * chroot(2): allowed when the container holds CAP_SYS_CHROOT (an app with Docker's defaults),
//     as Docker does;
//   * anything else, `refusedSyscalls()` among them: EPERM (the default action), as Docker answers.
// The filter is for the native architecture only: a call through another ABI (x86's int 0x80, x32)
// kills the process (libseccomp's architecture check).
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace sc::inject {

// The names allowed whatever their arguments: Docker's unconditional list (moby/profiles
// seccomp/default.json, syscalls[0]) with its per-architecture additions, minus ptrace(2) and
// process_vm_readv/writev(2), which Docker allows on kernels >= 4.8 and scagent does not. Names this
// libseccomp or architecture does not know are skipped when the filter is built.
const std::vector<std::string>& allowedSyscalls();

// Notable names the filter refuses (EPERM): io_uring, bpf, the key ring, mount and the new mount
// API, unshare/setns, userfaultfd, perf_event_open, ptrace and its relatives, kexec, modules,
// reboot, swap, and the rest of what Docker allows only with a capability no container here holds.
// None is in `allowedSyscalls()`; the default action refuses any other name too.
const std::vector<std::string>& refusedSyscalls();

struct SeccompProgram {
  std::vector<sock_filter> code;
  sock_fprog prog() { return {static_cast<unsigned short>(code.size()), code.data()}; }
};

// Builds the filter for a container holding `capabilities` (a bit per CAP_*; only CAP_SYS_CHROOT
// changes the filter). Allocates; call it before fork.
Result<SeccompProgram> buildContainerSeccomp(uint64_t capabilities);

}  // namespace sc::inject
