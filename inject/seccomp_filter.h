// The proxy's seccomp filter, built with libseccomp in the parent (only inject/seccomp_filter.cc
// includes seccomp.h) and exported as a BPF program the launcher's child loads with prctl(2), so the
// child allocates nothing between fork and exec.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "common/result.h"

namespace sc::inject {

// Syscalls a proxy or an app never needs; they fail with EPERM. Besides these, clone(2) with any
// namespace flag (CLONE_NEWUSER needs no capability) fails with EPERM, and clone3(2) with ENOSYS
// (seccomp cannot read its flags; glibc then falls back to clone), as in Docker's default profile.
const std::vector<std::string>& deniedSyscalls();

struct SeccompProgram {
  std::vector<sock_filter> code;
  sock_fprog prog() { return {static_cast<unsigned short>(code.size()), code.data()}; }
};

Result<SeccompProgram> buildProxySeccomp();

}  // namespace sc::inject
