// The life of one task: steps brought up in order, taken down in reverse, with ECS's states
// reported on the way, rollback on any failure, and recovery after an agent restart.
//
// Crash windows (each persisted before the next action, so a restarted agent knows where it was):
//   1. status <X> saved, then step.up() begins: the step's name is in steps_up before up() runs,
//      so a crash inside up() is cleaned by that step's down() (which tolerates half-made state);
//   2. all steps up, RUNNING saved;
//   3. stop: DEACTIVATING saved, prepareStop() (drain), STOPPING/DEPROVISIONING saved before the
//      steps they name go down; a name leaves steps_up only after its down() succeeded;
//   4. STOPPED saved; the record is removed by the caller once reported.
// recover() continues from the saved status: a task caught mid-start is rolled back (the
// reconciler starts a fresh one), a running one is adopted step by step, a stopping one finishes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/task_record.h"
#include "common/clock.h"
#include "common/result.h"

namespace sc::agent {

// One part of a task (the Mesos isolator shape): the network sandbox, the proxy, the apps.
// How often Agent::tick() calls each step's checkHost().
inline constexpr std::chrono::seconds kHostCheckInterval{30};

class TaskStep {
 public:
  virtual ~TaskStep() = default;
  virtual std::string name() const = 0;
  // The status reported while this step comes up (PROVISIONING, PENDING, ACTIVATING).
  virtual TaskStatus upStatus() const = 0;
  // Creates what the step owns and records it in `task` (facts, proxy, containers). May leave
  // partial work on failure: down() removes it.
  virtual Result<void> up(TaskRecord& task) = 0;
  // Before any step of a running task goes down (the proxy drains here). Default: nothing.
  virtual Result<void> prepareStop(TaskRecord& /*task*/) { return ok(); }
  // Removes everything up() may have created. Idempotent, tolerant of objects that were never
  // made, keeps going past failures and reports them all.
  virtual Result<void> down(TaskRecord& task) = 0;
  // After an agent restart: whether what up() created is still there and working. Must not
  // disturb it (no restarts, no traffic changes).
  virtual Result<bool> adopt(TaskRecord& task) = 0;
  // Called about once a second for a RUNNING task: refresh what the step watches (the proxy's
  // health, restarting it under its policy; the apps' exits) in `task`. A returned reason means
  // the task must stop (an essential container exited, the proxy restarted too often).
  virtual std::optional<std::string> check(TaskRecord& /*task*/) { return std::nullopt; }
  // Called about every kHostCheckInterval whatever the tasks: verify and repair what the step
  // shares between the tasks of the host (the sandbox's shared rules). Default: nothing.
  virtual void checkHost() {}
};

// Where status changes go (the control-plane reporter, metrics, logs).
class TaskStatusSink {
 public:
  virtual ~TaskStatusSink() = default;
  virtual void taskChanged(const TaskRecord& task) = 0;
  // A RUNNING task taken over after an agent restart: its state did not change, but its report
  // is due again.
  virtual void taskAdopted(const TaskRecord& task) { taskChanged(task); }
};

class Lifecycle {
 public:
  Lifecycle(std::vector<TaskStep*> steps, TaskStore& store, TaskStatusSink& sink, Clock& clock)
      : steps_(std::move(steps)), store_(store), sink_(sink), clock_(clock) {}

  // PROVISIONING -> ... -> RUNNING. On failure the task is rolled back and ends STOPPED with the
  // reason; the error is returned.
  Result<void> start(TaskRecord& task);
  // DEACTIVATING -> ... -> STOPPED. Goes on past failures; the returned error joins them.
  Result<void> stop(TaskRecord& task, const std::string& reason);
  // Continues a task found in the state directory after a restart (see the crash windows above).
  Result<void> recover(TaskRecord& task);

 private:
  Result<void> setStatus(TaskRecord& task, TaskStatus status);
  // Takes down every step in steps_up, in reverse; errors are collected into `failures`. With
  // `deprovisioning`, the status becomes DEPROVISIONING before the first step (the sandbox) goes.
  void downAll(TaskRecord& task, std::vector<std::string>& failures, bool deprovisioning = false);
  TaskStep* find(const std::string& name) const;

  std::vector<TaskStep*> steps_;
  TaskStore& store_;
  TaskStatusSink& sink_;
  Clock& clock_;
};

}  // namespace sc::agent
