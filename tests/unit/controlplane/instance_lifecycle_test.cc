// Container instance lifecycle: DeregisterContainerInstance (with and without force), DeleteCluster
// once instances are gone, removal of deregistered and long-lost instances, bootstrap tokens
// (several at once, expiry, single use, revocation) and the bounds on what a registration claims.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "controlplane/sigv4.h"
#include "tests/unit/controlplane/control_plane_fixture.h"

namespace sc::controlplane {
namespace {

using std::chrono::seconds;

class InstanceLifecycleTest : public ControlPlaneTest {
 protected:
  Json describeInstance(const std::string& arn) {
    return ecs("DescribeContainerInstances", {{"cluster", "c"}, {"containerInstances", {arn}}});
  }
  Json listInstances(const std::string& status = "") {
    Json in = {{"cluster", "c"}};
    if (!status.empty()) in["status"] = status;
    return ecs("ListContainerInstances", in)["containerInstanceArns"];
  }
  int statusOf(const std::string& host) {
    auto r = cp_->agentHeartbeat(tokens_[host], Json::object());
    return r ? 200 : r.error().status;
  }
  ApiResult registerWith(const std::string& bootstrap, const Json& extra = Json::object()) {
    Json body = {{"bootstrapToken", bootstrap}, {"cluster", "c"}, {"hostname", "h"}, {"memoryMiB", 1024}};
    body.update(extra);
    return cp_->agentRegister(body);
  }
};

TEST_F(InstanceLifecycleTest, DeregisterIsRefusedWhileTasksRunUnlessForced) {
  std::string a = registerInstance("a");
  setup(1);
  settle("a");
  const int64_t rev = cp_->revision();
  ApiError e = ecsError("DeregisterContainerInstance", {{"cluster", "c"}, {"containerInstance", a}});
  EXPECT_EQ(e.type, "InvalidParameterException");
  EXPECT_NE(e.message.find("Found running tasks on the instance (1)"), std::string::npos) << e.message;
  EXPECT_EQ(cp_->revision(), rev) << "a refused deregistration changes nothing";
  EXPECT_EQ(statusOf("a"), 200);
  EXPECT_EQ(tasksOn(a), 1);

  std::string b = registerInstance("b");
  Json out = ecs("DeregisterContainerInstance", {{"cluster", "c"}, {"containerInstance", a}, {"force", true}});
  EXPECT_EQ(out["containerInstance"]["status"], "INACTIVE");
  EXPECT_FALSE(out["containerInstance"].contains("_tokenHash")) << "internal members are not answered";
  auto stopped = tasks("STOPPED");
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0]["stoppedReason"], "Container instance " + a.substr(a.rfind('/') + 1) + " deregistered");
  EXPECT_EQ(tasksOn(b), 1) << "the service replaced its task on the other instance";

  // The token is revoked: every agent call answers 410, which tells the agent not to register again.
  EXPECT_EQ(statusOf("a"), 410);
  auto d = cp_->agentDesired(tokens_["a"], "");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().status, 410);
  EXPECT_EQ(cp_->agentStatus(tokens_["a"], Json{{"tasks", Json::array()}}).error().status, 410);
  // No longer listed (ECS's status filter has no INACTIVE), still described; deregistering again
  // is a no-op.
  EXPECT_EQ(listInstances(), Json::array({b}));
  EXPECT_EQ(listInstances("DRAINING"), Json::array());
  EXPECT_EQ(describeInstance(a)["containerInstances"][0]["status"], "INACTIVE");
  EXPECT_EQ(
      ecs("DeregisterContainerInstance", {{"cluster", "c"}, {"containerInstance", a}})["containerInstance"]["status"],
      "INACTIVE");
  // Nothing is placed on it and it cannot be set ACTIVE again.
  Json upd =
      ecs("UpdateContainerInstancesState", {{"cluster", "c"}, {"containerInstances", {a}}, {"status", "ACTIVE"}});
  EXPECT_EQ(upd["failures"][0]["reason"], "INACTIVE");
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"desiredCount", 3}});
  EXPECT_EQ(tasksOn(a), 0);
  EXPECT_EQ(tasksOn(b), 3);
}

