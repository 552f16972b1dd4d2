// Fakes for the agent's seams: task steps that journal their calls, an in-memory task store, a
// status log, a fixed clock, a scripted control plane.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/lifecycle.h"
#include "agent/task_record.h"
#include "common/clock.h"

namespace sc::agent {

// Records every call as text, so tests assert whole sequences (rollbacks included).
struct Journal {
  std::mutex mu;
  std::vector<std::string> lines;
};

class FakeStep : public TaskStep {
 public:
  FakeStep(std::string name, TaskStatus status, Journal& j) : name_(std::move(name)), status_(status), j_(j) {}
  std::string name() const override { return name_; }
  TaskStatus upStatus() const override { return status_; }
  Result<void> up(TaskRecord& t) override {
    std::lock_guard lock(j_.mu);
    j_.lines.push_back("up " + name_ + " @" + taskStatusName(t.status));
    if (fail_up) return makeError(ErrorCode::kInternal, "bring up", name_, "broken on purpose");
    t.facts[name_] = "made";
    if (name_ == "sandbox") t.facts["task_ip"] = "10.88.0.2";
    return ok();
  }
  Result<void> prepareStop(TaskRecord& t) override {
    std::lock_guard lock(j_.mu);
    j_.lines.push_back("drain " + name_ + " @" + taskStatusName(t.status));
    return ok();
  }
  void checkHost() override { ++host_checks; }
  std::atomic<int> host_checks{0};
  Result<void> down(TaskRecord& t) override {
    std::lock_guard lock(j_.mu);
    j_.lines.push_back("down " + name_ + " @" + taskStatusName(t.status));
    if (on_down) on_down();
    if (fail_down) return makeError(ErrorCode::kInternal, "take down", name_, "stuck");
    t.facts.erase(name_);
    if (name_ == "sandbox") t.facts.erase("task_ip");
    return ok();
  }
  Result<bool> adopt(TaskRecord& t) override {
    std::lock_guard lock(j_.mu);
    j_.lines.push_back("adopt " + name_);
    return adoptable && t.facts.count(name_) > 0;
  }
  std::optional<std::string> check(TaskRecord& t) override {
    if (name_ == "proxy") t.health = health;
    if (on_check) on_check();
    return check_reason;
  }
  std::function<void()> on_check;  // runs inside check(), before its answer
  std::function<void()> on_down;   // runs at the start of down(); unlocked journal
  bool fail_up = false;
  std::string health = "HEALTHY";
  std::optional<std::string> check_reason;
  bool fail_down = false;
  bool adoptable = true;

