#include "agent/task_net.h"

namespace sc::agent {

Result<netns::SandboxSpec> sandboxSpecFromPlan(const model::TaskPlan& plan, const std::string& task_id) {
  netns::SandboxSpec s;
  s.task_id = task_id.empty() ? plan.task_id : task_id;
  s.hostname = plan.hostname.empty() ? s.task_id : plan.hostname;
  switch (plan.network_mode) {
    case model::NetworkMode::kAwsvpc:
      s.mode = netns::NetMode::kAwsvpc;
      break;
    case model::NetworkMode::kBridge:
      s.mode = netns::NetMode::kBridge;
      break;
    default:
      return makeError(ErrorCode::kInvalidArgument, "build network of task", s.task_id,
                       "network mode '" + model::networkModeName(plan.network_mode) +
                           "' has no Service Connect sandbox; use awsvpc or bridge");
  }
  for (const model::IngressListener& l : plan.ingress) {
    if (l.intercept) s.intercepts.push_back({l.container_port, l.listener_port});
    if (l.publish) s.port_mappings.push_back({l.name, netns::Proto::kTcp, 0, l.listener_port});
  }
  if (s.mode == netns::NetMode::kBridge) {
    for (const model::PublishedPort& p : plan.published_ports) {
      netns::Proto proto = p.protocol == "udp" ? netns::Proto::kUdp : netns::Proto::kTcp;
      s.port_mappings.push_back(
          {p.container_name + ":" + std::to_string(p.container_port), proto, p.host_port, p.container_port});
    }
  }
  SC_ASSIGN_OR_RETURN(Cidr vips, Cidr::parse(plan.vip_cidr));
  for (const model::EgressAlias& a : plan.egress) {
    if (a.listener_port == 0) continue;  // a record from before the redirect: its proxy binds vip:port
    SC_ASSIGN_OR_RETURN(IpAddress vip, IpAddress::parse(a.vip));
    s.egress.push_back({vip, a.port, a.listener_port});
  }
  if (!s.egress.empty()) s.vip_range = vips;
  for (const auto& [address, name] : plan.hosts) s.hosts.push_back({address, name});
  SC_TRY(netns::validateSpec(s));
  return s;
}

}  // namespace sc::agent
