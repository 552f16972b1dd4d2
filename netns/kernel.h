// NetworkKernel: the namespace, link, address and route operations of a task sandbox. The real
// implementation (netlink.h) talks rtnetlink through libnl; tests use a recording fake.
//
// Every create reports kCreated or kAlreadyPresent and every delete kRemoved or kAbsent, so
// callers can undo exactly what they did and cleanup is idempotent (Mesos routing::link).
#pragma once

#include <string>
#include <vector>

#include "common/net_addr.h"
#include "common/result.h"

namespace sc::netns {

enum class Outcome { kCreated, kAlreadyPresent, kRemoved, kAbsent };
const char* outcomeName(Outcome o);

struct VethRequest {
  std::string host_name;   // the host end, attached to `bridge`
  std::string netns_name;  // the task end is created directly in this namespace ...
  std::string peer_name;   // ... under this name (eth0)
  std::string bridge;
};

// A route on the host to another host's task subnet (host-gw): `dst via <via>`, on-link.
struct HostRoute {
  Cidr dst;
  IpAddress via;
  auto operator<=>(const HostRoute&) const = default;
};
// The routing protocol number the agent's host routes carry (`ip route show proto 83`), so they
// are told apart from every other route and removed by that tag alone.
inline constexpr int kRouteProtocol = 83;

struct TaskAddress {
  std::string netns_name;
  std::string ifname;  // eth0
  IpAddress address;
  int prefix = 0;
  IpAddress gateway;
};

class NetworkKernel {
 public:
  virtual ~NetworkKernel() = default;

  // A bridge with `gateway/prefix`, up. An existing bridge keeps its settings; the address is
  // added when missing.
  virtual Result<Outcome> ensureBridge(const std::string& name, const IpAddress& gateway, int prefix) = 0;
  // Deletes a link on the host (a veth pair goes with either end).
  virtual Result<Outcome> deleteLink(const std::string& name) = 0;
  virtual Result<bool> linkExists(const std::string& name) = 0;
  // Host links whose names start with `prefix`.
  virtual Result<std::vector<std::string>> listLinks(const std::string& prefix) = 0;

  // A named namespace bound at <netns dir>/<name> (kAlreadyPresent when the name is bound).
  virtual Result<Outcome> createNetns(const std::string& name) = 0;
  // Unmounts and unlinks the name; the namespace dies with its last user.
  virtual Result<Outcome> deleteNetns(const std::string& name) = 0;
  virtual bool netnsExists(const std::string& name) = 0;
  virtual std::string netnsPath(const std::string& name) const = 0;
  virtual Result<std::vector<std::string>> listNetns(const std::string& prefix) = 0;

  // Creates the pair in one request, the peer directly in its namespace, host end up.
  virtual Result<void> createVeth(const VethRequest& request) = 0;
  // Inside the namespace: lo up, the address on `ifname`, `ifname` up, default route via gateway.
  virtual Result<void> configureTask(const TaskAddress& address) = 0;
  // The IPv4 addresses on `ifname` inside the namespace ("a.b.c.d/p").
  virtual Result<std::vector<std::string>> taskAddresses(const std::string& netns_name, const std::string& ifname) = 0;

  // Host routes tagged kRouteProtocol in the main table.
  virtual Result<std::vector<HostRoute>> listHostRoutes() = 0;
  // Adds or replaces the route to `route.dst` (tagged); the next hop must be on-link.
  virtual Result<void> replaceHostRoute(const HostRoute& route) = 0;
  virtual Result<Outcome> deleteHostRoute(const HostRoute& route) = 0;
};

}  // namespace sc::netns