TEST_F(InstanceLifecycleTest, UnknownInstanceIsAnErrorAndChangesNothing) {
  registerInstance("a");
  const int64_t rev = cp_->revision();
  ApiError e = ecsError("DeregisterContainerInstance", {{"cluster", "c"}, {"containerInstance", "nope"}});
  EXPECT_EQ(e.type, "InvalidParameterException");
  EXPECT_EQ(ecsError("DeregisterContainerInstance", {{"cluster", "zz"}, {"containerInstance", "nope"}}).type,
            "ClusterNotFoundException");
  EXPECT_EQ(cp_->revision(), rev);
}

TEST_F(InstanceLifecycleTest, DeleteClusterWorksOnceItsInstancesAreDeregistered) {
  std::string a = registerInstance("a");
  EXPECT_EQ(ecsError("DeleteCluster", {{"cluster", "c"}}).type, "ClusterContainsContainerInstancesException");
  ecs("DeregisterContainerInstance", {{"cluster", "c"}, {"containerInstance", a}});
  EXPECT_EQ(ecs("DeleteCluster", {{"cluster", "c"}})["cluster"]["status"], "INACTIVE");
  EXPECT_TRUE(ecs("ListClusters", Json::object())["clusterArns"].empty());
  cp_->tick();
  EXPECT_EQ(statusOf("a"), 401) << "the instance left with its cluster";
  // The name can be used again, empty.
  ecs("CreateCluster", {{"clusterName", "c"}});
  EXPECT_TRUE(listInstances().empty());
  EXPECT_EQ(describeInstance(a)["failures"][0]["reason"], "MISSING");
}

TEST_F(InstanceLifecycleTest, DeregisteredInstancesAreRemovedAfterTheStoppedTaskRetention) {
  std::string a = registerInstance("a");
  ecs("DeregisterContainerInstance", {{"cluster", "c"}, {"containerInstance", a}});
  clock_.advance(seconds(3500));
  cp_->tick();
  EXPECT_EQ(describeInstance(a)["containerInstances"].size(), 1u);
  clock_.advance(seconds(200));
  cp_->tick();
  EXPECT_EQ(describeInstance(a)["failures"][0]["reason"], "MISSING");
  EXPECT_EQ(statusOf("a"), 401);
}

TEST_F(InstanceLifecycleTest, LostInstancesAreRemovedAfterTheRetentionUnlessTheyComeBack) {
  ControlPlaneOptions o = defaultOptions();
  o.lost_instance_retention = seconds(600);
  restart(o);
  std::string a = registerInstance("a");
  std::string b = registerInstance("b");
  std::string k = registerInstance("k");  // heard before every sweep: sccontrol is not the one cut off
  auto keep = [&] { EXPECT_EQ(statusOf("k"), 200); };
  clock_.advance(seconds(31));
  keep();
  EXPECT_EQ(cp_->tick().size(), 2u);  // a and b lost
  clock_.advance(seconds(300));
  EXPECT_EQ(statusOf("b"), 200) << "b comes back within the retention";
  clock_.advance(seconds(301));
  EXPECT_EQ(statusOf("b"), 200);
  keep();
  cp_->tick();
  EXPECT_EQ(describeInstance(a)["failures"][0]["reason"], "MISSING");
  EXPECT_EQ(statusOf("a"), 401) << "a's token went with its registration; its agent registers again";
  EXPECT_EQ(describeInstance(b)["containerInstances"][0]["agentConnected"], true);
  Json listed = listInstances();
  std::sort(listed.begin(), listed.end());
  Json want = Json::array({b, k});
  std::sort(want.begin(), want.end());
  EXPECT_EQ(listed, want);
  // A restart keeps the time of the loss: b is lost again, then removed after the retention.
  clock_.advance(seconds(31));
  keep();
  cp_->tick();
  clock_.advance(seconds(400));
  restart(o);
  clock_.advance(seconds(201));
  cp_->tick();
  EXPECT_EQ(listInstances(), Json::array({k})) << "k, silent since the restart, is lost but kept";
}

