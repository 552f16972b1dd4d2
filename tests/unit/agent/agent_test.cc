#include "agent/agent.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "common/file.h"
#include "common/log.h"
#include "tests/support/agent/fakes.h"
#include "tests/support/golden.h"
#include "tests/support/temp_dir.h"

namespace sc::agent {
namespace {

using model::Json;

DesiredTaskPayload dbTask(const std::string& id, const std::string& desired = "RUNNING") {
  DesiredTaskPayload p;
  p.task_arn = "arn:aws:ecs:local:000000000000:task/demo/" + id;
  p.task_id = id;
  p.desired_status = desired;
  p.task_definition = Json::parse(testing::readSource("examples/demo/db-task-definition.json"));
  Json svc = Json::parse(testing::readSource("examples/demo/db-service.json"));
  p.service = {{"serviceName", "db"},
               {"cluster", "demo"},
               {"taskDefinition", "db"},
               {"serviceConnectConfiguration", svc["serviceConnectConfiguration"]}};
  p.ns = std::make_shared<const Json>(Json{{"name", "demo"}, {"revision", 1}, {"services", Json::array()}});
  return p;
}

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() {
    cfg.state_dir = dir.file("state");
    cfg.control_plane.endpoints = {"http://127.0.0.1:1"};
    cfg.control_plane.bootstrap_token_file = dir.file("token");
    testing::writeTestFile(dir.file("token"), "boot-secret\n");
    store = std::move(*FileTaskStore::create(dir.file("state/tasks")));
  }
  std::unique_ptr<Agent> make() {
    return std::make_unique<Agent>(
        cfg, std::map<std::string, std::string>{{"sc.capability.service-connect-v1", "true"}},
        AgentDeps{cp, *store, {&sandbox, &proxy, &apps}, membership, notifier, metrics, clock});
  }
  void TearDown() override { stopLoop(); }
  // Agent::run() on a thread of its own, until stopLoop().
  void startLoop(Agent& agent) {
    agent_ = &agent;
    loop = std::thread([this] { agent_->run(stop); });
  }
  void stopLoop() {
    if (!loop.joinable()) return;
    stop = true;
    agent_->wake();
    loop.join();
  }
  template <class Pred>
  bool waitFor(Pred pred, int tenths = 100) {
    for (int i = 0; i < tenths * 10 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return pred();
  }
  bool reportedRunning() {
    std::lock_guard lock(cp.mu);
    for (const auto& r : cp.reports)
      if (r.last_status == "RUNNING") return true;
    return false;
  }
  const TaskReport* lastReport(const std::string& id) {
    const TaskReport* found = nullptr;
    for (const auto& r : cp.reports)
      if (r.task_arn.ends_with("/" + id)) found = &r;
    return found;
  }
  testing::TempDir dir;
  AgentConfig cfg;
  std::unique_ptr<FileTaskStore> store;
  Journal j;
  FakeStep sandbox{"sandbox", TaskStatus::kProvisioning, j};
  FakeStep proxy{"proxy", TaskStatus::kPending, j};
  FakeStep apps{"apps", TaskStatus::kActivating, j};
  FakeControlPlane cp;
  FakeMembership membership;
  FakeNotifier notifier;
  MetricsRegistry metrics;
  FakeClock clock;
  std::atomic<bool> stop{false};
  std::thread loop;
  Agent* agent_ = nullptr;
};

struct FakePeers final : PeerNetwork {
  std::vector<std::vector<PeerInstance>> calls;
  bool fail = false;
  Result<std::vector<std::string>> setPeers(const std::vector<PeerInstance>& peers) override {
    calls.push_back(peers);
    if (fail) return makeError(ErrorCode::kUnavailable, "list", "routes", "netlink busy");
    return std::vector<std::string>{};
  }
};

TEST_F(AgentTest, OtherInstancesGoToThePeerNetworkOnlyWhenTheyChange) {
  FakePeers peers;
  Agent agent(cfg, {}, AgentDeps{cp, *store, {&sandbox, &proxy, &apps}, membership, notifier, metrics, clock, &peers});
  ASSERT_TRUE(agent.ensureRegistered().ok());
  const PeerInstance self{agent.instanceArn(), "192.168.7.1", "10.1.0.0/24"};
  const PeerInstance b{"arn:aws:ecs:us-east-1:000000000000:container-instance/c/b", "192.168.7.2", "10.2.0.0/24"};
  DesiredState d{"e1", 1, "ACTIVE", {}, std::vector<PeerInstance>{self, b}};
  agent.applyDesired(d);
  ASSERT_EQ(peers.calls.size(), 1u);
  EXPECT_EQ(peers.calls[0], std::vector<PeerInstance>{b});  // never a route to itself
  agent.applyDesired(d);
  EXPECT_EQ(peers.calls.size(), 1u);  // unchanged: nothing to do
  // An answer without peers (an older sccontrol) leaves the routes alone.
  agent.applyDesired({"e2", 2, "ACTIVE", {}});
  EXPECT_EQ(peers.calls.size(), 1u);
  // A failure is retried with the next desired state even when the peers did not change.
  peers.fail = true;
  d.peers = std::vector<PeerInstance>{self};
  agent.applyDesired(d);
  agent.applyDesired(d);
  EXPECT_EQ(peers.calls.size(), 3u);
  peers.fail = false;
  agent.applyDesired(d);
  agent.applyDesired(d);
  ASSERT_EQ(peers.calls.size(), 4u);
  EXPECT_TRUE(peers.calls[3].empty());
  agent.waitIdle();
}

TEST_F(AgentTest, StartsDesiredTasksAndReportsTheirEndpoints) {
  auto agent = make();
  ASSERT_TRUE(agent->ensureRegistered().ok());
  ASSERT_EQ(cp.registered.size(), 1u);
  EXPECT_EQ(cp.registered[0].bootstrap_token, "boot-secret");
  EXPECT_EQ(cp.registered[0].attributes.at("sc.capability.service-connect-v1"), "true");
  agent->applyDesired({"e1", 1, "ACTIVE", {dbTask("t1"), dbTask("t2")}});
  agent->waitIdle();
  agent->tick();  // the proxy's check reports HEALTHY
  ASSERT_TRUE(agent->flushReports().ok());
  for (const char* id : {"t1", "t2"}) {
    const TaskReport* r = lastReport(id);
    ASSERT_NE(r, nullptr) << id;
    EXPECT_EQ(r->last_status, "RUNNING");
    EXPECT_EQ(r->health_status, "HEALTHY");
    ASSERT_EQ(r->endpoints.size(), 1u);
    EXPECT_EQ(r->endpoints[0].discovery_name, "db");
    EXPECT_EQ(r->endpoints[0].ip, "10.88.0.2");
    EXPECT_EQ(r->endpoints[0].port, 8080);  // awsvpc: clients' proxies dial containerPort
  }
  // The records on disk say RUNNING too.
  std::vector<std::string> problems;
  auto saved = store->loadAll(&problems);
  ASSERT_EQ(saved->size(), 2u);
  EXPECT_EQ((*saved)[0].status, TaskStatus::kRunning);
}

TEST_F(AgentTest, StopsThenForgetsOnceReported) {
  auto agent = make();
  ASSERT_TRUE(agent->ensureRegistered().ok());
  agent->applyDesired({"e1", 1, "ACTIVE", {dbTask("t1")}});
  agent->waitIdle();
  agent->applyDesired({"e2", 2, "ACTIVE", {dbTask("t1", "STOPPED")}});
  agent->waitIdle();
  ASSERT_TRUE(agent->flushReports().ok());
  ASSERT_NE(lastReport("t1"), nullptr);
  EXPECT_EQ(lastReport("t1")->last_status, "STOPPED");
  EXPECT_TRUE(lastReport("t1")->endpoints.empty());
  agent->applyDesired({"e3", 3, "ACTIVE", {}});
  agent->waitIdle();
  EXPECT_TRUE(agent->tasks().empty());
  std::vector<std::string> problems;
  EXPECT_TRUE(store->loadAll(&problems)->empty());
}

TEST_F(AgentTest, AnInvalidTaskIsReportedStoppedAndNothingIsCreated) {
  auto agent = make();
  ASSERT_TRUE(agent->ensureRegistered().ok());
  DesiredTaskPayload bad = dbTask("t9");
  bad.task_definition.erase("memory");
  agent->applyDesired({"e1", 1, "ACTIVE", {bad}});
  agent->waitIdle();
  ASSERT_TRUE(agent->flushReports().ok());
  ASSERT_NE(lastReport("t9"), nullptr);
  EXPECT_EQ(lastReport("t9")->last_status, "STOPPED");
  EXPECT_NE(lastReport("t9")->reason.find("[container-limits-without-task-memory]"), std::string::npos)
      << lastReport("t9")->reason;
  EXPECT_TRUE(j.lines.empty());
}

// An alert on increase(scagent_task_failures_total[..]) needs a series before the first failure.
TEST_F(AgentTest, CountersWithKnownLabelsStartAtZero) {
  auto agent = make();
  const std::string fresh = renderPrometheusText(metrics.snapshot());
  for (const char* line : {"scagent_task_failures_total 0\n", "scagent_task_start_seconds_count 0\n",
                           "scagent_task_start_seconds_bucket{le=\"+Inf\"} 0\n", "scagent_poll_seconds_count 0\n",
                           "scagent_reconcile_seconds_count 0\n"}) {
    EXPECT_NE(fresh.find(line), std::string::npos) << line << " not in\n" << fresh;
  }
  ASSERT_TRUE(agent->ensureRegistered().ok());
  DesiredTaskPayload bad = dbTask("t9");
  bad.task_definition.erase("memory");
  agent->applyDesired({"e1", 1, "ACTIVE", {bad}});
  agent->waitIdle();
  EXPECT_NE(renderPrometheusText(metrics.snapshot()).find("scagent_task_failures_total 1\n"), std::string::npos);
  // A second agent on the same registry (the process restarted its loop) keeps the count.
  auto again = make();
  EXPECT_NE(renderPrometheusText(metrics.snapshot()).find("scagent_task_failures_total 1\n"), std::string::npos);
}

TEST_F(AgentTest, NamespaceChangesReachRunningProxiesOnce) {
  auto agent = make();
  ASSERT_TRUE(agent->ensureRegistered().ok());
  agent->applyDesired({"e1", 1, "ACTIVE", {dbTask("t1")}});
  agent->waitIdle();
  DesiredTaskPayload scaled = dbTask("t1");
  scaled.ns = std::make_shared<const Json>(
      Json{{"name", "demo"},
           {"revision", 2},
           {"services",
            {{{"discoveryName", "db"},
              {"dnsName", "db"},
              {"port", 81},
              {"vip", "127.255.0.1"},
              {"ownerService", "db"},
              {"addresses", {{{"ip", "10.88.0.3"}, {"port", 8080}}, {{"ip", "10.88.0.4"}, {"port", 8080}}}}}}}});
  agent->applyDesired({"e2", 2, "ACTIVE", {scaled}});
  agent->tick();
  agent->tick();
  EXPECT_EQ(membership.applied, std::vector<std::string>{"t1 db:81 = 10.88.0.3:8080 10.88.0.4:8080"});
  EXPECT_EQ(agent->tasks()[0].plan.namespace_revision, 2);
}

// The propagation histogram's count and sum, from the registry's page.
std::pair<std::string, std::string> propagation(const MetricsRegistry& m) {
  std::pair<std::string, std::string> out{"none", "none"};
  for (const Family& f : m.snapshot()) {
    if (f.name != "scagent_propagation_seconds") continue;
    for (const Sample& s : f.samples) {
      if (s.name.ends_with("_count")) out.first = s.value;
      if (s.name.ends_with("_sum")) out.second = s.value;
    }
  }
  return out;
}

DesiredTaskPayload withDbMembers(DesiredTaskPayload p, int revision, const std::vector<std::string>& ips) {
  Json addresses = Json::array();
  for (const auto& ip : ips) addresses.push_back({{"ip", ip}, {"port", 8080}});
  p.ns = std::make_shared<const Json>(Json{{"name", "demo"},
                                           {"revision", revision},
                                           {"services",
                                            {{{"discoveryName", "db"},
                                              {"dnsName", "db"},
                                              {"port", 81},
                                              {"vip", "127.255.0.1"},
                                              {"ownerService", "db"},
                                              {"addresses", addresses}}}}});
  return p;
}

TEST_F(AgentTest, PropagationIsTimedUntilEveryAffectedProxyHasTheMembers) {
  auto agent = make();
  ASSERT_TRUE(agent->ensureRegistered().ok());
  agent->applyDesired({"e1", 1, "ACTIVE", {dbTask("t1"), dbTask("t2")}});
  agent->waitIdle();
  agent->tick();
  EXPECT_EQ(propagation(metrics), (std::pair<std::string, std::string>{"none", "none"}));
  // Both tasks, running, with the namespace at `revision` holding db at `ip`.
  auto both = [&](int revision, const std::string& ip) -> DesiredState {
    const std::string etag = "e" + std::to_string(revision);
    return {etag,
            revision,
            "ACTIVE",
            {withDbMembers(dbTask("t1"), revision, {ip}), withDbMembers(dbTask("t2"), revision, {ip})}};
  };

  // Revision 2 adds a member; t2's proxy refuses it at first.
  membership.failing.insert("t2");
  agent->applyDesired(both(2, "10.88.0.3"));
  clock.advance(std::chrono::seconds(1));
  agent->tick();
  EXPECT_EQ(membership.applied, std::vector<std::string>{"t1 db:81 = 10.88.0.3:8080"});
  EXPECT_EQ(propagation(metrics).first, "none") << "t2 has not taken revision 2 yet";
  clock.advance(std::chrono::seconds(2));
  membership.failing.clear();
  agent->tick();
  EXPECT_EQ(propagation(metrics), (std::pair<std::string, std::string>{"1", "3"}));

  // A revision that changes no member of these tasks is no propagation.
  agent->applyDesired(both(3, "10.88.0.3"));
  clock.advance(std::chrono::seconds(5));
  agent->tick();
  EXPECT_EQ(propagation(metrics), (std::pair<std::string, std::string>{"1", "3"}));

  // A task that stops before taking a revision does not hold it up.
  membership.failing.insert("t2");
  agent->applyDesired(both(4, "10.88.0.4"));
  clock.advance(std::chrono::milliseconds(500));
  agent->tick();
  EXPECT_EQ(propagation(metrics).first, "1");
  agent->applyDesired(
      {"e5",
       5,
       "ACTIVE",
       {withDbMembers(dbTask("t1"), 4, {"10.88.0.4"}), withDbMembers(dbTask("t2", "STOPPED"), 4, {"10.88.0.4"})}});
  agent->waitIdle();
  agent->tick();
  EXPECT_EQ(propagation(metrics), (std::pair<std::string, std::string>{"2", "3.5"}));
}

TEST_F(AgentTest, AFailingCheckStopsTheTask) {
  auto agent = make();
  ASSERT_TRUE(agent->ensureRegistered().ok());
  agent->applyDesired({"e1", 1, "ACTIVE", {dbTask("t1")}});
  agent->waitIdle();
  apps.check_reason = "essential container app exited with status 3";
  agent->tick();
  agent->waitIdle();
  ASSERT_EQ(agent->tasks().size(), 1u);
  EXPECT_EQ(agent->tasks()[0].status, TaskStatus::kStopped);
  EXPECT_EQ(agent->tasks()[0].stopped_reason, "essential container app exited with status 3");
}

// A failing check (tick) and a desired STOPPED (applyDesired) both stop the task. The desired
// stop is made to start inside the check and to hang in down() until released, so tick's stop
// always finds it in flight: it must be skipped. (Assigning over the running future used to wait
// for it under the agent's mutex, which the running stop needs: the agent hung for good.)
TEST_F(AgentTest, TwoStopsOfOneTaskRunOnceAndDoNotDeadlock) {
  auto agent = make();
  ASSERT_TRUE(agent->ensureRegistered().ok());
  agent->applyDesired({"e1", 1, "ACTIVE", {dbTask("t1")}});
  agent->waitIdle();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  apps.on_down = [released] { released.wait(); };
  apps.check_reason = "essential container app exited with status 3";
  apps.on_check = [&] {
    apps.on_check = nullptr;
    agent->applyDesired({"e2", 2, "ACTIVE", {dbTask("t1", "STOPPED")}});
  };
  agent->tick();  // hangs here without single-flight stops
  release.set_value();
  agent->waitIdle();
  ASSERT_EQ(agent->tasks().size(), 1u);
  EXPECT_EQ(agent->tasks()[0].status, TaskStatus::kStopped);
  size_t downs = 0;
  for (const std::string& line : j.lines) downs += line.starts_with("down apps") ? 1u : 0u;
  EXPECT_EQ(downs, 1u);
}

TEST_F(AgentTest, ReportsWaitForTheControlPlaneAndTheNewestWins) {
  auto agent = make();
  ASSERT_TRUE(agent->ensureRegistered().ok());
  cp.reports_fail = 100;
  agent->applyDesired({"e1", 1, "ACTIVE", {dbTask("t1")}});
  agent->waitIdle();
  EXPECT_FALSE(agent->flushReports().ok());
  EXPECT_TRUE(cp.reports.empty());
  cp.reports_fail = 0;
  ASSERT_TRUE(agent->flushReports().ok());
  ASSERT_EQ(cp.reports.size(), 1u);  // one report per task: its latest state
  EXPECT_EQ(cp.reports[0].last_status, "RUNNING");
}

TEST_F(AgentTest, ARestartedAgentAdoptsItsTasksAndReusesItsRegistration) {
  {
    auto agent = make();
    ASSERT_TRUE(agent->ensureRegistered().ok());
    agent->applyDesired({"e1", 1, "ACTIVE", {dbTask("t1")}});
    agent->waitIdle();
  }
  j.lines.clear();
  std::mutex log_mu;
  std::vector<std::string> logged;  // the msg of every log line of the restarted agent
  log::setSinkForTest([&](std::string_view l) {
    std::lock_guard lock(log_mu);
    logged.push_back(nlohmann::json::parse(l)["msg"].get<std::string>());
  });
  auto again = make();
  ASSERT_TRUE(again->ensureRegistered().ok());
  EXPECT_EQ(cp.registered.size(), 1u);  // the saved token is used
  ASSERT_TRUE(again->recoverTasks().ok());
  log::setSinkForTest({});
  EXPECT_EQ(j.lines, (std::vector<std::string>{"adopt sandbox", "adopt proxy", "adopt apps"}));
  ASSERT_EQ(again->tasks().size(), 1u);
  EXPECT_EQ(again->tasks()[0].status, TaskStatus::kRunning);
  // An adoption is no state change: `task adopted`, not a second `task RUNNING` (docs/operations.md
  // counts started tasks by `task RUNNING` lines). The report is still due.
  EXPECT_EQ(std::count(logged.begin(), logged.end(), "task adopted"), 1);
  EXPECT_EQ(std::count(logged.begin(), logged.end(), "task RUNNING"), 0);
  cp.reports.clear();
  ASSERT_TRUE(again->flushReports().ok());
  ASSERT_EQ(cp.reports.size(), 1u);
  EXPECT_EQ(cp.reports[0].last_status, "RUNNING");
}

// Each step's shared host state (the sandbox's rules) is checked at the first tick and then every
// kHostCheckInterval, whether or not tasks run.
TEST_F(AgentTest, TickChecksTheHostAtOnceAndThenEveryInterval) {
  auto agent = make();
  agent->tick();
  EXPECT_EQ(sandbox.host_checks.load(), 1);
  EXPECT_EQ(proxy.host_checks.load(), 1);
  agent->tick();
  clock.advance(kHostCheckInterval - std::chrono::seconds(1));
  agent->tick();
  EXPECT_EQ(sandbox.host_checks.load(), 1);
  clock.advance(std::chrono::seconds(1));
  agent->tick();
  EXPECT_EQ(sandbox.host_checks.load(), 2);
}

TEST_F(AgentTest, RunRidesOutAnOutageAndLeavesTasksRunningOnStop) {
  auto agent = make();
  cp.script.push_back({"e1", 1, "ACTIVE", {dbTask("t1")}});
  startLoop(*agent);
  ASSERT_TRUE(waitFor([&] { return reportedRunning(); }));
  {
    std::lock_guard lock(cp.mu);
    cp.polls_fail = 2;  // the control plane goes away for two polls
  }
  ASSERT_TRUE(waitFor([&] {
    std::lock_guard lock(cp.mu);
    return cp.polls_fail == 0;
  }));
  stopLoop();
  EXPECT_EQ(notifier.lines.front().rfind("STATUS recovering", 0), 0u);
  bool ready = false;
  for (const auto& l : notifier.lines) ready = ready || l.starts_with("READY registered as arn:");
  EXPECT_TRUE(ready);
  EXPECT_EQ(notifier.lines.back(), "STOPPING");
  // Stopping the agent left the task alone.
  for (const auto& l : j.lines) EXPECT_FALSE(l.starts_with("down")) << l;
  EXPECT_EQ(agent->tasks()[0].status, TaskStatus::kRunning);
}

TEST_F(AgentTest, ADeregisteredInstanceStopsItsTasksAndDoesNotRegisterAgain) {
  auto agent = make();
  cp.script.push_back({"e1", 1, "ACTIVE", {dbTask("t1")}});
  startLoop(*agent);
  ASSERT_TRUE(waitFor([&] { return reportedRunning(); }));
  ASSERT_TRUE(std::filesystem::exists(cfg.state_dir + "/instance.json"));
  {
    std::lock_guard lock(cp.mu);
    cp.deregistered = true;
  }
  ASSERT_TRUE(waitFor([&] { return agent->tasks()[0].status == TaskStatus::kStopped; }));
  int polls_then = 0;
  {
    std::lock_guard lock(cp.mu);
    polls_then = cp.polls;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stopLoop();
  std::lock_guard lock(cp.mu);
  EXPECT_EQ(cp.registered.size(), 1u) << "a deregistered instance does not register again";
  EXPECT_EQ(cp.polls, polls_then) << "nor keep polling";
  EXPECT_FALSE(std::filesystem::exists(cfg.state_dir + "/instance.json")) << "a restart registers afresh";
  bool said = false;
  for (const auto& l : notifier.lines) said = said || l.find("deregistered from cluster") != std::string::npos;
  EXPECT_TRUE(said);
}

// AgentTest with every log line's msg kept.
class AgentRunTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    log::setSinkForTest([this](std::string_view l) {
      std::lock_guard lock(log_mu);
      logged.push_back(nlohmann::json::parse(l)["msg"].get<std::string>());
    });
  }
  void TearDown() override {
    stopLoop();
    log::setSinkForTest({});
  }
  long count(const std::string& msg) {
    std::lock_guard lock(log_mu);
    return std::count(logged.begin(), logged.end(), msg);
  }
  bool anyDown() {
    for (const auto& l : j.lines)
      if (l.starts_with("down")) return true;
    return false;
  }
  std::mutex log_mu;
  std::vector<std::string> logged;
};

// A replica that has not seen the registration yet answers 401 for a while: the tasks are not
// touched, the saved registration is kept, and nothing registers again.
TEST_F(AgentRunTest, ATokenRefusedForAWhileStopsNothingAndKeepsTheRegistration) {
  auto agent = make();
  cp.script.push_back({"e1", 1, "ACTIVE", {dbTask("t1")}});
  startLoop(*agent);
  ASSERT_TRUE(waitFor([&] { return reportedRunning(); }));
  {
    std::lock_guard lock(cp.mu);
    cp.refuse_token = 2;  // fewer than the refusals that make the agent register again
  }
  ASSERT_TRUE(waitFor([&] { return count("the instance token is accepted again") == 1; }));
  stopLoop();
  EXPECT_EQ(count("the instance token was refused; tasks keep serving"), 1);
  EXPECT_EQ(cp.registered.size(), 1u);
  EXPECT_FALSE(anyDown());
  EXPECT_EQ(agent->tasks()[0].status, TaskStatus::kRunning);
  EXPECT_NE(readFile(cfg.state_dir + "/instance.json").value().find("tok-1"), std::string::npos);
}

// The token stays refused (sccontrol forgot the instance): the agent registers again naming its old
// instance and the tasks it runs; they keep running throughout, and the new token is saved.
TEST_F(AgentRunTest, ATokenRefusedForGoodRegistersAgainAdoptingTheRunningTasks) {
  auto agent = make();
  cp.script.push_back({"e1", 1, "ACTIVE", {dbTask("t1")}});
  startLoop(*agent);
  ASSERT_TRUE(waitFor([&] { return reportedRunning(); }));
  {
    std::lock_guard lock(cp.mu);
    cp.refuse_token = 1000;
  }
  ASSERT_TRUE(waitFor([&] {
    std::lock_guard lock(cp.mu);
    return cp.registered.size() == 2;
  }));
  ASSERT_TRUE(waitFor([&] { return count("registered again") == 1; }));
  stopLoop();
  const RegisterRequest& again = cp.registered[1];
  EXPECT_EQ(again.previous_instance_arn, "arn:aws:ecs:local:000000000000:container-instance/demo/i1");
  ASSERT_EQ(again.adopt_task_arns.size(), 1u);
  EXPECT_NE(again.adopt_task_arns[0].find("t1"), std::string::npos) << again.adopt_task_arns[0];
  EXPECT_EQ(count("the instance token was refused; tasks keep serving"), 1);
  EXPECT_FALSE(anyDown()) << "a refused token stops nothing";
  EXPECT_EQ(agent->tasks()[0].status, TaskStatus::kRunning);
  EXPECT_EQ(agent->instanceArn(), "arn:aws:ecs:local:000000000000:container-instance/demo/i2");
  EXPECT_NE(readFile(cfg.state_dir + "/instance.json").value().find("tok-2"), std::string::npos);
}

}  // namespace
}  // namespace sc::agent
