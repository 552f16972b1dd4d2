#include "netns/spec.h"

#include <set>

#include "netns/names.h"

namespace sc::netns {
namespace {

bool portOk(int p) { return p >= 1 && p <= 65535; }

bool hostNameOk(std::string_view n) {
  if (n.empty() || n.size() > 253) return false;
  for (char c : n) {
    bool okc =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!okc) return false;
  }
  return true;
}

Error bad(const SandboxSpec& s, const std::string& why) {
  return makeError(ErrorCode::kInvalidArgument, "accept network spec of task", s.task_id, why);
}

Result<void> validateEgress(const SandboxSpec& s) {
  if (s.egress.empty()) return ok();
  if (!s.vip_range || s.vip_range->base.family != 4) return bad(s, "egress redirects need an IPv4 VIP range");
  std::set<std::pair<std::string, int>> seen;
  std::set<int> listeners;
  for (const Intercept& i : s.intercepts) listeners.insert(i.listener_port);
  for (const EgressRedirect& e : s.egress) {
    const std::string what = e.vip.toString() + ":" + std::to_string(e.port);
    if (!portOk(e.port) || !portOk(e.listener_port)) return bad(s, "egress " + what + " needs ports 1-65535");
    if (!s.vip_range->contains(e.vip)) {
      return bad(s, "egress VIP " + e.vip.toString() + " is outside the VIP range " + s.vip_range->toString());
    }
    if (!seen.insert({e.vip.toString(), e.port}).second) return bad(s, "egress " + what + " is redirected twice");
    if (!listeners.insert(e.listener_port).second) {
      return bad(s, "listener port " + std::to_string(e.listener_port) + " is used twice");
    }
  }
  return ok();
}

}  // namespace

const char* netModeName(NetMode m) { return m == NetMode::kAwsvpc ? "awsvpc" : "bridge"; }

Result<void> validateSpec(const SandboxSpec& s) {
  SC_TRY(checkTaskId(s.task_id));
  if (!hostNameOk(s.hostname)) return bad(s, "bad hostname '" + s.hostname + "'");
  std::set<int> intercepted;
  for (const Intercept& i : s.intercepts) {
    if (!portOk(i.container_port) || !portOk(i.listener_port)) return bad(s, "intercept ports must be 1-65535");
    if (!intercepted.insert(i.container_port).second) {
      return bad(s, "port " + std::to_string(i.container_port) + " is intercepted twice");
    }
  }
  SC_TRY(validateEgress(s));
  std::set<std::pair<Proto, int>> host_ports;
  for (const PortMapping& m : s.port_mappings) {
    if (!portOk(m.task_port) || (m.host_port != 0 && !portOk(m.host_port))) {
      return bad(s, "port mapping '" + m.name + "' needs ports 1-65535 (host port 0: dynamic)");
    }
    if (m.host_port != 0 && !host_ports.insert({m.proto, m.host_port}).second) {
      return bad(s, "host port " + std::to_string(m.host_port) + " is mapped twice");
    }
  }
  for (const HostEntry& h : s.hosts) {
    if (!IpAddress::parse(h.address).ok()) return bad(s, "hosts entry '" + h.name + "' has a bad address");
    if (!hostNameOk(h.name)) return bad(s, "bad hosts entry name '" + h.name + "'");
  }
  return ok();
}

Result<void> validateConfig(const NetConfig& c) {
  auto bad = [](const std::string& what, const std::string& why) {
    return makeError(ErrorCode::kInvalidArgument, "accept network setting", what, why);
  };
  for (const auto* p : {&c.state_dir, &c.netns_dir, &c.etc_netns_dir}) {
    if (p->empty() || p->front() != '/') return bad(*p, "must be an absolute path");
  }
  if (!isValidIfName(c.bridge)) return bad(c.bridge, "not a valid interface name");
  SC_ASSIGN_OR_RETURN(Cidr cidr, Cidr::parse(c.task_cidr));
  if (cidr.base.family != 4 || cidr.prefix < 8 || cidr.prefix > 30) return bad(c.task_cidr, "need an IPv4 /8 to /30");
  if (cidr.isLoopback()) return bad(c.task_cidr, "must not be loopback");
  if (c.netns_prefix.empty() || !isValidTaskId(c.netns_prefix)) return bad(c.netns_prefix, "bad namespace prefix");
  // The veth name is the prefix plus the address offset in hex: it must fit IFNAMSIZ.
  const size_t hex_digits = static_cast<size_t>((32 - cidr.prefix + 3) / 4);
  if (c.veth_prefix.empty() || !isValidIfName(c.veth_prefix) || c.veth_prefix.size() + hex_digits > 15) {
    return bad(c.veth_prefix, "veth prefix plus " + std::to_string(hex_digits) + " hex digits must fit 15 characters");
  }
  if (!isValidChainName(c.chain_prefix) || c.chain_prefix.size() + 12 > kMaxChainLength) {
    return bad(c.chain_prefix, "chain prefix must be [A-Z0-9_], at most 16 characters");
  }
  if (c.host_port_min < 1 || c.host_port_max > 65535 || c.host_port_min > c.host_port_max) {
    return bad("host port range", "need 1 <= min <= max <= 65535");
  }
  return ok();
}

ChainNames ChainNames::of(const std::string& p) {
  return {p + "_INGRESS", p + "_EGRESS", p + "_PORTMAP", p + "_POSTROUTING", p + "_FORWARD"};
}

}  // namespace sc::netns
