// SandboxSpec: what one task's network needs, in netns's own terms (agent/ maps a TaskPlan onto
// it). NetConfig: where and under which names the sandboxes live.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/net_addr.h"
#include "common/result.h"
#include "netns/rules.h"

namespace sc::netns {

enum class NetMode { kAwsvpc, kBridge };
const char* netModeName(NetMode m);

// awsvpc ingress: non-local traffic to `container_port` is redirected to `listener_port`.
struct Intercept {
  int container_port = 0;
  int listener_port = 0;
};

// Egress: a TCP connection from the task to vip:port is redirected to the proxy's listener on
// the task's loopback (listener_port), so the proxy never binds a port an app may bind.
struct EgressRedirect {
  IpAddress vip;
  int port = 0;
  int listener_port = 0;
};

// Bridge mode: host port -> task port, published on the host.
struct PortMapping {
  std::string name;  // what it is for ("ingress-http", "app:80")
  Proto proto = Proto::kTcp;
  int host_port = 0;  // 0: the lowest free port of the dynamic range, chosen at apply
  int task_port = 0;
};

struct HostEntry {
  std::string address;
  std::string name;
};

struct SandboxSpec {
  std::string task_id;
  std::string hostname;  // the task's own name in its hosts file
  NetMode mode = NetMode::kAwsvpc;
  std::vector<Intercept> intercepts;
  std::optional<Cidr> vip_range;       // where the egress redirects look (one jump from nat OUTPUT)
  std::vector<EgressRedirect> egress;  // needs vip_range; every vip inside it
  std::vector<PortMapping> port_mappings;
  std::vector<HostEntry> hosts;  // client aliases -> VIPs
};

// Every port 1-65535, names safe for the hosts file, no duplicate host port or intercept.
Result<void> validateSpec(const SandboxSpec& spec);

struct NetConfig {
  std::string state_dir = "/var/lib/scagent/netns";
  std::string netns_dir = "/run/netns";
  std::string etc_netns_dir = "/etc/netns";
  std::string bridge = "scbr0";
  std::string task_cidr = "10.222.0.0/16";
  std::string netns_prefix = "sc-";  // namespace of task T: <netns_prefix>T
  std::string veth_prefix = "scv";   // host end: <veth_prefix><hex offset of the task address>
  std::string chain_prefix = "SC";   // chains <chain_prefix>_INGRESS, _PORTMAP, ...
  int host_port_min = 49153;         // the dynamic host port range (ECS's last-resort default)
  int host_port_max = 65535;
};

Result<void> validateConfig(const NetConfig& config);

struct ChainNames {
  std::string ingress, egress;                // task namespace, nat
  std::string portmap, postrouting, forward;  // host: nat, nat, filter
  static ChainNames of(const std::string& prefix);
};

}  // namespace sc::netns
