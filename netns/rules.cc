#include "netns/rules.h"

#include <algorithm>

#include "common/strings.h"
#include "netns/names.h"

namespace sc::netns {
namespace {

Error badRule(const Rule& r, const std::string& why) {
  return makeError(ErrorCode::kInvalidArgument, "render rule in chain", r.chain, why);
}

bool isBuiltinChain(std::string_view c) {
  return c == "PREROUTING" || c == "INPUT" || c == "FORWARD" || c == "OUTPUT" || c == "POSTROUTING";
}

Result<void> checkChain(const Rule& r, std::string_view chain) {
  if (isBuiltinChain(chain) || isValidChainName(chain)) return ok();
  return badRule(r, "invalid chain name '" + std::string(chain) + "'");
}

Result<void> checkPort(const Rule& r, int port, const char* what) {
  if (port >= 1 && port <= 65535) return ok();
  return badRule(r, std::string(what) + " must be 1-65535, not " + std::to_string(port));
}

std::string cidrToken(const Cidr& c) { return c.toString(); }

// "*<table>\n<body>COMMIT\n" (appends, sidestepping a GCC 12 -Wrestrict false positive on
// chained operator+ at -O3).
std::string section(Table table, const std::string& body) {
  std::string out;
  if (body.empty()) return out;
  out.reserve(body.size() + 16);
  out.append("*").append(tableName(table)).append("\n").append(body).append("COMMIT\n");
  return out;
}

}  // namespace

const char* tableName(Table t) { return t == Table::kNat ? "nat" : "filter"; }
const char* protoName(Proto p) { return p == Proto::kTcp ? "tcp" : "udp"; }
const char* backendName(Backend b) { return b == Backend::kNft ? "nft" : "legacy"; }

Result<std::string> renderRuleSpec(const Rule& r, int family) {
  SC_TRY(checkChain(r, r.chain));
  if (!isValidRuleComment(r.comment)) return badRule(r, "every rule needs a comment sc:<task>");
  const Match& m = r.match;
  for (const auto* c : {&m.src, &m.dst}) {
    if (*c && (*c)->base.family != family) return badRule(r, "address family does not match the document");
  }
  std::vector<std::string> t;
  if (m.src) {
    if (m.not_src) t.push_back("!");
    t.insert(t.end(), {"-s", cidrToken(*m.src)});
  }
  if (m.dst) {
    if (m.not_dst) t.push_back("!");
    t.insert(t.end(), {"-d", cidrToken(*m.dst)});
  }
  for (const auto& [flag, name] : {std::pair{"-i", &m.in_iface}, std::pair{"-o", &m.out_iface}}) {
    if (name->empty()) continue;
    if (!isValidIfName(*name)) return badRule(r, "invalid interface name '" + *name + "'");
    t.insert(t.end(), {flag, *name});
  }
  if (m.proto) t.insert(t.end(), {"-p", protoName(*m.proto)});
  if (m.src_type_local || m.dst_type_local) {
    t.insert(t.end(), {"-m", "addrtype"});
    if (m.src_type_local) {
      if (!*m.src_type_local) t.push_back("!");
      t.insert(t.end(), {"--src-type", "LOCAL"});
    }
    if (m.dst_type_local) {
      if (!*m.dst_type_local) t.push_back("!");
      t.insert(t.end(), {"--dst-type", "LOCAL"});
    }
  }
  if (m.dport) {
    if (!m.proto) return badRule(r, "a destination port needs a protocol");
    SC_TRY(checkPort(r, *m.dport, "destination port"));
    t.insert(t.end(), {"-m", protoName(*m.proto), "--dport", std::to_string(*m.dport)});
  }
  if (m.ctstate_dnat && m.ctstate_reply) return badRule(r, "one conntrack state match per rule");
  if (m.ctstate_dnat) t.insert(t.end(), {"-m", "conntrack", "--ctstate", "DNAT"});
  if (m.ctstate_reply) t.insert(t.end(), {"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT"});
  t.insert(t.end(), {"-m", "comment", "--comment", r.comment});
  switch (r.target.kind) {
    case TargetKind::kJump:
      if (!isValidChainName(r.target.chain)) return badRule(r, "invalid jump target '" + r.target.chain + "'");
      t.insert(t.end(), {"-j", r.target.chain});
      break;
    case TargetKind::kRedirect:
      if (r.table != Table::kNat) return badRule(r, "REDIRECT lives in the nat table");
      if (!m.proto) return badRule(r, "REDIRECT needs a protocol");
      SC_TRY(checkPort(r, r.target.port, "redirect port"));
      t.insert(t.end(), {"-j", "REDIRECT", "--to-ports", std::to_string(r.target.port)});
      break;
    case TargetKind::kDnat:
      if (r.table != Table::kNat) return badRule(r, "DNAT lives in the nat table");
      if (!m.proto) return badRule(r, "DNAT needs a protocol");
      if (r.target.address.family != 4 || family != 4) return badRule(r, "DNAT is rendered for IPv4 only");
      SC_TRY(checkPort(r, r.target.port, "DNAT port"));
      t.insert(t.end(),
               {"-j", "DNAT", "--to-destination", r.target.address.toString() + ":" + std::to_string(r.target.port)});
      break;
    case TargetKind::kMasquerade:
      if (r.table != Table::kNat) return badRule(r, "MASQUERADE lives in the nat table");
      t.insert(t.end(), {"-j", "MASQUERADE"});
      break;
    case TargetKind::kAccept:
      t.insert(t.end(), {"-j", "ACCEPT"});
      break;
    case TargetKind::kDrop:
      if (r.table != Table::kFilter) return badRule(r, "DROP lives in the filter table");
      t.insert(t.end(), {"-j", "DROP"});
      break;
    case TargetKind::kReturn:
      t.insert(t.end(), {"-j", "RETURN"});
      break;
  }
  // Defence in depth: no token may carry whitespace, quotes or be empty.
  for (const std::string& tok : t) {
    if (tok.empty() || tok.find_first_of(" \t\r\n\"'\\") != std::string::npos) {
      return badRule(r, "unsafe token '" + tok + "'");
    }
  }
  return join(t, " ");
}

std::vector<Table> tablesOf(const RuleDocument& doc) {
  std::vector<Table> out;
  for (Table t : {Table::kNat, Table::kFilter}) {
    bool used = std::any_of(doc.chains.begin(), doc.chains.end(), [&](const ChainRef& c) { return c.table == t; }) ||
                std::any_of(doc.rules.begin(), doc.rules.end(), [&](const Rule& r) { return r.table == t; });
    if (used) out.push_back(t);
  }
  return out;
}

Result<std::string> renderInstall(const RuleDocument& doc, Table table) {
  std::string out;
  for (const ChainRef& c : doc.chains) {
    if (c.table != table) continue;
    if (!isValidChainName(c.name)) {
      return makeError(ErrorCode::kInvalidArgument, "render chain", c.name, "invalid chain name");
    }
    out.append(":").append(c.name).append(" - [0:0]\n");
  }
  for (const Rule& r : doc.rules) {
    if (r.table != table) continue;
    SC_ASSIGN_OR_RETURN(std::string spec, renderRuleSpec(r, doc.family));
    out.append(r.insert ? "-I " : "-A ").append(r.chain).append(" ").append(spec).append("\n");
  }
  return section(table, out);
}

Result<std::string> renderRemove(const RuleDocument& doc, Table table, bool drop_chains) {
  std::string out;
  for (auto it = doc.rules.rbegin(); it != doc.rules.rend(); ++it) {
    if (it->table != table) continue;
    SC_ASSIGN_OR_RETURN(std::string spec, renderRuleSpec(*it, doc.family));
    out.append("-D ").append(it->chain).append(" ").append(spec).append("\n");
  }
  if (drop_chains) {
    for (const ChainRef& c : doc.chains) {
      if (c.table != table) continue;
      if (!isValidChainName(c.name)) {
        return makeError(ErrorCode::kInvalidArgument, "render chain", c.name, "invalid chain name");
      }
      out.append("-F ").append(c.name).append("\n-X ").append(c.name).append("\n");
    }
  }
  return section(table, out);
}

SavedTable parseIptablesSave(const std::string& text, Table table) {
  SavedTable out;
  bool in_table = false;
  for (const std::string& raw : split(text, '\n')) {
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '*') {
      in_table = line.substr(1) == tableName(table);
      continue;
    }
    if (!in_table) continue;
    if (line.front() == ':') {
      size_t sp = line.find(' ');
      out.chains.emplace_back(line.substr(1, sp == std::string_view::npos ? std::string_view::npos : sp - 1));
      continue;
    }
    if (!line.starts_with("-A ")) continue;
    std::string_view rest = line.substr(3);
    size_t sp = rest.find(' ');
    SavedRule r;
    r.table = table;
    r.chain = std::string(rest.substr(0, sp));
    r.spec = sp == std::string_view::npos ? std::string() : std::string(rest.substr(sp + 1));
    std::vector<std::string> toks = split(r.spec, ' ');
    for (size_t i = 0; i + 1 < toks.size(); ++i) {
      if (toks[i] == "--comment") {
        std::string c = toks[i + 1];
        if (c.size() >= 2 && c.front() == '"' && c.back() == '"') c = c.substr(1, c.size() - 2);
        r.comment = c;
      }
    }
    out.rules.push_back(std::move(r));
  }
  return out;
}

std::string renderDeleteSaved(const std::vector<SavedRule>& rules, Table table,
                              const std::vector<std::string>& chains_to_drop) {
  std::string out;
  for (const SavedRule& r : rules) {
    if (r.table != table) continue;
    out.append("-D ").append(r.chain).append(" ").append(r.spec).append("\n");
  }
  for (const std::string& c : chains_to_drop) out.append("-F ").append(c).append("\n-X ").append(c).append("\n");
  return section(table, out);
}

Backend chooseBackend(const std::string& version_text, size_t nft_rules, size_t legacy_rules) {
  if (legacy_rules > nft_rules) return Backend::kLegacy;
  if (nft_rules > legacy_rules) return Backend::kNft;
  return version_text.find("legacy") != std::string::npos ? Backend::kLegacy : Backend::kNft;
}

}  // namespace sc::netns
