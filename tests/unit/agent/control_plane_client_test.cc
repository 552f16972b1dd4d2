#include "agent/control_plane_client.h"

#include <gtest/gtest.h>

#include <atomic>

#include "common/http_server.h"

namespace sc::agent {
namespace {

using model::Json;

TEST(ControlPlaneClientTest, RegisterRequestShape) {
  RegisterRequest r{"boot", "demo", "host-1", "0.1.0", 24000, 2048, {{"sc.capability.service-connect-v1", "true"}}};
  Json j = registerRequestToJson(r);
  EXPECT_EQ(j["bootstrapToken"], "boot");
  EXPECT_EQ(j["memoryMiB"], 24000);
  EXPECT_EQ(j["capabilities"], Json::array({"sc.capability.service-connect-v1"}));
  EXPECT_TRUE(j["attributes"].is_object());
}

TEST(ControlPlaneClientTest, RegistrationNeedsTokenAndArn) {
  auto ok = registrationFromJson(Json::parse(R"({"containerInstanceArn": "arn:x", "instanceId": "i",
      "token": "t", "heartbeatIntervalSeconds": 5, "ttlSeconds": 30})"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->heartbeat_interval_s, 5);
  EXPECT_EQ(ok->ttl_s, 30);
  auto bad = registrationFromJson(Json::parse(R"({"instanceId": "i"})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kUnavailable);
}

TEST(ControlPlaneClientTest, DesiredStateShape) {
  auto d = desiredStateFromJson(Json::parse(R"({"etag": "e1", "revision": 9, "status": "ACTIVE", "tasks": [
      {"taskArn": "arn:t1", "taskId": "t1", "desiredStatus": "RUNNING", "taskDefinition": {"family": "db"},
       "service": {"serviceName": "db"}, "namespace": {"name": "demo"}}]})"));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->etag, "e1");
  EXPECT_EQ(d->revision, 9);
  ASSERT_EQ(d->tasks.size(), 1u);
  EXPECT_FALSE(d->peers.has_value()) << "an older sccontrol sends no peers";
  EXPECT_EQ(d->tasks[0].task_definition["family"], "db");
  ASSERT_NE(d->tasks[0].ns, nullptr);
  EXPECT_EQ((*d->tasks[0].ns)["name"], "demo");
  EXPECT_FALSE(desiredStateFromJson(Json::parse(R"({"tasks": [{"taskId": "t", "desiredStatus": "PAUSED"}]})")).ok());
  // The current shape: each namespace once, tasks refer to it; an unknown reference is an error.
  auto shared = desiredStateFromJson(Json::parse(R"({"etag": "e2", "tasks": [
      {"taskArn": "arn:t1", "taskId": "t1", "desiredStatus": "RUNNING", "namespaceRef": "ns-1"},
      {"taskArn": "arn:t2", "taskId": "t2", "desiredStatus": "RUNNING", "namespaceRef": "ns-1"},
      {"taskArn": "arn:t3", "taskId": "t3", "desiredStatus": "RUNNING"}],
      "namespaces": {"ns-1": {"name": "demo", "revision": 3}}})"));
  ASSERT_TRUE(shared.ok()) << shared.error().message;
  ASSERT_EQ(shared->tasks.size(), 3u);
  ASSERT_NE(shared->tasks[0].ns, nullptr);
  EXPECT_EQ((*shared->tasks[0].ns)["revision"], 3);
  EXPECT_EQ(shared->tasks[0].ns.get(), shared->tasks[1].ns.get()) << "one copy shared by both tasks";
  EXPECT_EQ(shared->tasks[2].ns, nullptr);
  auto peers = desiredStateFromJson(Json::parse(
      R"({"tasks": [], "peers": [{"containerInstanceArn": "arn:b", "hostAddress": "192.168.7.2", "taskCidr": "10.2.0.0/24"}]})"));
  ASSERT_TRUE(peers.ok() && peers->peers.has_value());
  EXPECT_EQ(*peers->peers, (std::vector<PeerInstance>{{"arn:b", "192.168.7.2", "10.2.0.0/24"}}));
  EXPECT_FALSE(desiredStateFromJson(Json::parse(R"({"tasks": [], "peers": {}})")).ok());
  auto dangling = desiredStateFromJson(Json::parse(
      R"({"tasks": [{"taskId": "t1", "desiredStatus": "RUNNING", "namespaceRef": "ns-9"}], "namespaces": {}})"));
  ASSERT_FALSE(dangling.ok());
  EXPECT_NE(dangling.error().message.find("names namespace ns-9, which the answer does not carry"), std::string::npos)
      << dangling.error().message;
  EXPECT_FALSE(desiredStateFromJson(Json::parse(R"({"etag": "x"})")).ok());
}

TEST(ControlPlaneClientTest, ReportShape) {
  TaskReport t{"arn:t1", "RUNNING", "HEALTHY", "", {{"app", "RUNNING", std::nullopt, ""}}, {{"db", "10.88.0.2", 8080}}};
  Json j = taskReportsToJson({t});
  EXPECT_EQ(j["tasks"][0]["lastStatus"], "RUNNING");
  EXPECT_EQ(j["tasks"][0]["endpoints"][0]["ip"], "10.88.0.2");
  EXPECT_FALSE(j["tasks"][0]["containers"][0].contains("exitCode"));
}

TEST(ControlPlaneClientTest, UnreachableControlPlaneIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  HttpControlPlaneClient c({"http://127.0.0.1:1"});
  auto r = c.desired("token", "", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("failed to poll desired tasks from 'http://127.0.0.1:1'"), std::string::npos)
      << r.error().message;
}

// Replicas: a call that finds one endpoint down (connection refused) or failing (503) goes on to
// the next within the same call, and the next call starts at the one that answered.
TEST(ControlPlaneClientTest, ACallMovesOnFromADownOrFailingReplicaAndStaysWithTheOneThatAnswered) {
  std::atomic<int> failing_hits = 0, good_hits = 0;
  auto failing = HttpServer::start(
      "127.0.0.1:0", {{"/v1/agent/desired", [&] {
                         ++failing_hits;
                         return HttpPage{503, "application/json", R"({"__type":"ServerException","message":"busy"})"};
                       }}});
  auto good = HttpServer::start(
      "127.0.0.1:0", {{"/v1/agent/desired", [&] {
                         ++good_hits;
                         return HttpPage{200, "application/json", R"({"etag":"e1","revision":7,"tasks":[]})"};
                       }}});
  ASSERT_TRUE(failing.ok() && good.ok());
  const std::string b = "http://" + (*failing)->address(), c = "http://" + (*good)->address();
  HttpControlPlaneClient client({"http://127.0.0.1:1", b, c});
  auto first = client.desired("token", "", 0);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->revision, 7);
  EXPECT_EQ(failing_hits.load(), 1);
  EXPECT_EQ(good_hits.load(), 1);
  EXPECT_EQ(client.currentEndpoint(), c);
  ASSERT_TRUE(client.desired("token", "", 0).ok());
  EXPECT_EQ(failing_hits.load(), 1);  // the second call went straight to the replica that answered
  EXPECT_EQ(good_hits.load(), 2);
}

// An answer that is the caller's fault (400) is the same on every replica: no other is tried.
// When every replica fails, the error is the last one's and the next call starts further on.
TEST(ControlPlaneClientTest, ABadRequestIsNotRetriedAndAllReplicasDownIsUnavailable) {
  std::atomic<int> second_hits = 0;
  auto bad = HttpServer::start(
      "127.0.0.1:0",
      {{"/v1/agent/desired", [] {
          return HttpPage{400, "application/json", R"({"__type":"InvalidParameterException","message":"no"})"};
        }}});
  auto second = HttpServer::start("127.0.0.1:0", {{"/v1/agent/desired", [&] {
                                                     ++second_hits;
                                                     return HttpPage{200, "application/json", R"({"tasks":[]})"};
                                                   }}});
  ASSERT_TRUE(bad.ok() && second.ok());
  HttpControlPlaneClient client({"http://" + (*bad)->address(), "http://" + (*second)->address()});
  auto r = client.desired("token", "", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(second_hits.load(), 0);

  HttpControlPlaneClient down({"http://127.0.0.1:1", "http://127.0.0.1:2"});
  auto none = down.desired("token", "", 0);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(none.error().message.find("'http://127.0.0.1:2'"), std::string::npos) << none.error().message;
  EXPECT_EQ(down.currentEndpoint(), "http://127.0.0.1:2");
}

}  // namespace
}  // namespace sc::agent
