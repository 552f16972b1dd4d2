#include "agent/reconcile.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace sc::agent {

ReconcileActions reconcile(const std::vector<DesiredTask>& desired, const std::vector<TaskRecord>& current,
                           const std::vector<std::string>& reported_stopped) {
  ReconcileActions a;
  std::map<std::string, const TaskRecord*> have;
  for (const auto& r : current) have[r.task_id] = &r;
  std::set<std::string> wanted;
  for (const auto& d : desired) {
    if (!d.running) continue;
    wanted.insert(d.task_id);
    if (!have.count(d.task_id)) a.start.push_back(d.task_id);
  }
  std::map<std::string, std::string> reasons;
  for (const auto& d : desired)
    if (!d.running) reasons[d.task_id] = d.stop_reason;
  const std::set<std::string> reported(reported_stopped.begin(), reported_stopped.end());
  for (const auto& r : current) {
    if (r.status == TaskStatus::kStopped) {
      if (reported.count(r.task_id) && r.steps_up.empty()) a.forget.push_back(r.task_id);
      continue;
    }
    if (wanted.count(r.task_id) && r.desired_running) continue;
    auto it = reasons.find(r.task_id);
    a.stop.emplace_back(r.task_id, it != reasons.end() && !it->second.empty()
                                       ? it->second
                                       : std::string("the control plane no longer wants this task"));
  }
  return a;
}

namespace {

std::vector<model::EndpointAddress> healthySorted(const std::vector<model::EndpointAddress>& in) {
  std::vector<model::EndpointAddress> out;
  for (const auto& a : in)
    if (a.healthy) out.push_back(a);
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return std::tie(x.ip, x.port, x.task_id) < std::tie(y.ip, y.port, y.task_id);
  });
  return out;
}

bool sameAddresses(const std::vector<model::EndpointAddress>& a, const std::vector<model::EndpointAddress>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].ip != b[i].ip || a[i].port != b[i].port || a[i].task_id != b[i].task_id) return false;
  }
  return true;
}

}  // namespace

std::vector<MembershipChange> membershipChanges(const model::TaskPlan& plan, const model::NamespaceSnapshot& snapshot) {
  std::map<std::string, const model::NamespaceService*> by_discovery;
  for (const auto& s : snapshot.services) by_discovery[s.discovery_name] = &s;
  std::vector<MembershipChange> out;
  for (const auto& alias : plan.egress) {
    auto it = by_discovery.find(alias.discovery_name);
    std::vector<model::EndpointAddress> now =
        it == by_discovery.end() ? std::vector<model::EndpointAddress>{} : healthySorted(it->second->addresses);
    if (!sameAddresses(now, healthySorted(alias.addresses)))
      out.push_back({alias.dns_name, alias.port, std::move(now)});
  }
  return out;
}

void applyMembership(model::TaskPlan& plan, const std::vector<MembershipChange>& changes) {
  for (const auto& c : changes) {
    for (auto& alias : plan.egress) {
      if (alias.dns_name == c.dns_name && alias.port == c.port) alias.addresses = c.addresses;
    }
  }
}

}  // namespace sc::agent
