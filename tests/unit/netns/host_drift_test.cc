// planHostRepair(): what drifted in the host's shared rules, and the one restore that puts it back.
#include "netns/host_drift.h"

#include <gtest/gtest.h>

#include "netns/names.h"
#include "netns/task_rules.h"

namespace sc::netns {
namespace {

class HostDriftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cidr_ = *Cidr::parse("10.9.0.0/24");
    expected_ = hostBaseRules(chains_, {cidr_, "scbr0", true});
    SandboxSpec s;
    s.task_id = "t1";
    s.port_mappings = {{"app:80", Proto::kTcp, 49153, 80}};
    RuleDocument task = hostTaskRules(s, {cidr_.at(2), cidr_, s.port_mappings}, chains_);
    expected_.rules.insert(expected_.rules.end(), task.rules.begin(), task.rules.end());
  }
  // The tables as iptables-save would show them with everything in place (its own spelling:
  // quoted comments, -s before -i).
  std::map<Table, SavedTable> intact() {
    std::string nat = R"(*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SC_PORTMAP - [0:0]
:SC_POSTROUTING - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "sc:agent" -j SC_PORTMAP
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment "sc:agent" -j SC_PORTMAP
-A POSTROUTING -m comment --comment "sc:agent" -j SC_POSTROUTING
-A SC_PORTMAP -p tcp -m tcp --dport 49153 -m comment --comment "sc:t1" -j DNAT --to-destination 10.9.0.2:80
-A SC_POSTROUTING -s 10.9.0.0/24 ! -d 10.9.0.0/24 -m comment --comment "sc:agent" -j MASQUERADE
-A SC_POSTROUTING -s 10.9.0.0/24 -d 10.9.0.0/24 -m conntrack --ctstate DNAT -m comment --comment "sc:agent" -j MASQUERADE
COMMIT
)";
    std::string filter = R"(*filter
:FORWARD ACCEPT [0:0]
:SC_FORWARD - [0:0]
-A FORWARD -m comment --comment "sc:agent" -j SC_FORWARD
-A FORWARD -j ufw-before-forward
-A SC_FORWARD -s 10.9.0.0/24 -i scbr0 -m comment --comment "sc:agent" -j ACCEPT
-A SC_FORWARD -d 10.9.0.0/24 -o scbr0 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "sc:agent" -j ACCEPT
-A SC_FORWARD -d 10.9.0.0/24 -m comment --comment "sc:agent" -j DROP
-A SC_FORWARD -m comment --comment "sc:agent" -j DROP
COMMIT
)";
    return {{Table::kNat, parseIptablesSave(nat, Table::kNat)}, {Table::kFilter, parseIptablesSave(filter, Table::kFilter)}};
  }
  static void dropRules(SavedTable& t, const std::string& chain) {
    std::erase_if(t.rules, [&](const SavedRule& r) { return r.chain == chain; });
  }

  ChainNames chains_ = ChainNames::of("SC");
  Cidr cidr_;
  RuleDocument expected_;
};

TEST_F(HostDriftTest, NothingToDoWhenEverythingIsThereInIptablesSavesSpelling) {
  auto r = planHostRepair(expected_, intact());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->findings, std::vector<std::string>{});
  EXPECT_EQ(r->restore, "");
}

