#include "common/net_addr.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/strings.h"

namespace sc {

Result<IpAddress> IpAddress::parse(std::string_view text) {
  std::string t(text);
  IpAddress ip;
  if (t.find(':') != std::string::npos) {
    ip.family = 6;
    if (inet_pton(AF_INET6, t.c_str(), ip.bytes.data()) != 1) {
      return makeError(ErrorCode::kInvalidArgument, "parse address", text, "not an IPv6 address");
    }
    return ip;
  }
  in_addr a{};
  if (inet_pton(AF_INET, t.c_str(), &a) != 1) {
    return makeError(ErrorCode::kInvalidArgument, "parse address", text, "not an IPv4 address");
  }
  std::memcpy(ip.bytes.data(), &a, 4);
  return ip;
}

IpAddress IpAddress::fromV4(uint32_t host_order) {
  IpAddress ip;
  uint32_t n = htonl(host_order);
  std::memcpy(ip.bytes.data(), &n, 4);
  return ip;
}

uint32_t IpAddress::v4() const {
  uint32_t n;
  std::memcpy(&n, bytes.data(), 4);
  return ntohl(n);
}

bool IpAddress::isLoopback() const {
  if (family == 4) return bytes[0] == 127;
  static const std::array<uint8_t, 16> kLoop6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == kLoop6;
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return makeError(ErrorCode::kInvalidArgument, "parse CIDR", text, "expected <address>/<prefix>");
  }
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip.ok()) return makeError(ErrorCode::kInvalidArgument, "parse CIDR", text, "bad address");
  const int max = ip->family == 4 ? 32 : 128;
  auto prefix = parseUint(text.substr(slash + 1), static_cast<uint64_t>(max));
  if (!prefix) {
    return makeError(ErrorCode::kInvalidArgument, "parse CIDR", text, "prefix must be 0-" + std::to_string(max));
  }
  Cidr c{*ip, static_cast<int>(*prefix)};
  // Reject host bits.
  for (int bit = c.prefix; bit < max; ++bit) {
    if (c.base.bytes[static_cast<size_t>(bit / 8)] & (0x80 >> (bit % 8))) {
      return makeError(ErrorCode::kInvalidArgument, "parse CIDR", text,
                       "host bits are set; did you mean the network address?");
    }
  }
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.family != base.family) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    size_t i = static_cast<size_t>(bit / 8);
    if ((ip.bytes[i] & mask) != (base.bytes[i] & mask)) return false;
  }
  return true;
}

uint64_t Cidr::size() const {
  if (base.family == 4) return uint64_t{1} << (32 - prefix);
  return prefix <= 96 ? (uint64_t{1} << 32) : (uint64_t{1} << (128 - prefix));
}

IpAddress Cidr::at(uint64_t n) const { return IpAddress::fromV4(base.v4() + static_cast<uint32_t>(n)); }

std::string Cidr::toString() const { return base.toString() + "/" + std::to_string(prefix); }

}  // namespace sc
