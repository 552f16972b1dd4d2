// ControlPlane over a MemoryStore and a fake clock: operations, their error paths, placement,
// rolling deployments, draining, TTL loss, Cloud Map registration and VIPs.
#include "controlplane/control_plane.h"

#include <gtest/gtest.h>

#include <tuple>

#include <iostream>

#include "controlplane/memory_store.h"
#include "controlplane/placement.h"
#include "tests/unit/controlplane/control_plane_fixture.h"

namespace sc::controlplane {
namespace {

TEST_F(ControlPlaneTest, ClusterDefaultNamespaceIsCreatedAsHttpNamespace) {
  Json c = ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
  Json ns = cm("ListNamespaces", Json::object())["Namespaces"];
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0]["Name"], "internal");
  EXPECT_EQ(ns[0]["Type"], "HTTP");
  EXPECT_EQ(c["cluster"]["serviceConnectDefaults"]["namespace"], ns[0]["Arn"]);
  // Output shapes carry no internal members.
  EXPECT_FALSE(ns[0].contains("_vipCidr"));
}

TEST_F(ControlPlaneTest, OperationErrorPathsLeaveStateUnchanged) {
  setup(0);
  int64_t rev = cp_->revision();
  Json bad_port = {
      {"cluster", "c"},
      {"serviceName", "x"},
      {"taskDefinition", "app"},
      {"serviceConnectConfiguration",
       {{"enabled", true},
        {"services", {{{"portName", "http"}, {"discoveryName", "x"}, {"clientAliases", {{{"port", 70000}}}}}}}}}};
  ApiError e = ecsError("CreateService", bad_port);
  EXPECT_EQ(e.type, "InvalidParameterException");
  EXPECT_EQ(e.message,
            "serviceConnectConfiguration.services[0].clientAliases[0].port: expected an integer 1-65535, got 70000");
  Json taken = {{"cluster", "c"},
                {"serviceName", "x"},
                {"taskDefinition", "app"},
                {"serviceConnectConfiguration",
                 {{"enabled", true},
                  {"services",
                   {{{"portName", "http"},
                     {"discoveryName", "other"},
                     {"clientAliases", {{{"port", 81}, {"dnsName", "web"}}}}}}}}}};
  e = ecsError("CreateService", taken);
  EXPECT_NE(e.message.find("endpoint web:81 already belongs to service \"web\""), std::string::npos) << e.message;
  EXPECT_EQ(ecsError("CreateService", {{"cluster", "nope"}, {"serviceName", "x"}, {"taskDefinition", "app"}}).type,
            "ClusterNotFoundException");
  EXPECT_EQ(ecsError("CreateService", {{"cluster", "c"}, {"serviceName", "x"}, {"taskDefinition", "zzz"}}).message,
            "TaskDefinition not found.");
  EXPECT_EQ(ecsError("CreateService", {{"cluster", "c"}, {"serviceName", "web"}, {"taskDefinition", "app"}}).message,
            "Creation of service was not idempotent.");
  EXPECT_EQ(ecsError("UpdateService", {{"cluster", "c"}, {"service", "nope"}}).type, "ServiceNotFoundException");
  EXPECT_EQ(ecsError("DescribeTaskDefinition", {{"taskDefinition", "nope"}}).type, "ClientException");
  EXPECT_EQ(ecsError("RegisterTaskDefinition", {{"family", "x"}}).type, "InvalidParameterException");
  EXPECT_EQ(ecsError("DeleteCluster", {{"cluster", "c"}}).type, "ClusterContainsServicesException");
  EXPECT_EQ(ecsError("StopTask", {{"cluster", "c"}, {"task", "nope"}}).type, "InvalidParameterException");
  EXPECT_EQ(ecsError("UpdateContainerInstancesState",
                     {{"cluster", "c"}, {"containerInstances", {"x"}}, {"status", "REGISTERING"}})
                .type,
            "InvalidParameterException");
  EXPECT_EQ(ecsError("CreateTaskSet", {{"cluster", "c"}, {"service", "web"}, {"taskDefinition", "app"}}).type,
            "UnsupportedFeatureException");
  EXPECT_EQ(cp_->revision(), rev);
}

