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

RuleDocument hostBaseRules(const ChainNames& chains, const Cidr& task_cidr) {
  RuleDocument doc;
  doc.chains = {{Table::kNat, chains.portmap}, {Table::kNat, chains.postrouting}, {Table::kFilter, chains.forward}};
  Rule pre{
      .table = Table::kNat, .chain = "PREROUTING", .target = Target::jump(chains.portmap), .comment = kAgentComment};
  pre.match.dst_type_local = true;
  Rule out{.table = Table::kNat, .chain = "OUTPUT", .target = Target::jump(chains.portmap), .comment = kAgentComment};
  out.match.dst = Cidr{IpAddress::fromV4(0x7f000000u), 8};
  out.match.not_dst = true;
  out.match.dst_type_local = true;
  Rule post{.table = Table::kNat,
            .chain = "POSTROUTING",
            .target = Target::jump(chains.postrouting),
            .comment = kAgentComment};
  Rule masq{
      .table = Table::kNat, .chain = chains.postrouting, .target = Target::masquerade(), .comment = kAgentComment};
  masq.match.src = task_cidr;
  masq.match.dst = task_cidr;
  masq.match.not_dst = true;
  Rule hairpin{
      .table = Table::kNat, .chain = chains.postrouting, .target = Target::masquerade(), .comment = kAgentComment};
  hairpin.match.src = task_cidr;
  hairpin.match.dst = task_cidr;
  hairpin.match.ctstate_dnat = true;
  Rule fwd{.table = Table::kFilter,
           .chain = "FORWARD",
           .target = Target::jump(chains.forward),
           .comment = kAgentComment,
           .insert = true};
  Rule in{.table = Table::kFilter, .chain = chains.forward, .target = Target::accept(), .comment = kAgentComment};
  in.match.dst = task_cidr;
  Rule from{.table = Table::kFilter, .chain = chains.forward, .target = Target::accept(), .comment = kAgentComment};
  from.match.src = task_cidr;
  doc.rules = {pre, out, post, masq, hairpin, fwd, in, from};
  return doc;
}

Result<std::string> renderAllRules(const SandboxSpec& spec, const TaskAddressing& a, const ChainNames& chains,
                                   const std::string& netns_name) {
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
                 hostBaseRules(chains, a.task_cidr)));
  return out;
}

}  // namespace sc::netns
