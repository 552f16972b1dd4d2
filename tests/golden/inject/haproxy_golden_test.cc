// Pins the rendered HAProxy configuration (seed example awsvpc and bridge; every protocol; custom
// timeouts and access logs) and has `haproxy -c` check every golden file.
#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/proxy_mapping.h"
#include "common/process.h"
#include "inject/haproxy_config.h"
#include "model/parse.h"
#include "model/plan.h"
#include "tests/support/golden.h"

namespace sc::inject {
namespace {

const char* kRunDir = "/run/scagent/tasks/golden";

model::TaskPlan seedPlan(const std::string& td_file, const std::string& svc_file) {
  auto td = model::parseTaskDefinition(testing::readSource("examples/seed-example/" + td_file));
  auto svc = model::parseServiceDefinition(testing::readSource("examples/seed-example/" + svc_file));
  auto cluster = model::parseClusterDefinition(testing::readSource("examples/seed-example/cluster.json"));
  EXPECT_TRUE(td.ok() && svc.ok() && cluster.ok());
  model::PlanOutcome o = model::buildTaskPlan({*td, *svc, &*cluster, nullptr}, {"", 1});
  EXPECT_TRUE(o.plan.has_value());
  return o.plan ? *o.plan : model::TaskPlan{};
}

// A plan with one ingress and one egress per protocol, upstreams, custom timeouts, JSON logs.
model::TaskPlan protocolsPlan(bool custom_timeouts) {
  model::TaskPlan p;
  p.task_id = custom_timeouts ? "timeouts" : "protocols";
  const model::AppProtocol protos[] = {model::AppProtocol::kTcp, model::AppProtocol::kHttp, model::AppProtocol::kHttp2,
                                       model::AppProtocol::kGrpc};
  int i = 0;
  for (model::AppProtocol proto : protos) {
    std::string n = model::appProtocolName(proto);
    model::Timeouts t = model::resolveTimeouts(proto, std::nullopt);
    if (custom_timeouts) {
      t.idle_s = i == 0 ? 0 : 60 * (i + 1);                                  // tcp: idle disabled
      if (model::isHttpFamily(proto)) t.per_request_s = i == 1 ? 0 : 5 * i;  // http: disabled
    }
    model::IngressListener in;
    in.name = "ingress-" + n;
    in.discovery_names = {n + "-svc"};
    in.container_port = 8000 + i;
    in.listener_port = 40000 + i;
    in.app_protocol = proto;
    in.timeouts = t;
    p.ingress.push_back(in);
    model::EgressAlias a;
    a.dns_name = n + "-up";
    a.port = 9000 + i;
    a.vip = "127.255.0." + std::to_string(10 + i);
    a.discovery_name = n + "-up";
    a.app_protocol = proto;
    a.timeouts = t;
    for (int k = 0; k < i + 1; ++k) {
      a.addresses.push_back({"10.99.0." + std::to_string(k + 2), 8000 + i, "task-" + std::to_string(k), k != 2});
    }
    p.egress.push_back(a);
    ++i;
  }
  p.access_log = model::AccessLogConfig{custom_timeouts ? "TEXT" : "JSON", custom_timeouts};
  return p;
}

std::string rendered(const model::TaskPlan& plan) {
  return renderHaproxyConfig(agent::proxyConfigFromPlan(plan, kRunDir));
}

// haproxy -c on the golden file itself (not on the rendered text), so every committed file is valid.
void expectHaproxyAccepts(const std::string& golden) {
  const std::string path = testing::sourcePath("tests/golden/" + golden);
  if (access("/usr/sbin/haproxy", X_OK) != 0) GTEST_SKIP() << "SKIPPED: /usr/sbin/haproxy not installed";
  auto r = runProcess({.path = "/usr/sbin/haproxy", .args = {"-c", "-q", "-f", path}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0) << golden << ": " << r->out << r->err;
}

TEST(HaproxyGoldenTest, SeedExampleAwsvpc) {
  testing::expectGolden("inject/seed-example-awsvpc.cfg", rendered(seedPlan("task-definition.json", "service.json")));
  expectHaproxyAccepts("inject/seed-example-awsvpc.cfg");
}

TEST(HaproxyGoldenTest, SeedExampleBridge) {
  testing::expectGolden("inject/seed-example-bridge.cfg",
                        rendered(seedPlan("task-definition-bridge.json", "service-bridge.json")));
  expectHaproxyAccepts("inject/seed-example-bridge.cfg");
}

TEST(HaproxyGoldenTest, EveryProtocolWithUpstreamsAndJsonLogs) {
  testing::expectGolden("inject/protocols.cfg", rendered(protocolsPlan(false)));
  expectHaproxyAccepts("inject/protocols.cfg");
}

TEST(HaproxyGoldenTest, CustomTimeoutsAndTextLogs) {
  testing::expectGolden("inject/custom-timeouts.cfg", rendered(protocolsPlan(true)));
  expectHaproxyAccepts("inject/custom-timeouts.cfg");
}

// Issue 12 item 4: a syslog target that would add a line to haproxy.cfg is never written, even
// when it reaches the renderer without the model's validation (a record edited on disk).
TEST(HaproxyConfigTest, UnsafeSyslogTargetNeverReachesTheConfig) {
  ProxyConfig c;
  c.task_id = "t1";
  c.run_dir = kRunDir;
  for (const std::string bad : {"127.0.0.1:514\nprogram pwn\n  command /bin/sh", "127.0.0.1:514 # x",
                                "\"127.0.0.1:514\"", "127.0.0.1:514\\", ""}) {
    c.log.syslog_target = bad;
    const std::string text = renderHaproxyConfig(c);
    EXPECT_EQ(text.find("program"), std::string::npos) << bad;
    EXPECT_EQ(text.find("514"), std::string::npos) << bad;
    EXPECT_NE(text.find("  log stdout format raw local0\n"), std::string::npos) << bad;
  }
  c.log.syslog_target = "10.1.1.1:514";
  EXPECT_NE(renderHaproxyConfig(c).find("  log 10.1.1.1:514 local0\n"), std::string::npos);
}

}  // namespace
}  // namespace sc::inject