TEST_F(ControlPlaneTest, DeleteNamespaceIsRefusedWhileNotEmpty) {
  setup(0);
  std::string id = cm("ListNamespaces", Json::object())["Namespaces"][0]["Id"];
  auto r = cp_->call(Api::kCloudMap, "DeleteNamespace", {{"Id", id}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, "ResourceInUse");
  auto missing = cp_->call(Api::kCloudMap, "GetNamespace", {{"Id", "ns-nope"}});
  EXPECT_EQ(missing.error().type, "NamespaceNotFound");
  Json op = cm("CreateHttpNamespace", {{"Name", "spare"}});
  Json got = cm("GetOperation", {{"OperationId", op["OperationId"]}});
  EXPECT_EQ(got["Operation"]["Status"], "SUCCESS");
  std::string spare = got["Operation"]["Targets"]["NAMESPACE"];
  EXPECT_TRUE(cp_->call(Api::kCloudMap, "DeleteNamespace", {{"Id", spare}}).has_value());
  EXPECT_EQ(cp_->call(Api::kCloudMap, "CreateHttpNamespace", {{"Name", "internal"}}).error().type,
            "NamespaceAlreadyExists");
}

TEST_F(ControlPlaneTest, CloudMapErrorPathsUseCloudMapNames) {
  setup(0);
  auto err = [&](const std::string& op, const Json& in) {
    auto r = cp_->call(Api::kCloudMap, op, in);
    EXPECT_FALSE(r.has_value()) << op;
    return r ? std::string() : r.error().type + ": " + r.error().message;
  };
  EXPECT_EQ(err("GetService", {{"Id", "srv-nope"}}), "ServiceNotFound: Service not found: srv-nope");
  EXPECT_EQ(err("ListInstances", {{"ServiceId", "srv-nope"}}), "ServiceNotFound: Service not found: srv-nope");
  EXPECT_EQ(err("GetOperation", {{"OperationId", "nope"}}), "OperationNotFound: Operation not found: nope");
  EXPECT_EQ(err("DiscoverInstances", {{"NamespaceName", "other"}, {"ServiceName", "http"}}),
            "NamespaceNotFound: Namespace not found: other");
  EXPECT_EQ(err("DiscoverInstances", {{"NamespaceName", "internal"}, {"ServiceName", "nope"}}),
            "ServiceNotFound: Service not found: nope");
  EXPECT_EQ(err("CreateHttpNamespace", {{"Name", "a/b"}}).rfind("InvalidInput: ", 0), 0u);
  EXPECT_EQ(err("GetNamespace", Json::object()), "InvalidInput: input: missing required member 'Id'");
  EXPECT_EQ(err("CreatePrivateDnsNamespace", {{"Name", "x"}, {"Vpc", "v"}}),
            "InvalidInput: CreatePrivateDnsNamespace is not supported by sccontrol; see docs/api.md");
  // Cloud Map services of a service: listed, with the namespace's id, and the right names.
  Json services = cm("ListServices", Json::object())["Services"];
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0]["Name"], "http");
  EXPECT_FALSE(services[0].contains("_vip"));
  EXPECT_EQ(cm("GetService", {{"Id", services[0]["Id"]}})["Service"]["Name"], "http");
}

TEST_F(ControlPlaneTest, TurningServiceConnectOffRemovesItsCloudMapServicesOnceDrained) {
  registerInstance("a");
  setup(1);
  settle("a");
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"serviceConnectConfiguration", {{"enabled", false}}}});
  for (int i = 0; i < 4; ++i) settle("a");
  EXPECT_EQ(service()["deployments"].size(), 1u);
  EXPECT_TRUE(cm("ListServices", Json::object())["Services"].empty());
}

TEST(PlacementTest, SpreadsAndRespectsMemory) {
  std::vector<PlacementCandidate> c = {{"a", 1024, 0, 3}, {"b", 1024, 0, 0}, {"c", 300, 0, 0}};
  EXPECT_EQ(placeTasks(c, 512, 5), (std::vector<std::string>{"b", "a", "b", "a"}));
  EXPECT_EQ(placeTasks(c, 256, 3), (std::vector<std::string>{"b", "c", "a"}));
  EXPECT_TRUE(placeTasks(c, 4096, 1).empty());
}

TEST_F(ControlPlaneTest, PlacesOnlyOnCapableInstancesWithRoom) {
  std::string a = registerInstance("a"), b = registerInstance("b"), plain = registerInstance("plain", false);
  std::string small = registerInstance("small", true, 256);
  setup(4);
  EXPECT_EQ(tasksOn(a), 2);
  EXPECT_EQ(tasksOn(b), 2);
  EXPECT_EQ(tasksOn(plain), 0);
  EXPECT_EQ(tasksOn(small), 0);
  Json svc = service();
  EXPECT_EQ(svc["pendingCount"], 4);
  settle("a");
  settle("b", "HEALTHY", "10.0.0.2");
  svc = service();
  EXPECT_EQ(svc["runningCount"], 4);
  EXPECT_EQ(svc["deployments"][0]["rolloutState"], "COMPLETED");
  // Scale beyond room: 2048/512 = 4 per instance.
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"desiredCount", 9}});
  EXPECT_EQ(tasks().size(), 8u);
  EXPECT_NE(service()["events"][0]["message"].get<std::string>().find("unable to place a task"), std::string::npos);
}

