// sccontrol driven by the real `aws` CLI (--endpoint-url), as users drive it. A fake agent (the
// agent API over HTTP) runs the placed tasks so tasks and Cloud Map instances have something to show.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/process.h"
#include "common/strings.h"
#include "tests/support/aws_cli.h"
#include "tests/support/controlplane/raw_http.h"
#include "tests/support/controlplane/sccontrol_process.h"
#include "tests/support/golden.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

using Json = nlohmann::json;

class AwsCliE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string program = testing::findAwsCli();
    if (program.empty()) GTEST_SKIP() << "the aws CLI is not on PATH (scripts/setup installs it)";
    server_ = std::make_unique<testing::SccontrolProcess>(dir_.path());
    ASSERT_TRUE(server_->up());
    cli_.emplace(program, server_->endpoint(), server_->key().id, server_->key().secret, dir_.path());
  }
  ProcessResult aws(std::vector<std::string> args, const std::string& secret = "") {
    return cli_->run(std::move(args), secret);
  }
  Json awsJson(std::vector<std::string> args) { return cli_->json(std::move(args)); }
  // The fake agent: registers, then reports every desired task RUNNING and HEALTHY.
  std::string agentRegister(const std::string& host) {
    Json body = {{"bootstrapToken", server_->bootstrapToken()},
                 {"cluster", "demo"},
                 {"hostname", host},
                 {"memoryMiB", 4096},
                 {"capabilities", {"sc.capability.service-connect-v1"}}};
    auto r = testing::rawHttp(server_->port(), "POST", "/v1/agent/register", {}, body.dump());
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.error().message);
    return r.ok() ? Json::parse(r->body)["token"].get<std::string>() : "";
  }
  // The port a real agent reports for `discovery_name` in an awsvpc task: the service's
  // ingressPortOverride, else the containerPort its portName names.
  static int targetPort(const Json& task, const Json& discovery_name) {
    for (const Json& s : task["service"]["serviceConnectConfiguration"]["services"]) {
      if (s.value("discoveryName", s.value("portName", "")) != discovery_name) continue;
      if (s.contains("ingressPortOverride")) return s["ingressPortOverride"].get<int>();
      for (const Json& c : task["taskDefinition"]["containerDefinitions"])
        for (const Json& pm : c.value("portMappings", Json::array()))
          if (pm.value("name", "") == s["portName"]) return pm["containerPort"].get<int>();
    }
    return 0;
  }

  void agentSettle(const std::string& token, const std::string& ip) {
    auto d = testing::rawHttp(server_->port(), "GET", "/v1/agent/desired", {{"authorization", "Bearer " + token}}, "");
    ASSERT_TRUE(d.ok() && d->status == 200);
    Json desired = Json::parse(d->body);
    Json report = {{"tasks", Json::array()}};
    for (const Json& t : desired["tasks"]) {
      Json eps = Json::array();
      for (const Json& s : desired["namespaces"][t["namespaceRef"].get<std::string>()]["services"]) {
        if (s["ownerService"] == t["service"]["serviceName"])
          eps.push_back(
              {{"discoveryName", s["discoveryName"]}, {"ip", ip}, {"port", targetPort(t, s["discoveryName"])}});
      }
      report["tasks"].push_back({{"taskArn", t["taskArn"]},
                                 {"lastStatus", t["desiredStatus"] == "RUNNING" ? "RUNNING" : "STOPPED"},
                                 {"healthStatus", "HEALTHY"},
                                 {"endpoints", eps}});
    }
    auto s = testing::rawHttp(server_->port(), "POST", "/v1/agent/status", {{"authorization", "Bearer " + token}},
                              report.dump());
    ASSERT_TRUE(s.ok() && s->status == 200) << (s.ok() ? s->body : s.error().message);
  }

  testing::TempDir dir_;
  std::optional<testing::AwsCli> cli_;
  std::unique_ptr<testing::SccontrolProcess> server_;
};

