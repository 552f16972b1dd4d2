// SandboxManager over fakes: the exact order of kernel and rule operations, rollback, idempotency.
#include "netns/sandbox.h"

#include <gtest/gtest.h>

#include "common/failpoint.h"
#include "common/file.h"
#include "common/strings.h"
#include "tests/support/netns/fakes.h"
#include "tests/support/temp_dir.h"

namespace sc::netns {
namespace {

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.state_dir = dir_.path() + "/state";
    config_.etc_netns_dir = dir_.path() + "/etc-netns";
    config_.task_cidr = "10.9.0.0/24";
    auto m = SandboxManager::create(config_, {kernel_, rules_, system_});
    ASSERT_TRUE(m.ok()) << m.error().message;
    mgr_ = std::move(m).value();
  }
  void TearDown() override { ASSERT_TRUE(failpoint::set("").ok()); }

  SandboxSpec spec(const std::string& task) {
    SandboxSpec s;
    s.task_id = task;
    s.hostname = task;
    s.intercepts = {{80, 36547}};
    s.port_mappings = {{"ingress", Proto::kTcp, 0, 36547}};
    s.hosts = {{"127.255.0.3", "db"}};
    return s;
  }

  testing::TempDir dir_;
  NetConfig config_;
  testing::FakeNetworkKernel kernel_;
  testing::FakeRuleApplier rules_;
  testing::FakeHostSystem system_;
  std::unique_ptr<SandboxManager> mgr_;
};

