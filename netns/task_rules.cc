#include "netns/task_rules.h"

#include "netns/names.h"

namespace sc::netns {
RuleDocument taskNamespaceRules(const SandboxSpec& spec, const ChainNames& chains) {
  RuleDocument doc;
  const std::string tag = ruleComment(spec.task_id);
  if (!spec.intercepts.empty()) {
    doc.chains.push_back({Table::kNat, chains.ingress});
    Rule jump{.table = Table::kNat, .chain = "PREROUTING", .target = Target::jump(chains.ingress), .comment = tag};
    jump.match.proto = Proto::kTcp;
    jump.match.src_type_local = false;
    doc.rules.push_back(jump);
    for (const Intercept& i : spec.intercepts) {
      Rule r{
          .table = Table::kNat, .chain = chains.ingress, .target = Target::redirect(i.listener_port), .comment = tag};
      r.match.proto = Proto::kTcp;
      r.match.dport = i.container_port;
      doc.rules.push_back(r);
    }
  }
  if (!spec.egress.empty()) {
    doc.chains.push_back({Table::kNat, chains.egress});
    Rule jump{.table = Table::kNat, .chain = "OUTPUT", .target = Target::jump(chains.egress), .comment = tag};
    jump.match.proto = Proto::kTcp;
    jump.match.dst = spec.vip_range;
    doc.rules.push_back(jump);
    for (const EgressRedirect& e : spec.egress) {
      Rule r{.table = Table::kNat, .chain = chains.egress, .target = Target::redirect(e.listener_port), .comment = tag};
      r.match.proto = Proto::kTcp;
      r.match.dst = Cidr{e.vip, 32};
      r.match.dport = e.port;
      doc.rules.push_back(r);
    }
  }
  return doc;
}

RuleDocument hostTaskRules(const SandboxSpec& spec, const TaskAddressing& a, const ChainNames& chains) {
  RuleDocument doc;
  const std::string tag = ruleComment(spec.task_id);
  for (const PortMapping& m : a.mappings) {
    Rule r{
        .table = Table::kNat, .chain = chains.portmap, .target = Target::dnat(a.address, m.task_port), .comment = tag};
    r.match.proto = m.proto;
    r.match.dport = m.host_port;
    doc.rules.push_back(r);
  }
  return doc;
}

namespace {

Rule agentRule(Table table, std::string chain, Target target) {
  return {.table = table, .chain = std::move(chain), .target = std::move(target), .comment = kAgentComment};
}

// The nat side: port mappings for traffic to the host's own addresses, masquerade out of the CIDR
// and for hairpinned mappings.
void addNatBase(RuleDocument& doc, const ChainNames& chains, const HostBase& base) {
  const Cidr& cidr = base.task_cidr;
  Rule pre = agentRule(Table::kNat, "PREROUTING", Target::jump(chains.portmap));
  pre.match.dst_type_local = true;
  Rule out = agentRule(Table::kNat, "OUTPUT", Target::jump(chains.portmap));
  out.match.dst = Cidr{IpAddress::fromV4(0x7f000000u), 8};
  out.match.not_dst = true;
  out.match.dst_type_local = true;
  Rule post = agentRule(Table::kNat, "POSTROUTING", Target::jump(chains.postrouting));
  std::vector<Rule> keep;  // to another host's tasks: routed, not masqueraded
  for (const Cidr& peer : base.peer_subnets) {
    Rule r = agentRule(Table::kNat, chains.postrouting, Target::ret());
    r.match.src = cidr;
    r.match.dst = peer;
    keep.push_back(r);
  }
  Rule masq = agentRule(Table::kNat, chains.postrouting, Target::masquerade());
  masq.match.src = cidr;
  masq.match.dst = cidr;
  masq.match.not_dst = true;
  Rule hairpin = agentRule(Table::kNat, chains.postrouting, Target::masquerade());
  hairpin.match.src = cidr;
  hairpin.match.dst = cidr;
  hairpin.match.ctstate_dnat = true;
  doc.rules.insert(doc.rules.end(), {pre, out, post});
  doc.rules.insert(doc.rules.end(), keep.begin(), keep.end());
  doc.rules.insert(doc.rules.end(), {masq, hairpin});
}

// The filter side: what the host forwards for the tasks, and nothing more.
void addForwardBase(RuleDocument& doc, const ChainNames& chains, const HostBase& base) {
  Rule jump = agentRule(Table::kFilter, "FORWARD", Target::jump(chains.forward));
  jump.insert = true;
  Rule from = agentRule(Table::kFilter, chains.forward, Target::accept());
  from.match.in_iface = base.bridge;
  from.match.src = base.task_cidr;
  Rule to = agentRule(Table::kFilter, chains.forward, Target::accept());
  to.match.out_iface = base.bridge;
  to.match.dst = base.task_cidr;
  to.match.ctstate_reply = true;
  doc.rules.insert(doc.rules.end(), {jump, from, to});
  for (const Cidr& peer : base.peer_subnets) {  // another host's tasks, routed to ours
    Rule r = agentRule(Table::kFilter, chains.forward, Target::accept());
    r.match.src = peer;
    r.match.out_iface = base.bridge;
    r.match.dst = base.task_cidr;
    doc.rules.push_back(r);
  }
  Rule unasked = agentRule(Table::kFilter, chains.forward, Target::drop());
  unasked.match.dst = base.task_cidr;
  doc.rules.push_back(unasked);
  if (base.forwarding_is_ours) doc.rules.push_back(agentRule(Table::kFilter, chains.forward, Target::drop()));
}

}  // namespace

RuleDocument hostBaseRules(const ChainNames& chains, const HostBase& base) {
  RuleDocument doc;
  doc.chains = {{Table::kNat, chains.portmap}, {Table::kNat, chains.postrouting}, {Table::kFilter, chains.forward}};
  addNatBase(doc, chains, base);
  addForwardBase(doc, chains, base);
  return doc;
}

RuleDocument hostPeerChains(const ChainNames& chains, const HostBase& base) {
  const RuleDocument all = hostBaseRules(chains, base);
  RuleDocument doc;
  doc.family = all.family;
  doc.chains = {{Table::kNat, chains.postrouting}, {Table::kFilter, chains.forward}};
  for (const Rule& r : all.rules) {
    if (r.chain == chains.postrouting || r.chain == chains.forward) doc.rules.push_back(r);
  }
  return doc;
}

Result<std::string> renderAllRules(const SandboxSpec& spec, const TaskAddressing& a, const HostBase& base,
                                   const ChainNames& chains, const std::string& netns_name) {
  std::string out;
  auto section = [&](const std::string& title, const RuleDocument& doc) -> Result<void> {
    out += "# " + title + "\n";
    bool any = false;
    for (Table t : {Table::kNat, Table::kFilter}) {
      SC_ASSIGN_OR_RETURN(std::string text, renderInstall(doc, t));
      out += text;
      any |= !text.empty();
    }
    if (!any) out += "# (no rules)\n";
    return ok();
  };
  SC_TRY(section("task namespace " + netns_name + ": iptables-restore --noflush --wait",
                 taskNamespaceRules(spec, chains)));
  SC_TRY(section("host, task " + spec.task_id + ": iptables-restore --noflush --wait (only port mappings)",
                 hostTaskRules(spec, a, chains)));
  SC_TRY(section("host, shared by every task, installed with the first: iptables-restore --noflush --wait",
                 hostBaseRules(chains, base)));
  return out;
}

}  // namespace sc::netns