TEST_F(AwsCliE2eTest, ServiceConnectLifecycleThroughTheRealCli) {
  Json c =
      awsJson({"ecs", "create-cluster", "--cluster-name", "demo", "--service-connect-defaults", "namespace=internal"});
  EXPECT_EQ(c["cluster"]["clusterName"], "demo");
  EXPECT_NE(c["cluster"]["serviceConnectDefaults"]["namespace"].get<std::string>().find(":namespace/ns-"),
            std::string::npos);

  Json op = awsJson({"servicediscovery", "create-http-namespace", "--name", "spare"});
  Json got = awsJson({"servicediscovery", "get-operation", "--operation-id", op["OperationId"]});
  EXPECT_EQ(got["Operation"]["Status"], "SUCCESS");
  Json nss = awsJson({"servicediscovery", "list-namespaces"});
  ASSERT_EQ(nss["Namespaces"].size(), 2u);

  Json td = awsJson({"ecs", "register-task-definition", "--cli-input-json",
                     "file://" + testing::sourcePath("examples/seed-example/task-definition.json")});
  EXPECT_EQ(td["taskDefinition"]["revision"], 1);
  EXPECT_EQ(awsJson({"ecs", "describe-task-definition", "--task-definition", "app"})["taskDefinition"]["family"],
            "app");

  std::string tok_a = agentRegister("host-a"), tok_b = agentRegister("host-b");
  Json svc = Json::parse(testing::readSource("examples/seed-example/service.json"));
  svc["cluster"] = "demo";
  testing::writeTestFile(dir_.file("svc.json"), svc.dump());
  Json created = awsJson({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("svc.json")});
  EXPECT_EQ(created["service"]["status"], "ACTIVE");
  EXPECT_EQ(created["service"]["deployments"][0]["serviceConnectResources"].size(), 4u);

  // A bad input: the model's message on the CLI's usual line, and nothing changes.
  Json bad = svc;
  bad["serviceName"] = "bad";
  bad["serviceConnectConfiguration"]["services"][2]["clientAliases"][0]["port"] = 70000;
  testing::writeTestFile(dir_.file("bad.json"), bad.dump());
  ProcessResult r = aws({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("bad.json")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(
      r.err.find(
          "An error occurred (InvalidParameterException) when calling the CreateService operation: "
          "serviceConnectConfiguration.services[2].clientAliases[0].port: expected an integer 1-65535, got 70000"),
      std::string::npos)
      << r.err;
  // A syslog-address that would add lines to every proxy's haproxy.cfg (issue 12): refused.
  Json inject = svc;
  inject["serviceName"] = "inject";
  inject["serviceConnectConfiguration"]["logConfiguration"] = {
      {"logDriver", "syslog"}, {"options", {{"syslog-address", "udp://127.0.0.1:514\nprogram pwn"}}}};
  testing::writeTestFile(dir_.file("inject.json"), inject.dump());
  r = aws({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("inject.json")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("An error occurred (InvalidParameterException) when calling the CreateService operation: "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("[log-syslog-address]"), std::string::npos) << r.err;
  Json dup = svc;
  dup["serviceName"] = "dup";
  testing::writeTestFile(dir_.file("dup.json"), dup.dump());
  r = aws({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("dup.json")});
  EXPECT_NE(r.err.find("An error occurred (InvalidParameterException) when calling the CreateService operation: "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("[endpoint-duplicate]"), std::string::npos) << r.err;
  EXPECT_EQ(awsJson({"ecs", "list-services", "--cluster", "demo"})["serviceArns"].size(), 1u);

  Json tasks = awsJson({"ecs", "list-tasks", "--cluster", "demo"});
  ASSERT_EQ(tasks["taskArns"].size(), 2u);
  agentSettle(tok_a, "10.0.0.1");
  agentSettle(tok_b, "10.0.0.2");
  Json described =
      awsJson({"ecs", "describe-tasks", "--cluster", "demo", "--tasks", tasks["taskArns"][0], tasks["taskArns"][1]});
  ASSERT_EQ(described["tasks"].size(), 2u);
  for (const Json& t : described["tasks"]) {
    EXPECT_EQ(t["lastStatus"], "RUNNING");
    EXPECT_EQ(t["desiredStatus"], "RUNNING");
    EXPECT_EQ(t["healthStatus"], "HEALTHY");
    EXPECT_EQ(t["containers"][0]["name"], "app");
  }
  Json ds = awsJson({"ecs", "describe-services", "--cluster", "demo", "--services", "app"});
  EXPECT_EQ(ds["services"][0]["runningCount"], 2);
  EXPECT_EQ(ds["services"][0]["deployments"][0]["rolloutState"], "COMPLETED");
  EXPECT_EQ(ds["services"][0]["deployments"][0]["serviceConnectConfiguration"]["namespace"], "internal");

  Json found = awsJson(
      {"servicediscovery", "discover-instances", "--namespace-name", "internal", "--service-name", "http-three"});
  ASSERT_EQ(found["Instances"].size(), 2u);
  std::set<std::string> ips;
  for (const Json& i : found["Instances"]) ips.insert(i["Attributes"]["AWS_INSTANCE_IPV4"].get<std::string>());
  EXPECT_EQ(ips, (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  Json cms = awsJson({"servicediscovery", "list-services"});
  EXPECT_EQ(cms["Services"].size(), 4u);

  Json instances = awsJson({"ecs", "list-container-instances", "--cluster", "demo"});
  ASSERT_EQ(instances["containerInstanceArns"].size(), 2u);
  Json di = awsJson({"ecs", "describe-container-instances", "--cluster", "demo", "--container-instances",
                     instances["containerInstanceArns"][0]});
  EXPECT_EQ(di["containerInstances"][0]["status"], "ACTIVE");

  Json td2 = Json::parse(testing::readSource("examples/seed-example/task-definition.json"));
  td2["containerDefinitions"][0]["image"] = "file:///var/lib/scagent/images/app-v2";
  testing::writeTestFile(dir_.file("td2.json"), td2.dump());
  awsJson({"ecs", "register-task-definition", "--cli-input-json", "file://" + dir_.file("td2.json")});
  Json updated =
      awsJson({"ecs", "update-service", "--cluster", "demo", "--service", "app", "--task-definition", "app:2"});
  EXPECT_EQ(updated["service"]["deployments"].size(), 2u);
  EXPECT_EQ(updated["service"]["deployments"][0]["status"], "PRIMARY");

  std::string ns_id;
  for (const Json& n : nss["Namespaces"])
    if (n["Name"] == "internal") ns_id = n["Id"];
  r = aws({"servicediscovery", "delete-namespace", "--id", ns_id});
  EXPECT_NE(r.err.find("An error occurred (ResourceInUse) when calling the DeleteNamespace operation"),
            std::string::npos)
      << r.err;

  r = aws({"ecs", "delete-service", "--cluster", "demo", "--service", "app"});
  EXPECT_NE(r.err.find("An error occurred (InvalidParameterException) when calling the DeleteService operation: "
                       "The service cannot be stopped while it is scaled above 0."),
            std::string::npos)
      << r.err;
  Json deleted = awsJson({"ecs", "delete-service", "--cluster", "demo", "--service", "app", "--force"});
  EXPECT_EQ(deleted["service"]["status"], "DRAINING");
}

// The instance lifecycle as operators drive it: a cluster with an instance cannot be deleted; the
// instance with a task is deregistered only with --force, after which its token answers 410 and
// the cluster deletes.
TEST_F(AwsCliE2eTest, DeregisterContainerInstanceThenDeleteClusterThroughTheRealCli) {
  awsJson({"ecs", "create-cluster", "--cluster-name", "demo", "--service-connect-defaults", "namespace=internal"});
  awsJson({"ecs", "register-task-definition", "--cli-input-json",
           "file://" + testing::sourcePath("examples/seed-example/task-definition.json")});
  const std::string tok = agentRegister("host-a");
  ProcessResult r = aws({"ecs", "delete-cluster", "--cluster", "demo"});
  EXPECT_NE(r.err.find("An error occurred (ClusterContainsContainerInstancesException) when calling the "
                       "DeleteCluster operation"),
            std::string::npos)
      << r.err;
  Json svc = Json::parse(testing::readSource("examples/seed-example/service.json"));
  svc["cluster"] = "demo";
  svc["desiredCount"] = 1;
  testing::writeTestFile(dir_.file("svc.json"), svc.dump());
  awsJson({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("svc.json")});
  Json arns = awsJson({"ecs", "list-container-instances", "--cluster", "demo"})["containerInstanceArns"];
  ASSERT_EQ(arns.size(), 1u);
  const std::string arn = arns[0].get<std::string>();

  r = aws({"ecs", "deregister-container-instance", "--cluster", "demo", "--container-instance", arn});
  EXPECT_NE(r.err.find("An error occurred (InvalidParameterException) when calling the DeregisterContainerInstance "
                       "operation: Found running tasks on the instance (1)"),
            std::string::npos)
      << r.err;
  Json out =
      awsJson({"ecs", "deregister-container-instance", "--cluster", "demo", "--container-instance", arn, "--force"});
  EXPECT_EQ(out["containerInstance"]["status"], "INACTIVE");
  Json stopped = awsJson({"ecs", "list-tasks", "--cluster", "demo", "--desired-status", "STOPPED"})["taskArns"];
  EXPECT_EQ(stopped.size(), 1u);
  EXPECT_TRUE(awsJson({"ecs", "list-container-instances", "--cluster", "demo"})["containerInstanceArns"].empty());

  auto d = testing::rawHttp(server_->port(), "GET", "/v1/agent/desired", {{"authorization", "Bearer " + tok}}, "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->status, 410) << d->body;
  EXPECT_NE(d->body.find("was deregistered"), std::string::npos) << d->body;

  // The service has nowhere to run now; deleted, it goes INACTIVE at once, and so can the cluster.
  awsJson(
      {"ecs", "delete-service", "--cluster", "demo", "--service", svc["serviceName"].get<std::string>(), "--force"});
  EXPECT_EQ(awsJson({"ecs", "delete-cluster", "--cluster", "demo"})["cluster"]["status"], "INACTIVE");
  EXPECT_TRUE(awsJson({"ecs", "list-clusters"})["clusterArns"].empty());
}

TEST_F(AwsCliE2eTest, WrongSecretAndUnknownClusterAreRefused) {
  ProcessResult r = aws({"ecs", "list-clusters"}, "not-the-secret");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("An error occurred (InvalidSignatureException) when calling the ListClusters operation"),
            std::string::npos)
      << r.err;
  r = aws({"ecs", "describe-services", "--cluster", "nope", "--services", "x"});
  EXPECT_NE(r.err.find("An error occurred (ClusterNotFoundException) when calling the DescribeServices operation: "
                       "Cluster not found."),
            std::string::npos)
      << r.err;
  EXPECT_EQ(awsJson({"ecs", "list-clusters"})["clusterArns"].size(), 0u);
}

TEST_F(AwsCliE2eTest, CredentialScopedToAnotherRegionIsRefused) {
  ProcessResult r = aws({"ecs", "list-clusters", "--region", "eu-west-1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("An error occurred (InvalidSignatureException) when calling the ListClusters operation: "
                       "Credential should be scoped to a valid region."),
            std::string::npos)
      << r.err;
}

// Over the real server, as an attacker holding one signed request would try.
// `target` empty: X-Amz-Target left out of the signed request.
controlplane::HttpRequest signedRequest(uint16_t port, const controlplane::AccessKey& key, const std::string& target,
                                        const std::string& body) {
  controlplane::HttpRequest r;
  r.method = "POST";
  r.uri = "/";
  r.path = "/";
  r.body = body;
  r.headers["host"] = "127.0.0.1:" + std::to_string(port);
  r.headers["content-type"] = "application/x-amz-json-1.1";
  if (!target.empty()) r.headers["x-amz-target"] = target;
  controlplane::signSigV4(r, key, "us-east-1", "ecs", std::chrono::system_clock::now());
  return r;
}

TEST_F(AwsCliE2eTest, ReplayedRequestAndTargetAddedAfterSigningAreRefused) {
  awsJson({"ecs", "create-cluster", "--cluster-name", "demo"});
  // A mutating call (reads are not replay-checked: replaying one changes nothing).
  controlplane::HttpRequest r =
      signedRequest(server_->port(), server_->key(), "AmazonEC2ContainerServiceV20141113.CreateCluster",
                    R"({"clusterName": "second"})");
  auto first = testing::rawHttp(server_->port(), "POST", "/", r.headers, r.body);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->status, 200) << first->body;
  auto replay = testing::rawHttp(server_->port(), "POST", "/", r.headers, r.body);
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  EXPECT_EQ(replay->status, 403);
  EXPECT_NE(replay->body.find("Signature already used"), std::string::npos) << replay->body;

  // A read sent twice is answered twice (the aws CLI signs identical reads within a second alike).
  controlplane::HttpRequest read =
      signedRequest(server_->port(), server_->key(), "AmazonEC2ContainerServiceV20141113.ListClusters", "{}");
  for (int i = 0; i < 2; ++i) {
    auto again = testing::rawHttp(server_->port(), "POST", "/", read.headers, read.body);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->status, 200) << again->body;
  }

  // A signed request with no target, turned into a DeleteCluster by adding the header afterwards.
  const std::string body = R"({"cluster": "demo"})";
  controlplane::HttpRequest bare = signedRequest(server_->port(), server_->key(), "", body);
  bare.headers["x-amz-target"] = "AmazonEC2ContainerServiceV20141113.DeleteCluster";
  auto added = testing::rawHttp(server_->port(), "POST", "/", bare.headers, body);
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_EQ(added->status, 403);
  EXPECT_NE(added->body.find("not signed: x-amz-target"), std::string::npos) << added->body;
  // Nothing was deleted, and the real CLI still gets through (every call signed afresh).
  EXPECT_EQ(awsJson({"ecs", "list-clusters"})["clusterArns"].size(), 2u);
}

// The seed's "or by updating the cluster": a cluster's default namespace set later, changed and
// removed through update-cluster; list-services-by-namespace across clusters, paged by the CLI.
// Task-definition families and deletion, cluster settings and the EC2 default capacity providers,
// through the real CLI (its parsing of each answer is part of the test).
TEST_F(AwsCliE2eTest, TaskDefinitionFamiliesDeletionAndClusterSettingsThroughTheRealCli) {
  awsJson({"ecs", "create-cluster", "--cluster-name", "demo"});
  // Two revisions; the second request differs from the first, since an identical one signed in the
  // same second would carry the same signature, which sccontrol refuses as a replay.
  Json td = Json::parse(testing::readSource("examples/seed-example/task-definition.json"));
  for (const char* cpu : {"256", "512"}) {
    td["cpu"] = cpu;
    testing::writeTestFile(dir_.file("td.json"), td.dump());
    awsJson({"ecs", "register-task-definition", "--cli-input-json", "file://" + dir_.file("td.json")});
  }
  EXPECT_EQ(awsJson({"ecs", "list-task-definition-families"})["families"], Json::parse(R"(["app"])"));
  awsJson({"ecs", "deregister-task-definition", "--task-definition", "app:1"});
  Json del = awsJson({"ecs", "delete-task-definitions", "--task-definitions", "app:1", "app:2"});
  ASSERT_EQ(del["taskDefinitions"].size(), 1u);
  EXPECT_EQ(del["taskDefinitions"][0]["status"], "DELETE_IN_PROGRESS");
  ASSERT_EQ(del["failures"].size(), 1u);
  EXPECT_NE(del["failures"][0]["arn"].get<std::string>().find("app:2"), std::string::npos);
  EXPECT_EQ(awsJson({"ecs", "list-task-definitions"})["taskDefinitionArns"].size(), 1u);
  EXPECT_EQ(awsJson({"ecs", "list-task-definitions", "--status", "INACTIVE"})["taskDefinitionArns"], Json::array());

  Json s = awsJson(
      {"ecs", "update-cluster-settings", "--cluster", "demo", "--settings", "name=containerInsights,value=enabled"});
  EXPECT_EQ(s["cluster"]["settings"][0]["value"], "enabled");
  Json p = awsJson({"ecs", "put-cluster-capacity-providers", "--cluster", "demo", "--capacity-providers", "[]",
                    "--default-capacity-provider-strategy", "[]"});
  EXPECT_EQ(p["cluster"]["clusterName"], "demo");
  ProcessResult refused = aws({"ecs", "put-cluster-capacity-providers", "--cluster", "demo", "--capacity-providers",
                               "FARGATE", "--default-capacity-provider-strategy", "[]"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("InvalidParameterException"), std::string::npos) << refused.err;
}

TEST_F(AwsCliE2eTest, UpdateClusterAndListServicesByNamespaceThroughTheRealCli) {
  awsJson({"ecs", "create-cluster", "--cluster-name", "demo"});
  Json u = awsJson({"ecs", "update-cluster", "--cluster", "demo", "--service-connect-defaults", "namespace=internal",
                    "--settings", "name=containerInsights,value=enabled"});
  const std::string internal = u["cluster"]["serviceConnectDefaults"]["namespace"];
  EXPECT_NE(internal.find(":namespace/ns-"), std::string::npos) << u.dump();
  EXPECT_EQ(u["cluster"]["settings"][0]["value"], "enabled");
  Json nss = awsJson({"servicediscovery", "list-namespaces"})["Namespaces"];
  ASSERT_EQ(nss.size(), 1u);
  EXPECT_EQ(nss[0]["Name"], "internal");
  EXPECT_EQ(nss[0]["Arn"], internal);

  awsJson({"ecs", "register-task-definition", "--cli-input-json",
           "file://" + testing::sourcePath("examples/seed-example/task-definition.json")});
  awsJson({"ecs", "create-cluster", "--cluster-name", "other", "--service-connect-defaults", "namespace=internal"});
  Json svc = Json::parse(testing::readSource("examples/seed-example/service.json"));
  svc["cluster"] = "demo";
  svc["serviceConnectConfiguration"].erase("namespace");  // the cluster's new default
  testing::writeTestFile(dir_.file("svc.json"), svc.dump());
  awsJson({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("svc.json")});
  Json solo = {
      {"cluster", "other"},
      {"serviceName", "solo"},
      {"taskDefinition", "app"},
      {"desiredCount", 0},
      {"serviceConnectConfiguration",
       {{"enabled", true},
        {"services", {{{"portName", "http"}, {"discoveryName", "solo"}, {"clientAliases", {{{"port", 90}}}}}}}}}};
  testing::writeTestFile(dir_.file("solo.json"), solo.dump());
  awsJson({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("solo.json")});

  const Json both = Json::array(
      {"arn:aws:ecs:us-east-1:000000000000:service/demo/app", "arn:aws:ecs:us-east-1:000000000000:service/other/solo"});
  EXPECT_EQ(awsJson({"ecs", "list-services-by-namespace", "--namespace", "internal"})["serviceArns"], both);
  // --page-size 1: the CLI follows sccontrol's nextToken, one service per call.
  EXPECT_EQ(awsJson({"ecs", "list-services-by-namespace", "--namespace", internal, "--page-size", "1"})["serviceArns"],
            both);
  Json first = awsJson({"ecs", "list-services-by-namespace", "--namespace", "internal", "--max-items", "1"});
  EXPECT_EQ(first["serviceArns"], Json::array({both[0]}));
  EXPECT_TRUE(first.contains("NextToken")) << first.dump();
  ProcessResult r = aws({"ecs", "list-services-by-namespace", "--namespace", "nope"});
  EXPECT_NE(r.err.find("An error occurred (NamespaceNotFoundException) when calling the ListServicesByNamespace "
                       "operation: Namespace not found: nope"),
            std::string::npos)
      << r.err;

  u = awsJson({"ecs", "update-cluster", "--cluster", "demo", "--service-connect-defaults", R"({"namespace": ""})"});
  EXPECT_FALSE(u["cluster"].contains("serviceConnectDefaults")) << u.dump();
  r = aws({"ecs", "update-cluster", "--cluster", "demo", "--settings", "name=containerInsights,value=on"});
  EXPECT_NE(r.err.find("An error occurred (InvalidParameterException) when calling the UpdateCluster operation: "
                       "settings[0].value: containerInsights is enabled, disabled or enhanced, got \"on\""),
            std::string::npos)
      << r.err;
  r = aws({"ecs", "update-cluster", "--cluster", "nope", "--settings", "name=containerInsights,value=enabled"});
  EXPECT_NE(r.err.find("An error occurred (ClusterNotFoundException) when calling the UpdateCluster operation"),
            std::string::npos)
      << r.err;
}

// Tags on both APIs as CDK, Terraform and CloudFormation-style tools use them: given at create
// time, shown with --include TAGS, changed with tag-resource / untag-resource, the limits refused
// with the models' errors.
TEST_F(AwsCliE2eTest, TagsOnBothApisThroughTheRealCli) {
  const std::string cluster = awsJson({"ecs", "create-cluster", "--cluster-name", "demo", "--service-connect-defaults",
                                       "namespace=internal", "--tags", "key=team,value=a"})["cluster"]["clusterArn"];
  EXPECT_FALSE(awsJson({"ecs", "describe-clusters", "--clusters", "demo"})["clusters"][0].contains("tags"));
  EXPECT_EQ(awsJson({"ecs", "describe-clusters", "--clusters", "demo", "--include", "TAGS"})["clusters"][0]["tags"],
            Json::parse(R"([{"key": "team", "value": "a"}])"));

  Json td = Json::parse(testing::readSource("examples/seed-example/task-definition.json"));
  td["tags"] = {{{"key", "tier"}, {"value", "web"}}};
  testing::writeTestFile(dir_.file("td.json"), td.dump());
  awsJson({"ecs", "register-task-definition", "--cli-input-json", "file://" + dir_.file("td.json")});
  EXPECT_EQ(awsJson({"ecs", "describe-task-definition", "--task-definition", "app", "--include", "TAGS"})["tags"],
            td["tags"]);
  Json svc = Json::parse(testing::readSource("examples/seed-example/service.json"));
  svc["cluster"] = "demo";
  svc["tags"] = {{{"key", "owner"}, {"value", "me"}}};
  testing::writeTestFile(dir_.file("svc.json"), svc.dump());
  const std::string service = awsJson(
      {"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("svc.json")})["service"]["serviceArn"];
  EXPECT_EQ(awsJson({"ecs", "describe-services", "--cluster", "demo", "--services", "app", "--include",
                     "TAGS"})["services"][0]["tags"],
            svc["tags"]);

  agentRegister("host-a");
  const std::string instance =
      awsJson({"ecs", "list-container-instances", "--cluster", "demo"})["containerInstanceArns"][0];
  for (const std::string& arn : {cluster, service, instance}) {
    SCOPED_TRACE(arn);
    EXPECT_EQ(aws({"ecs", "tag-resource", "--resource-arn", arn, "--tags", "key=env,value=prod"}).exit_code, 0);
    EXPECT_EQ(aws({"ecs", "untag-resource", "--resource-arn", arn, "--tag-keys", "team", "owner"}).exit_code, 0);
    EXPECT_EQ(awsJson({"ecs", "list-tags-for-resource", "--resource-arn", arn})["tags"],
              Json::parse(R"([{"key": "env", "value": "prod"}])"));
  }
  ProcessResult r = aws({"ecs", "tag-resource", "--resource-arn", cluster, "--tags", "key=aws:x,value=v"});
  EXPECT_NE(r.err.find("An error occurred (InvalidParameterException) when calling the TagResource operation: "
                       "tags[0].key: the aws: prefix is reserved for AWS use"),
            std::string::npos)
      << r.err;
  r = aws({"ecs", "tag-resource", "--resource-arn", "arn:aws:ecs:us-east-1:000000000000:service/demo/nope", "--tags",
           "key=a,value=b"});
  EXPECT_NE(r.err.find("An error occurred (ResourceNotFoundException) when calling the TagResource operation"),
            std::string::npos)
      << r.err;

  Json op = awsJson({"servicediscovery", "create-http-namespace", "--name", "spare", "--tags", "Key=k,Value=v"});
  const std::string ns_id = awsJson(
      {"servicediscovery", "get-operation", "--operation-id", op["OperationId"]})["Operation"]["Targets"]["NAMESPACE"];
  const std::string ns_arn = awsJson({"servicediscovery", "get-namespace", "--id", ns_id})["Namespace"]["Arn"];
  EXPECT_EQ(awsJson({"servicediscovery", "list-tags-for-resource", "--resource-arn", ns_arn})["Tags"],
            Json::parse(R"([{"Key": "k", "Value": "v"}])"));
  const std::string srv_arn = awsJson({"servicediscovery", "list-services"})["Services"][0]["Arn"];
  EXPECT_EQ(
      aws({"servicediscovery", "tag-resource", "--resource-arn", srv_arn, "--tags", "Key=a,Value=1", "Key=b,Value=2"})
          .exit_code,
      0);
  EXPECT_EQ(aws({"servicediscovery", "untag-resource", "--resource-arn", srv_arn, "--tag-keys", "a"}).exit_code, 0);
  EXPECT_EQ(awsJson({"servicediscovery", "list-tags-for-resource", "--resource-arn", srv_arn})["Tags"],
            Json::parse(R"([{"Key": "b", "Value": "2"}])"));
  Json many = Json::array();
  for (int i = 0; i < 51; ++i) many.push_back({{"Key", "k" + std::to_string(i)}, {"Value", "v"}});
  r = aws({"servicediscovery", "tag-resource", "--resource-arn", ns_arn, "--tags", many.dump()});
  EXPECT_NE(r.err.find("An error occurred (TooManyTagsException) when calling the TagResource operation"),
            std::string::npos)
      << r.err;
  r = aws({"servicediscovery", "list-tags-for-resource", "--resource-arn",
           "arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-nope"});
  EXPECT_NE(r.err.find("An error occurred (ResourceNotFoundException) when calling the ListTagsForResource operation"),
            std::string::npos)
      << r.err;
}

// The Cloud Map calls users make around Service Connect: an instance and the health of all of
// them, the instance list's revision, a namespace's description, the operations sccontrol recorded,
// and the refusals (a Cloud Map service an ECS service uses, a filter the model does not allow, an
// operation sccontrol does not implement), each on the CLI's usual error line.
TEST_F(AwsCliE2eTest, CloudMapInstancesOperationsAndRefusalsThroughTheRealCli) {
  awsJson({"ecs", "create-cluster", "--cluster-name", "demo", "--service-connect-defaults", "namespace=internal"});
  awsJson({"ecs", "register-task-definition", "--cli-input-json",
           "file://" + testing::sourcePath("examples/seed-example/task-definition.json")});
  const std::string tok_a = agentRegister("host-a"), tok_b = agentRegister("host-b");
  Json svc = Json::parse(testing::readSource("examples/seed-example/service.json"));
  svc["cluster"] = "demo";
  testing::writeTestFile(dir_.file("svc.json"), svc.dump());
  awsJson({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("svc.json")});
  agentSettle(tok_a, "10.0.0.1");
  agentSettle(tok_b, "10.0.0.2");

  std::string srv_id, srv_arn;
  const Json services = awsJson({"servicediscovery", "list-services"});
  for (const Json& s : services["Services"]) {
    if (s["Name"] == "http-three") srv_id = s["Id"], srv_arn = s["Arn"];
  }
  ASSERT_FALSE(srv_id.empty());
  Json listed = awsJson({"servicediscovery", "list-instances", "--service-id", srv_id})["Instances"];
  ASSERT_EQ(listed.size(), 2u);
  const std::string instance = listed[0]["Id"];
  Json got = awsJson({"servicediscovery", "get-instance", "--service-id", srv_arn, "--instance-id", instance});
  EXPECT_EQ(got["Instance"]["Id"], instance);
  EXPECT_EQ(got["Instance"]["Attributes"], listed[0]["Attributes"]);
  EXPECT_EQ(got["ResourceOwner"], "000000000000");
  Json health = awsJson({"servicediscovery", "get-instances-health-status", "--service-id", srv_id});
  ASSERT_EQ(health["Status"].size(), 2u);
  EXPECT_EQ(health["Status"][instance], "HEALTHY");
  Json page =
      awsJson({"servicediscovery", "get-instances-health-status", "--service-id", srv_id, "--max-results", "1"});
  EXPECT_EQ(page["Status"].size(), 1u);
  EXPECT_TRUE(page.contains("NextToken"));
  ProcessResult r = aws({"servicediscovery", "get-instance", "--service-id", srv_id, "--instance-id", "nope"});
  EXPECT_NE(r.err.find("An error occurred (InstanceNotFound) when calling the GetInstance operation: "
                       "Instance not found: nope"),
            std::string::npos)
      << r.err;

  const Json found = awsJson(
      {"servicediscovery", "discover-instances", "--namespace-name", "internal", "--service-name", "http-three"});
  const Json revision = awsJson({"servicediscovery", "discover-instances-revision", "--namespace-name", "internal",
                                 "--service-name", "http-three"});
  EXPECT_EQ(revision["InstancesRevision"], found["InstancesRevision"]);
  EXPECT_GT(revision["InstancesRevision"].get<int64_t>(), 0);

  std::string ns_id;
  const Json namespaces = awsJson({"servicediscovery", "list-namespaces"});
  for (const Json& n : namespaces["Namespaces"])
    if (n["Name"] == "internal") ns_id = n["Id"];
  Json op = awsJson({"servicediscovery", "update-http-namespace", "--id", ns_id, "--updater-request-id", "r1",
                     "--namespace", "Description=the shop"});
  EXPECT_EQ(awsJson({"servicediscovery", "get-namespace", "--id", ns_id})["Namespace"]["Description"], "the shop");
  EXPECT_EQ(awsJson({"servicediscovery", "get-operation", "--operation-id", op["OperationId"]})["Operation"]["Type"],
            "UPDATE_NAMESPACE");
  Json ops =
      awsJson({"servicediscovery", "list-operations", "--filters", "Name=TYPE,Values=UPDATE_NAMESPACE,Condition=EQ"});
  ASSERT_EQ(ops["Operations"].size(), 1u);
  EXPECT_EQ(ops["Operations"][0], Json({{"Id", op["OperationId"]}, {"Status", "SUCCESS"}}));
  EXPECT_EQ(
      awsJson({"servicediscovery", "list-operations", "--filters", "Name=NAMESPACE_ID,Values=" + ns_id})["Operations"]
          .size(),
      2u);  // created with the cluster, then updated
  r = aws({"servicediscovery", "list-operations", "--filters", "Name=NAMESPACE_ID,Values=" + ns_id + ",Condition=IN"});
  EXPECT_NE(r.err.find("An error occurred (InvalidInput) when calling the ListOperations operation: "
                       "Filters[0]: NAMESPACE_ID does not take the condition IN"),
            std::string::npos)
      << r.err;

  r = aws({"servicediscovery", "delete-service", "--id", srv_id});
  EXPECT_NE(r.err.find("An error occurred (ResourceInUse) when calling the DeleteService operation: Service " + srv_id +
                       " is the Service Connect endpoint \"http-three\" of ECS service "
                       "arn:aws:ecs:us-east-1:000000000000:service/demo/app"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(awsJson({"servicediscovery", "list-services"})["Services"].size(), 4u);

  // Operations sccontrol does not implement: an error each operation's model lists.
  r = aws({"servicediscovery", "create-private-dns-namespace", "--name", "x", "--vpc", "vpc-1"});
  EXPECT_NE(r.err.find("An error occurred (InvalidInput) when calling the CreatePrivateDnsNamespace operation: "
                       "CreatePrivateDnsNamespace is not supported by sccontrol; see docs/api.md"),
            std::string::npos)
      << r.err;
  r = aws({"ecs", "create-task-set", "--cluster", "demo", "--service", "app", "--task-definition", "app"});
  EXPECT_NE(r.err.find("An error occurred (UnsupportedFeatureException) when calling the CreateTaskSet operation"),
            std::string::npos)
      << r.err;
  r = aws({"ecs", "list-account-settings"});
  EXPECT_NE(r.err.find("An error occurred (ClientException) when calling the ListAccountSettings operation"),
            std::string::npos)
      << r.err;
}

// A service's deployments as ECS's service deployment history: the first rollout, an update,
// its completion, the filters, and the refusals.
TEST_F(AwsCliE2eTest, ServiceDeploymentsThroughTheRealCli) {
  awsJson({"ecs", "create-cluster", "--cluster-name", "demo", "--service-connect-defaults", "namespace=internal"});
  awsJson({"ecs", "register-task-definition", "--cli-input-json",
           "file://" + testing::sourcePath("examples/seed-example/task-definition.json")});
  const std::string tok_a = agentRegister("host-a"), tok_b = agentRegister("host-b");
  Json svc = Json::parse(testing::readSource("examples/seed-example/service.json"));
  svc["cluster"] = "demo";
  testing::writeTestFile(dir_.file("svc.json"), svc.dump());
  awsJson({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("svc.json")});
  auto settle = [&] {
    for (int i = 0; i < 6; ++i) {
      agentSettle(tok_a, "10.0.0.1");
      agentSettle(tok_b, "10.0.0.2");
    }
  };
  settle();
  const std::string prefix = "arn:aws:ecs:us-east-1:000000000000:service-deployment/demo/app/";
  Json l = awsJson({"ecs", "list-service-deployments", "--cluster", "demo", "--service", "app"})["serviceDeployments"];
  ASSERT_EQ(l.size(), 1u);
  const std::string first = l[0]["serviceDeploymentArn"];
  EXPECT_EQ(first.rfind(prefix, 0), 0u) << first;
  EXPECT_EQ(l[0]["status"], "SUCCESSFUL");
  EXPECT_EQ(l[0]["serviceArn"], "arn:aws:ecs:us-east-1:000000000000:service/demo/app");

  Json td2 = Json::parse(testing::readSource("examples/seed-example/task-definition.json"));
  td2["containerDefinitions"][0]["image"] = "file:///var/lib/scagent/images/app-v2";
  testing::writeTestFile(dir_.file("td2.json"), td2.dump());
  awsJson({"ecs", "register-task-definition", "--cli-input-json", "file://" + dir_.file("td2.json")});
  awsJson({"ecs", "update-service", "--cluster", "demo", "--service", "app", "--task-definition", "app:2"});
  l = awsJson({"ecs", "list-service-deployments", "--cluster", "demo", "--service", "app"})["serviceDeployments"];
  ASSERT_EQ(l.size(), 2u);
  const std::string second = l[0]["serviceDeploymentArn"];
  EXPECT_EQ(l[0]["status"], "IN_PROGRESS");
  Json d = awsJson({"ecs", "describe-service-deployments", "--service-deployment-arns", second});
  ASSERT_EQ(d["serviceDeployments"].size(), 1u);
  EXPECT_EQ(d["serviceDeployments"][0]["sourceServiceRevisions"].size(), 1u);
  EXPECT_EQ(d["serviceDeployments"][0]["targetServiceRevision"]["requestedTaskCount"], 2);

  settle();
  EXPECT_EQ(
      awsJson({"ecs", "describe-services", "--cluster", "demo", "--services", "app"})["services"][0]["deployments"]
          .size(),
      1u);
  const std::string unknown = prefix + "123";
  d = awsJson({"ecs", "describe-service-deployments", "--service-deployment-arns", first, second, unknown});
  ASSERT_EQ(d["serviceDeployments"].size(), 2u);
  for (const Json& sd : d["serviceDeployments"]) {
    EXPECT_EQ(sd["status"], "SUCCESSFUL") << sd["serviceDeploymentArn"];
    EXPECT_TRUE(sd.contains("finishedAt"));
  }
  EXPECT_EQ(d["failures"], Json::parse(R"([{"arn": ")" + unknown + R"(", "reason": "MISSING"}])"));
  EXPECT_EQ(awsJson({"ecs", "list-service-deployments", "--cluster", "demo", "--service", "app", "--status",
                     "IN_PROGRESS"})["serviceDeployments"]
                .size(),
            0u);
  Json page =
      awsJson({"ecs", "list-service-deployments", "--cluster", "demo", "--service", "app", "--max-results", "1"});
  ASSERT_EQ(page["serviceDeployments"].size(), 1u);
  EXPECT_EQ(page["serviceDeployments"][0]["serviceDeploymentArn"], second);
  ASSERT_TRUE(page.contains("nextToken"));
  page = awsJson({"ecs", "list-service-deployments", "--cluster", "demo", "--service", "app", "--max-results", "1",
                  "--next-token", page["nextToken"]});
  EXPECT_EQ(page["serviceDeployments"][0]["serviceDeploymentArn"], first);

  ProcessResult r = aws({"ecs", "list-service-deployments", "--cluster", "demo", "--service", "nope"});
  EXPECT_NE(r.err.find("An error occurred (ServiceNotFoundException) when calling the ListServiceDeployments "
                       "operation: Service not found."),
            std::string::npos)
      << r.err;
  r = aws({"ecs", "describe-service-deployments", "--service-deployment-arns",
           "arn:aws:ecs:us-east-1:000000000000:service/demo/app"});
  EXPECT_NE(r.err.find("An error occurred (InvalidParameterException) when calling the DescribeServiceDeployments "
                       "operation: serviceDeploymentArns: expected " +
                       prefix.substr(0, prefix.size() - 9)),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace sc
