// The rules of one task, built from its spec: pure functions, golden-tested.
//
// In the task namespace (nat):
//   PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j <P>_INGRESS     (when anything is intercepted)
//   <P>_INGRESS -p tcp --dport <containerPort> -j REDIRECT --to-ports <listenerPort>
//   OUTPUT -d <vip range> -p tcp -j <P>_EGRESS                          (when the task has aliases)
//   <P>_EGRESS -d <vip>/32 -p tcp --dport <alias port> -j REDIRECT --to-ports <alias listener>
// On the host, per task (bridge port mappings only; nat):
//   <P>_PORTMAP -p <proto> --dport <hostPort> -j DNAT --to-destination <taskIP>:<port>
// Host base (once, shared by every task; comment sc:agent):
//   nat PREROUTING -m addrtype --dst-type LOCAL -j <P>_PORTMAP
//   nat OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j <P>_PORTMAP
//   nat POSTROUTING -j <P>_POSTROUTING
//   <P>_POSTROUTING -s <task CIDR> -d <peer subnet> -j RETURN          (per peer host: keep the task's address)
//   <P>_POSTROUTING -s <task CIDR> ! -d <task CIDR> -j MASQUERADE
//   <P>_POSTROUTING -s <task CIDR> -d <task CIDR> -m conntrack --ctstate DNAT -j MASQUERADE  (hairpin)
//   filter -I FORWARD -j <P>_FORWARD
//   <P>_FORWARD -i <bridge> -s <task CIDR> -j ACCEPT                    (from the tasks)
//   <P>_FORWARD -o <bridge> -d <task CIDR> -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT
//   <P>_FORWARD -s <peer subnet> -o <bridge> -d <task CIDR> -j ACCEPT  (per peer host: its tasks)
//   <P>_FORWARD -d <task CIDR> -j DROP      (a new connection to a task port, not through a mapping)
//   <P>_FORWARD -j DROP                      (only when the agent turned ip_forward on: the host
//                                             forwards nothing else because of the agent)
// Everything that can be said of the whole task CIDR lives in the base: per-task host rules
// cost an nf_tables transaction (and a deletion an RCU grace period) on every start and stop.
// docs/networking.md explains each rule.
#pragma once

#include <string>
#include <vector>

#include "netns/rules.h"
#include "netns/spec.h"

namespace sc::netns {

struct TaskAddressing {
  IpAddress address;
  Cidr task_cidr;
  std::vector<PortMapping> mappings;  // host ports resolved
};

RuleDocument taskNamespaceRules(const SandboxSpec& spec, const ChainNames& chains);
RuleDocument hostTaskRules(const SandboxSpec& spec, const TaskAddressing& addressing, const ChainNames& chains);
// What the shared rules depend on: the task CIDR, the agent's bridge, and whether the agent turned
// ip_forward on (host.json's ipForwardPrevious is set).
// `peer_subnets`: the other hosts' task subnets this host routes to (SandboxManager::setPeers).
struct HostBase {
  Cidr task_cidr;
  std::string bridge;
  bool forwarding_is_ours = false;
  std::vector<Cidr> peer_subnets;
};
RuleDocument hostBaseRules(const ChainNames& chains, const HostBase& base);
// The part of the base the peers change: the <P>_POSTROUTING and <P>_FORWARD chains declared and
// refilled (no jumps), for one atomic replacement when a peer comes or goes.
RuleDocument hostPeerChains(const ChainNames& chains, const HostBase& base);

// Every document of a task as one readable text (golden files, `scagent net show`).
Result<std::string> renderAllRules(const SandboxSpec& spec, const TaskAddressing& addressing, const HostBase& base,
                                   const ChainNames& chains, const std::string& netns_name);

}  // namespace sc::netns
