#include "agent/lifecycle.h"

#include <algorithm>

#include "common/failpoint.h"
#include "common/strings.h"

namespace sc::agent {

TaskStep* Lifecycle::find(const std::string& name) const {
  for (TaskStep* s : steps_)
    if (s->name() == name) return s;
  return nullptr;
}

Result<void> Lifecycle::setStatus(TaskRecord& task, TaskStatus status) {
  task.status = status;
  task.updated_at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wallNow().time_since_epoch()).count();
  SC_TRY_CTX(store_.save(task), "record the state of task", task.task_id);
  sink_.taskChanged(task);
  return ok();
}

void Lifecycle::downAll(TaskRecord& task, std::vector<std::string>& failures, bool deprovisioning) {
  // Copy: steps leave steps_up as they go down.
  std::vector<std::string> up = task.steps_up;
  const std::string first = steps_.empty() ? "" : steps_.front()->name();
  for (auto it = up.rbegin(); it != up.rend(); ++it) {
    if (deprovisioning && *it == first) {
      if (auto r = setStatus(task, TaskStatus::kDeprovisioning); !r.ok()) failures.push_back(r.error().message);
    }
    TaskStep* step = find(*it);
    if (step == nullptr) {
      failures.push_back("unknown step '" + *it + "' in the task record");
      continue;
    }
    if (auto r = step->down(task); !r.ok()) {
      failures.push_back(r.error().message);
      continue;  // stays in steps_up: recovery retries it
    }
    task.steps_up.erase(std::remove(task.steps_up.begin(), task.steps_up.end(), *it), task.steps_up.end());
    if (auto r = store_.save(task); !r.ok()) failures.push_back(r.error().message);
  }
}

Result<void> Lifecycle::start(TaskRecord& task) {
  Error failure;
  bool failed = false;
  for (TaskStep* step : steps_) {
    if (auto r = setStatus(task, step->upStatus()); !r.ok()) {
      failure = std::move(r).error();
      failed = true;
      break;
    }
    task.steps_up.push_back(step->name());
    if (auto r = store_.save(task); !r.ok()) {
      failure = std::move(r).error();
      failed = true;
      break;
    }
    auto r = failpoint::check("agent.step_up." + step->name());
    if (r.ok()) r = step->up(task);
    if (!r.ok()) {
      failure = std::move(r).error().context("start step " + step->name() + " of task", task.task_id);
      failed = true;
      break;
    }
  }
  if (!failed) return setStatus(task, TaskStatus::kRunning);

  // Roll back everything that began, newest first.
  std::vector<std::string> cleanup_failures;
  downAll(task, cleanup_failures);
  task.stopped_reason = failure.message;
  if (!cleanup_failures.empty()) task.stopped_reason += "; cleanup: " + join(cleanup_failures, "; ");
  (void)setStatus(task, TaskStatus::kStopped);
  return failure;
}

Result<void> Lifecycle::stop(TaskRecord& task, const std::string& reason) {
  std::vector<std::string> failures;
  task.desired_running = false;
  if (task.stopped_reason.empty()) task.stopped_reason = reason;
  if (task.status < TaskStatus::kDeactivating) {
    if (auto r = setStatus(task, TaskStatus::kDeactivating); !r.ok()) failures.push_back(r.error().message);
    // Drain in the order the steps came up (the proxy stops accepting before apps go).
    for (TaskStep* step : steps_) {
      if (std::find(task.steps_up.begin(), task.steps_up.end(), step->name()) == task.steps_up.end()) continue;
      if (auto r = step->prepareStop(task); !r.ok()) failures.push_back(r.error().message);
    }
  }
  if (task.status < TaskStatus::kStopping) {
    if (auto r = setStatus(task, TaskStatus::kStopping); !r.ok()) failures.push_back(r.error().message);
  }
  // Every step but the first (the sandbox) goes down while STOPPING; the first while DEPROVISIONING.
  downAll(task, failures, /*deprovisioning=*/true);
  if (auto r = setStatus(task, TaskStatus::kStopped); !r.ok()) failures.push_back(r.error().message);
  if (!failures.empty()) {
    return makeError(ErrorCode::kInternal, "stop task", task.task_id, join(failures, "; "));
  }
  return ok();
}

Result<void> Lifecycle::recover(TaskRecord& task) {
  if (task.status == TaskStatus::kStopped) {
    if (task.steps_up.empty()) return ok();
    // A step that could not be taken down last time: try again.
    std::vector<std::string> failures;
    downAll(task, failures);
    if (!failures.empty()) return makeError(ErrorCode::kInternal, "clean up task", task.task_id, join(failures, "; "));
    return store_.save(task);
  }
  if (task.status >= TaskStatus::kDeactivating || !task.desired_running) {
    return stop(task, task.stopped_reason.empty() ? "stopped while the agent was away" : task.stopped_reason);
  }
  if (task.status != TaskStatus::kRunning) {
    // Caught mid-start: roll back; the reconciler starts a fresh task.
    std::vector<std::string> failures;
    task.stopped_reason = "the agent restarted while the task was " + taskStatusName(task.status);
    downAll(task, failures);
    if (!failures.empty()) task.stopped_reason += "; cleanup: " + join(failures, "; ");
    SC_TRY(setStatus(task, TaskStatus::kStopped));
    if (!failures.empty()) return makeError(ErrorCode::kInternal, "roll back task", task.task_id, join(failures, "; "));
    return ok();
  }
  for (TaskStep* step : steps_) {
    auto adopted = step->adopt(task);
    if (!adopted.ok() || !*adopted) {
      const std::string why = adopted.ok() ? step->name() + " is gone" : adopted.error().message;
      (void)stop(task, "could not adopt after an agent restart: " + why);
      return makeError(ErrorCode::kFailedPrecondition, "adopt task", task.task_id, why);
    }
  }
  sink_.taskAdopted(task);
  return ok();
}

}  // namespace sc::agent
