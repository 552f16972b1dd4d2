#include "agent/config.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace sc::agent {
namespace {

TEST(ConfigTest, EmptyObjectGivesDefaults) {
  auto c = parseAgentConfig("{}");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host_policy.min_ecs_agent_version, "1.67.2");
  EXPECT_EQ(c->host_policy.min_ami_version, "2.0.20221115");
  EXPECT_FALSE(c->host_policy.allow_amazon_linux_2023);
}

TEST(ConfigTest, PolicyOverrides) {
  auto c = parseAgentConfig(R"({"logLevel": "debug", "hostPolicy": {"allowAmazonLinux2023": true,
      "minEcsAgentVersion": "1.80.0", "haproxyPath": "/opt/haproxy/sbin/haproxy"}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->host_policy.allow_amazon_linux_2023);
  EXPECT_EQ(c->host_policy.min_ecs_agent_version, "1.80.0");
  EXPECT_EQ(c->host_policy.haproxy_path, "/opt/haproxy/sbin/haproxy");
  EXPECT_EQ(c->log_level, log::Level::kDebug);
}

TEST(ConfigTest, ErrorsNameTheMember) {
  EXPECT_EQ(parseAgentConfig(R"({"hostPolicy": {"allowExternl": true}})").error().message,
            "config: hostPolicy.allowExternl: unknown member");
  EXPECT_EQ(parseAgentConfig(R"({"hostPolicy": {"allowExternal": "yes"}})").error().message,
            "config: hostPolicy.allowExternal: expected true or false, got \"yes\"");
  EXPECT_EQ(parseAgentConfig(R"({"logLevel": "loud"})").error().message,
            "config: logLevel: expected one of debug, info, warn, error, got \"loud\"");
  EXPECT_NE(parseAgentConfig(R"({"hostPolicy": {"haproxyPath": "haproxy"}})").error().message.find("absolute"),
            std::string::npos);
}

TEST(ConfigTest, RunSettings) {
  auto c = parseAgentConfig(R"({"cluster": "demo", "stateDir": "/tmp/sc/state", "drainSeconds": 3,
      "controlPlane": {"endpoint": "http://127.0.0.1:8500", "bootstrapTokenFile": "/etc/scagent/token",
                       "pollTimeoutSeconds": 10}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->cluster, "demo");
  EXPECT_EQ(c->state_dir, "/tmp/sc/state");
  EXPECT_EQ(c->run_dir, "/run/scagent");
  EXPECT_EQ(c->drain_seconds, 3);
  EXPECT_EQ(c->control_plane.endpoints, std::vector<std::string>{"http://127.0.0.1:8500"});
  EXPECT_EQ(c->control_plane.poll_timeout_s, 10);
  EXPECT_EQ(parseAgentConfig(R"({"drainSeconds": -1})").error().message,
            "config: drainSeconds: expected an integer 0-3600, got -1");
  EXPECT_EQ(parseAgentConfig(R"({"stateDir": "var/lib"})").error().message,
            "config: stateDir: must be an absolute path, got \"var/lib\"");
  EXPECT_NE(parseAgentConfig(R"({"controlPlane": {"endpoint": "127.0.0.1:8500"}})").error().message.find("http://"),
            std::string::npos);
}

// proxy.uidBase/uidCount: each task's proxy gets its own uid from this range; the range must miss
// uid 0, stay below 2^31 and hold an offset for every address of the task CIDR.
TEST(ConfigTest, ProxyUidRange) {
  auto d = parseAgentConfig("{}");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->proxy.uid_base, 20000u);
  EXPECT_EQ(d->proxy.uid_count, 65536u);
  auto c =
      parseAgentConfig(R"({"network": {"taskCidr": "10.9.0.0/24"}, "proxy": {"uidBase": 300000, "uidCount": 256}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->proxy.uid_base, 300000u);
  EXPECT_EQ(c->proxy.uid_count, 256u);
  EXPECT_EQ(parseAgentConfig(R"({"proxy": {"uidBase": 0}})").error().message,
            "config: proxy.uidBase: expected an integer 1-2147483646, got 0");
  EXPECT_EQ(parseAgentConfig(R"({"proxy": {"uidCount": 65535}})").error().message,
            "config: proxy.uidCount: 65535 uids cannot give each of the 65536 addresses of network.taskCidr "
            "10.222.0.0/16 its own");
  EXPECT_EQ(parseAgentConfig(R"({"network": {"taskCidr": "10.9.0.0/24"}, "proxy": {"uidCount": 255}})").error().message,
            "config: proxy.uidCount: 255 uids cannot give each of the 256 addresses of network.taskCidr 10.9.0.0/24 "
            "its own");
  EXPECT_EQ(parseAgentConfig(R"({"proxy": {"uidBase": 2147480000}})").error().message,
            "config: proxy: uidBase + uidCount must stay below 2^31");
  EXPECT_EQ(parseAgentConfig(R"({"proxy": {"uid": 1}})").error().message, "config: proxy.uid: unknown member");
}

