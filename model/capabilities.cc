#include "model/capabilities.h"

#include <array>
#include <utility>

#include "common/strings.h"

namespace sc::model {
namespace {

// Index = the kernel's capability number (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40). Empty:
// a capability the ECS API does not name (PERFMON, BPF, CHECKPOINT_RESTORE, AUDIT_READ).
constexpr std::array<std::string_view, 41> kNames = {"CHOWN",
                                                     "DAC_OVERRIDE",
                                                     "DAC_READ_SEARCH",
                                                     "FOWNER",
                                                     "FSETID",
                                                     "KILL",
                                                     "SETGID",
                                                     "SETUID",
                                                     "SETPCAP",
                                                     "LINUX_IMMUTABLE",
                                                     "NET_BIND_SERVICE",
                                                     "NET_BROADCAST",
                                                     "NET_ADMIN",
                                                     "NET_RAW",
                                                     "IPC_LOCK",
                                                     "IPC_OWNER",
                                                     "SYS_MODULE",
                                                     "SYS_RAWIO",
                                                     "SYS_CHROOT",
                                                     "SYS_PTRACE",
                                                     "SYS_PACCT",
                                                     "SYS_ADMIN",
                                                     "SYS_BOOT",
                                                     "SYS_NICE",
                                                     "SYS_RESOURCE",
                                                     "SYS_TIME",
                                                     "SYS_TTY_CONFIG",
                                                     "MKNOD",
                                                     "LEASE",
                                                     "AUDIT_WRITE",
                                                     "AUDIT_CONTROL",
                                                     "SETFCAP",
                                                     "MAC_OVERRIDE",
                                                     "MAC_ADMIN",
                                                     "SYSLOG",
                                                     "WAKE_ALARM",
                                                     "BLOCK_SUSPEND",
                                                     "",
                                                     "",
                                                     "",
                                                     ""};

uint64_t bit(std::string_view name) { return 1ull << *capabilityNumber(name); }

uint64_t allNamed() {
  uint64_t m = 0;
  for (size_t i = 0; i < kNames.size(); ++i)
    if (!kNames[i].empty()) m |= 1ull << i;
  return m;
}

}  // namespace

std::optional<int> capabilityNumber(std::string_view name) {
  if (name.empty()) return std::nullopt;
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<int>(i);
  return std::nullopt;
}

bool isCapabilityName(std::string_view name) { return name == "ALL" || capabilityNumber(name).has_value(); }

uint64_t dockerDefaultCapabilities() {
  uint64_t m = 0;
  for (std::string_view n : {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                             "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"})
    m |= bit(n);
  return m;
}

std::vector<std::string> capabilityNames(uint64_t mask) {
  std::vector<std::string> out;
  for (size_t i = 0; i < kNames.size(); ++i)
    if ((mask >> i) & 1) out.emplace_back(kNames[i].empty() ? "CAP_" + std::to_string(i) : std::string(kNames[i]));
  return out;
}

Result<uint64_t> containerCapabilities(const std::vector<std::string>& add, const std::vector<std::string>& drop,
                                       uint64_t allowed_adds) {
  auto maskOf = [](const std::vector<std::string>& names, const char* member) -> Result<uint64_t> {
    uint64_t m = 0;
    for (const std::string& n : names) {
      if (n == "ALL") {
        m |= allNamed();
      } else if (auto nr = capabilityNumber(n)) {
        m |= 1ull << *nr;
      } else {
        return makeError(ErrorCode::kInvalidArgument, "read", std::string("linuxParameters.capabilities.") + member,
                         "unknown capability '" + n + "'");
      }
    }
    return m;
  };
  SC_ASSIGN_OR_RETURN(uint64_t added, maskOf(add, "add"));
  SC_ASSIGN_OR_RETURN(uint64_t dropped, maskOf(drop, "drop"));
  const uint64_t refused = added & ~allowed_adds & ~dockerDefaultCapabilities();
  if (refused != 0) {
    return makeError(
        ErrorCode::kFailedPrecondition, "grant", "linuxParameters.capabilities.add",
        join(capabilityNames(refused), ", ") + " cannot be added: scagent grants at most Docker's default set");
  }
  return (dockerDefaultCapabilities() & ~dropped) | added;
}

}  // namespace sc::model
