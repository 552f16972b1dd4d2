#include "agent/reconcile.h"

#include <gtest/gtest.h>

#include "model/plan.h"
#include "tests/support/golden.h"

namespace sc::agent {
namespace {

TaskRecord record(const std::string& id, TaskStatus status) {
  TaskRecord r;
  r.task_id = id;
  r.status = status;
  return r;
}

TEST(ReconcileTest, StartsMissingStopsUnwantedForgetsReported) {
  std::vector<DesiredTask> desired = {{"a", true, ""}, {"b", true, ""}, {"c", false, "scaled in"}};
  std::vector<TaskRecord> current = {record("b", TaskStatus::kRunning), record("c", TaskStatus::kRunning),
                                     record("d", TaskStatus::kRunning), record("e", TaskStatus::kStopped),
                                     record("f", TaskStatus::kStopped)};
  ReconcileActions a = reconcile(desired, current, {"e"});
  EXPECT_EQ(a.start, std::vector<std::string>{"a"});
  ASSERT_EQ(a.stop.size(), 2u);
  EXPECT_EQ(a.stop[0], std::make_pair(std::string("c"), std::string("scaled in")));
  EXPECT_EQ(a.stop[1].first, "d");
  EXPECT_EQ(a.stop[1].second, "the control plane no longer wants this task");
  EXPECT_EQ(a.forget, std::vector<std::string>{"e"});  // f is not reported yet
}

TEST(ReconcileTest, NothingToDoWhenInStep) {
  ReconcileActions a = reconcile({{"a", true, ""}}, {record("a", TaskStatus::kActivating)}, {});
  EXPECT_TRUE(a.start.empty());
  EXPECT_TRUE(a.stop.empty());
  EXPECT_TRUE(a.forget.empty());
}

TEST(ReconcileTest, AStoppedTaskWithAStuckStepIsNotForgotten) {
  TaskRecord r = record("a", TaskStatus::kStopped);
  r.steps_up = {"proxy"};
  EXPECT_TRUE(reconcile({}, {r}, {"a"}).forget.empty());
}

class MembershipTest : public ::testing::Test {
 protected:
  model::TaskPlan plan = *model::parseTaskPlan(testing::readSource("tests/golden/model/seed-example-awsvpc.json"));
  model::NamespaceSnapshot snap() {
    model::NamespaceSnapshot s;
    s.name = "internal";
    for (const auto& e : plan.egress) {
      model::NamespaceService ns;
      ns.discovery_name = e.discovery_name;
      ns.dns_name = e.dns_name;
      ns.port = e.port;
      ns.vip = e.vip;
      s.services.push_back(ns);
    }
    return s;
  }
};

TEST_F(MembershipTest, ScaleOutReachesKnownAliasesAtOnce) {
  model::NamespaceSnapshot s = snap();
  for (auto& ns : s.services) {
    if (ns.discovery_name == "http-three") {
      ns.addresses = {{"10.88.0.3", 80, "t3", true}, {"10.88.0.2", 80, "t2", true}, {"10.88.0.9", 80, "t9", false}};
    }
  }
  auto changes = membershipChanges(plan, s);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].dns_name, "db");
  EXPECT_EQ(changes[0].port, 81);
  ASSERT_EQ(changes[0].addresses.size(), 2u);  // the unhealthy one is left out, the rest sorted
  EXPECT_EQ(changes[0].addresses[0].ip, "10.88.0.2");
  applyMembership(plan, changes);
  EXPECT_TRUE(membershipChanges(plan, s).empty());  // idempotent once applied
}

TEST_F(MembershipTest, NewEndpointsAreNotAddedToARunningTask) {
  model::NamespaceSnapshot s = snap();
  model::NamespaceService fresh;
  fresh.discovery_name = "orders";
  fresh.dns_name = "orders";
  fresh.port = 9000;
  fresh.addresses = {{"10.88.0.7", 9000, "t7", true}};
  s.services.push_back(fresh);
  EXPECT_TRUE(membershipChanges(plan, s).empty());
}

TEST_F(MembershipTest, AnEndpointThatLeftLosesItsMembersButKeepsItsName) {
  model::NamespaceSnapshot s = snap();
  for (auto& ns : s.services)
    if (ns.discovery_name == "http-three") ns.addresses = {{"10.88.0.3", 80, "t3", true}};
  applyMembership(plan, membershipChanges(plan, s));
  s.services.erase(std::remove_if(s.services.begin(), s.services.end(),
                                  [](const auto& ns) { return ns.discovery_name == "http-three"; }),
                   s.services.end());
  auto changes = membershipChanges(plan, s);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].dns_name, "db");
  EXPECT_TRUE(changes[0].addresses.empty());
}

}  // namespace
}  // namespace sc::agent
