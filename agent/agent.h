// The host agent's main loop (`scagent run`): register, recover, long-poll the desired tasks,
// reconcile, apply namespace changes, report, and keep going through control-plane outages.
//
// Threads: run() owns the poll loop; each task start or stop runs on its own worker thread (one
// operation per task at a time); a reporter sends status changes (queued while sccontrol is away,
// latest state per task); heartbeats ride on the poll loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agent/config.h"
#include "agent/control_plane_client.h"
#include "agent/lifecycle.h"
#include "agent/metrics.h"
#include "agent/reconcile.h"
#include "agent/service_notifier.h"
#include "agent/task_record.h"
#include "common/clock.h"

namespace sc::agent {

// Applies new egress members to a running task's proxy (the runtime API), batched per task.
class MembershipApplier {
 public:
  virtual ~MembershipApplier() = default;
  virtual Result<void> apply(const TaskRecord& task, const std::vector<MembershipChange>& changes) = 0;
};

// Turns a control-plane payload into a fresh task record (its plan resolved), or says why not.
Result<TaskRecord> taskFromPayload(const DesiredTaskPayload& payload);

// The report the control plane gets for a task; endpoints only while it is RUNNING and HEALTHY.
TaskReport reportOf(const TaskRecord& task);

// The host's routes to the other instances' task subnets (SandboxStep over SandboxManager::setPeers).
class PeerNetwork {
 public:
  virtual ~PeerNetwork() = default;
  // `peers`: the other instances. Returns the peers left out and why, one line each.
  virtual Result<std::vector<std::string>> setPeers(const std::vector<PeerInstance>& peers) = 0;
};

struct AgentDeps {
  ControlPlaneClient& control_plane;
  TaskStore& store;
  std::vector<TaskStep*> steps;
  MembershipApplier& membership;
  ServiceNotifier& notifier;
  MetricsRegistry& metrics;
  Clock& clock;
  PeerNetwork* peers = nullptr;  // null: no routes to other hosts (tests)
};

class Agent final : private TaskStatusSink {
 public:
  Agent(AgentConfig config, std::map<std::string, std::string> attributes, AgentDeps deps);
  ~Agent() override;

  // Loads the task records and recovers each (adopt, finish a stop, or roll back a half start).
  Result<void> recoverTasks();
  // Registers with sccontrol, or reuses the token saved in the state directory.
  Result<void> ensureRegistered();
  // Acts on one desired state: starts, stops and forgets tasks, and hands each running task its
  // namespace snapshot for the next tick().
  void applyDesired(const DesiredState& desired);
  // One pass over the running tasks, up to kTickWorkers side by side: new members to their
  // proxies, each step's check() (health, exits), stops the checks ask for. run() calls it every
  // second and right after applyDesired().
  void tick();
  static constexpr size_t kTickWorkers = 8;
  // Sends queued status reports; kept for the next try when sccontrol is away.
  Result<void> flushReports();
  // Waits for every task operation in flight (tests, shutdown).
  void waitIdle();
  // The loop; returns when `stop` becomes true (tasks keep running, as ECS agents leave them).
  // Whoever sets `stop` calls wake() so sleeps and waits end at once.
  void run(std::atomic<bool>& stop);
  void wake();

  std::vector<TaskRecord> tasks() const;
  const std::string& instanceArn() const { return registration_.container_instance_arn; }

 private:
  // TaskStatusSink: both record the task and queue its report; taskChanged logs `task <STATE>`,
  // taskAdopted `task adopted` (an adoption is no state change).
  void taskChanged(const TaskRecord& task) override;
  void taskAdopted(const TaskRecord& task) override;
  void recordAndReport(const TaskRecord& task);

  bool isBusy(const std::string& task_id);
  // A start or stop of the task is running; mu_ held.
  bool inFlightLocked(const std::string& task_id) const;
  void startTask(TaskRecord record);
  void stopTask(const std::string& task_id, const std::string& reason);
  void updateMetrics();
  // The task's report replaces any unsent one; mu_ held.
  void queueReportLocked(const TaskRecord& task);
  // Propagation delay: `task` now runs namespace `ns` at `revision` (its proxy took the members,
  // `changed` when there were any). A revision is done once every task waiting for it is.
  void notePropagated(const std::string& task_id, const std::string& ns, int64_t revision, bool changed);
  void sweepPropagations();
  // Hands the other instances to deps_.peers when they changed (or the last hand-over failed).
  void applyPeers(const std::vector<PeerInstance>& all);
  std::optional<std::vector<PeerInstance>> applied_peers_;  // poll thread only
  std::vector<std::string> peer_findings_;
  void tickTask(TaskRecord& task);
  // The parsed form of a namespace snapshot from a desired state; mu_ held.
  std::shared_ptr<const model::NamespaceSnapshot> parsedNamespaceLocked(const model::Json& j);
  std::chrono::milliseconds backoff(int failures);
  std::string token() const;

  AgentConfig config_;
  std::map<std::string, std::string> attributes_;
  AgentDeps deps_;
  Lifecycle lifecycle_;
  Registration registration_;
  std::string etag_;

  mutable std::mutex mu_;
  std::map<std::string, TaskRecord> tasks_;        // latest known state of each task
  std::map<std::string, std::string> task_arns_;   // task id -> ARN
  std::map<std::string, std::future<void>> busy_;  // task id -> operation in flight
  // task id -> newest namespace snapshot, parsed once per (namespace, revision) and shared.
  std::map<std::string, std::shared_ptr<const model::NamespaceSnapshot>> latest_ns_;
  std::map<std::string, std::shared_ptr<const model::NamespaceSnapshot>> parsed_ns_;  // by name
  std::map<std::string, TaskReport> pending_reports_;                                 // latest unsent report per task
  std::set<std::string> reported_stopped_;
  std::optional<Clock::MonoTime> away_since_;
  std::optional<Clock::MonoTime> last_host_check_;  // tick() only (one thread)
  // sccontrol answered 410: this instance was deregistered (DeregisterContainerInstance). The agent
  // stopped its tasks and does not register again until it is restarted.
  bool deregistered_ = false;
  void onDeregistered(const Error& e);
  // sccontrol answered 401 to this many polls in a row (see onTokenRefused).
  int refusals_ = 0;
  static constexpr int kRefusalsBeforeRegistering = 3;
  std::chrono::milliseconds onTokenRefused(const Error& e, int& failures);
  Result<void> registerAgain();
  Result<RegisterRequest> registerRequest() const;
  Result<void> saveRegistration(const Registration& reg);
  std::string instanceFile() const;
  // A namespace revision on its way to the running proxies, keyed by (namespace, revision): when it
  // arrived and the running tasks that have not applied it yet.
  struct Propagation {
    Clock::MonoTime received;
    std::set<std::string> waiting;
    bool changed = false;  // some proxy got new members from it
  };
  std::map<std::pair<std::string, int64_t>, Propagation> propagating_;

  std::mutex wait_mu_;
  // One report in flight at a time: the monitor and the poll loop both flush, and two batches
  // racing could land a task's RUNNING after its STOPPED.
  std::mutex report_mu_;
  std::condition_variable wake_;
  bool poke_ = false;
};

}  // namespace sc::agent
