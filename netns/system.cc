#include "netns/system.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/file.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace sc::netns {
namespace {

const char* sysctlPath(SysNet key) {
  switch (key) {
    case SysNet::kIpv4Forward: return "/proc/sys/net/ipv4/ip_forward";
  }
  return "";
}

}  // namespace

Result<std::string> RealHostSystem::sysctlGet(SysNet key) {
  SC_ASSIGN_OR_RETURN(std::string v, readFile(sysctlPath(key), 4096));
  return std::string(trim(v));
}

Result<void> RealHostSystem::sysctlSet(SysNet key, const std::string& value) {
  const char* path = sysctlPath(key);
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return errnoError(errno, "open", path);
  const std::string line = value + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return errnoError(errno, "write", path);
  }
  return ok();
}

Result<std::set<int>> RealHostSystem::portsInUse(Proto proto) {
  std::set<int> out;
  const bool tcp = proto == Proto::kTcp;
  const char* const tcp_paths[] = {"/proc/net/tcp", "/proc/net/tcp6"};
  const char* const udp_paths[] = {"/proc/net/udp", "/proc/net/udp6"};
  for (const char* path : tcp ? tcp_paths : udp_paths) {
    auto text = readFile(path);
    if (!text.ok()) {
      if (text.error().sys_errno == ENOENT) continue;  // no IPv6
      return std::move(text).error();
    }
    std::set<int> some = parseProcNetPorts(*text, tcp ? "0A" : "");
    out.insert(some.begin(), some.end());
  }
  return out;
}

std::set<int> parseProcNetPorts(const std::string& text, const std::string& state) {
  std::set<int> out;
  bool header = true;
  for (const std::string& line : split(text, '\n')) {
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> f;
    for (const std::string& tok : split(std::string(trim(line)), ' ')) {
      if (!tok.empty()) f.push_back(tok);
    }
    // sl local_address rem_address st ...
    if (f.size() < 4) continue;
    if (!state.empty() && f[3] != state) continue;
    size_t colon = f[1].rfind(':');
    if (colon == std::string::npos) continue;
    std::string hex = f[1].substr(colon + 1);
    int port = 0;
    bool okhex = !hex.empty() && hex.size() <= 4;
    for (char c : hex) {
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (d < 0) {
        okhex = false;
        break;
      }
      port = port * 16 + d;
    }
    if (okhex && port > 0) out.insert(port);
  }
  return out;
}

}  // namespace sc::netns
