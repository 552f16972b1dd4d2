#include "agent/host_check.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sc::agent {
namespace {

HostFacts goodFacts() {
  HostFacts f;
  f.os_release = {{"ID", "debian"}, {"VERSION_ID", "12"}, {"PRETTY_NAME", "Debian GNU/Linux 12 (bookworm)"}};
  f.kernel_release = "6.1.0";
  f.netns = {true, "ok"};
  f.nat_redirect = {true, "ok"};
  f.cgroup_memory = {true, "v1"};
  f.seccomp = {true, "ok"};
  f.ip_forward = {true, "ok"};
  f.haproxy_vv =
      "HAProxy version 2.6.12-1+deb12u4 2026/10/17\nBuilt with the Prometheus exporter as a service\n"
      "Feature list : +LINUX_SPLICE +NETFILTER\n";
  return f;
}

const HostCheck& find(const HostReport& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return c;
  static HostCheck none{"", CheckStatus::kFail, "missing"};
  ADD_FAILURE() << "no check " << name;
  return none;
}

TEST(HostCheckTest, DebianHostWithEverythingIsCompatible) {
  HostReport r = evaluateHost(goodFacts(), {});
  EXPECT_TRUE(r.compatible()) << r.failures()[0];
  EXPECT_EQ(find(r, "ami").status, CheckStatus::kNotApplicable);
  EXPECT_EQ(find(r, "ecs-agent").status, CheckStatus::kNotApplicable);
  EXPECT_NE(find(r, "haproxy").detail.find("HAProxy 2.6.12-1+deb12u4"), std::string::npos);
}

TEST(HostCheckTest, EcsAmiOlderThanTheMinimumFails) {
  HostFacts f = goodFacts();
  f.os_release = {{"ID", "amzn"}, {"VERSION_ID", "2"}};
  f.image_id = {{"image_name", "amzn2-ami-ecs-hvm"}, {"image_file", "amzn2-ami-ecs-hvm-2.0.20221025-x86_64.xfs.gpt"}};
  HostReport r = evaluateHost(f, {});
  EXPECT_FALSE(r.compatible());
  EXPECT_EQ(find(r, "ami").status, CheckStatus::kFail);
  EXPECT_NE(find(r, "ami").detail.find("2.0.20221025 is older than 2.0.20221115"), std::string::npos);
  HostPolicy allow;
  allow.allow_old_ami = true;
  EXPECT_TRUE(evaluateHost(f, allow).compatible());
  f.image_id["image_file"] = "amzn2-ami-ecs-hvm-2.0.20221115-x86_64.xfs.gpt";
  EXPECT_TRUE(evaluateHost(f, {}).compatible());
}

TEST(HostCheckTest, AmazonLinux2023IsUnsupportedUnlessAllowed) {
  HostFacts f = goodFacts();
  f.os_release = {{"ID", "amzn"}, {"VERSION_ID", "2023"}};
  EXPECT_FALSE(evaluateHost(f, {}).compatible());
  HostPolicy p;
  p.allow_amazon_linux_2023 = true;
  EXPECT_TRUE(evaluateHost(f, p).compatible());
}

TEST(HostCheckTest, EcsAgentVersionIsEnforcedWhenOneAnswers) {
  HostFacts f = goodFacts();
  f.ecs_agent_version = "1.67.1";
  HostReport r = evaluateHost(f, {});
  EXPECT_EQ(find(r, "ecs-agent").status, CheckStatus::kFail);
  EXPECT_EQ(find(r, "ecs-agent").detail, "ECS agent 1.67.1 is older than 1.67.2");
  f.ecs_agent_version = "1.100.0";
  EXPECT_EQ(find(evaluateHost(f, {}), "ecs-agent").status, CheckStatus::kPass);
}

TEST(HostCheckTest, ExternalInstancesFailUnlessAllowed) {
  HostFacts f = goodFacts();
  f.external_instance = true;
  EXPECT_FALSE(evaluateHost(f, {}).compatible());
  HostPolicy p;
  p.allow_external = true;
  EXPECT_TRUE(evaluateHost(f, p).compatible());
}

TEST(HostCheckTest, EachKernelFeatureIsRequired) {
  for (ProbeOutcome HostFacts::*probe : {&HostFacts::netns, &HostFacts::nat_redirect, &HostFacts::cgroup_memory,
                                         &HostFacts::seccomp, &HostFacts::ip_forward}) {
    HostFacts f = goodFacts();
    f.*probe = {false, "broken on purpose"};
    HostReport r = evaluateHost(f, {});
    EXPECT_FALSE(r.compatible());
    ASSERT_EQ(r.failures().size(), 1u);
    EXPECT_NE(r.failures()[0].find("broken on purpose"), std::string::npos);
  }
}

TEST(HostCheckTest, HaproxyVersionAndFeatures) {
  HostFacts f = goodFacts();
  f.haproxy_vv = "HA-Proxy version 1.8.19 2019/02/11\nBuilt with the Prometheus exporter as a service\n";
  EXPECT_NE(find(evaluateHost(f, {}), "haproxy").detail.find("older than 2.4"), std::string::npos);
  f.haproxy_vv = "HAProxy version 2.6.12 2023/01/01\n";
  EXPECT_NE(find(evaluateHost(f, {}), "haproxy").detail.find("without the Prometheus exporter"), std::string::npos);
  f.haproxy_vv.reset();
  f.haproxy_error = "failed to run '/usr/sbin/haproxy': No such file or directory";
  EXPECT_EQ(find(evaluateHost(f, {}), "haproxy").detail, f.haproxy_error);
}

TEST(HostCheckTest, Parsers) {
  auto kv = parseKeyValueFile("# c\nID=debian\nPRETTY_NAME=\"Debian 12\"\nX='y'\nbad line\n");
  EXPECT_EQ(kv["ID"], "debian");
  EXPECT_EQ(kv["PRETTY_NAME"], "Debian 12");
  EXPECT_EQ(kv["X"], "y");
  EXPECT_EQ(parseEcsAgentVersion("Amazon ECS Agent - v1.67.2 (abcdef)"), "1.67.2");
  EXPECT_EQ(parseEcsAgentVersion("1.70.0"), "1.70.0");
  EXPECT_FALSE(parseEcsAgentVersion("garbage"));
  const char* mounts =
      "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,memory 0 0\n"
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n";
  EXPECT_TRUE(mountsHaveCgroupV1Memory(mounts));
  EXPECT_EQ(cgroup2MountPoint(mounts), "/sys/fs/cgroup/unified");
  EXPECT_FALSE(mountsHaveCgroupV1Memory("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu,cpuacct 0 0\n"));
  auto info = parseHaproxyVv("HAProxy version 2.6.12-1 x\n+PROMEX +NETFILTER");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->version, "2.6.12-1");
  EXPECT_TRUE(info->prometheus);
  EXPECT_FALSE(info->splice);
}

TEST(HostCheckTest, Rendering) {
  HostFacts f = goodFacts();
  f.seccomp = {false, "no \"seccomp\""};
  HostReport r = evaluateHost(f, {});
  std::string table = renderHostReportTable(r);
  EXPECT_NE(table.find("kernel.seccomp        FAIL    no \"seccomp\""), std::string::npos) << table;
  EXPECT_NE(table.find("host is NOT compatible"), std::string::npos);
  auto j = nlohmann::json::parse(renderHostReportJson(r));
  EXPECT_FALSE(j["compatible"].get<bool>());
  EXPECT_EQ(j["checks"].size(), r.checks.size());
}

}  // namespace
}  // namespace sc::agent
