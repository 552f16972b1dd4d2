#include "agent/lifecycle.h"

#include <gtest/gtest.h>

#include <map>

#include "common/failpoint.h"
#include "model/parse.h"
#include "tests/support/agent/fakes.h"
#include "tests/support/golden.h"
#include "tests/support/temp_dir.h"

namespace sc::agent {
namespace {

class LifecycleTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(failpoint::set("").ok()); }
  TaskRecord task() {
    TaskRecord t;
    t.task_id = "t-1";
    auto plan = model::parseTaskPlan(testing::readSource("tests/golden/model/seed-example-awsvpc.json"));
    EXPECT_TRUE(plan.ok());
    t.plan = *plan;
    return t;
  }
  Journal j;
  FakeStep sandbox{"sandbox", TaskStatus::kProvisioning, j};
  FakeStep proxy{"proxy", TaskStatus::kPending, j};
  FakeStep apps{"apps", TaskStatus::kActivating, j};
  MemoryStore store;
  StatusLog sink;
  FakeClock clock;
  Lifecycle life{{&sandbox, &proxy, &apps}, store, sink, clock};
};

TEST_F(LifecycleTest, StartBringsStepsUpInOrderWithEcsStates) {
  TaskRecord t = task();
  ASSERT_TRUE(life.start(t).ok());
  EXPECT_EQ(j.lines,
            (std::vector<std::string>{"up sandbox @PROVISIONING", "up proxy @PENDING", "up apps @ACTIVATING"}));
  EXPECT_EQ(sink.statuses, (std::vector<std::string>{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"}));
  EXPECT_EQ(t.status, TaskStatus::kRunning);
  EXPECT_EQ(t.steps_up, (std::vector<std::string>{"sandbox", "proxy", "apps"}));
  // What is on disk is what the agent knows.
  EXPECT_EQ(store.saved.at("t-1"), taskRecordToJson(t));
}

TEST_F(LifecycleTest, AFailedStepRollsBackEverythingThatBegan) {
  proxy.fail_up = true;
  TaskRecord t = task();
  auto r = life.start(t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "failed to start step proxy of task 't-1': failed to bring up 'proxy': broken on purpose");
  EXPECT_EQ(j.lines, (std::vector<std::string>{"up sandbox @PROVISIONING", "up proxy @PENDING", "down proxy @PENDING",
                                               "down sandbox @PENDING"}));
  EXPECT_EQ(t.status, TaskStatus::kStopped);
  EXPECT_TRUE(t.steps_up.empty());
  EXPECT_TRUE(t.facts.empty());
  EXPECT_EQ(t.stopped_reason, r.error().message);
  EXPECT_EQ(sink.statuses.back(), "STOPPED");
}

TEST_F(LifecycleTest, AFailpointAtEveryStepRollsBack) {
  for (const char* step : {"sandbox", "proxy", "apps"}) {
    SCOPED_TRACE(step);
    j.lines.clear();
    ASSERT_TRUE(failpoint::set(std::string("agent.step_up.") + step + "=error").ok());
    TaskRecord t = task();
    EXPECT_FALSE(life.start(t).ok());
    EXPECT_EQ(t.status, TaskStatus::kStopped);
    EXPECT_TRUE(t.steps_up.empty());
    EXPECT_TRUE(t.facts.empty());
    EXPECT_NE(t.stopped_reason.find("injected error"), std::string::npos);
  }
}

TEST_F(LifecycleTest, StopDrainsThenTakesStepsDownInReverse) {
  TaskRecord t = task();
  ASSERT_TRUE(life.start(t).ok());
  j.lines.clear();
  sink.statuses.clear();
  ASSERT_TRUE(life.stop(t, "scaled in").ok());
  EXPECT_EQ(j.lines, (std::vector<std::string>{"drain sandbox @DEACTIVATING", "drain proxy @DEACTIVATING",
                                               "drain apps @DEACTIVATING", "down apps @STOPPING",
                                               "down proxy @STOPPING", "down sandbox @DEPROVISIONING"}));
  EXPECT_EQ(sink.statuses, (std::vector<std::string>{"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}));
  EXPECT_EQ(t.stopped_reason, "scaled in");
  EXPECT_FALSE(t.desired_running);
}

TEST_F(LifecycleTest, StopGoesOnPastAFailureAndKeepsTheStuckStep) {
  TaskRecord t = task();
  ASSERT_TRUE(life.start(t).ok());
  proxy.fail_down = true;
  auto r = life.stop(t, "bye");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "failed to stop task 't-1': failed to take down 'proxy': stuck");
  EXPECT_EQ(t.steps_up, std::vector<std::string>{"proxy"});  // a later recover() retries it
  EXPECT_EQ(t.status, TaskStatus::kStopped);
  proxy.fail_down = false;
  j.lines.clear();
  ASSERT_TRUE(life.recover(t).ok());
  EXPECT_EQ(j.lines, std::vector<std::string>{"down proxy @STOPPED"});
  EXPECT_TRUE(t.steps_up.empty());
}

TEST_F(LifecycleTest, RecoverAdoptsARunningTaskWithoutTouchingIt) {
  TaskRecord t = task();
  ASSERT_TRUE(life.start(t).ok());
  j.lines.clear();
  TaskRecord reloaded = *taskRecordFromJson(store.saved.at("t-1"));
  ASSERT_TRUE(life.recover(reloaded).ok());
  EXPECT_EQ(j.lines, (std::vector<std::string>{"adopt sandbox", "adopt proxy", "adopt apps"}));
  EXPECT_EQ(reloaded.status, TaskStatus::kRunning);
}

TEST_F(LifecycleTest, RecoverStopsATaskWhosePartIsGone) {
  TaskRecord t = task();
  ASSERT_TRUE(life.start(t).ok());
  j.lines.clear();
  proxy.adoptable = false;
  auto r = life.recover(t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(t.status, TaskStatus::kStopped);
  EXPECT_NE(t.stopped_reason.find("could not adopt after an agent restart: proxy is gone"), std::string::npos);
  EXPECT_TRUE(t.steps_up.empty());
}

TEST_F(LifecycleTest, RecoverRollsBackATaskCaughtMidStart) {
  // The crash window between "proxy began" and "proxy up": the record says PENDING.
  TaskRecord t = task();
  t.status = TaskStatus::kPending;
  t.steps_up = {"sandbox", "proxy"};
  t.facts = {{"sandbox", "made"}};
  ASSERT_TRUE(life.recover(t).ok());
  EXPECT_EQ(j.lines, (std::vector<std::string>{"down proxy @PENDING", "down sandbox @PENDING"}));
  EXPECT_EQ(t.status, TaskStatus::kStopped);
  EXPECT_EQ(t.stopped_reason, "the agent restarted while the task was PENDING");
}

TEST_F(LifecycleTest, RecoverFinishesAStop) {
  TaskRecord t = task();
  ASSERT_TRUE(life.start(t).ok());
  t.status = TaskStatus::kStopping;  // the agent died after draining
  t.desired_running = false;
  j.lines.clear();
  ASSERT_TRUE(life.recover(t).ok());
  EXPECT_EQ(j.lines,
            (std::vector<std::string>{"down apps @STOPPING", "down proxy @STOPPING", "down sandbox @DEPROVISIONING"}));
  EXPECT_EQ(t.status, TaskStatus::kStopped);
}

TEST(TaskRecordTest, FileStoreRoundTripAndBadFiles) {
  testing::TempDir d;
  auto store = FileTaskStore::create(d.file("tasks"));
  ASSERT_TRUE(store.ok()) << store.error().message;
  TaskRecord t;
  t.task_id = "abc-1";
  t.plan = *model::parseTaskPlan(testing::readSource("tests/golden/model/seed-example-awsvpc.json"));
  t.proxy = ProcessRecord{1234, 99, "/scagent/abc-1/proxy"};
  t.containers.push_back({"app", true, ProcessRecord{1240, 100, "/scagent/abc-1/app"}, 0});
  ASSERT_TRUE((*store)->save(t).ok());
  testing::writeTestFile(d.file("tasks/broken.json"), "{");
  std::vector<std::string> problems;
  auto all = (*store)->loadAll(&problems);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(taskRecordToJson((*all)[0]), taskRecordToJson(t));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("broken.json"), std::string::npos);
  ASSERT_TRUE((*store)->remove("abc-1").ok());
  ASSERT_TRUE((*store)->remove("abc-1").ok());  // idempotent
  TaskRecord bad = t;
  bad.task_id = "../etc";
  EXPECT_FALSE((*store)->save(bad).ok());
}

TEST(TaskRecordTest, StatusTable) {
  TaskRecord t;
  t.task_id = "abc-1";
  t.plan = *model::parseTaskPlan(testing::readSource("tests/golden/model/seed-example-awsvpc.json"));
  t.status = TaskStatus::kRunning;
  t.health = "HEALTHY";
  t.facts["task_ip"] = "10.88.0.2";
  const std::string table = renderStatusTable({t});
  EXPECT_EQ(table,
            "TASK   SERVICE       STATE    HEALTH   ADDRESS    ALIASES                                 REASON\n"
            "abc-1  internal/app  RUNNING  HEALTHY  10.88.0.2  http:80,http-second:80,db:81,db.app:81  -\n");
  EXPECT_EQ(renderStatusTable({}), "TASK  SERVICE  STATE  HEALTH  ADDRESS  ALIASES  REASON\n(no tasks)\n");
}

TEST(TaskRecordTest, TaskIds) {
  EXPECT_TRUE(isValidTaskId("3f2a9c-01"));
  EXPECT_FALSE(isValidTaskId(""));
  EXPECT_FALSE(isValidTaskId("-x"));
  EXPECT_FALSE(isValidTaskId("A"));
  EXPECT_FALSE(isValidTaskId(std::string(65, 'a')));
  EXPECT_EQ(parseTaskStatus("DEACTIVATING"), TaskStatus::kDeactivating);
  EXPECT_FALSE(parseTaskStatus("RUNNIN"));
}

}  // namespace
}  // namespace sc::agent
