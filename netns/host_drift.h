// Drift of the host's shared rules: what the agent's chains and jumps on the host should hold (the
// base rules and every task's port mappings) against what `iptables-save` shows, and the one
// iptables-restore input that puts it back. Pure: no I/O (SandboxManager::verifyHost() reads and
// applies).
//
// A rule is recognised by its chain, its comment and its target (`-j ...` to the end), which is
// what a flush, a deleted chain or a firewall reload (ufw, firewalld) changes; iptables-save's own
// spelling of the matches is not compared. An agent chain that differs is declared again in the
// repair (in --noflush mode that empties it) and refilled with all it should hold; a missing jump in
// a built-in chain is added. Everything goes in one input, so the kernel takes it in one transaction.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "netns/rules.h"

namespace sc::netns {

struct HostRepair {
  std::vector<std::string> findings;  // one line per difference, e.g. "nat chain SC_PORTMAP is missing"
  std::string restore;                // iptables-restore input (--noflush), "" when nothing drifted
};

// `expected`: the chains and rules the host should have (hostBaseRules() plus each task's
// hostTaskRules()); `saved`: parseIptablesSave() of each table.
Result<HostRepair> planHostRepair(const RuleDocument& expected, const std::map<Table, SavedTable>& saved);

}  // namespace sc::netns
