// HostSystem: the few host settings the sandbox reads or changes, behind an enum so a typo cannot
// write an arbitrary /proc/sys file (patchpanel System::SysNetSet()).
#pragma once

#include <set>
#include <string>

#include "common/result.h"
#include "netns/rules.h"

namespace sc::netns {

enum class SysNet { kIpv4Forward };

class HostSystem {
 public:
  virtual ~HostSystem() = default;
  virtual Result<std::string> sysctlGet(SysNet key) = 0;  // trimmed value, e.g. "0"
  virtual Result<void> sysctlSet(SysNet key, const std::string& value) = 0;
  // Whether a socket on the host holds `port` (IPv4 or IPv6).
  virtual bool portInUse(Proto proto, int port) = 0;
};

class RealHostSystem final : public HostSystem {
 public:
  // HostSystem
  Result<std::string> sysctlGet(SysNet key) override;
  Result<void> sysctlSet(SysNet key, const std::string& value) override;
  // Tries to bind [::]:port (dual-stack, no SO_REUSEADDR): O(1) per port, where reading
  // /proc/net/tcp walks the kernel's whole socket hash (about 10 ms on a 24 GiB host).
  bool portInUse(Proto proto, int port) override;
};

}  // namespace sc::netns
