#include "model/parse.h"

#include <gtest/gtest.h>

#include "tests/support/model_fixtures.h"

namespace sc::model {
namespace {

TEST(ParseTest, SeedTaskDefinition) {
  auto td = parseTaskDefinition(testing::readSource("examples/seed-example/task-definition.json"));
  ASSERT_TRUE(td.ok()) << td.error().message;
  EXPECT_EQ(td->family, "app");
  EXPECT_EQ(td->network_mode, NetworkMode::kAwsvpc);
  EXPECT_EQ(td->memory_mib, 512);
  EXPECT_EQ(td->cpu_units, 512);
  ASSERT_EQ(td->containers.size(), 1u);
  const auto& pm = td->containers[0].port_mappings.at(0);
  EXPECT_EQ(pm.name, "http");
  EXPECT_EQ(pm.container_port, 80);
  EXPECT_EQ(pm.app_protocol, AppProtocol::kHttp);
}

TEST(ParseTest, DescribeTaskDefinitionOutputIsAccepted) {
  Json wrapped = {{"taskDefinition", testing::seedJson("task-definition.json")}};
  wrapped["taskDefinition"]["revision"] = 7;
  wrapped["taskDefinition"]["status"] = "ACTIVE";
  auto td = parseTaskDefinition(wrapped.dump());
  ASSERT_TRUE(td.ok()) << td.error().message;
  EXPECT_EQ(td->revision, 7);
}

TEST(ParseTest, SeedService) {
  auto svc = parseServiceDefinition(testing::readSource("examples/seed-example/service.json"));
  ASSERT_TRUE(svc.ok()) << svc.error().message;
  ASSERT_TRUE(svc->service_connect);
  const auto& sc = *svc->service_connect;
  EXPECT_TRUE(sc.enabled);
  EXPECT_EQ(sc.ns, "internal");
  ASSERT_EQ(sc.services.size(), 4u);
  EXPECT_FALSE(sc.services[0].discovery_name);
  EXPECT_EQ(sc.services[2].client_aliases.at(0).dns_name, "db");
  EXPECT_EQ(sc.services[3].ingress_port_override, 99);
}

TEST(ParseTest, UpdateServiceInputNamesTheServiceInService) {
  auto svc = parseServiceDefinition(R"({"service": "web", "cluster": "c",
      "serviceConnectConfiguration": {"enabled": true, "namespace": "demo"}})");
  ASSERT_TRUE(svc.ok()) << svc.error().message;
  EXPECT_EQ(svc->name, "web");
  EXPECT_TRUE(svc->service_connect->services.empty());
}

TEST(ParseTest, EveryServiceConnectMemberIsRead) {
  auto svc = parseServiceDefinition(R"({"serviceName": "s", "serviceConnectConfiguration": {
      "enabled": true, "namespace": "n",
      "services": [{"portName": "p", "discoveryName": "d", "clientAliases": [{"port": 81, "dnsName": "x"}],
                    "ingressPortOverride": 99, "timeout": {"idleTimeoutSeconds": 0, "perRequestTimeoutSeconds": 5},
                    "tls": {"issuerCertificateAuthority": {"awsPcaAuthorityArn": "arn:x"}}}],
      "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m"}},
      "accessLogConfiguration": {"format": "JSON", "includeQueryParameters": "ENABLED"}}})");
  ASSERT_TRUE(svc.ok()) << svc.error().message;
  const auto& sc = *svc->service_connect;
  const auto& s = sc.services.at(0);
  EXPECT_EQ(s.timeout->idle_timeout_s, 0);
  EXPECT_EQ(s.timeout->per_request_timeout_s, 5);
  EXPECT_TRUE(s.tls);
  EXPECT_EQ(sc.log->driver, "json-file");
  EXPECT_EQ(sc.log->options.at("max-size"), "10m");
  EXPECT_EQ(sc.access_log->format, "JSON");
  EXPECT_TRUE(sc.access_log->include_query);
}

TEST(ParseTest, ErrorsListEveryProblemWithItsPath) {
  auto svc = parseServiceDefinition(R"({"serviceName": 5, "serviceConnectConfiguration": {
      "enabled": true, "services": [{"portName": "a"}, {"portName": "b", "clientAliases": [{"port": "81"}]}]}})");
  ASSERT_FALSE(svc.ok());
  EXPECT_EQ(svc.error().message,
            "serviceConnectConfiguration.services[1].clientAliases[0].port: expected an integer 1-65535, got \"81\"\n"
            "serviceName: expected a string, got 5");
}