// DescribeServices.events in ECS's words, newest first: starts and stops name their tasks, a
// repeated message is one event, and only the newest 100 are kept.
TEST_F(ControlPlaneTest, ServiceEventsNameTheTasksStartedAndStoppedAndAreBounded) {
  registerInstance("a");
  setup(2);
  auto ids = [&] {
    std::vector<std::string> out;
    for (const Json& t : tasks()) out.push_back(t["taskArn"].get<std::string>().substr(t["taskArn"].get<std::string>().rfind('/') + 1));
    return out;
  };
  const std::vector<std::string> first = ids();
  ASSERT_EQ(first.size(), 2u);
  Json events = service()["events"];
  ASSERT_EQ(events.size(), 2u);
  const std::string started = events[0]["message"].get<std::string>();
  EXPECT_TRUE(started.starts_with("(service web) has started 2 tasks: (task ")) << started;
  for (const std::string& id : first) EXPECT_NE(started.find("(task " + id + ")"), std::string::npos) << started;
  EXPECT_EQ(events[1]["message"], "(service web) has been created.");
  settle("a");
  EXPECT_EQ(service()["events"][0]["message"], "(service web) has reached a steady state.");

  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"desiredCount", 1}});
  const std::string stopped = service()["events"][0]["message"].get<std::string>();
  EXPECT_TRUE(stopped.starts_with("(service web) has stopped 1 running tasks: (task ")) << stopped;
  EXPECT_TRUE(stopped.ends_with(").")) << stopped;

  for (int i = 0; i < 120; ++i) {
    ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"desiredCount", i % 2 == 0 ? 2 : 1}});
    settle("a");
  }
  events = service()["events"];
  EXPECT_EQ(events.size(), 100u);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_NE(events[i]["message"], events[i - 1]["message"]) << "a repeated message is one event";
    EXPECT_GE(events[i - 1]["createdAt"].get<double>(), events[i]["createdAt"].get<double>()) << "newest first";
  }
}

// Members beyond the core are honoured or refused by name, never dropped: propagateTags and
// enableECSManagedTags tag the service's tasks; networkConfiguration and a spread strategy are kept;
// load balancers, registries, ECS Exec, a platform version, constraints and other strategies are
// refused and change nothing.
TEST_F(ControlPlaneTest, ServiceMembersAreHonouredOrRefused) {
  registerInstance("a");
  Json net = {{"awsvpcConfiguration", {{"subnets", {"subnet-1"}}}}};
  setup(1, {{"propagateTags", "SERVICE"},
            {"enableECSManagedTags", true},
            {"tags", {{{"key", "team"}, {"value", "db"}}}},
            {"networkConfiguration", net},
            {"placementStrategy", {{{"type", "spread"}, {"field", "instanceId"}}}}});
  Json svc = service();
  EXPECT_EQ(svc["propagateTags"], "SERVICE");
  EXPECT_EQ(svc["enableECSManagedTags"], true);
  EXPECT_EQ(svc["networkConfiguration"], net);
  const std::string arn = tasks()[0]["taskArn"].get<std::string>();
  Json t = ecs("DescribeTasks", {{"cluster", "c"}, {"tasks", {arn}}, {"include", {"TAGS"}}})["tasks"][0];
  EXPECT_EQ(t["tags"], Json::parse(R"([{"key":"team","value":"db"},{"key":"aws:ecs:clusterName","value":"c"},
                                      {"key":"aws:ecs:serviceName","value":"web"}])"));

  const int64_t rev = cp_->revision();
  for (const auto& [member, value, says] : std::vector<std::tuple<std::string, Json, std::string>>{
           {"loadBalancers", Json::array({{{"targetGroupArn", "arn:tg"}}}), "no load balancers"},
           {"serviceRegistries", Json::array({{{"registryArn", "arn:r"}}}), "serviceRegistries"},
           {"enableExecuteCommand", true, "ECS Exec"},
           {"platformVersion", "LATEST", "Fargate"},
           {"placementConstraints", Json::array({{{"type", "distinctInstance"}}}), "placementConstraints"},
           {"placementStrategy", Json::array({{{"type", "binpack"}, {"field", "memory"}}}), "binpack"}}) {
    Json upd = {{"cluster", "c"}, {"service", "web"}, {member, value}};
    ApiError e = ecsError("UpdateService", upd);
    EXPECT_EQ(e.type, "InvalidParameterException") << member;
    EXPECT_NE(e.message.find(says), std::string::npos) << e.message;
    Json create = {{"cluster", "c"}, {"serviceName", "other"}, {"taskDefinition", "app"}, {member, value}};
    EXPECT_EQ(ecsError("CreateService", create).type, "InvalidParameterException") << member;
  }
  EXPECT_EQ(cp_->revision(), rev) << "a refused member changes nothing";
}