 private:
  std::string name_;
  TaskStatus status_;
  Journal& j_;
};

class MemoryStore : public TaskStore {
 public:
  Result<void> save(const TaskRecord& r) override {
    std::lock_guard lock(mu);
    saved[r.task_id] = taskRecordToJson(r);
    ++saves;
    return ok();
  }
  Result<void> remove(const std::string& id) override {
    std::lock_guard lock(mu);
    saved.erase(id);
    return ok();
  }
  Result<std::vector<TaskRecord>> loadAll(std::vector<std::string>*) override {
    std::vector<TaskRecord> out;
    for (const auto& [id, text] : saved) out.push_back(*taskRecordFromJson(text));
    return out;
  }
  std::mutex mu;
  std::map<std::string, std::string> saved;
  int saves = 0;
};

class StatusLog : public TaskStatusSink {
 public:
  void taskChanged(const TaskRecord& t) override {
    std::lock_guard lock(mu);
    statuses.push_back(taskStatusName(t.status));
  }
  std::mutex mu;
  std::vector<std::string> statuses;
};

// Stands still unless a test advances it.
class FakeClock : public Clock {
 public:
  MonoTime now() const override { return MonoTime{} + std::chrono::nanoseconds(offset_ns.load()); }
  WallTime wallNow() const override { return WallTime{} + std::chrono::hours(1); }
  void sleepFor(std::chrono::nanoseconds) override {}
  void advance(std::chrono::nanoseconds d) { offset_ns += d.count(); }
  std::atomic<int64_t> offset_ns{0};
};

// A control plane that answers from a script and records what it was told.
class FakeControlPlane : public ControlPlaneClient {
 public:
  Result<Registration> registerInstance(const RegisterRequest& r) override {
    std::lock_guard lock(mu);
    registered.push_back(r);
    if (!r.previous_instance_arn.empty()) {  // registering again after refusals: a new instance
      refuse_token = 0;
      Registration again{"arn:aws:ecs:local:000000000000:container-instance/demo/i2", "i2", "tok-2", 1, 30};
      if (adopt) again.adopted_task_arns = r.adopt_task_arns;
      return again;
    }
    return Registration{"arn:aws:ecs:local:000000000000:container-instance/demo/i1", "i1", "tok-1", 1, 30};
  }
  Result<void> heartbeat(const std::string&, const std::map<std::string, std::string>&) override {
    std::lock_guard lock(mu);
    ++heartbeats;
    return ok();
  }
  Result<std::optional<DesiredState>> desired(const std::string&, const std::string&, int) override {
    std::lock_guard lock(mu);
    ++polls;
    if (deregistered) return makeError(ErrorCode::kNotFound, "poll desired tasks from", "sccontrol", "HTTP 410");
    if (refuse_token > 0) {
      --refuse_token;
      return makeError(ErrorCode::kPermission, "poll desired tasks from", "sccontrol", "HTTP 401");
    }
    if (polls_fail > 0) {
      --polls_fail;
      return makeError(ErrorCode::kUnavailable, "poll desired tasks from", "sccontrol", "connection refused");
    }
    if (script.empty()) return std::optional<DesiredState>();
    DesiredState d = script.front();
    script.pop_front();
    return std::optional<DesiredState>(d);
  }
  Result<void> report(const std::string&, const std::vector<TaskReport>& tasks) override {
    std::lock_guard lock(mu);
    if (reports_fail > 0) {
      --reports_fail;
      return makeError(ErrorCode::kUnavailable, "report task status to", "sccontrol", "connection refused");
    }
    for (const auto& t : tasks) reports.push_back(t);
    return ok();
  }
  std::mutex mu;
  std::vector<RegisterRequest> registered;
  std::deque<DesiredState> script;
  std::vector<TaskReport> reports;
  int heartbeats = 0, polls = 0, polls_fail = 0, reports_fail = 0;
  bool deregistered = false;  // every poll answers 410 (DeregisterContainerInstance)
  int refuse_token = 0;       // this many polls answer 401; registering again ends it
  bool adopt = true;          // registering again gives every named task to the new instance
};

class FakeMembership : public MembershipApplier {
 public:
  Result<void> apply(const TaskRecord& t, const std::vector<MembershipChange>& changes) override {
    std::lock_guard lock(mu);
    if (failing.count(t.task_id)) {
      return makeError(ErrorCode::kUnavailable, "update the members of task", t.task_id, "runtime API down");
    }
    for (const auto& c : changes) {
      std::string line = t.task_id + " " + c.dns_name + ":" + std::to_string(c.port) + " =";
      for (const auto& a : c.addresses) line += " " + a.ip + ":" + std::to_string(a.port);
      applied.push_back(line);
    }
    return ok();
  }
  std::mutex mu;
  std::vector<std::string> applied;
  std::set<std::string> failing;  // task ids whose proxy refuses
};

class FakeNotifier : public ServiceNotifier {
 public:
  void ready(const std::string& s) override { push("READY " + s); }
  void status(const std::string& s) override { push("STATUS " + s); }
  void watchdog() override { push("WATCHDOG"); }
  void stopping() override { push("STOPPING"); }
  std::optional<std::chrono::microseconds> watchdogInterval() const override { return std::nullopt; }
  void push(std::string s) {
    std::lock_guard lock(mu);
    lines.push_back(std::move(s));
  }
  std::mutex mu;
  std::vector<std::string> lines;
};

}  // namespace sc::agent
