#include "netns/host_drift.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace sc::netns {
namespace {

// chain + comment + target: how a rule is recognised.
using RuleKey = std::tuple<std::string, std::string, std::string>;

std::string targetOf(const std::string& spec) {
  size_t at = spec.rfind("-j ");
  return at == std::string::npos ? std::string() : spec.substr(at);
}

std::multiset<RuleKey> savedKeys(const SavedTable& t, const std::string& chain) {
  std::multiset<RuleKey> out;
  for (const SavedRule& r : t.rules) {
    if (r.chain == chain) out.insert({r.chain, r.comment, targetOf(r.spec)});
  }
  return out;
}

bool declared(const SavedTable& t, const std::string& chain) {
  return std::find(t.chains.begin(), t.chains.end(), chain) != t.chains.end();
}

std::string describe(Table t, const std::string& chain, const std::multiset<RuleKey>& want,
                     const std::multiset<RuleKey>& have) {
  std::vector<RuleKey> missing, extra;
  std::set_difference(want.begin(), want.end(), have.begin(), have.end(), std::back_inserter(missing));
  std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::back_inserter(extra));
  return std::string(tableName(t)) + " chain " + chain + ": " + std::to_string(missing.size()) + " rule(s) missing, " +
         std::to_string(extra.size()) + " unexpected";
}

// One table: agent chains that differ are redeclared and refilled; missing built-in jumps added.
Result<void> planTable(const RuleDocument& expected, Table table, const SavedTable& have, RuleDocument& repair,
                       std::vector<std::string>& findings) {
  std::map<std::string, std::vector<const Rule*>> by_chain;
  for (const Rule& r : expected.rules) {
    if (r.table == table) by_chain[r.chain].push_back(&r);
  }
  std::set<std::string> ours;
  for (const ChainRef& c : expected.chains) {
    if (c.table == table) ours.insert(c.name);
  }
  for (const auto& [chain, rules] : by_chain) {
    if (ours.contains(chain)) continue;  // agent chains below
    const std::multiset<RuleKey> got = savedKeys(have, chain);
    for (const Rule* r : rules) {  // a built-in chain: each jump must be there
      SC_ASSIGN_OR_RETURN(std::string spec, renderRuleSpec(*r, expected.family));
      if (got.contains({chain, r->comment, targetOf(spec)})) continue;
      findings.push_back(std::string(tableName(table)) + " chain " + chain + " lacks the rule " + targetOf(spec));
      repair.rules.push_back(*r);
    }
  }
  for (const std::string& chain : ours) {
    std::multiset<RuleKey> want;
    for (const Rule* r : by_chain[chain]) {
      SC_ASSIGN_OR_RETURN(std::string spec, renderRuleSpec(*r, expected.family));
      want.insert({chain, r->comment, targetOf(spec)});
    }
    const bool present = declared(have, chain);
    const std::multiset<RuleKey> got = savedKeys(have, chain);
    if (present && got == want) continue;
    findings.push_back(present ? describe(table, chain, want, got)
                               : std::string(tableName(table)) + " chain " + chain + " is missing");
    repair.chains.push_back({table, chain});
    for (const Rule* r : by_chain[chain]) repair.rules.push_back(*r);
  }
  return ok();
}

}  // namespace

Result<HostRepair> planHostRepair(const RuleDocument& expected, const std::map<Table, SavedTable>& saved) {
  HostRepair out;
  RuleDocument repair;
  repair.family = expected.family;
  for (Table t : tablesOf(expected)) {
    auto it = saved.find(t);
    const SavedTable empty;
    SC_TRY(planTable(expected, t, it == saved.end() ? empty : it->second, repair, out.findings));
  }
  for (Table t : tablesOf(repair)) {
    SC_ASSIGN_OR_RETURN(std::string text, renderInstall(repair, t));
    out.restore += text;
  }
  return out;
}

}  // namespace sc::netns
