// One test per rule of docs/service-connect-model.md: each breaks the rule on the seed example
// and checks the rule id, the path and the message.
#include "model/validate.h"

#include <gtest/gtest.h>

#include "common/strings.h"
#include "model/parse.h"
#include "tests/support/model_fixtures.h"

namespace sc::model {
namespace {

class ValidateTest : public ::testing::Test {
 protected:
  Json td = testing::seedJson("task-definition.json");
  Json svc = testing::seedJson("service.json");
  Json& sc() { return svc["serviceConnectConfiguration"]; }
  std::optional<NamespaceSnapshot> ns;
  std::optional<ClusterDefinition> cluster;

  std::vector<Diagnostic> run() {
    auto t = taskDefinitionFromJson(td);
    EXPECT_TRUE(t.ok()) << t.error().message;
    auto s = serviceDefinitionFromJson(svc, "CreateServiceRequest");
    EXPECT_TRUE(s.ok()) << s.error().message;
    if (!t.ok() || !s.ok()) return {};
    return validateServiceConnect({*t, *s, cluster ? &*cluster : nullptr, ns ? &*ns : nullptr});
  }
  // Expects exactly one diagnostic, of `rule` at `path`, whose message contains `text`.
  void expectOnly(const std::string& rule, const std::string& path, const std::string& text) {
    auto d = run();
    ASSERT_EQ(d.size(), 1u) << (d.empty() ? "no diagnostics" : d[0].text() + (d.size() > 1 ? " | " + d[1].text() : ""));
    EXPECT_EQ(d[0].rule, rule);
    EXPECT_EQ(d[0].path, path);
    EXPECT_NE(d[0].message.find(text), std::string::npos) << d[0].message;
  }
  static NamespaceService nsService(const std::string& discovery, const std::string& dns, int port,
                                    const std::string& owner) {
    NamespaceService s;
    s.discovery_name = discovery;
    s.dns_name = dns;
    s.port = port;
    s.vip = "127.255.0.9";
    s.owner_service = owner;
    return s;
  }
};

TEST_F(ValidateTest, SeedExampleIsValid) { EXPECT_TRUE(run().empty()); }

TEST(SyslogTargetTest, AcceptsDatagramTargetsAndRefusesAnythingThatCouldEndAConfigLine) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"udp://127.0.0.1:514", "127.0.0.1:514"},
      {"10.1.1.1:1514", "10.1.1.1:1514"},
      {"udp://[::1]:514", "[::1]:514"},
      {"udp://logs.example.com:514", "logs.example.com:514"},
      {"unix:///dev/log", "/dev/log"},
      {"unixgram:///run/systemd/journal/syslog", "/run/systemd/journal/syslog"},
      {"/dev/log", "/dev/log"}};
  for (const auto& [in, out] : good) {
    auto t = syslogTarget(in);
    ASSERT_TRUE(t.ok()) << in << ": " << t.error().message;
    EXPECT_EQ(*t, out);
  }
  for (const std::string bad :
       {"udp://127.0.0.1:514\nprogram pwn", "127.0.0.1:514 #", "\"127.0.0.1:514\"", "'/dev/log'", "tcp://1.2.3.4:514",
        "udp://1.2.3.4", "udp://1.2.3.4:0", "udp://1.2.3.4:70000", "unix://dev/log", "/a/../etc/x", "/dev/log x",
        "udp://exa mple:514", "udp://1.2.3.4:514\r", ""}) {
    auto t = syslogTarget(bad);
    EXPECT_FALSE(t.ok()) << sc::jsonQuote(bad);
  }
}

TEST_F(ValidateTest, SyslogAddressThatWouldInjectIntoTheProxyConfigIsRefused) {
  sc()["logConfiguration"] = {{"logDriver", "syslog"},
                              {"options", {{"syslog-address", "udp://127.0.0.1:514\nprogram pwn\n command /bin/sh"}}}};
  expectOnly("log-syslog-address", "serviceConnectConfiguration.logConfiguration.options.syslog-address",
             "failed to accept syslog-address");
  sc()["logConfiguration"]["options"]["syslog-address"] = "udp://127.0.0.1:514";
  EXPECT_TRUE(run().empty());
}

TEST_F(ValidateTest, PortNameMustNameAPortMapping) {
  sc()["services"][1]["portName"] = "htp";
  expectOnly("port-name-unknown", "serviceConnectConfiguration.services[1].portName",
             "\"htp\" is not the name of a port mapping in task definition \"app\" (it names \"http\")");
}

