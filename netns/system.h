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
  // Ports bound on the host (listening TCP sockets, bound UDP sockets), IPv4 and IPv6.
  virtual Result<std::set<int>> portsInUse(Proto proto) = 0;
};

class RealHostSystem final : public HostSystem {
 public:
  // HostSystem
  Result<std::string> sysctlGet(SysNet key) override;
  Result<void> sysctlSet(SysNet key, const std::string& value) override;
  Result<std::set<int>> portsInUse(Proto proto) override;
};

// Parses /proc/net/{tcp,tcp6,udp,udp6}: the local ports of sockets in `state` (hex, "0A" LISTEN;
// "07" an unconnected UDP socket), or of every socket when `state` is empty. Pure.
std::set<int> parseProcNetPorts(const std::string& text, const std::string& state);

}  // namespace sc::netns