TEST_F(ControlPlaneTest, ATaskDefinitionWithAMemberScagentCannotHonourIsRefused) {
  Json td = Json::parse(kTd);
  td["containerDefinitions"][0]["healthCheck"] = {{"command", {"CMD-SHELL", "true"}}};
  const int64_t rev = cp_->revision();
  ApiError e = ecsError("RegisterTaskDefinition", td);
  EXPECT_EQ(e.type, "ClientException");
  EXPECT_NE(e.message.find("containerDefinitions[0].healthCheck: not supported by scagent"), std::string::npos)
      << e.message;
  EXPECT_EQ(cp_->revision(), rev);
}

// A task definition a running service uses cannot be deleted, even once deregistered; a create
// retried with the same clientToken answers the service it made.
TEST_F(ControlPlaneTest, InUseTaskDefinitionsStayAndClientTokensMakeCreateIdempotent) {
  registerInstance("a");
  setup(1, {{"clientToken", "tok-1"}});
  const std::string arn = service()["taskDefinition"].get<std::string>();
  ecs("DeregisterTaskDefinition", {{"taskDefinition", arn}});
  Json del = ecs("DeleteTaskDefinitions", {{"taskDefinitions", {arn}}});
  EXPECT_EQ(del["taskDefinitions"], Json::array());
  EXPECT_NE(del["failures"][0]["reason"].get<std::string>().find("in use"), std::string::npos) << del.dump();

  Json again = {{"cluster", "c"}, {"serviceName", "web"}, {"taskDefinition", "app"}, {"clientToken", "tok-1"}};
  EXPECT_EQ(ecs("CreateService", again)["service"]["serviceArn"], service()["serviceArn"]);
  again["clientToken"] = "tok-2";
  EXPECT_EQ(ecsError("CreateService", again).message, "Creation of service was not idempotent.");
}

TEST_F(ControlPlaneTest, RollingDeploymentKeepsMinimumHealthy) {
  registerInstance("a");
  registerInstance("b");
  setup(2, {{"deploymentConfiguration", {{"maximumPercent", 150}, {"minimumHealthyPercent", 50}}}});
  settle("a");
  settle("b");
  Json td = Json::parse(kTd);
  td["containerDefinitions"][0]["image"] = "img:v2";
  ecs("RegisterTaskDefinition", td);
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"taskDefinition", "app:2"}});
  Json svc = service();
  ASSERT_EQ(svc["deployments"].size(), 2u);
  EXPECT_EQ(svc["deployments"][0]["status"], "PRIMARY");
  EXPECT_EQ(svc["deployments"][0]["taskDefinition"].get<std::string>().substr(
                svc["deployments"][0]["taskDefinition"].get<std::string>().size() - 5),
            "app:2");
  // max 150% of 2 = 3 tasks: one new started; min 50% = 1 healthy: one old stopped.
  EXPECT_EQ(svc["deployments"][0]["pendingCount"], 1);
  EXPECT_EQ(tasks("STOPPED").size(), 1u);
  int healthy = 0;
  for (const Json& t : tasks()) healthy += t["lastStatus"] == "RUNNING" ? 1 : 0;
  EXPECT_GE(healthy, 1);
  for (int i = 0; i < 6; ++i) {
    settle("a");
    settle("b");
  }
  svc = service();
  ASSERT_EQ(svc["deployments"].size(), 1u);
  EXPECT_EQ(svc["deployments"][0]["rolloutState"], "COMPLETED");
  EXPECT_EQ(svc["runningCount"], 2);
  for (const Json& t : tasks()) EXPECT_NE(t["taskDefinitionArn"].get<std::string>().find("app:2"), std::string::npos);
}