TEST_F(ValidateTest, DiscoveryNameSyntaxAndLength) {
  sc()["services"][1]["discoveryName"] = "-bad";
  expectOnly("discovery-name-syntax", "serviceConnectConfiguration.services[1].discoveryName", "got \"-bad\"");
  sc()["services"][1]["discoveryName"] = "Upper";
  expectOnly("discovery-name-syntax", "serviceConnectConfiguration.services[1].discoveryName", "1-64 characters");
  sc()["services"][1]["discoveryName"] = std::string(65, 'a');
  expectOnly("discovery-name-syntax", "serviceConnectConfiguration.services[1].discoveryName", "1-64 characters");
  sc()["services"][1]["discoveryName"] = std::string(64, 'a');
  EXPECT_TRUE(run().empty());
}

TEST_F(ValidateTest, DnsNameSyntaxAndLength) {
  const std::string path = "serviceConnectConfiguration.services[2].clientAliases[0].dnsName";
  for (const char* bad : {"db..app", "-db", "db.", "DB", "db app", "d\u00e9"}) {
    sc()["services"][2]["clientAliases"][0]["dnsName"] = bad;
    expectOnly("dns-name-syntax", path, "a DNS name has 1-127 characters");
  }
  sc()["services"][2]["clientAliases"][0]["dnsName"] = std::string(64, 'a');  // one label over 63
  expectOnly("dns-name-syntax", path, "at most 63");
  std::string long_ok = std::string(63, 'a') + "." + std::string(63, 'b');  // 127 characters
  sc()["services"][2]["clientAliases"][0]["dnsName"] = long_ok;
  EXPECT_TRUE(run().empty());
  sc()["services"][2]["clientAliases"][0]["dnsName"] = long_ok + "c";
  expectOnly("dns-name-syntax", path, "1-127");
}

TEST_F(ValidateTest, AtMostOneClientAlias) {
  sc()["services"][2]["clientAliases"].push_back({{"dnsName", "db2"}, {"port", 82}});
  expectOnly("client-aliases-max", "serviceConnectConfiguration.services[2].clientAliases",
             "at most one client alias, got 2");
}

TEST_F(ValidateTest, DiscoveryNamesUniqueInTheConfiguration) {
  sc()["services"][3]["discoveryName"] = "http-three";
  expectOnly("discovery-name-duplicate", "serviceConnectConfiguration.services[3].discoveryName",
             "\"http-three\" is already used at serviceConnectConfiguration.services[2].discoveryName");
}

TEST_F(ValidateTest, DiscoveryNamesUniqueInTheNamespace) {
  ns = NamespaceSnapshot{
      "internal", "127.255.0.0/16", 1, std::nullopt, {nsService("http-second", "other", 90, "billing")}};
  expectOnly("discovery-name-duplicate", "serviceConnectConfiguration.services[1].discoveryName",
             "already belongs to service \"billing\" in namespace \"internal\"");
}

TEST_F(ValidateTest, TheServiceOwnEntriesInTheNamespaceAreNotConflicts) {
  ns = NamespaceSnapshot{
      "internal", "127.255.0.0/16", 1, std::nullopt, {nsService("http-second", "http-second", 80, "app")}};
  EXPECT_TRUE(run().empty());
}

TEST_F(ValidateTest, EndpointsUniqueInTheConfiguration) {
  sc()["services"][3]["clientAliases"][0]["dnsName"] = "db";
  expectOnly("endpoint-duplicate", "serviceConnectConfiguration.services[3].clientAliases[0]",
             "endpoint db:81 is already used at serviceConnectConfiguration.services[2].clientAliases[0]");
}

TEST_F(ValidateTest, EndpointsUniqueInTheNamespace) {
  ns = NamespaceSnapshot{"internal", "127.255.0.0/16", 1, std::nullopt, {nsService("orders", "db", 81, "orders")}};
  expectOnly("endpoint-duplicate", "serviceConnectConfiguration.services[2].clientAliases[0]",
             "endpoint db:81 already belongs to service \"orders\" (discovery name \"orders\")");
}

TEST_F(ValidateTest, OneDefaultDiscoveryNamePerTaskDefinitionInTheConfiguration) {
  sc()["services"][1].erase("discoveryName");
  expectOnly("default-discovery-name-taken", "serviceConnectConfiguration.services[1]",
             "serviceConnectConfiguration.services[0] already uses port \"http\" without one");
}