TEST_F(InstanceLifecycleTest, WhenEveryInstanceFallsSilentAtOnceNoneIsLostAndEachGetsAFullTtlOnceOneIsHeard) {
  std::string a = registerInstance("a");
  std::string b = registerInstance("b");
  clock_.advance(seconds(16));  // half the TTL: sccontrol assumes it is the one cut off
  EXPECT_TRUE(cp_->tick().empty());
  clock_.advance(seconds(60));  // long past the TTL, still nobody heard
  EXPECT_TRUE(cp_->tick().empty());
  EXPECT_EQ(statusOf("a"), 200);  // the partition heals: a is heard first
  clock_.advance(seconds(25));    // b comes back within a full TTL of that
  EXPECT_EQ(statusOf("b"), 200);
  EXPECT_TRUE(cp_->tick().empty());
  // From now on silence counts as before: b goes quiet while a is heard, and b alone is lost.
  clock_.advance(seconds(20));
  EXPECT_EQ(statusOf("a"), 200);
  clock_.advance(seconds(12));
  EXPECT_EQ(statusOf("a"), 200);
  auto lost = cp_->tick();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].container_instance_arn, b);
  // A single instance cannot tell its host's death from sccontrol's isolation: lost after the TTL.
  clock_.advance(seconds(31));
  EXPECT_EQ(cp_->tick().size(), 1u);
}

TEST_F(InstanceLifecycleTest, SeveralBootstrapTokensExpireAndSingleUseOnesWorkOnce) {
  ControlPlaneOptions o = defaultOptions();
  const int64_t now = std::chrono::duration_cast<seconds>(clock_.wallNow().time_since_epoch()).count();
  o.bootstrap_tokens = {{"bt-many", sha256Hex("many-uses-token")},
                        {"bt-once", sha256Hex("single-use-token"), std::nullopt, true},
                        {"bt-soon", sha256Hex("expiring-token"), now + 60}};
  restart(o);
  ecs("CreateCluster", {{"clusterName", "c"}});
  EXPECT_TRUE(registerWith("boot").has_value()) << "the default token still works";
  EXPECT_TRUE(registerWith("many-uses-token").has_value());
  EXPECT_TRUE(registerWith("many-uses-token").has_value());
  EXPECT_TRUE(registerWith("single-use-token").has_value());
  auto again = registerWith("single-use-token");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().status, 401);
  EXPECT_NE(again.error().message.find("bt-once was used already"), std::string::npos) << again.error().message;
  EXPECT_TRUE(registerWith("expiring-token").has_value());
  EXPECT_EQ(registerWith("wrong-token").error().message, "the bootstrap token is wrong");
  EXPECT_EQ(registerWith("").error().status, 401);
  EXPECT_EQ(listInstances().size(), 5u);

  clock_.advance(seconds(61));
  EXPECT_NE(registerWith("expiring-token").error().message.find("has expired"), std::string::npos);
  // The single use is in the store: a restarted control plane refuses it too.
  restart(o);
  EXPECT_EQ(registerWith("single-use-token").error().status, 401);
  ASSERT_TRUE(store_.get("bootstrap/bt-once").ok());
  EXPECT_TRUE(store_.get("bootstrap/bt-once")->has_value());

  // Revocation (SIGHUP with a new list): the dropped token is refused, the instances it registered
  // keep working, and its single-use record goes on the next tick.
  const std::string kept = (*registerWith("many-uses-token"))["token"].get<std::string>();
  cp_->setBootstrapTokens({{"bt-many", sha256Hex("many-uses-token")}});
  EXPECT_TRUE(registerWith("many-uses-token").has_value());
  EXPECT_EQ(registerWith("boot").error().status, 401);
  EXPECT_TRUE(cp_->agentHeartbeat(kept, Json::object()).has_value());
  cp_->tick();
  EXPECT_FALSE(store_.get("bootstrap/bt-once")->has_value());
  cp_->setBootstrapTokens({});
  EXPECT_EQ(registerWith("many-uses-token").error().status, 401);
}

