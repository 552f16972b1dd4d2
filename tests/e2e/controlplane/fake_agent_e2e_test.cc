// A fake agent drives the agent API end to end against an in-process server (SQLite store, the
// real HTTP server and frontend): register, long-poll, status reports, endpoint propagation.
#include <gtest/gtest.h>

#include <future>

#include "common/clock.h"
#include "controlplane/control_plane.h"
#include "controlplane/frontend.h"
#include "controlplane/http_server.h"
#include "controlplane/sqlite_store.h"
#include "tests/support/controlplane/raw_http.h"
#include "tests/support/temp_dir.h"

namespace sc::controlplane {
namespace {

class FakeAgentE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = SqliteStore::open(dir_.file("state.db"));
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    ControlPlaneOptions o;
    o.bootstrap_token = "boot";
    auto c = ControlPlane::create(*store_, realClock(), o);
    ASSERT_TRUE(c.ok());
    cp_ = std::move(*c);
    frontend_ = std::make_unique<Frontend>(*cp_, realClock(), FrontendOptions{{{key_.id, key_.secret}}});
    auto srv = HttpServer::start({}, [this](const HttpRequest& r) { return frontend_->handle(r); });
    ASSERT_TRUE(srv.ok());
    server_ = std::move(*srv);
    HttpServer* raw = server_.get();
    cp_->setChangeListener([raw] { raw->wake(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  Json ecs(const std::string& op, const Json& body) {
    auto r = testing::awsJson(server_->port(), key_, "AmazonEC2ContainerServiceV20141113." + op, body);
    EXPECT_TRUE(r.ok() && r->status == 200) << op << ": " << (r.ok() ? r->body : r.error().message);
    return r.ok() ? Json::parse(r->body) : Json();
  }
  testing::RawResponse agent(const std::string& method, const std::string& path, const std::string& token,
                             const Json& body) {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["authorization"] = "Bearer " + token;
    auto r = testing::rawHttp(server_->port(), method, path, h, body.is_null() ? "" : body.dump());
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : testing::RawResponse{};
  }
  std::string registerAgent(const std::string& host) {
    auto r = agent("POST", "/v1/agent/register", "",
                   {{"bootstrapToken", "boot"},
                    {"cluster", "c"},
                    {"hostname", host},
                    {"memoryMiB", 1024},
                    {"capabilities", {"sc.capability.service-connect-v1"}},
                    {"attributes", {{"ecs.os-type", "linux"}}}});
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body)["token"].get<std::string>();
  }

  testing::TempDir dir_;
  AccessKey key_{"SCTESTKEY", "test-secret"};
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<Frontend> frontend_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(FakeAgentE2eTest, RegisterPollReportAndSeeEndpointsPropagate) {
  ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
  EXPECT_EQ(
      agent("POST", "/v1/agent/register", "", {{"bootstrapToken", "wrong"}, {"cluster", "c"}, {"memoryMiB", 1}}).status,
      401);
  std::string a = registerAgent("a");
  EXPECT_EQ(agent("GET", "/v1/agent/desired", "bogus", Json()).status, 401);
  EXPECT_EQ(agent("GET", "/v1/agent/desired", "", Json()).status, 401);

  auto first = agent("GET", "/v1/agent/desired", a, Json());
  ASSERT_EQ(first.status, 200);
  Json d0 = Json::parse(first.body);
  EXPECT_TRUE(d0["tasks"].empty());
  std::string etag = d0["etag"];
  // Nothing changed: an immediate poll says so.
  EXPECT_EQ(agent("GET", "/v1/agent/desired?etag=" + etag, a, Json()).status, 304);

  // A long-poll waits; creating a service answers it with the placed task.
  auto poll = std::async(std::launch::async,
                         [&] { return agent("GET", "/v1/agent/desired?waitSeconds=30&etag=" + etag, a, Json()); });
  while (server_->parkedCount() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ecs("RegisterTaskDefinition", Json::parse(R"({"family": "db", "networkMode": "awsvpc", "memory": "512",
      "containerDefinitions": [{"name": "db", "image": "img", "memory": 256,
      "portMappings": [{"name": "pg", "containerPort": 5432}]}]})"));
  ecs("CreateService",
      {{"cluster", "c"},
       {"serviceName", "db"},
       {"taskDefinition", "db"},
       {"desiredCount", 1},
       {"serviceConnectConfiguration",
        {{"enabled", true},
         {"services", {{{"portName", "pg"}, {"clientAliases", {{{"port", 5432}, {"dnsName", "db"}}}}}}}}}});
  auto answered = poll.get();
  ASSERT_EQ(answered.status, 200) << answered.body;
  Json d1 = Json::parse(answered.body);
  ASSERT_EQ(d1["tasks"].size(), 1u);
  const Json& task = d1["tasks"][0];
  EXPECT_EQ(task["taskDefinition"]["family"], "db");
  EXPECT_EQ(task["service"]["serviceConnectConfiguration"]["namespace"], "internal");
  // Each namespace once per answer; tasks name theirs.
  ASSERT_EQ(d1["namespaces"].size(), 1u);
  const Json& ns = d1["namespaces"][task["namespaceRef"].get<std::string>()];
  EXPECT_FALSE(task.contains("namespace"));
  EXPECT_EQ(ns["name"], "internal");
  EXPECT_EQ(ns["services"][0]["vip"], "127.255.0.1");
  EXPECT_TRUE(ns["services"][0]["addresses"].empty());

  // A second instance long-polls; when a's task reports healthy with its address, b hears nothing
  // (it runs no task in the namespace) but a's own view changes.
  std::string b = registerAgent("b");
  auto poll_a = std::async(std::launch::async, [&] {
    return agent("GET", "/v1/agent/desired?waitSeconds=30&etag=" + d1["etag"].get<std::string>(), a, Json());
  });
  while (server_->parkedCount() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto st = agent("POST", "/v1/agent/status", a,
                  {{"tasks",
                    {{{"taskArn", task["taskArn"]},
                      {"lastStatus", "RUNNING"},
                      {"healthStatus", "HEALTHY"},
                      {"containers", {{{"name", "db"}, {"lastStatus", "RUNNING"}}}},
                      {"endpoints", {{{"discoveryName", "pg"}, {"ip", "10.9.0.2"}, {"port", 5432}}}}}}}});
  ASSERT_EQ(st.status, 200) << st.body;
  auto a2 = poll_a.get();
  ASSERT_EQ(a2.status, 200);
  Json d2 = Json::parse(a2.body);
  Json addrs = d2["namespaces"][d2["tasks"][0]["namespaceRef"].get<std::string>()]["services"][0]["addresses"];
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(addrs[0]["ip"], "10.9.0.2");
  Json db = ecs("DescribeServices", {{"cluster", "c"}, {"services", {"db"}}})["services"][0];
  EXPECT_EQ(db["runningCount"], 1);

  // Reports about tasks of other instances are ignored and named.
  auto foreign =
      agent("POST", "/v1/agent/status", b, {{"tasks", {{{"taskArn", task["taskArn"]}, {"lastStatus", "STOPPED"}}}}});
  EXPECT_EQ(Json::parse(foreign.body)["unknownTasks"].size(), 1u);
  auto bad =
      agent("POST", "/v1/agent/status", a, {{"tasks", {{{"taskArn", task["taskArn"]}, {"lastStatus", "DANCING"}}}}});
  EXPECT_EQ(bad.status, 400);
  // The task's container fails: it is stopped, counted, and replaced.
  agent("POST", "/v1/agent/status", a,
        {{"tasks", {{{"taskArn", task["taskArn"]}, {"lastStatus", "STOPPED"}, {"reason", "exit 1"}}}}});
  db = ecs("DescribeServices", {{"cluster", "c"}, {"services", {"db"}}})["services"][0];
  EXPECT_EQ(db["deployments"][0]["failedTasks"], 1);
  EXPECT_EQ(ecs("ListTasks", {{"cluster", "c"}})["taskArns"].size(), 1u);
  EXPECT_EQ(ecs("ListTasks", {{"cluster", "c"}, {"desiredStatus", "STOPPED"}})["taskArns"].size(), 1u);
}

}  // namespace
}  // namespace sc::controlplane