TEST_F(ValidateTest, OneDefaultDiscoveryNamePerTaskDefinitionInTheNamespace) {
  NamespaceService other = nsService("http", "http", 80, "app-copy");
  other.discovery_name_defaulted = true;
  other.task_definition_family = "app";
  other.port_name = "http";
  ns = NamespaceSnapshot{"internal", "127.255.0.0/16", 1, std::nullopt, {other}};
  auto d = run();
  ASSERT_EQ(d.size(), 3u);  // the default rule, then the name and endpoint it implies
  EXPECT_EQ(d[0].rule, "default-discovery-name-taken");
  EXPECT_NE(d[0].message.find("service \"app-copy\" already uses task definition \"app\" without a discoveryName"),
            std::string::npos);
  EXPECT_EQ(d[1].rule, "discovery-name-duplicate");
  EXPECT_EQ(d[2].rule, "endpoint-duplicate");
}

TEST_F(ValidateTest, NamespaceMissingWhenEnabled) {
  sc().erase("namespace");
  expectOnly("namespace-missing", "serviceConnectConfiguration.namespace",
             "no namespace is set here or as the cluster");
}

TEST_F(ValidateTest, ClusterDefaultNamespaceIsUsed) {
  sc().erase("namespace");
  cluster = ClusterDefinition{"internal", "internal"};
  EXPECT_TRUE(run().empty());
  EXPECT_EQ(resolveNamespace(*serviceDefinitionFromJson(svc, "CreateServiceRequest"), &*cluster), "internal");
}

TEST_F(ValidateTest, ServiceBelongsToOneNamespace) {
  ns = NamespaceSnapshot{"other", "127.255.0.0/16", 1, std::nullopt, {}};
  expectOnly("namespace-mismatch", "serviceConnectConfiguration.namespace",
             "the service joins namespace \"internal\" but the namespace snapshot is of \"other\"");
}

TEST_F(ValidateTest, NamespaceNameSyntax) {
  sc()["namespace"] = "a/b";
  expectOnly("namespace-syntax", "serviceConnectConfiguration.namespace", "none of < > \" /");
}

TEST_F(ValidateTest, TaskMemoryRequired) {
  td.erase("memory");
  td["containerDefinitions"].push_back({{"name", "sidecar"}, {"image", "x"}});
  expectOnly("task-memory-required", "memory", "Service Connect needs the task memory limit");
}

TEST_F(ValidateTest, AllContainersLimitedWithoutTaskMemoryIsTheSeedsNamedError) {
  td.erase("memory");
  expectOnly("container-limits-without-task-memory", "memory",
             "every container sets a memory limit but the task sets none");
}

TEST_F(ValidateTest, TaskMemoryMustExceedContainerLimits) {
  td["memory"] = "256";
  expectOnly("task-memory-too-small", "memory",
             "the task memory (256 MiB) must be greater than the sum of the container memory limits (256 MiB)");
}

TEST_F(ValidateTest, TaskCpuMustExceedContainerCpu) {
  td["cpu"] = "256";
  expectOnly("task-cpu-too-small", "cpu",
             "the task cpu (256 units) must be greater than the sum of the container cpu (256 units)");
}

TEST_F(ValidateTest, PerRequestTimeoutNotForTcp) {
  td["containerDefinitions"][0]["portMappings"][0].erase("appProtocol");
  sc()["services"][0]["timeout"] = {{"perRequestTimeoutSeconds", 5}};
  expectOnly("per-request-timeout-tcp", "serviceConnectConfiguration.services[0].timeout.perRequestTimeoutSeconds",
             "has no appProtocol, so it is TCP");
  sc()["services"][0]["timeout"] = {{"idleTimeoutSeconds", 5}};
  EXPECT_TRUE(run().empty());
}

TEST_F(ValidateTest, RollingDeploymentsOnly) {
  svc["deploymentController"]["type"] = "CODE_DEPLOY";
  expectOnly("rolling-deployments-only", "deploymentController.type", "got \"CODE_DEPLOY\"");
}

TEST_F(ValidateTest, LinuxOnly) {
  td["runtimePlatform"]["operatingSystemFamily"] = "WINDOWS_SERVER_2022_CORE";
  expectOnly("linux-only", "runtimePlatform.operatingSystemFamily", "runs only on Linux");
}