// `iptables -t nat -F`: every chain empty, chains still declared, foreign rules of other tools gone too.
TEST_F(HostDriftTest, AFlushedNatTableIsRefilledInOneRestore) {
  auto saved = intact();
  saved[Table::kNat].rules.clear();
  auto r = planHostRepair(expected_, saved);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->findings, (std::vector<std::string>{
                             "nat chain OUTPUT lacks the rule -j SC_PORTMAP",
                             "nat chain POSTROUTING lacks the rule -j SC_POSTROUTING",
                             "nat chain PREROUTING lacks the rule -j SC_PORTMAP",
                             "nat chain SC_PORTMAP: 1 rule(s) missing, 0 unexpected",
                             "nat chain SC_POSTROUTING: 2 rule(s) missing, 0 unexpected",
                         }));
  // The agent's chains are declared again (emptied) and refilled; the built-in jumps re-added; the
  // filter table, intact, is not touched.
  EXPECT_EQ(r->restore,
            "*nat\n"
            ":SC_PORTMAP - [0:0]\n"
            ":SC_POSTROUTING - [0:0]\n"
            "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment sc:agent -j SC_PORTMAP\n"
            "-A POSTROUTING -m comment --comment sc:agent -j SC_POSTROUTING\n"
            "-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment sc:agent -j SC_PORTMAP\n"
            "-A SC_PORTMAP -p tcp -m tcp --dport 49153 -m comment --comment sc:t1 -j DNAT --to-destination 10.9.0.2:80\n"
            "-A SC_POSTROUTING -s 10.9.0.0/24 ! -d 10.9.0.0/24 -m comment --comment sc:agent -j MASQUERADE\n"
            "-A SC_POSTROUTING -s 10.9.0.0/24 -d 10.9.0.0/24 -m conntrack --ctstate DNAT -m comment --comment "
            "sc:agent -j MASQUERADE\n"
            "COMMIT\n");
}

// A deleted chain (after its jump was removed), and a chain with a rule nobody asked for: both
// come back exactly as expected, in the same input as the other table's repair.
TEST_F(HostDriftTest, AMissingChainAndAnUnexpectedRuleAreRepairedTogether) {
  auto saved = intact();
  dropRules(saved[Table::kFilter], "SC_FORWARD");
  std::erase(saved[Table::kFilter].chains, "SC_FORWARD");
  std::erase_if(saved[Table::kFilter].rules, [](const SavedRule& r) { return r.spec.ends_with("-j SC_FORWARD"); });
  saved[Table::kNat].rules.push_back({Table::kNat, "SC_PORTMAP", "-p tcp -m tcp --dport 50000 -m comment --comment \"sc:gone\" -j DNAT --to-destination 10.9.0.9:80", "sc:gone"});
  auto r = planHostRepair(expected_, saved);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->findings, (std::vector<std::string>{
                             "nat chain SC_PORTMAP: 0 rule(s) missing, 1 unexpected",
                             "filter chain FORWARD lacks the rule -j SC_FORWARD",
                             "filter chain SC_FORWARD is missing",
                         }));
  EXPECT_NE(r->restore.find("*nat\n:SC_PORTMAP - [0:0]\n-A SC_PORTMAP -p tcp -m tcp --dport 49153"), std::string::npos)
      << r->restore;
  EXPECT_EQ(r->restore.find("50000"), std::string::npos) << "the stray rule goes with the redeclared chain";
  EXPECT_NE(r->restore.find("COMMIT\n*filter\n:SC_FORWARD - [0:0]\n-I FORWARD -m comment --comment sc:agent -j "
                            "SC_FORWARD\n"),
            std::string::npos)
      << r->restore;
  EXPECT_TRUE(r->restore.ends_with("-A SC_FORWARD -m comment --comment sc:agent -j DROP\nCOMMIT\n")) << r->restore;
}

// A host whose ip_forward was on before the agent: no final DROP is expected, and one found is
// unexpected (the agent's chain holds only what it should).
TEST_F(HostDriftTest, TheFinalDropFollowsWhetherTheAgentTurnedForwardingOn) {
  RuleDocument theirs = hostBaseRules(chains_, {cidr_, "scbr0", false});
  auto saved = intact();
  dropRules(saved[Table::kNat], "SC_PORTMAP");
  auto r = planHostRepair(theirs, saved);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->findings, std::vector<std::string>{"filter chain SC_FORWARD: 0 rule(s) missing, 1 unexpected"});
}

}  // namespace
}  // namespace sc::netns
