// ControlPlaneTest: a ControlPlane over a MemoryStore and a fake clock, with helpers to register
// instances, create a Service Connect service and play an agent that settles its tasks.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/control_plane.h"
#include "controlplane/memory_store.h"
#include "controlplane/placement.h"
#include "tests/support/controlplane/fake_clock.h"

namespace sc::controlplane {

inline const char* kTd = R"({"family": "app", "networkMode": "awsvpc", "memory": "512",
  "containerDefinitions": [{"name": "app", "image": "img", "memory": 256,
    "portMappings": [{"name": "http", "containerPort": 80, "appProtocol": "http"}]}]})";

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override { restart(defaultOptions()); }
  static ControlPlaneOptions defaultOptions() {
    ControlPlaneOptions o;
    o.bootstrap_token = "boot";
    o.instance_ttl = std::chrono::seconds(30);
    return o;
  }
  // A fresh ControlPlane over the same store (what a restart of sccontrol does).
  void restart(const ControlPlaneOptions& o) {
    cp_.reset();
    auto c = ControlPlane::create(store_, clock_, o);
    ASSERT_TRUE(c.ok());
    cp_ = std::move(*c);
  }
  Json ecs(const std::string& op, const Json& in) {
    auto r = cp_->call(Api::kEcs, op, in);
    EXPECT_TRUE(r.has_value()) << op << ": " << (r ? "" : r.error().type + ": " + r.error().message);
    return r ? *r : Json();
  }
  ApiError ecsError(const std::string& op, const Json& in) {
    auto r = cp_->call(Api::kEcs, op, in);
    EXPECT_FALSE(r.has_value()) << op << " succeeded: " << (r ? r->dump() : "");
    return r ? ApiError{} : r.error();
  }
  Json cm(const std::string& op, const Json& in) {
    auto r = cp_->call(Api::kCloudMap, op, in);
    EXPECT_TRUE(r.has_value()) << op << ": " << (r ? "" : r.error().type + ": " + r.error().message);
    return r ? *r : Json();
  }
  std::string registerInstance(const std::string& host, bool capable = true, int64_t mem = 2048) {
    ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
    Json body = {{"bootstrapToken", "boot"},
                 {"cluster", "c"},
                 {"hostname", host},
                 {"memoryMiB", mem},
                 {"attributes", {{"ecs.os-type", "linux"}}},
                 {"capabilities", Json::array()}};
    if (capable) body["capabilities"].push_back(kServiceConnectCapability);
    auto r = cp_->agentRegister(body);
    EXPECT_TRUE(r.has_value());
    tokens_[host] = (*r)["token"].get<std::string>();
    return (*r)["containerInstanceArn"].get<std::string>();
  }
  // The snapshot the desired state's task `i` refers to (each namespace is sent once per answer).
  static Json taskNamespace(const Json& d, size_t i) {
    return d["namespaces"][d["tasks"][i]["namespaceRef"].get<std::string>()];
  }
  Json desired(const std::string& host) {
    auto r = cp_->agentDesired(tokens_[host], "");
    EXPECT_TRUE(r.has_value() && r->has_value());
    return **r;
  }
  // Reports every task the instance should run as RUNNING + `health`, stops those it should stop.
  void settle(const std::string& host, const std::string& health = "HEALTHY", const std::string& ip = "10.0.0.1") {
    Json d = desired(host);
    Json report = {{"tasks", Json::array()}};
    for (const Json& t : d["tasks"]) {
      if (t["desiredStatus"] == "STOPPED") {
        report["tasks"].push_back({{"taskArn", t["taskArn"]}, {"lastStatus", "STOPPED"}});
        continue;
      }
      Json eps = Json::array();
      if (t.contains("service") && t["service"].contains("serviceConnectConfiguration")) {
        for (const Json& s : t["service"]["serviceConnectConfiguration"]["services"]) {
          eps.push_back({{"discoveryName", s.value("discoveryName", s["portName"].get<std::string>())},
                         {"ip", ip},
                         {"port", 80}});
        }
      }
      report["tasks"].push_back(
          {{"taskArn", t["taskArn"]}, {"lastStatus", "RUNNING"}, {"healthStatus", health}, {"endpoints", eps}});
    }
    auto r = cp_->agentStatus(tokens_[host], report);
    EXPECT_TRUE(r.has_value());
  }
  void setup(int desired_count, const Json& extra = Json::object()) {
    ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
    ecs("RegisterTaskDefinition", Json::parse(kTd));
    Json svc = {{"cluster", "c"},
                {"serviceName", "web"},
                {"taskDefinition", "app"},
                {"desiredCount", desired_count},
                {"serviceConnectConfiguration",
                 {{"enabled", true},
                  {"services", {{{"portName", "http"}, {"clientAliases", {{{"port", 81}, {"dnsName", "web"}}}}}}}}}};
    svc.update(extra);
    ecs("CreateService", svc);
  }
  Json service() { return ecs("DescribeServices", {{"cluster", "c"}, {"services", {"web"}}})["services"][0]; }
  std::vector<Json> tasks(const std::string& desired_status = "RUNNING") {
    Json arns = ecs("ListTasks", {{"cluster", "c"}, {"desiredStatus", desired_status}})["taskArns"];
    if (arns.empty()) return {};
    Json d = ecs("DescribeTasks", {{"cluster", "c"}, {"tasks", arns}});
    return d["tasks"].get<std::vector<Json>>();
  }
  int tasksOn(const std::string& arn) {
    int n = 0;
    for (const Json& t : tasks()) n += t["containerInstanceArn"] == arn ? 1 : 0;
    return n;
  }

  MemoryStore store_;
  testing::FakeClock clock_;
  std::unique_ptr<ControlPlane> cp_;
  std::map<std::string, std::string> tokens_;
};

}  // namespace sc::controlplane