TEST_F(ValidateTest, AppProtocolIsOneOfHttpHttp2Grpc) {
  // The API model's enum; the parser reports it with the path.
  td["containerDefinitions"][0]["portMappings"][0]["appProtocol"] = "tcp";
  auto r = taskDefinitionFromJson(td);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "containerDefinitions[0].portMappings[0].appProtocol: expected one of http, http2, grpc, got \"tcp\"");
}

TEST_F(ValidateTest, NetworkModeMustBeAwsvpcOrBridge) {
  td["networkMode"] = "host";
  expectOnly("network-mode", "networkMode", "awsvpc or bridge, got \"host\"");
}

TEST_F(ValidateTest, Ec2CompatibilityRequired) {
  td["requiresCompatibilities"] = {"FARGATE"};
  expectOnly("ec2-compatibility", "requiresCompatibilities", "add \"EC2\"");
}

TEST_F(ValidateTest, ServiceConnectPortsAreTcp) {
  td["containerDefinitions"][0]["portMappings"][0]["protocol"] = "udp";
  td["containerDefinitions"][0]["portMappings"][0].erase("appProtocol");
  auto d = run();
  ASSERT_EQ(d.size(), 4u);  // once per Service Connect service on that port
  EXPECT_EQ(d[0].rule, "port-mapping-protocol");
  EXPECT_NE(d[0].message.find("Service Connect carries TCP only"), std::string::npos);
}

TEST_F(ValidateTest, PortRangesCannotBeServiceConnectPorts) {
  auto& pm = td["containerDefinitions"][0]["portMappings"][0];
  pm.erase("containerPort");
  pm["containerPortRange"] = "8000-8010";
  auto d = run();
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[0].rule, "port-mapping-container-port");
}

TEST_F(ValidateTest, PortNamesSyntaxAndUniqueness) {
  td["containerDefinitions"][0]["portMappings"].push_back({{"name", "http"}, {"containerPort", 81}});
  expectOnly("port-name-duplicate", "containerDefinitions[0].portMappings[1].name",
             "port name \"http\" is already used at containerDefinitions[0].portMappings[0]");
  td["containerDefinitions"][0]["portMappings"][1]["name"] = "Admin";
  expectOnly("port-name-syntax", "containerDefinitions[0].portMappings[1].name", "got \"Admin\"");
}

TEST_F(ValidateTest, IngressOverrideCannotTakeAContainerPort) {
  sc()["services"][3]["ingressPortOverride"] = 80;
  expectOnly("ingress-port-override-collision", "serviceConnectConfiguration.services[3].ingressPortOverride",
             "ingressPortOverride 80 is a containerPort of the task");
}

TEST_F(ValidateTest, TlsIsRefusedClearly) {
  sc()["services"][0]["tls"] = {{"issuerCertificateAuthority", {{"awsPcaAuthorityArn", "arn:aws:acm-pca:x"}}}};
  expectOnly("tls-unsupported", "serviceConnectConfiguration.services[0].tls", "not available on scagent hosts");
}

TEST_F(ValidateTest, DisabledServiceConnectHasNothingToPlan) {
  sc()["enabled"] = false;
  expectOnly("service-connect-disabled", "serviceConnectConfiguration.enabled", "turned off");
}

TEST_F(ValidateTest, TaskDefinitionMustMatchTheService) {
  svc["taskDefinition"] = "arn:aws:ecs:us-east-1:123456789012:task-definition/other:3";
  expectOnly("task-definition-mismatch", "taskDefinition", "the task definition given is family \"app\"");
  svc["taskDefinition"] = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:3";
  EXPECT_TRUE(run().empty());
}

TEST_F(ValidateTest, ClientOnlyServiceIsValid) {
  sc().erase("services");
  EXPECT_TRUE(run().empty());
}

TEST(NameSyntaxTest, Helpers) {
  EXPECT_TRUE(isValidDnsName("db.app"));
  EXPECT_TRUE(isValidDnsName("_db.production.internal"));
  EXPECT_FALSE(isValidDnsName(""));
  EXPECT_TRUE(isValidPortName("http_2-x"));
  EXPECT_FALSE(isValidPortName("http.x"));
  EXPECT_EQ(taskDefinitionFamily("app:3"), "app");
  EXPECT_EQ(taskDefinitionFamily("arn:aws:ecs:r:1:task-definition/web:12"), "web");
}

}  // namespace
}  // namespace sc::model
