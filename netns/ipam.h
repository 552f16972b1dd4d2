// IPAM: task addresses from the task CIDR and host ports from the dynamic range, leased to task
// ids and persisted in one JSON file that is replaced atomically on every change (write, fsync,
// rename). After a crash the file holds the state before or after a change, never a mix, so an
// address is never handed out twice.
//
// Addresses: .0 is the network, .1 the gateway (the bridge), the last the broadcast; tasks get the
// lowest free address from .2. Not thread-safe: the SandboxManager serializes calls.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/net_addr.h"
#include "common/result.h"
#include "netns/rules.h"

namespace sc::netns {

struct PortRequest {
  Proto proto = Proto::kTcp;
  int port = 0;  // 0: the lowest free port of the dynamic range
};

struct Lease {
  IpAddress address;
  std::vector<std::pair<Proto, int>> ports;  // in request order
};

class Ipam {
 public:
  // Loads `path` (a missing file is an empty table, which is written at once so the file
  // always exists). The file's CIDR must equal `cidr`.
  static Result<Ipam> open(std::string path, const Cidr& cidr, int port_min, int port_max);

  const Cidr& cidr() const { return cidr_; }
  IpAddress gateway() const { return cidr_.at(1); }

  // Leases an address and the requested host ports to `task` in one write. A fixed port that is
  // leased or `in_use` is an error; dynamic ones skip both. Fails when `task` holds a lease.
  using PortInUse = std::function<bool(Proto, int)>;
  Result<Lease> allocate(const std::string& task, const std::vector<PortRequest>& ports, const PortInUse& in_use);
  // Frees everything `task` holds (nothing held is fine).
  Result<void> release(const std::string& task);

  std::optional<IpAddress> addressOf(const std::string& task) const;
  std::vector<std::string> tasks() const;  // tasks holding a lease
  // The task that holds `address`, if any.
  std::optional<std::string> holderOf(const IpAddress& address) const;

  static std::string render(const Cidr& cidr, const std::map<uint32_t, std::string>& addresses,
                            const std::map<std::pair<Proto, int>, std::string>& ports);

 private:
  Ipam(std::string path, Cidr cidr, int port_min, int port_max)
      : path_(std::move(path)), cidr_(cidr), port_min_(port_min), port_max_(port_max) {}
  Result<void> save(const std::map<uint32_t, std::string>& addresses,
                    const std::map<std::pair<Proto, int>, std::string>& ports);

  std::string path_;
  Cidr cidr_;
  int port_min_, port_max_;
  std::map<uint32_t, std::string> addresses_;           // host-order address -> task
  std::map<std::pair<Proto, int>, std::string> ports_;  // (proto, port) -> task
};

}  // namespace sc::netns
