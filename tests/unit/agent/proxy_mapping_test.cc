#include "agent/proxy_mapping.h"

#include <gtest/gtest.h>

namespace sc::agent {
namespace {

model::TaskPlan planWith(std::optional<model::LogConfig> log, std::optional<model::AccessLogConfig> access) {
  model::TaskPlan p;
  p.task_id = "t1";
  model::EgressAlias a;
  a.dns_name = "db";
  a.port = 81;
  a.vip = "127.255.0.3";
  a.app_protocol = model::AppProtocol::kGrpc;
  a.addresses = {{"10.0.0.1", 80, "x", true}, {"10.0.0.2", 80, "y", false}};
  p.egress.push_back(a);
  p.log = std::move(log);
  p.access_log = std::move(access);
  return p;
}

TEST(ProxyMappingTest, MapsEgressProtocolsAndUpstreams) {
  inject::ProxyConfig c = proxyConfigFromPlan(planWith(std::nullopt, std::nullopt), taskRunDir("/run/scagent", "t1"));
  EXPECT_EQ(c.run_dir, "/run/scagent/tasks/t1");
  ASSERT_EQ(c.egress.size(), 1u);
  EXPECT_EQ(c.egress[0].protocol, inject::ProxyProtocol::kGrpc);
  ASSERT_EQ(c.egress[0].upstreams.size(), 2u);
  EXPECT_FALSE(c.egress[0].upstreams[1].healthy);
  EXPECT_TRUE(c.log.syslog_target.empty());
  EXPECT_EQ(c.log.access, inject::AccessLogFormat::kNone);
}

TEST(ProxyMappingTest, AnUnsafeSyslogAddressInARecordFallsBackToStdout) {
  auto c = proxyConfigFromPlan(
      planWith(model::LogConfig{"syslog", {{"syslog-address", "udp://10.1.1.1:514\nprogram x"}}}, std::nullopt), "/r");
  EXPECT_TRUE(c.log.syslog_target.empty());
  c = proxyConfigFromPlan(planWith(model::LogConfig{"syslog", {{"syslog-address", "unix:///dev/log"}}}, std::nullopt),
                          "/r");
  EXPECT_EQ(c.log.syslog_target, "/dev/log");
}

TEST(ProxyMappingTest, MapsLogDriversAndAccessLogs) {
  auto c = proxyConfigFromPlan(planWith(model::LogConfig{"syslog", {{"syslog-address", "udp://10.1.1.1:514"}}},
                                        model::AccessLogConfig{"JSON", true}),
                               "/r");
  EXPECT_EQ(c.log.syslog_target, "10.1.1.1:514");
  EXPECT_EQ(c.log.access, inject::AccessLogFormat::kJson);
  EXPECT_TRUE(c.log.include_query);
  c = proxyConfigFromPlan(planWith(model::LogConfig{"syslog", {}}, model::AccessLogConfig{"TEXT", false}), "/r");
  EXPECT_EQ(c.log.syslog_target, "/dev/log");
  EXPECT_EQ(c.log.access, inject::AccessLogFormat::kText);
  c = proxyConfigFromPlan(planWith(model::LogConfig{"awslogs", {{"awslogs-group", "g"}}}, std::nullopt), "/r");
  EXPECT_TRUE(c.log.syslog_target.empty());  // stdout -> proxy.log
}

}  // namespace
}  // namespace sc::agent
