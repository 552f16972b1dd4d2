#include "model/plan.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "model/parse.h"
#include "tests/support/model_fixtures.h"

namespace sc::model {
namespace {

class PlanTest : public ::testing::Test {
 protected:
  Json td = testing::seedJson("task-definition.json");
  Json svc = testing::seedJson("service.json");
  std::optional<NamespaceSnapshot> ns;
  PlanOptions options{"task-1", 7};

  PlanOutcome build() {
    auto t = taskDefinitionFromJson(td);
    auto s = serviceDefinitionFromJson(svc, "CreateServiceRequest");
    EXPECT_TRUE(t.ok() && s.ok());
    return buildTaskPlan({*t, *s, nullptr, ns ? &*ns : nullptr}, options);
  }
  TaskPlan plan() {
    PlanOutcome o = build();
    EXPECT_TRUE(o.plan.has_value()) << (o.errors.empty() ? "" : o.errors[0].text());
    return o.plan ? *o.plan : TaskPlan{};
  }
};

TEST_F(PlanTest, SeedExampleEndpoints) {
  TaskPlan p = plan();
  ASSERT_EQ(p.endpoints.size(), 4u);
  EXPECT_EQ(p.endpoints[0].url, "http://http:80");
  EXPECT_EQ(p.endpoints[1].url, "http://http-second:80");
  EXPECT_EQ(p.endpoints[2].url, "http://db:81");
  EXPECT_EQ(p.endpoints[2].discovery_name, "http-three");
  EXPECT_EQ(p.endpoints[3].url, "http://db.app:81");
  EXPECT_EQ(p.endpoints[3].discovery_name, "http-four");
  EXPECT_EQ(p.endpoints[3].target_port, 99);
  EXPECT_EQ(p.endpoints[2].target_port, 80);  // clients' proxies dial containerPort, not the alias port
}

TEST_F(PlanTest, IngressInterceptsContainerPortAndOverrideListensDirectly) {
  TaskPlan p = plan();
  ASSERT_EQ(p.ingress.size(), 2u);
  const IngressListener& shared = p.ingress[0];
  EXPECT_EQ(shared.discovery_names, (std::vector<std::string>{"http", "http-second", "http-three"}));
  EXPECT_TRUE(shared.intercept);
  EXPECT_GE(shared.listener_port, kEphemeralPortMin);
  EXPECT_LE(shared.listener_port, kEphemeralPortMax);
  EXPECT_EQ(shared.container_port, 80);
  const IngressListener& over = p.ingress[1];
  EXPECT_FALSE(over.intercept);
  EXPECT_TRUE(over.override);
  EXPECT_EQ(over.listener_port, 99);
  EXPECT_EQ(over.container_port, 80);
}

TEST_F(PlanTest, EphemeralPortsAreDeterministicUnderASeedAndAvoidTaskPorts) {
  EXPECT_EQ(plan().ingress[0].listener_port, plan().ingress[0].listener_port);
  std::vector<int> avoid;
  for (int p = kEphemeralPortMin; p <= kEphemeralPortMax; ++p)
    if (p != 40000 && p != 50000) avoid.push_back(p);
  auto ports = pickEphemeralPorts(2, avoid, 1);
  EXPECT_EQ(std::set<int>(ports.begin(), ports.end()), (std::set<int>{40000, 50000}));
}

TEST_F(PlanTest, AliasDefaults) {
  // No clientAliases: dnsName = discoveryName (or portName), port = containerPort.
  svc["serviceConnectConfiguration"]["services"] = {{{"portName", "http"}}};
  TaskPlan p = plan();
  ASSERT_EQ(p.endpoints.size(), 1u);
  EXPECT_EQ(p.endpoints[0].dns_name, "http");
  EXPECT_EQ(p.endpoints[0].port, 80);
  // An alias with a port but no dnsName keeps the discovery name.
  svc["serviceConnectConfiguration"]["services"] = {
      {{"portName", "http"}, {"discoveryName", "api"}, {"clientAliases", {{{"port", 8080}}}}}};
  p = plan();
  EXPECT_EQ(p.endpoints[0].url, "http://api:8080");
}

TEST_F(PlanTest, EgressUsesTheNamespaceVipsAndAddresses) {
  NamespaceService db;
  db.discovery_name = "orders";
  db.dns_name = "orders";
  db.port = 9000;
  db.vip = "127.255.0.1";
  db.owner_service = "orders";
  db.app_protocol = AppProtocol::kGrpc;
  db.addresses = {{"10.88.0.7", 9000, "t7", true}};
  ns = NamespaceSnapshot{"internal", "127.255.0.0/16", 12, std::nullopt, {db}};
  TaskPlan p = plan();
  EXPECT_EQ(p.namespace_revision, 12);
  const EgressAlias* orders = nullptr;
  std::set<std::string> vips;
  for (const auto& a : p.egress) {
    vips.insert(a.vip);
    if (a.dns_name == "orders") orders = &a;
  }
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->vip, "127.255.0.1");
  EXPECT_EQ(orders->app_protocol, AppProtocol::kGrpc);
  EXPECT_EQ(orders->timeouts.per_request_s, 15);
  ASSERT_EQ(orders->addresses.size(), 1u);
  EXPECT_EQ(orders->addresses[0].ip, "10.88.0.7");
  EXPECT_EQ(vips.size(), 5u);  // the new names got fresh VIPs, none reused
  EXPECT_EQ(p.hosts.size(), 9u);  // five names, and four of them (no dot) also as <name>.internal
}

TEST_F(PlanTest, SameDnsNameOnTwoPortsSharesOneVip) {
  svc["serviceConnectConfiguration"]["services"][3]["clientAliases"][0]["dnsName"] = "db";
  svc["serviceConnectConfiguration"]["services"][3]["clientAliases"][0]["port"] = 82;
  TaskPlan p = plan();
  EXPECT_EQ(p.endpoints[2].vip, p.endpoints[3].vip);
  int db_lines = 0;
  for (const auto& h : p.hosts) db_lines += h.second == "db";
  EXPECT_EQ(db_lines, 1);
}

TEST_F(PlanTest, HostsNameEachShortAliasAlsoWithItsNamespace) {
  TaskPlan p = plan();
  std::map<std::string, std::string> vip_of;
  for (const auto& [vip, name] : p.hosts) EXPECT_TRUE(vip_of.emplace(name, vip).second) << name << " twice";
  ASSERT_EQ(p.namespace_name, "internal");
  for (const char* n : {"http", "http-second", "db"}) {
    ASSERT_TRUE(vip_of.contains(n)) << n;
    EXPECT_EQ(vip_of[std::string(n) + ".internal"], vip_of[n]) << n;
  }
  EXPECT_TRUE(vip_of.contains("db.app"));
  EXPECT_FALSE(vip_of.contains("db.app.internal"));  // an alias with a dot is taken as written
  EXPECT_EQ(p.hosts.size(), 7u);
}

TEST_F(PlanTest, AnAliasThatIsAnotherAliasLongFormKeepsItsOwnVip) {
  svc["serviceConnectConfiguration"]["services"][3]["clientAliases"][0]["dnsName"] = "db.internal";
  TaskPlan p = plan();
  std::map<std::string, std::vector<std::string>> vips_of;
  for (const auto& [vip, name] : p.hosts) vips_of[name].push_back(vip);
  ASSERT_EQ(vips_of["db.internal"].size(), 1u);
  ASSERT_EQ(vips_of["db"].size(), 1u);
  EXPECT_NE(vips_of["db.internal"][0], vips_of["db"][0]);
}

TEST_F(PlanTest, NonLoopbackVipRangeGetsEgressListenersToo) {
  ns = NamespaceSnapshot{"internal", "10.255.0.0/16", 1, std::nullopt, {}};
  TaskPlan p = plan();
  ASSERT_FALSE(p.egress.empty());
  EXPECT_GT(p.egress[0].listener_port, 0);
  EXPECT_EQ(p.endpoints[0].vip, "10.255.0.1");
}

// The seed's minimal configuration: the alias port is the containerPort. No listener of the task's
// proxy may take a port the task declares (containerPort, hostPort, override), nor each other's.
TEST_F(PlanTest, EgressListenersAvoidEveryDeclaredPortAndEachOther) {
  TaskPlan p = plan();
  std::set<int> declared;
  for (const auto& c : td["containerDefinitions"])
    for (const auto& pm : c.value("portMappings", Json::array())) {
      declared.insert(pm.value("containerPort", 0));
      declared.insert(pm.value("hostPort", 0));
    }
  std::set<int> listeners;
  for (const auto& l : p.ingress) EXPECT_TRUE(listeners.insert(l.listener_port).second);
  ASSERT_FALSE(p.egress.empty());
  for (const auto& a : p.egress) {
    EXPECT_GE(a.listener_port, kEphemeralPortMin);
    EXPECT_LE(a.listener_port, kEphemeralPortMax);
    EXPECT_FALSE(declared.count(a.listener_port)) << a.dns_name;
    EXPECT_TRUE(listeners.insert(a.listener_port).second) << a.dns_name;
  }
}

TEST_F(PlanTest, EgressListenerRoundTripsAndOldRecordsBindDirectly) {
  TaskPlan p = plan();
  auto back = taskPlanFromJson(Json::parse(taskPlanToJson(p).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->egress.size(), p.egress.size());
  EXPECT_EQ(back->egress[0].listener_port, p.egress[0].listener_port);
  auto j = taskPlanToJson(p);
  for (auto& a : j["egress"]) a.erase("listenerPort");
  auto old = taskPlanFromJson(Json::parse(j.dump()));
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->egress[0].listener_port, 0);
  // Written again (the agent rewrites its task records), an old record stays one and reads back; it
  // was written with "listenerPort": 0, which the reader refuses (the task_plan fuzzer's round trip).
  auto rewritten = taskPlanToJson(*old);
  EXPECT_FALSE(rewritten["egress"][0].contains("listenerPort")) << rewritten.dump();
  auto again = taskPlanFromJson(Json::parse(rewritten.dump()));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->egress[0].listener_port, 0);
}

