// IP addresses and CIDR ranges. IPv4 is what the agent uses today; the types carry the family
// so IPv6 can follow without changing callers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sc {

struct IpAddress {
  int family = 4;                   // 4 or 6
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes, network order

  static Result<IpAddress> parse(std::string_view text);
  static IpAddress fromV4(uint32_t host_order);
  uint32_t v4() const;  // host order; IPv4 only
  bool isLoopback() const;
  std::string toString() const;
  auto operator<=>(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress base;  // the network address (host bits cleared)
  int prefix = 0;

  // "10.88.0.0/16". Host bits set in the text are an error, so a typo cannot widen a range.
  static Result<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
  // Number of addresses (IPv4; capped at 2^32).
  uint64_t size() const;
  // The n-th address of the range (0 is the network address). IPv4 only; n < size().
  IpAddress at(uint64_t n) const;
  bool isLoopback() const { return base.isLoopback(); }
  std::string toString() const;
  auto operator<=>(const Cidr&) const = default;
};

// Whether two ranges share an address.
inline bool overlaps(const Cidr& a, const Cidr& b) { return a.contains(b.base) || b.contains(a.base); }

}  // namespace sc