TEST_F(SandboxTest, AppliesInOrderAndRecordsTheTask) {
  auto r = mgr_->apply(spec("t1"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(kernel_.ops, (std::vector<std::string>{
                             "ensureBridge scbr0 10.9.0.1/24",
                             "createNetns sc-t1",
                             "createVeth scv02 sc-t1/eth0 master scbr0",
                             "configureTask sc-t1 eth0 10.9.0.2/24 via 10.9.0.1",
                         }));
  ASSERT_EQ(rules_.ops.size(), 4u);  // base nat, base filter, task namespace nat, the task's host nat
  EXPECT_TRUE(rules_.ops[0].starts_with("restore host\n*nat\n:SC_PORTMAP - [0:0]\n"));
  EXPECT_TRUE(rules_.ops[2].starts_with("restore /run/netns/sc-t1\n*nat\n:SC_INGRESS"));
  EXPECT_NE(rules_.ops[3].find("-j DNAT --to-destination 10.9.0.2:36547"), std::string::npos);
  EXPECT_EQ(system_.ip_forward, "1");
  EXPECT_EQ(r->info.port_mappings[0].host_port, 49153);
  auto hosts = readFile(config_.etc_netns_dir + "/sc-t1/hosts");
  ASSERT_TRUE(hosts.ok());
  EXPECT_NE(hosts->find("10.9.0.2\tt1\n127.255.0.3\tdb\n"), std::string::npos);

  // Idempotent, and a changed spec is refused.
  auto again = mgr_->apply(spec("t1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, Outcome::kAlreadyPresent);
  EXPECT_EQ(rules_.ops.size(), 4u);
  SandboxSpec changed = spec("t1");
  changed.intercepts[0].listener_port = 40000;
  auto refused = mgr_->apply(changed);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(SandboxTest, RemoveUndoesExactlyWhatApplyDidAndRestoresTheHost) {
  ASSERT_TRUE(mgr_->apply(spec("t1")).ok());
  ASSERT_TRUE(mgr_->apply(spec("t2")).ok());
  kernel_.ops.clear();
  rules_.ops.clear();
  auto r = mgr_->remove("t1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, Outcome::kRemoved);
  EXPECT_EQ(kernel_.ops, (std::vector<std::string>{"deleteLink scv02", "deleteNetns sc-t1"}));
  ASSERT_EQ(rules_.ops.size(), 1u);  // the task's port mapping, with -D
  EXPECT_EQ(rules_.ops[0],
            "restore host\n*nat\n-D SC_PORTMAP -p tcp -m tcp --dport 49153 -m comment --comment sc:t1 -j DNAT "
            "--to-destination 10.9.0.2:36547\nCOMMIT\n");
  EXPECT_EQ(system_.ip_forward, "1");  // t2 still needs it
  ASSERT_TRUE(mgr_->remove("t2").ok());
  EXPECT_EQ(system_.ip_forward, "0");
  EXPECT_TRUE(kernel_.links.empty());  // the bridge the agent created went with the last task
  EXPECT_TRUE(kernel_.namespaces.empty());
  auto absent = mgr_->remove("t2");
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(*absent, Outcome::kAbsent);
  EXPECT_EQ(*readFile(config_.state_dir + "/ipam.json"),
            "{\n  \"cidr\": \"10.9.0.0/24\",\n  \"addresses\": {},\n  \"ports\": {}\n}\n");
}

TEST_F(SandboxTest, AFailedHostTransactionRollsBackEverythingBefore) {
  rules_.fail_on_call = 4;  // the task's host rules
  auto r = mgr_->apply(spec("t1"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("refused"), std::string::npos);
  // The veth and the namespace go, then the shared base the first task installed.
  ASSERT_EQ(rules_.ops.size(), 6u);
  EXPECT_TRUE(rules_.ops[4].starts_with("restore host\n*filter\n-D SC_FORWARD -m comment --comment sc:agent -j DROP"))
      << rules_.ops[4];
  EXPECT_NE(rules_.ops[4].find("-D FORWARD -m comment --comment sc:agent -j SC_FORWARD\n"), std::string::npos);
  EXPECT_NE(rules_.ops[5].find("-X SC_PORTMAP"), std::string::npos);
  EXPECT_TRUE(kernel_.links.empty());
  EXPECT_TRUE(kernel_.namespaces.empty());
  EXPECT_EQ(system_.ip_forward, "0");
  EXPECT_FALSE(readFile(config_.state_dir + "/host.json").ok());
  EXPECT_FALSE(readFile(config_.state_dir + "/tasks/t1.json").ok());
  rules_.fail_on_call = 0;
  auto again = mgr_->apply(spec("t1"));
  EXPECT_TRUE(again.ok()) << again.error().message;
}

TEST_F(SandboxTest, ABridgeDeletedUnderRunningTasksIsRecreatedAndRemovedWithTheLast) {
  kernel_.links.insert("scbr0");  // the host had the bridge: not the agent's to delete
  ASSERT_TRUE(mgr_->apply(spec("t1")).ok());
  kernel_.links.erase("scbr0");
  ASSERT_TRUE(mgr_->apply(spec("t2")).ok());
  ASSERT_TRUE(mgr_->remove("t1").ok());
  ASSERT_TRUE(mgr_->remove("t2").ok());
  EXPECT_FALSE(kernel_.links.count("scbr0"));
}

TEST_F(SandboxTest, ABridgeTheHostHadStays) {
  kernel_.links.insert("scbr0");
  ASSERT_TRUE(mgr_->apply(spec("t1")).ok());
  ASSERT_TRUE(mgr_->remove("t1").ok());
  EXPECT_TRUE(kernel_.links.count("scbr0"));
}

TEST_F(SandboxTest, BadInputRunsNothing) {
  SandboxSpec bad = spec("t1");
  bad.hosts.push_back({"127.255.0.9", "evil\n1.2.3.4 x"});
  EXPECT_FALSE(mgr_->apply(bad).ok());
  SandboxSpec bad_id = spec("../etc");
  EXPECT_FALSE(mgr_->apply(bad_id).ok());
  EXPECT_FALSE(mgr_->remove("a/b").ok());
  EXPECT_TRUE(kernel_.ops.empty());
  EXPECT_TRUE(rules_.ops.empty());
}

TEST_F(SandboxTest, SpecRoundTripsThroughJson) {
  SandboxSpec s = spec("t1");
  s.vip_range = *Cidr::parse("198.18.0.0/16");
  s.egress = {{*IpAddress::parse("198.18.0.1"), 80, 15001}};
  auto back = specFromJson(specToJson(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(specToJson(*back), specToJson(s));
}

TEST_F(SandboxTest, ConfigIsChecked) {
  NetConfig c;
  EXPECT_TRUE(validateConfig(c).ok());
  c.veth_prefix = "averylongprefix";
  EXPECT_FALSE(validateConfig(c).ok());
  c = NetConfig{};
  c.task_cidr = "127.0.0.0/16";
  EXPECT_FALSE(validateConfig(c).ok());
  c = NetConfig{};
  c.chain_prefix = "sc";
  EXPECT_FALSE(validateConfig(c).ok());
}

PeerSubnet peer(const std::string& name, const std::string& subnet, const std::string& via) {
  return {name, *Cidr::parse(subnet), *IpAddress::parse(via)};
}

std::string lastRestore(const testing::FakeRuleApplier& rules) { return rules.ops.empty() ? "" : rules.ops.back(); }

TEST_F(SandboxTest, PeersAreRoutedWithTheFirstTaskChangedInOneRestoreAndRemovedWithTheLast) {
  // Before any task: nothing on the host, the peers are kept for the first task.
  auto early = mgr_->setPeers({peer("b", "10.9.1.0/24", "192.168.5.12"), peer("c", "10.9.2.0/24", "192.168.5.13")});
  ASSERT_TRUE(early.ok()) << early.error().message;
  EXPECT_TRUE(early->empty());
  EXPECT_TRUE(kernel_.routes.empty());
  EXPECT_TRUE(rules_.ops.empty());

  ASSERT_TRUE(mgr_->apply(spec("t1")).ok());
  EXPECT_EQ(kernel_.routes.size(), 2u);
  EXPECT_TRUE(kernel_.routes.contains({*Cidr::parse("10.9.1.0/24"), *IpAddress::parse("192.168.5.12")}));
  // The peers' chains refilled once, both tables in one input: no masquerade to a peer's tasks,
  // and its tasks may open connections to ours.
  const std::string* refill = nullptr;
  for (const std::string& op : rules_.ops) {
    if (op.find("-j RETURN") != std::string::npos) refill = &op;
  }
  ASSERT_NE(refill, nullptr);
  EXPECT_NE(refill->find(":SC_POSTROUTING - [0:0]"), std::string::npos);
  EXPECT_NE(refill->find(":SC_FORWARD - [0:0]"), std::string::npos);
  EXPECT_EQ(refill->find(":SC_PORTMAP"), std::string::npos);  // the task mappings are not flushed
  EXPECT_NE(refill->find("-A SC_POSTROUTING -s 10.9.0.0/24 -d 10.9.2.0/24 -m comment --comment sc:agent -j RETURN"),
            std::string::npos);
  EXPECT_NE(
      refill->find("-A SC_FORWARD -s 10.9.1.0/24 -d 10.9.0.0/24 -o scbr0 -m comment --comment sc:agent -j ACCEPT"),
      std::string::npos);
  EXPECT_LT(refill->find("-j RETURN"), refill->find("-j MASQUERADE"));

  // One peer leaves, another moves: its route is replaced, the chains refilled without the first.
  rules_.ops.clear();
  auto moved = mgr_->setPeers({peer("c", "10.9.2.0/24", "192.168.5.99")});
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(kernel_.routes, (std::set<HostRoute>{{*Cidr::parse("10.9.2.0/24"), *IpAddress::parse("192.168.5.99")}}));
  ASSERT_EQ(rules_.ops.size(), 1u);
  EXPECT_EQ(rules_.ops[0].find("10.9.1.0/24"), std::string::npos);
  // The same peers again change nothing.
  rules_.ops.clear();
  kernel_.ops.clear();
  ASSERT_TRUE(mgr_->setPeers({peer("c", "10.9.2.0/24", "192.168.5.99")}).ok());
  EXPECT_TRUE(rules_.ops.empty());
  EXPECT_TRUE(kernel_.ops.empty());

  // A route deleted by hand is put back by the periodic check.
  kernel_.routes.clear();
  auto drift = mgr_->verifyHost();
  ASSERT_TRUE(drift.ok()) << drift.error().message;
  EXPECT_NE(join(*drift, "|").find("host route to 10.9.2.0/24 via 192.168.5.99 was missing"), std::string::npos);
  EXPECT_EQ(kernel_.routes.size(), 1u);

  ASSERT_TRUE(mgr_->remove("t1").ok());
  EXPECT_TRUE(kernel_.routes.empty());
  EXPECT_NE(join(rules_.ops, "\n").find("-X SC_POSTROUTING"), std::string::npos);
  EXPECT_EQ(system_.ip_forward, "0");
}

TEST_F(SandboxTest, PeersThatCannotBeRoutedAreNamedAndLeftOut) {
  ASSERT_TRUE(mgr_->apply(spec("t1")).ok());
  kernel_.unreachable_via = "172.16.0.9";
  auto r = mgr_->setPeers({
      peer("same", "10.9.0.0/16", "192.168.5.12"),  // overlaps ours (10.9.0.0/24)
      peer("inside", "10.8.0.0/24", "10.9.0.77"),   // next hop in our task CIDR
      peer("ok", "10.7.0.0/24", "192.168.5.13"), peer("twin", "10.7.0.128/25", "192.168.5.14"),  // overlaps "ok"
      peer("far", "10.6.0.0/24", "172.16.0.9"),                                                  // not on-link
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  const std::string all = join(*r, "|");
  EXPECT_EQ(r->size(), 4u) << all;
  EXPECT_NE(all.find("peer same (10.9.0.0/16) is not routed: its task CIDR overlaps this host's 10.9.0.0/24"),
            std::string::npos);
  EXPECT_NE(all.find("peer inside (10.8.0.0/24) is not routed: its host address 10.9.0.77"), std::string::npos);
  EXPECT_NE(all.find("peer twin (10.7.0.128/25) is not routed: its task CIDR overlaps that of ok"), std::string::npos);
  EXPECT_NE(all.find("peer far (10.6.0.0/24) is not routed: "), std::string::npos);
  EXPECT_EQ(kernel_.routes, (std::set<HostRoute>{{*Cidr::parse("10.7.0.0/24"), *IpAddress::parse("192.168.5.13")}}));
  EXPECT_EQ(lastRestore(rules_).find("10.6.0.0/24"), std::string::npos);
  EXPECT_NE(lastRestore(rules_).find("-d 10.7.0.0/24"), std::string::npos);
}

TEST_F(SandboxTest, APeerSubnetHoldingAHostAddressIsNotRouted) {
  // A registration whose subnet is carved out of the hosts' own network would take another host's
  // traffic (a longer prefix than the link's route): refused, the honest peer still routed.
  ASSERT_TRUE(mgr_->apply(spec("t1")).ok());
  auto r = mgr_->setPeers({peer("b", "10.7.0.0/24", "192.168.5.12"), peer("evil", "192.168.5.12/32", "192.168.5.13"),
                           peer("self", "192.168.5.8/29", "192.168.5.14")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const std::string all = join(*r, "|");
  EXPECT_NE(all.find("peer evil (192.168.5.12/32) is not routed: its task CIDR holds the host address 192.168.5.12"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("peer self (192.168.5.8/29) is not routed: its task CIDR holds the host address 192.168.5.12"),
            std::string::npos)
      << all;
  EXPECT_EQ(kernel_.routes, (std::set<HostRoute>{{*Cidr::parse("10.7.0.0/24"), *IpAddress::parse("192.168.5.12")}}));
}

}  // namespace
}  // namespace sc::netns
