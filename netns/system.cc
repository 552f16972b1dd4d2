#include "netns/system.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/file.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace sc::netns {
namespace {

const char* sysctlPath(SysNet key) {
  switch (key) {
    case SysNet::kIpv4Forward:
      return "/proc/sys/net/ipv4/ip_forward";
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

bool RealHostSystem::portInUse(Proto proto, int port) {
  const int type = (proto == Proto::kTcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC;
  UniqueFd fd(::socket(AF_INET6, type, 0));
  if (fd.valid()) {
    int off = 0;
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(static_cast<uint16_t>(port));
    sa.sin6_addr = in6addr_any;
    return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0;
  }
  fd.reset(::socket(AF_INET, type, 0));  // no IPv6 on this host
  if (!fd.valid()) return true;          // cannot tell: do not hand it out
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0;
}

}  // namespace sc::netns