TEST_F(PlanTest, BridgeModePublishesListenersAndPortMappings) {
  td = testing::seedJson("task-definition-bridge.json");
  svc = testing::seedJson("service-bridge.json");
  TaskPlan p = plan();
  EXPECT_EQ(p.network_mode, NetworkMode::kBridge);
  for (const auto& l : p.ingress) {
    EXPECT_FALSE(l.intercept);
    EXPECT_TRUE(l.publish);
  }
  ASSERT_EQ(p.published_ports.size(), 1u);
  EXPECT_EQ(p.published_ports[0].container_port, 80);
  EXPECT_EQ(p.published_ports[0].host_port, 0);
}

TEST_F(PlanTest, TimeoutDefaultsAndOverrides) {
  EXPECT_EQ(resolveTimeouts(AppProtocol::kTcp, std::nullopt).idle_s, 3600);
  EXPECT_FALSE(resolveTimeouts(AppProtocol::kTcp, std::nullopt).per_request_s);
  EXPECT_EQ(resolveTimeouts(AppProtocol::kHttp, std::nullopt).idle_s, 300);
  EXPECT_EQ(resolveTimeouts(AppProtocol::kHttp2, std::nullopt).per_request_s, 15);
  Timeouts t = resolveTimeouts(AppProtocol::kGrpc, TimeoutConfig{0, 2});
  EXPECT_EQ(t.idle_s, 0);
  EXPECT_EQ(t.per_request_s, 2);
}

