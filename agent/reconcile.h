// Reconciliation, as pure functions: what the agent must do to move the tasks it has toward the
// tasks the control plane wants, and which proxies need new members after a namespace change.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/task_record.h"
#include "model/plan.h"
#include "model/types.h"

namespace sc::agent {

struct DesiredTask {
  std::string task_id;
  bool running = true;  // false: the control plane wants it stopped
  std::string stop_reason;
};

struct ReconcileActions {
  std::vector<std::string> start;                         // desired, not known here
  std::vector<std::pair<std::string, std::string>> stop;  // (task id, reason)
  std::vector<std::string> forget;                        // STOPPED and reported: remove the record
};

// `reported_stopped` holds the STOPPED tasks whose final state the control plane has seen.
ReconcileActions reconcile(const std::vector<DesiredTask>& desired, const std::vector<TaskRecord>& current,
                           const std::vector<std::string>& reported_stopped);

// One egress alias of one task whose members must change.
struct MembershipChange {
  std::string dns_name;
  int port = 0;
  std::vector<model::EndpointAddress> addresses;  // the new, complete list (healthy only)
};

// The aliases of `plan` (frozen when the task started: new names never appear) whose healthy
// addresses differ in `snapshot`. An alias whose discovery name left the namespace keeps its
// name and loses its members.
std::vector<MembershipChange> membershipChanges(const model::TaskPlan& plan, const model::NamespaceSnapshot& snapshot);

// Applies `changes` to the plan's egress addresses (after the proxy took them).
void applyMembership(model::TaskPlan& plan, const std::vector<MembershipChange>& changes);

}  // namespace sc::agent