// The attack on a single-use token: present it many times at once, and to two control planes over
// one store (replicas). Exactly one registration gets through.
TEST_F(InstanceLifecycleTest, ASingleUseTokenPresentedConcurrentlyOrToTwoReplicasRegistersOnce) {
  ControlPlaneOptions o = defaultOptions();
  o.bootstrap_tokens = {{"bt-once", sha256Hex("single-use-token"), std::nullopt, true},
                        {"bt-twice", sha256Hex("second-single-use"), std::nullopt, true}};
  restart(o);
  ecs("CreateCluster", {{"clusterName", "c"}});
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (registerWith("single-use-token").has_value()) ++accepted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 1);

  // A second control plane over the same store, loaded before the first one uses the token.
  auto replica = ControlPlane::create(store_, clock_, o);
  ASSERT_TRUE(replica.ok());
  ASSERT_TRUE(registerWith("second-single-use").has_value());
  auto second = (*replica)->agentRegister(
      {{"bootstrapToken", "second-single-use"}, {"cluster", "c"}, {"hostname", "h2"}, {"memoryMiB", 1024}});
  EXPECT_FALSE(second.has_value()) << "the store's compare-and-set refuses the second use";
  EXPECT_EQ(listInstances().size(), 2u);
}

TEST_F(InstanceLifecycleTest, RegistrationClaimsAreBoundedAndRefusedWhole) {
  ecs("CreateCluster", {{"clusterName", "c"}});
  Json many = Json::object();
  for (int i = 0; i < 65; ++i) many["attr" + std::to_string(i)] = "v";
  const std::vector<std::pair<Json, std::string>> cases = {
      {{{"memoryMiB", int64_t{1} << 40}}, "memoryMiB: expected an integer 1-"},
      {{{"memoryMiB", "1024"}}, "memoryMiB: expected an integer"},
      {{{"cpuUnits", -1}}, "cpuUnits: expected an integer 1-"},
      {{{"hostname", std::string(300, 'h')}}, "hostname: expected a string of up to 255"},
      {{{"agentVersion", Json::object()}}, "agentVersion: expected a string"},
      {{{"attributes", many}}, "attributes: expected an object of up to 64"},
      {{{"attributes", {{"k", std::string(129, 'v')}}}}, "attributes: names of 1-128"},
      {{{"attributes", {{"k", 1}}}}, "attributes: names of 1-128"},
      {{{"capabilities", {1}}}, "capabilities: expected strings"},
      {{{"capabilities", "all"}}, "capabilities: expected an array"},
  };
  for (const auto& [extra, what] : cases) {
    auto r = registerWith("boot", extra);
    ASSERT_FALSE(r.has_value()) << extra.dump();
    EXPECT_EQ(r.error().status, 400);
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(listInstances().empty()) << "nothing was registered";
  // A heartbeat is held to the same attribute bounds and changes nothing when refused.
  std::string a = registerInstance("a");
  auto hb = cp_->agentHeartbeat(tokens_["a"], Json{{"attributes", many}});
  ASSERT_FALSE(hb.has_value());
  EXPECT_EQ(hb.error().status, 400);
  EXPECT_EQ(describeInstance(a)["containerInstances"][0]["attributes"].size(), 2u);
}

// Registering again with previousInstanceArn/adoptTasks (an agent whose token was refused): the
// old instance's tasks that are still live move to the new instance, and keep running.
class AdoptionTest : public InstanceLifecycleTest {
 protected:
  ApiResult registerAgain(const std::string& previous, const Json& adopt) {
    return registerWith("boot", {{"previousInstanceArn", previous},
                                 {"adoptTasks", adopt},
                                 {"capabilities", {kServiceConnectCapability}},
                                 {"memoryMiB", 2048}});
  }
  std::vector<std::string> taskArnsOn(const std::string& arn) {
    std::vector<std::string> out;
    for (const Json& t : tasks())
      if (t["containerInstanceArn"] == arn) out.push_back(t["taskArn"].get<std::string>());
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(AdoptionTest, AForgottenInstancesLiveTasksMoveToTheInstanceThatRegistersAgain) {
  const std::string a = registerInstance("a");
  setup(2);
  settle("a");
  const std::vector<std::string> on_a = taskArnsOn(a);
  ASSERT_EQ(on_a.size(), 2u);
  // sccontrol forgets instance a (its document is gone, as in a store restored from a backup
  // taken before a registered) and restarts; a's agent still runs both tasks.
  ASSERT_TRUE(store_.txn({}, {TxnOp::del("instance/c/" + a.substr(a.rfind('/') + 1))}).ok());
  restart(defaultOptions());
  EXPECT_EQ(statusOf("a"), 401);
  clock_.advance(seconds(5));  // the agent's refused polls; sccontrol ticks meanwhile
  cp_->tick();
  EXPECT_EQ(tasks("STOPPED").size(), 0u) << "a task of an unknown instance is left alone for one TTL";

  Json adopt = Json::array({on_a[0], on_a[1], "arn:aws:ecs:us-east-1:000000000000:task/c/nosuchtask"});
  auto again = registerAgain(a, adopt);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  const std::string a2 = (*again)["containerInstanceArn"].get<std::string>();
  EXPECT_NE(a2, a);
  Json adopted = (*again)["adoptedTasks"];
  std::vector<std::string> got = adopted.get<std::vector<std::string>>();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, on_a);
  EXPECT_EQ(taskArnsOn(a2), on_a) << "the same tasks, now on the new instance";
  EXPECT_EQ(tasks("STOPPED").size(), 0u) << "nothing was stopped or replaced";
  tokens_["a2"] = (*again)["token"].get<std::string>();
  Json d = desired("a2");
  ASSERT_EQ(d["tasks"].size(), 2u);
  EXPECT_EQ(d["tasks"][0]["desiredStatus"], "RUNNING");
  EXPECT_EQ(service()["runningCount"], 2);
}

TEST_F(AdoptionTest, ALiveInstancesTasksAreNotTakenOverAndBadClaimsAreRefused) {
  const std::string a = registerInstance("a");
  setup(1);
  settle("a");
  const std::vector<std::string> on_a = taskArnsOn(a);
  ASSERT_EQ(on_a.size(), 1u);
  auto grab = registerAgain(a, Json::array({on_a[0]}));
  ASSERT_TRUE(grab.has_value()) << grab.error().message;
  EXPECT_EQ((*grab)["adoptedTasks"], Json::array()) << "a is still registered: its task stays";
  EXPECT_EQ(taskArnsOn(a), on_a);

  const int64_t rev = cp_->revision();
  for (const Json& bad :
       {Json{{"previousInstanceArn", 7}}, Json{{"previousInstanceArn", ""}},
        Json{{"adoptTasks", Json::array({on_a[0]})}}, Json{{"previousInstanceArn", a}, {"adoptTasks", "all"}},
        Json{{"previousInstanceArn", a}, {"adoptTasks", Json::array({1})}},
        Json{{"previousInstanceArn", a}, {"adoptTasks", Json(std::vector<std::string>(10001, "t"))}}}) {
    auto r = registerWith("boot", bad);
    ASSERT_FALSE(r.has_value()) << bad.dump().substr(0, 200);
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().type, "InvalidParameterException");
  }
  EXPECT_EQ(cp_->revision(), rev) << "a refused registration changes nothing";
}

TEST_F(AdoptionTest, AnUnknownInstancesTasksAreReplacedOneTtlLaterWhenNoAgentAdoptsThem) {
  const std::string a = registerInstance("a");
  const std::string b = registerInstance("b");
  setup(2);
  settle("a");
  settle("b");
  const size_t on_a = taskArnsOn(a).size();
  ASSERT_GT(on_a, 0u);
  ASSERT_TRUE(store_.txn({}, {TxnOp::del("instance/c/" + a.substr(a.rfind('/') + 1))}).ok());
  restart(defaultOptions());
  cp_->tick();
  EXPECT_EQ(tasks().size(), 2u) << "within the grace nothing is placed in their stead";
  EXPECT_EQ(tasks("STOPPED").size(), 0u);
  clock_.advance(defaultOptions().instance_ttl + seconds(1));
  (void)cp_->agentHeartbeat(tokens_["b"], Json::object());  // b stays connected
  cp_->tick();  // replacements are placed on b, and stop a's tasks once they run
  settle("b");
  cp_->tick();
  EXPECT_EQ(tasks("STOPPED").size(), on_a) << "replaced once the grace is over";
  EXPECT_EQ(taskArnsOn(b).size(), 2u);
}

}  // namespace
}  // namespace sc::controlplane