TEST_F(PlanTest, CarveAndItsWarnings) {
  TaskPlan p = plan();
  EXPECT_EQ(p.carve.proxy_memory_mib, 256);
  EXPECT_EQ(p.carve.proxy_cpu_units, 256);
  EXPECT_TRUE(p.warnings.empty());

  td["memory"] = "300";  // 44 MiB left
  td["cpu"] = "300";
  p = plan();
  ASSERT_EQ(p.warnings.size(), 2u);
  EXPECT_EQ(p.warnings[0].rule, "proxy-memory-low");
  EXPECT_NE(p.warnings[0].message.find("the proxy gets 44 MiB"), std::string::npos);
  EXPECT_EQ(p.warnings[1].rule, "proxy-cpu-low");

  td["memory"] = "384";  // 128 MiB: fine normally, short of 192 in a large namespace
  td["cpu"] = "1024";
  ns = NamespaceSnapshot{"internal", "127.255.0.0/16", 1, 2500, {}};
  p = plan();
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0].rule, "large-namespace-memory");
  EXPECT_NE(p.warnings[0].message.find("add 128 MiB"), std::string::npos);
}

TEST_F(PlanTest, ContainersWithoutLimitsShareTheProxyRemainder) {
  td["containerDefinitions"].push_back({{"name", "log-router"}, {"image", "x"}, {"essential", false}});
  TaskPlan p = plan();
  EXPECT_EQ(p.carve.unlimited_containers, std::vector<std::string>{"log-router"});
  EXPECT_EQ(p.carve.proxy_memory_mib, 256);
}

TEST_F(PlanTest, ErrorsInsteadOfAPlan) {
  td.erase("memory");
  td["containerDefinitions"][0].erase("memory");
  PlanOutcome o = build();
  EXPECT_FALSE(o.plan);
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0].rule, "task-memory-required");
}

TEST_F(PlanTest, VipAllocation) {
  EXPECT_EQ(*allocateVip("127.255.0.0/16", {}), "127.255.0.1");
  EXPECT_EQ(*allocateVip("127.255.0.0/16", {"127.255.0.1", "127.255.0.2"}), "127.255.0.3");
  EXPECT_FALSE(allocateVip("10.0.0.0/30", {"10.0.0.1", "10.0.0.2"}).ok());
  EXPECT_FALSE(allocateVip("fd00::/64", {}).ok());
}

TEST_F(PlanTest, JsonRoundTrip) {
  ns = NamespaceSnapshot{"internal", "127.255.0.0/16", 3, std::nullopt, {}};
  svc["serviceConnectConfiguration"]["logConfiguration"] = {{"logDriver", "json-file"}};
  TaskPlan p = plan();
  auto back = taskPlanFromJson(Json::parse(taskPlanToJson(p).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(taskPlanToJson(*back).dump(), taskPlanToJson(p).dump());
}

TEST_F(PlanTest, PlanJsonErrorsNameThePath) {
  Json j = Json::parse(taskPlanToJson(plan()).dump());
  j["ingress"][1]["listenerPort"] = 70000;
  auto r = taskPlanFromJson(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "ingress[1].listenerPort: expected an integer 1-65535, got 70000");
  j = Json::parse(taskPlanToJson(plan()).dump());
  j["hosts"][0]["name"] = "bad name\n1.2.3.4 evil";
  r = taskPlanFromJson(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("hosts[0].name: not a valid DNS name"), std::string::npos);
  j = Json::parse(taskPlanToJson(plan()).dump());
  j.erase("carve");
  EXPECT_EQ(taskPlanFromJson(j).error().message, "plan: missing member 'carve'");
}

}  // namespace
}  // namespace sc::model
