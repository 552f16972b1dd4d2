// Rules as data: a small model of the iptables rules the agent installs, rendered to
// `iptables-restore` input. Rendering validates every token (chain names, comments, ports,
// addresses), so no input can smuggle a second rule or option into the text (patchpanel's
// IsValidTokenForIptables()).
//
// Pure: no I/O. The applier (rule_applier.h) installs the rendered text.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/net_addr.h"
#include "common/result.h"

namespace sc::netns {

enum class Table { kNat, kFilter };
enum class Proto { kTcp, kUdp };

const char* tableName(Table t);
const char* protoName(Proto p);

// What a rule matches. Unset fields match everything.
struct Match {
  std::optional<Proto> proto;
  std::optional<Cidr> src;
  bool not_src = false;
  std::optional<Cidr> dst;
  bool not_dst = false;
  std::optional<int> dport;            // needs proto
  std::optional<bool> src_type_local;  // true: `-m addrtype --src-type LOCAL`; false: `! --src-type LOCAL`
  std::optional<bool> dst_type_local;
  std::string in_iface;        // `-i <name>`
  std::string out_iface;       // `-o <name>`
  bool ctstate_dnat = false;   // `-m conntrack --ctstate DNAT`
  bool ctstate_reply = false;  // `-m conntrack --ctstate RELATED,ESTABLISHED,DNAT`: replies and port mappings
};

enum class TargetKind { kJump, kRedirect, kDnat, kMasquerade, kAccept, kDrop, kReturn };

struct Target {
  TargetKind kind = TargetKind::kAccept;
  std::string chain;  // kJump
  int port = 0;       // kRedirect: --to-ports; kDnat: destination port
  IpAddress address;  // kDnat: destination address

  static Target jump(std::string chain) { return {TargetKind::kJump, std::move(chain), 0, {}}; }
  static Target redirect(int port) { return {TargetKind::kRedirect, "", port, {}}; }
  static Target dnat(IpAddress a, int port) { return {TargetKind::kDnat, "", port, a}; }
  static Target masquerade() { return {TargetKind::kMasquerade, "", 0, {}}; }
  static Target accept() { return {TargetKind::kAccept, "", 0, {}}; }
  static Target drop() { return {TargetKind::kDrop, "", 0, {}}; }
  static Target ret() { return {TargetKind::kReturn, "", 0, {}}; }
};

struct Rule {
  Table table = Table::kNat;
  std::string chain;  // built-in (PREROUTING, ...) or an agent chain
  Match match;
  Target target;
  std::string comment;  // "sc:<task>" or "sc:agent"; required
  bool insert = false;  // `-I` (first position) instead of `-A`
};

struct ChainRef {
  Table table = Table::kNat;
  std::string name;
  auto operator<=>(const ChainRef&) const = default;
};

// One transaction's worth of rules for one network namespace and one family.
struct RuleDocument {
  int family = 4;
  std::vector<ChainRef> chains;  // agent chains to create (declared; --noflush flushes existing ones)
  std::vector<Rule> rules;
  bool empty() const { return chains.empty() && rules.empty(); }
};

// The rule's specification after `-A <chain>`: "-p tcp -m tcp --dport 80 ... -j REDIRECT --to-ports 1".
Result<std::string> renderRuleSpec(const Rule& rule, int family);

// iptables-restore input for one table: "*nat\n:SC_INGRESS - [0:0]\n-A ...\nCOMMIT\n", or ""
// when the document has nothing for that table.
Result<std::string> renderInstall(const RuleDocument& doc, Table table);
// Input that deletes the document's rules (`-D`) and then its chains (`-F`, `-X`); `drop_chains`
// false keeps the chains.
Result<std::string> renderRemove(const RuleDocument& doc, Table table, bool drop_chains);
// Every table the document touches, nat before filter.
std::vector<Table> tablesOf(const RuleDocument& doc);

// One rule line of `iptables-save` output.
struct SavedRule {
  Table table = Table::kNat;
  std::string chain;
  std::string spec;     // everything after "-A <chain> "
  std::string comment;  // the --comment value, or ""
};
struct SavedTable {
  std::vector<std::string> chains;  // every chain declared (built-in and user)
  std::vector<SavedRule> rules;
};
// Parses `iptables-save -t <table>` output (pure; comments and counters ignored).
SavedTable parseIptablesSave(const std::string& text, Table table);

// Deletion text for saved rules (as found in the kernel): "-D <chain> <spec>" lines.
std::string renderDeleteSaved(const std::vector<SavedRule>& rules, Table table,
                              const std::vector<std::string>& chains_to_drop);

// Which iptables the host uses.
enum class Backend { kNft, kLegacy };
const char* backendName(Backend b);
// Decides from `iptables -V` output and the number of rules each backend holds: the backend with
// rules wins (kube's iptables-wrapper heuristic); on a tie, the one `iptables` points to.
Backend chooseBackend(const std::string& version_text, size_t nft_rules, size_t legacy_rules);

}  // namespace sc::netns