TEST_F(ControlPlaneTest, HealthyTasksAreRegisteredInCloudMapAndTtlLossDeregisters) {
  std::string a = registerInstance("a");
  setup(1);
  settle("a", "UNHEALTHY");
  Json none = cm("DiscoverInstances", {{"NamespaceName", "internal"}, {"ServiceName", "http"}});
  EXPECT_TRUE(none["Instances"].empty());
  settle("a", "HEALTHY", "10.1.1.1");
  Json found = cm("DiscoverInstances", {{"NamespaceName", "internal"}, {"ServiceName", "http"}});
  ASSERT_EQ(found["Instances"].size(), 1u);
  EXPECT_EQ(found["Instances"][0]["Attributes"]["AWS_INSTANCE_IPV4"], "10.1.1.1");
  auto snap = cp_->namespaceSnapshotForTest("internal");
  ASSERT_TRUE(snap);
  EXPECT_EQ((*snap)["services"][0]["addresses"].size(), 1u);

  // Instance b joins and keeps heartbeating; a goes silent.
  std::string b = registerInstance("b");
  const auto last_heard_from_a = clock_.wallNow();
  clock_.advance(std::chrono::seconds(20));
  ASSERT_TRUE(cp_->agentHeartbeat(tokens_["b"], Json::object()).has_value());
  EXPECT_TRUE(cp_->tick().empty());
  clock_.advance(std::chrono::seconds(15));
  const std::vector<InstanceLoss> lost = cp_->tick();
  Json inst =
      ecs("DescribeContainerInstances", {{"cluster", "c"}, {"containerInstances", {a}}})["containerInstances"][0];
  EXPECT_FALSE(inst["agentConnected"].get<bool>());
  auto stopped = tasks("STOPPED");
  ASSERT_EQ(stopped.size(), 1u);
  // The stop reason names the container instance id (docs/operations.md), not the hostname "a".
  const std::string id = a.substr(a.rfind('/') + 1);
  EXPECT_EQ(stopped[0]["stoppedReason"], "Container instance " + id + " lost: no heartbeat for 30 s");
  // What sccontrol logs as `container instance lost`.
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].instance_id, id);
  EXPECT_EQ(lost[0].container_instance_arn, a);
  EXPECT_EQ(lost[0].hostname, "a");
  EXPECT_EQ(lost[0].cluster, "c");
  ASSERT_TRUE(lost[0].last_heartbeat.has_value());
  EXPECT_EQ(*lost[0].last_heartbeat, last_heard_from_a);
  const std::string task_id = stopped[0]["taskArn"].get<std::string>();
  EXPECT_EQ(lost[0].tasks_stopped, std::vector<std::string>{task_id.substr(task_id.rfind('/') + 1)});
  EXPECT_TRUE(cp_->tick().empty()) << "an instance is declared lost once";
  EXPECT_TRUE(cm("DiscoverInstances", {{"NamespaceName", "internal"}, {"ServiceName", "http"}})["Instances"].empty());
  EXPECT_EQ(tasksOn(b), 1);  // replaced
}

TEST_F(ControlPlaneTest, DrainingInstanceIsEmptiedAfterReplacementIsHealthy) {
  std::string a = registerInstance("a");
  setup(1);
  settle("a");
  std::string b = registerInstance("b");
  ecs("UpdateContainerInstancesState", {{"cluster", "c"}, {"containerInstances", {a}}, {"status", "DRAINING"}});
  EXPECT_EQ(tasksOn(b), 1);
  EXPECT_EQ(tasks("STOPPED").size(), 0u);  // minimumHealthyPercent 100: the old one waits
  settle("b");
  EXPECT_EQ(tasksOn(a), 0);
  settle("a");
  EXPECT_EQ(tasks("STOPPED").size(), 1u);
}

TEST_F(ControlPlaneTest, VipsAreStablePerDnsNameAndNotReusedWhileTasksMayHoldThem) {
  registerInstance("a");
  setup(1);
  settle("a");
  auto vipOf = [&](const std::string& dns) -> std::string {
    auto s = cp_->namespaceSnapshotForTest("internal");
    for (const Json& e : (*s)["services"])
      if (e["dnsName"] == dns) return e["vip"];
    return "";
  };
  std::string web = vipOf("web");
  EXPECT_EQ(web, "127.255.0.1");
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"forceNewDeployment", true}});
  EXPECT_EQ(vipOf("web"), web);
  // A second service; then the first goes away while the second's task (which may hold web's VIP
  // in its hosts file) still runs.
  ecs("CreateService", {{"cluster", "c"},
                        {"serviceName", "api"},
                        {"taskDefinition", "app"},
                        {"desiredCount", 1},
                        {"serviceConnectConfiguration",
                         {{"enabled", true},
                          {"services",
                           {{{"portName", "http"},
                             {"discoveryName", "api"},
                             {"clientAliases", {{{"port", 82}, {"dnsName", "api"}}}}}}}}}});
  settle("a");
  std::string api = vipOf("api");
  EXPECT_NE(api, web);
  ecs("DeleteService", {{"cluster", "c"}, {"service", "web"}, {"force", true}});
  for (int i = 0; i < 3; ++i) settle("a");
  EXPECT_EQ(service()["status"], "INACTIVE");
  EXPECT_EQ(vipOf("web"), "");
  ecs("CreateService", {{"cluster", "c"},
                        {"serviceName", "db"},
                        {"taskDefinition", "app"},
                        {"desiredCount", 0},
                        {"serviceConnectConfiguration",
                         {{"enabled", true},
                          {"services",
                           {{{"portName", "http"},
                             {"discoveryName", "db"},
                             {"clientAliases", {{{"port", 83}, {"dnsName", "db"}}}}}}}}}});
  std::string db = vipOf("db");
  EXPECT_NE(db, web);
  EXPECT_NE(db, api);
}

}  // namespace
}  // namespace sc::controlplane