// controlPlane.endpoints: the sccontrol replicas, in the order the agent tries them.
TEST(ConfigTest, SeveralControlPlaneEndpoints) {
  auto c = parseAgentConfig(R"({"controlPlane": {"endpoints": ["http://10.0.0.5:8500", "https://cp2:8500"]}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->control_plane.endpoints, (std::vector<std::string>{"http://10.0.0.5:8500", "https://cp2:8500"}));
  EXPECT_EQ(
      parseAgentConfig(R"({"controlPlane": {"endpoint": "http://a:1", "endpoints": ["http://b:1"]}})").error().message,
      "config: controlPlane: give endpoint or endpoints, not both");
  EXPECT_EQ(parseAgentConfig(R"({"controlPlane": {"endpoints": []}})").error().message,
            "config: controlPlane.endpoints: expected an array of 1-16 http:// or https:// URLs");
  EXPECT_EQ(parseAgentConfig(R"({"controlPlane": {"endpoints": ["http://a:1", "ftp://b"]}})").error().message,
            "config: controlPlane.endpoints: expected http:// or https:// URLs, got \"ftp://b\"");
  std::string seventeen = R"({"controlPlane": {"endpoints": [)";
  for (int i = 0; i < 17; ++i) seventeen += std::string(i ? "," : "") + "\"http://h" + std::to_string(i) + ":1\"";
  EXPECT_FALSE(parseAgentConfig(seventeen + "]}}").ok());
}

TEST(ConfigTest, NetworkSettings) {
  auto d = parseAgentConfig("{}");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->network.veth_prefix, "scv");
  EXPECT_EQ(d->network.bridge, "scbr0");
  auto c = parseAgentConfig(
      R"({"network": {"taskCidr": "10.226.0.0/16", "bridge": "sce2e0", "vethPrefix": "sce", "hostAddress": "192.0.2.1"}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->network.task_cidr, "10.226.0.0/16");
  EXPECT_EQ(c->network.bridge, "sce2e0");
  EXPECT_EQ(c->network.veth_prefix, "sce");
  EXPECT_EQ(c->network.host_address, "192.0.2.1");
  // The documented default is "" (the bridge gateway); writing it out is fine.
  auto empty_host = parseAgentConfig(R"({"network": {"hostAddress": ""}})");
  ASSERT_TRUE(empty_host.ok()) << empty_host.error().message;
  EXPECT_EQ(empty_host->network.host_address, "");
  EXPECT_NE(parseAgentConfig(R"({"network": {"vethprefix": "x"}})").error().message.find("vethprefix"),
            std::string::npos);
}

TEST(ConfigTest, MetricsListenTakesAnAddressASocketOrNothing) {
  EXPECT_EQ(parseAgentConfig("{}")->metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(parseAgentConfig(R"({"metricsListen": "unix:/run/scagent/metrics.sock"})")->metrics_listen,
            "unix:/run/scagent/metrics.sock");
  auto off = parseAgentConfig(R"({"metricsListen": ""})");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(off->metrics_listen, "");
  EXPECT_EQ(parseAgentConfig(R"({"metricsListen": 9464})").error().message,
            "config: metricsListen: expected a string, got 9464");
  // Other strings still refuse "".
  EXPECT_EQ(parseAgentConfig(R"({"cluster": ""})").error().message,
            "config: cluster: expected a non-empty string, got \"\"");
}

TEST(ConfigTest, MissingFileIsFineOnlyAtTheDefaultPath) {
  testing::TempDir d;
  EXPECT_TRUE(loadAgentConfig(d.file("absent.json"), false).ok());
  auto r = loadAgentConfig(d.file("absent.json"), true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("No such file"), std::string::npos);
  testing::writeTestFile(d.file("bad.json"), "{\"x\": 1}");
  auto bad = loadAgentConfig(d.file("bad.json"), true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "failed to load '" + d.file("bad.json") + "': config: x: unknown member");
}

}  // namespace
}  // namespace sc::agent
