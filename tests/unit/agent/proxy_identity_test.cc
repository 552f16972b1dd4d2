#include "agent/proxy_identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/temp_dir.h"

namespace sc::agent {
namespace {

Cidr cidr(const char* text) { return *Cidr::parse(text); }

TEST(ProxyIdentityTest, TheUidIsTheBasePlusTheAddressOffset) {
  ProxyIdentityConfig ids;  // 20000, 65536
  EXPECT_EQ(*proxyUidFor(ids, cidr("10.222.0.0/16"), "10.222.0.2"), 20002u);
  EXPECT_EQ(*proxyUidFor(ids, cidr("10.222.0.0/16"), "10.222.1.7"), 20000u + 263u);
  EXPECT_EQ(*proxyUidFor(ids, cidr("10.222.0.0/16"), "10.222.255.254"), 20000u + 65534u);
  // Two addresses, two uids: no task's proxy shares another's.
  EXPECT_NE(*proxyUidFor(ids, cidr("10.222.0.0/16"), "10.222.0.2"),
            *proxyUidFor(ids, cidr("10.222.0.0/16"), "10.222.0.3"));
  auto outside = proxyUidFor(ids, cidr("10.222.0.0/16"), "10.223.0.2");
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("not in the task CIDR 10.222.0.0/16"), std::string::npos);
  EXPECT_FALSE(proxyUidFor(ids, cidr("10.222.0.0/16"), "10.222.0.0").ok());  // the network address: uidBase itself
  ProxyIdentityConfig small{.uid_base = 100000, .uid_count = 16};
  EXPECT_EQ(*proxyUidFor(small, cidr("10.1.0.0/28"), "10.1.0.15"), 100015u);
  EXPECT_FALSE(proxyUidFor(small, cidr("10.1.0.0/24"), "10.1.0.16").ok());
  EXPECT_FALSE(proxyUidFor(ids, cidr("10.222.0.0/16"), "not-an-address").ok());
}

TEST(ProxyIdentityTest, ARecordWithTheUidUsesItAndTheRootOwnedTaskDirectory) {
  TaskRecord t;
  t.task_id = "t1";
  t.facts[kProxyUidFact] = "20007";
  auto l = proxyLayoutFor(t, "/run/scagent");
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->uid, 20007u);
  EXPECT_EQ(l->gid, 20007u);
  EXPECT_EQ(l->state_dir, "/run/scagent/tasks/t1");
  EXPECT_EQ(l->run_dir, "/run/scagent/tasks/t1/proxy");
  for (const char* bad : {"0", "-1", "x", "", "99999999999"}) {
    t.facts[kProxyUidFact] = bad;
    EXPECT_FALSE(proxyLayoutFor(t, "/run/scagent").ok()) << bad;
  }
}

// A record written before per-task uids is adopted as it ran: uid 20000, everything in the task
// directory. The record's format did not change; the old code's records just lack the fact.
TEST(ProxyIdentityTest, ARecordWithoutTheUidMeans20000AndTheOldLayout) {
  TaskRecord old;
  old.task_id = "old1";
  old.status = TaskStatus::kRunning;
  old.plan.task_id = "old1";
  old.plan.carve.task_memory_mib = 512;
  old.plan.carve.proxy_memory_mib = 64;
  old.steps_up = {"sandbox", "proxy", "apps"};
  old.facts = {
      {"task_ip", "10.222.0.5"}, {"netns_path", "/run/netns/sc-old1"}, {"hosts_path", "/run/scagent/tasks/old1.hosts"}};
  old.proxy = ProcessRecord{1234, 99, "scagent-old1"};
  const std::string json = taskRecordToJson(old);
  ASSERT_EQ(json.find("proxy_uid"), std::string::npos);
  auto t = taskRecordFromJson(json);
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto l = proxyLayoutFor(*t, "/run/scagent");
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->uid, 20000u);
  EXPECT_EQ(l->gid, 20000u);
  EXPECT_EQ(l->state_dir, "");
  EXPECT_EQ(l->run_dir, "/run/scagent/tasks/old1");
}

TEST(ProxyIdentityTest, AUidIsInUseWhileAProcessRunsAsIt) {
  testing::TempDir proc;
  auto task = [&](const char* pid, const char* uids) {
    ASSERT_EQ(::mkdir(proc.file(pid).c_str(), 0755), 0);
    testing::writeTestFile(proc.file(std::string(pid) + "/status"),
                           std::string("Name:\thaproxy\nUid:\t") + uids + "\nGid:\t0\t0\t0\t0\n");
  };
  task("12", "0\t0\t0\t0");
  task("345", "20003\t20003\t20003\t20003");
  task("346", "1000\t20009\t1000\t1000");  // effective only
  ASSERT_EQ(::mkdir(proc.file("self-not-a-pid").c_str(), 0755), 0);
  EXPECT_TRUE(*uidInUse(20003, proc.path()));
  EXPECT_TRUE(*uidInUse(20009, proc.path()));
  EXPECT_FALSE(*uidInUse(20004, proc.path()));
  EXPECT_TRUE(*uidInUse(::getuid()));  // this process, in the real /proc
  EXPECT_FALSE(uidInUse(0, proc.file("missing")).ok());
}

}  // namespace
}  // namespace sc::agent