namespace sc::controlplane {
namespace {

// Issue 13 item 1: an instance token may report only its own tasks' own Service Connect endpoints,
// at its own addresses, and container fields of ECS's shapes; every other report is a 400 that
// stores nothing, and the namespace every other host reads is unchanged.
// Ten rounds of three tasks started and stopped: the desired-state caches hold what the running
// tasks need, not a view of every task ever run.
TEST_F(ControlPlaneTest, DesiredStateCachesDoNotGrowWithEveryTaskEverRun) {
  registerInstance("a");
  setup(0);
  std::vector<size_t> cached;
  for (int round = 0; round < 10; ++round) {
    ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"desiredCount", 3}});
    settle("a");
    ASSERT_EQ(desired("a")["tasks"].size(), 3u);
    ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"desiredCount", 0}});
    settle("a");
    (void)desired("a");
    (void)cp_->tick();
    cached.push_back(cp_->cachedTextCount());
  }
  EXPECT_EQ(tasks("STOPPED").size(), 30u);
  EXPECT_EQ(cached.back(), cached.front()) << "cache entries after round 1: " << cached.front();
  EXPECT_LE(cached.back(), 2u) << "one instance body and one snapshot at most";
}

// Issue 13 item 7: a host of 100 tasks in a namespace of 1000 endpoints. Each snapshot comes once
// per answer, so the body stays far below the agent's limit; with a copy per task it was ~100x.
TEST_F(ControlPlaneTest, DesiredStateCarriesEachNamespaceOnce) {
  registerInstance("big", true, 1000 * 512);
  ecs("RegisterTaskDefinition", Json::parse(kTd));
  ecs("CreateService", {{"cluster", "c"},
                        {"serviceName", "db"},
                        {"taskDefinition", "app"},
                        {"desiredCount", 1000},
                        {"serviceConnectConfiguration",
                         {{"enabled", true}, {"services", {{{"portName", "http"}, {"discoveryName", "db"}}}}}}});
  Json placed = desired("big");
  ASSERT_EQ(placed["tasks"].size(), 1000u);
  Json report = {{"tasks", Json::array()}};
  for (size_t i = 0; i < placed["tasks"].size(); ++i) {
    const std::string ip = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    report["tasks"].push_back({{"taskArn", placed["tasks"][i]["taskArn"]},
                               {"lastStatus", "RUNNING"},
                               {"healthStatus", "HEALTHY"},
                               {"endpoints", {{{"discoveryName", "db"}, {"ip", ip}, {"port", 80}}}}});
  }
  ASSERT_TRUE(cp_->agentStatus(tokens_["big"], report).has_value());
  registerInstance("host", true, 100 * 512);
  setup(100);  // web, a client of db's namespace, on "host" (big is full)
  auto text = cp_->agentDesiredText(tokens_["host"], "");
  ASSERT_TRUE(text.has_value() && text->has_value());
  Json d = Json::parse(**text);
  ASSERT_EQ(d["tasks"].size(), 100u);
  ASSERT_EQ(d["namespaces"].size(), 1u);
  const Json& ns = d["namespaces"].begin().value();
  size_t addresses = 0;
  for (const Json& svc : ns["services"]) addresses += svc["addresses"].size();
  EXPECT_EQ(addresses, 1000u);
  const size_t body = (*text)->size(), snapshot = ns.dump().size();
  const size_t copy_per_task = body + 99 * snapshot;  // the shape before: a snapshot in each task
  std::cout << "desired state, 100 tasks, namespace of 1000 endpoints: " << body << " bytes (snapshot " << snapshot
            << " bytes; with a copy per task " << copy_per_task << " bytes)\n";
  EXPECT_LT(body, 2u << 20);
  EXPECT_GT(copy_per_task, 8u << 20) << "the old shape would have passed the agent's old 8 MiB limit";
}

