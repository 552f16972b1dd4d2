#include "agent/control_plane_client.h"

#include <gtest/gtest.h>

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
  HttpControlPlaneClient c("http://127.0.0.1:1");
  auto r = c.desired("token", "", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("failed to poll desired tasks from 'http://127.0.0.1:1'"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace sc::agent