TEST(ParseTest, TaskSizes) {
  EXPECT_EQ(parseTaskMemory("512"), 512);
  EXPECT_EQ(parseTaskMemory("1 GB"), 1024);
  EXPECT_EQ(parseTaskMemory("1.5GB"), 1536);
  EXPECT_EQ(parseTaskMemory("256 MiB"), 256);
  EXPECT_FALSE(parseTaskMemory("lots"));
  EXPECT_FALSE(parseTaskMemory("1 TB"));
  EXPECT_FALSE(parseTaskMemory("99999999999999"));
  EXPECT_EQ(parseTaskCpu("1 vCPU"), 1024);
  EXPECT_EQ(parseTaskCpu("0.25 vcpu"), 256);
  EXPECT_EQ(parseTaskCpu("256"), 256);
  EXPECT_FALSE(parseTaskCpu(".5"));
}

TEST(ParseTest, BadTaskSizesAreNamed) {
  Json td = testing::seedJson("task-definition.json");
  td["memory"] = "a lot";
  auto r = parseTaskDefinition(td.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "memory: expected MiB (\"512\") or GB (\"1 GB\"), got \"a lot\"");
}

TEST(ParseTest, ClusterDefaults) {
  auto c = parseClusterDefinition(testing::readSource("examples/seed-example/cluster.json"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "internal");
  EXPECT_EQ(c->default_namespace, "internal");
  auto empty = parseClusterDefinition(R"({"clusterName": "c", "serviceConnectDefaults": {"namespace": ""}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->default_namespace);  // "" removes the default, as in ECS
}

TEST(ParseTest, NamespaceSnapshotRoundTrips) {
  const char* text = R"({"name": "demo", "vipCidr": "127.255.0.0/16", "revision": 4, "totalTasks": 3,
      "services": [{"discoveryName": "db", "dnsName": "db", "port": 81, "vip": "127.255.0.1",
                    "ownerService": "db", "taskDefinitionFamily": "db", "portName": "http", "appProtocol": "http",
                    "timeout": {"perRequestTimeoutSeconds": 3},
                    "addresses": [{"ip": "10.88.0.2", "port": 8080, "taskId": "t1"},
                                  {"ip": "10.88.0.3", "port": 8080, "healthy": false}]}]})";
  auto ns = parseNamespaceSnapshot(text);
  ASSERT_TRUE(ns.ok()) << ns.error().message;
  EXPECT_EQ(ns->services.at(0).addresses.size(), 2u);
  EXPECT_FALSE(ns->services[0].addresses[1].healthy);
  auto again = parseNamespaceSnapshot(namespaceSnapshotToJson(*ns).dump());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(namespaceSnapshotToJson(*again), namespaceSnapshotToJson(*ns));
}

TEST(ParseTest, NamespaceSnapshotErrors) {
  auto ns = parseNamespaceSnapshot(R"({"name": "demo", "services": [{"discoveryName": "db", "port": 70000,
      "addresses": [{"ip": "x", "port": 1, "extra": 1}]}], "bogus": 1})");
  ASSERT_FALSE(ns.ok());
  EXPECT_EQ(ns.error().message,
            "bogus: unknown member\n"
            "services[0].port: expected an integer 1-65535, got 70000\n"
            "services[0].addresses[0].extra: unknown member\n"
            "services[0].addresses[0].ip: expected an IP address, got \"x\"");
}

// Members scagent cannot honour are refused by name (RegisterTaskDefinition, scagent plan) rather
// than dropped; empty values and the members it runs pass.
TEST(ParseTest, TaskDefinitionMembersScagentCannotHonourAreNamed) {
  Json td = Json::parse(R"({"family": "app", "volumes": [{"name": "data"}], "pidMode": "host",
    "containerDefinitions": [
      {"name": "a", "image": "busybox", "memory": 64, "healthCheck": {"command": ["CMD", "true"]},
       "mountPoints": [], "essential": true, "dependsOn": [{"containerName": "b", "condition": "START"}]},
      {"name": "b", "image": "busybox", "memory": 64, "secrets": [{"name": "X", "valueFrom": "arn:s"}],
       "interactive": false}]})");
  auto r = checkHonouredMembers(td);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "volumes: not supported by scagent: volumes are not supported\n"
            "pidMode: not supported by scagent: each task has its own namespaces\n"
            "containerDefinitions[0].healthCheck: not supported by scagent: container health checks are not run by "
            "scagent yet; the task's health is its proxy's\n"
            "containerDefinitions[0].dependsOn: not supported by scagent: container start order is not supported; "
            "containers start together after the proxy\n"
            "containerDefinitions[1].secrets: not supported by scagent: secrets are not fetched by scagent; pass them "
            "another way");
  Json plain = Json::parse(R"({"family": "app", "volumes": [], "containerDefinitions": [
      {"name": "a", "image": "busybox", "memory": 64, "mountPoints": [], "interactive": false,
       "environment": [{"name": "A", "value": "1"}], "portMappings": [{"containerPort": 80, "name": "http"}]}]})");
  EXPECT_TRUE(checkHonouredMembers(plain).ok());
}

}  // namespace
}  // namespace sc::model