class AgentReportTest : public ControlPlaneTest {
 protected:
  std::string registerWithCidr(const std::string& host, const std::string& cidr) {
    ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
    Json body = {{"bootstrapToken", "boot"},
                 {"cluster", "c"},
                 {"hostname", host},
                 {"memoryMiB", 2048},
                 {"taskCidr", cidr},
                 {"hostAddress", ""},
                 {"capabilities", {kServiceConnectCapability}}};
    auto r = cp_->agentRegister(body);
    EXPECT_TRUE(r.has_value());
    tokens_[host] = (*r)["token"].get<std::string>();
    return (*r)["containerInstanceArn"].get<std::string>();
  }
  static Json running(const Json& task, const Json& endpoints, const Json& containers = Json::array()) {
    return {{"tasks",
             {{{"taskArn", task["taskArn"]},
               {"lastStatus", "RUNNING"},
               {"healthStatus", "HEALTHY"},
               {"containers", containers},
               {"endpoints", endpoints}}}}};
  }
  void SetUp() override {
    ControlPlaneTest::SetUp();
    registerWithCidr("a", "10.1.0.0/16");
    setup(1);  // web: discovery name "http", port 80, on a (the only instance)
    web_ = desired("a")["tasks"][0];
    ASSERT_TRUE(
        cp_->agentStatus(tokens_["a"], running(web_, {{{"discoveryName", "http"}, {"ip", "10.1.0.5"}, {"port", 80}}}))
            .has_value());
    registerWithCidr("b", "10.2.0.0/16");
    ecs("RegisterTaskDefinition", Json::parse(R"({"family": "dbapp", "networkMode": "awsvpc", "memory": "512",
          "containerDefinitions": [{"name": "pg", "image": "img", "memory": 256,
            "portMappings": [{"name": "db", "containerPort": 5432}]}]})"));
    ecs("CreateService", {{"cluster", "c"},
                          {"serviceName", "dbsvc"},
                          {"taskDefinition", "dbapp"},
                          {"desiredCount", 1},
                          {"serviceConnectConfiguration", {{"enabled", true}, {"services", {{{"portName", "db"}}}}}}});
    Json db_tasks = desired("b")["tasks"];
    ASSERT_EQ(db_tasks.size(), 1u) << "the db task is placed on b, the instance without tasks";
    db_ = db_tasks[0];
    ASSERT_TRUE(
        cp_->agentStatus(tokens_["b"], running(db_, {{{"discoveryName", "db"}, {"ip", "10.2.0.7"}, {"port", 5432}}}))
            .has_value());
    snapshot_ = *cp_->namespaceSnapshotForTest("internal");
    b_view_ = taskNamespace(desired("b"), 0);
  }
  // The report is refused with a 400 naming `what`, and nothing anyone reads has changed.
  void expectRefused(const Json& report, const std::string& what) {
    auto r = cp_->agentStatus(tokens_["a"], report);
    ASSERT_FALSE(r.has_value()) << report.dump();
    EXPECT_EQ(r.error().status, 400);
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    EXPECT_EQ(*cp_->namespaceSnapshotForTest("internal"), snapshot_);
    EXPECT_EQ(taskNamespace(desired("b"), 0), b_view_) << "another host's snapshot changed";
  }
  Json web_, db_, snapshot_, b_view_;
};

TEST_F(AgentReportTest, AnotherServicesDiscoveryNameIsRefused) {
  expectRefused(running(web_, {{{"discoveryName", "db"}, {"ip", "10.1.0.5"}, {"port", 5432}}}),
                "discoveryName \"db\" is not a Service Connect discovery name of this task");
}

TEST_F(AgentReportTest, AddressesOutsideTheInstanceAndBadPortsAreRefused) {
  auto ep = [](const Json& ip, const Json& port) {
    return Json{{{"discoveryName", "http"}, {"ip", ip}, {"port", port}}};
  };
  expectRefused(running(web_, ep("not-an-ip", 80)), "is not a unicast IPv4 address");
  expectRefused(running(web_, ep("10.1.0.5:80", 80)), "is not a unicast IPv4 address");
  expectRefused(running(web_, ep("127.0.0.1", 80)), "is not a unicast IPv4 address");
  expectRefused(running(web_, ep("169.254.169.254", 80)), "is not a unicast IPv4 address");
  expectRefused(running(web_, ep("10.2.0.7", 80)), "outside the instance's task CIDR 10.1.0.0/16");
  expectRefused(running(web_, ep("10.1.0.5", 0)), "port: expected 1-65535, got 0");
  expectRefused(running(web_, ep("10.1.0.5", 70000)), "port: expected 1-65535");
  expectRefused(running(web_, ep("10.1.0.5", 81)), "listens for http on 80, not 81");
  expectRefused(running(web_, ep("10.1.0.5", "80")), "expected {discoveryName: string");
  expectRefused(running(web_, Json::array({ep("10.1.0.5", 80)[0], ep("10.1.0.6", 80)[0]})), "reported twice");
}

TEST_F(AgentReportTest, ContainerFieldsOfTheWrongShapeOrSizeAreRefused) {
  const Json good_ep = {{{"discoveryName", "http"}, {"ip", "10.1.0.5"}, {"port", 80}}};
  auto with = [&](const Json& c) { return running(web_, good_ep, Json::array({c})); };
  expectRefused(with({{"name", "app"}, {"lastStatus", {{"evil", true}}}}), "lastStatus: expected PENDING");
  expectRefused(with({{"name", "app"}, {"lastStatus", "EXPLODED"}}), "lastStatus: expected PENDING");
  expectRefused(with({{"name", "app"}, {"reason", std::string(1 << 20, 'x')}}),
                "reason: expected a string of at most 1024");
  expectRefused(with({{"name", "app"}, {"exitCode", "1"}}), "exitCode: expected a 32-bit integer");
  expectRefused(with({{"name", "app"}, {"exitCode", 1.5}}), "exitCode: expected a 32-bit integer");
  expectRefused(with({{"name", "nope"}}), "the task has no container \"nope\"");
  expectRefused(with({{"name", "app"}, {"extra", 1}}), "unknown member \"extra\"");
  Json long_reason = running(web_, good_ep);
  long_reason["tasks"][0]["reason"] = std::string(1025, 'r');
  expectRefused(long_reason, "reason: expected at most 1024 bytes");
  expectRefused(Json{{"tasks", {{{"taskArn", web_["taskArn"]}, {"lastStatus", Json::array()}}}}},
                "lastStatus: expected a string");
  // What DescribeTasks shows is still what a valid report said.
  Json t = ecs("DescribeTasks", {{"cluster", "c"}, {"tasks", {web_["taskArn"]}}})["tasks"][0];
  EXPECT_EQ(t["containers"][0]["lastStatus"], "PENDING");
  EXPECT_FALSE(t["containers"][0].contains("reason"));
  // A well-formed container report is accepted.
  ASSERT_TRUE(cp_->agentStatus(tokens_["a"], with({{"name", "app"}, {"lastStatus", "RUNNING"}, {"exitCode", nullptr}}))
                  .has_value());
}

TEST_F(AgentReportTest, AnotherInstancesTaskIsNotTouched) {
  Json report = running(db_, {{{"discoveryName", "db"}, {"ip", "10.1.0.5"}, {"port", 5432}}});
  report["tasks"][0]["lastStatus"] = "STOPPED";
  auto r = cp_->agentStatus(tokens_["a"], report);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)["unknownTasks"], Json::array({db_["taskArn"]}));
  EXPECT_EQ(*cp_->namespaceSnapshotForTest("internal"), snapshot_);
  Json t = ecs("DescribeTasks", {{"cluster", "c"}, {"tasks", {db_["taskArn"]}}})["tasks"][0];
  EXPECT_EQ(t["lastStatus"], "RUNNING");
}

Json registerHost(ControlPlane& cp, const std::string& host, const std::string& cidr, const std::string& address) {
  auto r = cp.agentRegister({{"bootstrapToken", "boot"},
                             {"cluster", "c"},
                             {"hostname", host},
                             {"memoryMiB", 1024},
                             {"taskCidr", cidr},
                             {"hostAddress", address}});
  EXPECT_TRUE(r.has_value());
  return r.has_value() ? *r : Json();
}

TEST_F(AgentReportTest, EveryDesiredStateNamesTheInstancesWithASubnetAndAnAddress) {
  Json b = registerHost(*cp_, "b", "10.2.0.0/24", "192.168.7.2");
  registerHost(*cp_, "nowhere", "10.3.0.0/24", "");  // no host address: nothing to route through
  tokens_["b"] = b["token"].get<std::string>();
  Json d = desired("a");
  ASSERT_TRUE(d.contains("peers")) << d.dump();
  EXPECT_EQ(d["peers"], Json::array({{{"containerInstanceArn", b["containerInstanceArn"]},
                                      {"hostAddress", "192.168.7.2"},
                                      {"taskCidr", "10.2.0.0/24"}}}));
  // b sees itself too (the agent leaves its own instance out).
  EXPECT_EQ(desired("b")["peers"], d["peers"]);
  // A parked poll of a wakes when b leaves: the answer changes, b is gone from it.
  const std::string etag = d["etag"].get<std::string>();
  ecs("DeregisterContainerInstance", {{"cluster", "c"}, {"containerInstance", b["containerInstanceArn"]}});
  auto after = cp_->agentDesired(tokens_["a"], etag);
  ASSERT_TRUE(after.has_value() && after->has_value());
  EXPECT_EQ((**after)["peers"], Json::array());
}

TEST_F(AgentReportTest, RegistrationAddressesAreChecked) {
  Json body = {{"bootstrapToken", "boot"}, {"cluster", "c"}, {"memoryMiB", 1024}, {"taskCidr", "10.0.0.0/33"}};
  auto r = cp_->agentRegister(body);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().status, 400);
  body["taskCidr"] = "10.3.0.0/16";
  body["hostAddress"] = "127.0.0.1";
  EXPECT_FALSE(cp_->agentRegister(body).has_value());
}

}  // namespace
}  // namespace sc::controlplane
