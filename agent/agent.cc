#include "agent/agent.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <thread>
#include <tuple>

#include "common/file.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/strings.h"
#include "model/parse.h"

#ifndef SC_VERSION
#define SC_VERSION "0.0.0"
#endif

namespace sc::agent {

using model::Json;

Result<TaskRecord> taskFromPayload(const DesiredTaskPayload& p) {
  auto fail = [&](const std::string& why) {
    return makeError(ErrorCode::kInvalidArgument, "plan task", p.task_id, why);
  };
  if (!isValidTaskId(p.task_id)) return fail("not a valid task id");
  // The payload carries the registered task definition (the TaskDefinition shape, revision and all).
  auto td = model::taskDefinitionFromJson(model::Json{{"taskDefinition", p.task_definition}});
  if (!td.ok()) return fail("task definition: " + td.error().message);
  auto svc = model::serviceDefinitionFromJson(p.service, "CreateServiceRequest");
  if (!svc.ok()) return fail("service: " + svc.error().message);
  std::optional<model::NamespaceSnapshot> ns;
  if (p.ns && !p.ns->is_null()) {
    auto n = model::namespaceSnapshotFromJson(*p.ns);
    if (!n.ok()) return fail("namespace: " + n.error().message);
    ns = *n;
  }
  // The control plane already resolved the namespace; the snapshot's name is the cluster default.
  model::ClusterDefinition cluster{svc->cluster, ns ? std::optional<std::string>(ns->name) : std::nullopt};
  model::PlanOutcome o = model::buildTaskPlan({*td, *svc, &cluster, ns ? &*ns : nullptr}, {p.task_id, std::nullopt});
  if (!o.plan) {
    std::vector<std::string> errors;
    for (const auto& e : o.errors) errors.push_back(e.text());
    return fail(join(errors, "; "));
  }
  TaskRecord r;
  r.task_id = p.task_id;
  r.plan = std::move(*o.plan);
  r.task_definition_json = model::Json{{"taskDefinition", p.task_definition}}.dump();
  for (const auto& c : td->containers) r.containers.push_back({c.name, c.essential, std::nullopt, std::nullopt});
  return r;
}

TaskReport reportOf(const TaskRecord& t) {
  TaskReport r;
  r.last_status = taskStatusName(t.status);
  r.health_status = t.health;
  if (t.status == TaskStatus::kStopped) r.reason = t.stopped_reason;
  for (const auto& c : t.containers) {
    ContainerReport cr{c.name, "PENDING", c.exit_code, ""};
    if (c.exit_code)
      cr.last_status = "STOPPED";
    else if (c.process)
      cr.last_status = "RUNNING";
    if (t.status == TaskStatus::kStopped) cr.last_status = "STOPPED";
    r.containers.push_back(cr);
  }
  if (t.status == TaskStatus::kRunning && t.health == "HEALTHY") {
    for (const auto& e : t.plan.endpoints) {
      // The sandbox records where other tasks reach each listener: taskIP:port in awsvpc,
      // hostIP:hostPort in bridge mode.
      auto ip = t.facts.find("endpoint_ip:" + e.listener);
      auto port = t.facts.find("endpoint_port:" + e.listener);
      std::string addr = ip != t.facts.end() ? ip->second : (t.facts.count("task_ip") ? t.facts.at("task_ip") : "");
      int p = port != t.facts.end() ? std::atoi(port->second.c_str()) : e.target_port;
      if (!addr.empty() && p > 0) r.endpoints.push_back({e.discovery_name, addr, p});
    }
  }
  return r;
}

Agent::Agent(AgentConfig config, std::map<std::string, std::string> attributes, AgentDeps deps)
    : config_(std::move(config)),
      attributes_(std::move(attributes)),
      deps_(deps),
      lifecycle_(deps.steps, deps.store, *this, deps.clock) {
  deps_.metrics.describe("scagent_tasks", "gauge", "Tasks on this host by ECS state.");
  deps_.metrics.describe("scagent_task_failures_total", "counter",
                         "Tasks that failed to start or stopped on their own.");
  deps_.metrics.describe("scagent_control_plane_up", "gauge", "1 while sccontrol answers, 0 while it is away.");
  deps_.metrics.describe("scagent_desired_state_too_large_total", "counter",
                         "Desired-state answers refused for their size (kMaxDesiredStateBytes).");
  deps_.metrics.describeHistogram("scagent_poll_seconds", "Time from sending a long-poll to its answer.",
                                  {0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60});
  deps_.metrics.describeHistogram("scagent_reconcile_seconds", "Time to act on one desired state.",
                                  {0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1});
  deps_.metrics.describeHistogram("scagent_task_start_seconds", "Desired to RUNNING, per task.",
                                  {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  deps_.metrics.describeHistogram(
      "scagent_propagation_seconds",
      "From receiving a namespace revision that changes members to every affected proxy having applied it.",
      {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  // Series whose label sets are known now are on the page from the start, at zero: an alert on
  // increase(scagent_task_failures_total[..]) has a series before the first failure.
  for (const char* name : {"scagent_task_failures_total", "scagent_desired_state_too_large_total",
                           "scagent_poll_seconds", "scagent_reconcile_seconds", "scagent_task_start_seconds"}) {
    deps_.metrics.touch(name, {});
  }
}

Agent::~Agent() { waitIdle(); }

std::vector<TaskRecord> Agent::tasks() const {
  std::lock_guard lock(mu_);
  std::vector<TaskRecord> out;
  for (const auto& [id, t] : tasks_) out.push_back(t);
  return out;
}

void Agent::taskChanged(const TaskRecord& task) {
  log::info("task " + taskStatusName(task.status),
            {{"task", task.task_id}, {"service", task.plan.service_name}, {"reason", task.stopped_reason}});
  recordAndReport(task);
}

void Agent::taskAdopted(const TaskRecord& task) {
  log::info("task adopted", {{"task", task.task_id}, {"service", task.plan.service_name}});
  recordAndReport(task);
}

void Agent::recordAndReport(const TaskRecord& task) {
  {
    std::lock_guard lock(mu_);
    tasks_[task.task_id] = task;
    queueReportLocked(task);
  }
  // The monitor sends the report now rather than at its next second: a RUNNING report is what
  // registers the task's endpoints, so this wait would add to every client's propagation delay.
  wake();
}

void Agent::queueReportLocked(const TaskRecord& task) {
  TaskReport r = reportOf(task);
  auto arn = task_arns_.find(task.task_id);
  r.task_arn = arn != task_arns_.end() ? arn->second : task.task_id;
  pending_reports_[task.task_id] = std::move(r);
}

void Agent::updateMetrics() {
  std::map<std::string, int> by_state;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, t] : tasks_) ++by_state[taskStatusName(t.status)];
  }
  for (const char* s :
       {"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}) {
    deps_.metrics.set("scagent_tasks", {{"state", s}}, by_state[s]);
  }
}

Result<void> Agent::recoverTasks() {
  std::vector<std::string> problems;
  SC_ASSIGN_OR_RETURN(auto records, deps_.store.loadAll(&problems));
  for (const auto& p : problems) log::warn("ignoring an unreadable task record", {{"error", p}});
  for (TaskRecord& r : records) {
    {
      std::lock_guard lock(mu_);
      tasks_[r.task_id] = r;
    }
    if (auto res = lifecycle_.recover(r); !res.ok()) {
      log::warn("task not recovered", {{"task", r.task_id}, {"error", res.error().message}});
    }
    std::lock_guard lock(mu_);
    tasks_[r.task_id] = r;
  }
  updateMetrics();
  return ok();
}

// The saved registration is reused when it was made with one of the configured endpoints (the
// replicas share one store, so a token from one holds on every other) and for the same cluster.
Result<void> Agent::ensureRegistered() {
  if (auto text = readFile(instanceFile()); text.ok()) {
    auto j = Json::parse(*text, nullptr, false);
    const auto& eps = config_.control_plane.endpoints;
    if (!j.is_discarded() && std::find(eps.begin(), eps.end(), j.value("endpoint", "")) != eps.end() &&
        j.value("cluster", "") == config_.cluster) {
      auto reg = registrationFromJson(j);
      if (reg.ok()) {
        std::lock_guard lock(mu_);
        registration_ = *reg;
        return ok();
      }
    }
  }
  SC_ASSIGN_OR_RETURN(RegisterRequest req, registerRequest());
  SC_ASSIGN_OR_RETURN(Registration reg, deps_.control_plane.registerInstance(req));
  SC_TRY(saveRegistration(reg));
  log::info("registered", {{"containerInstanceArn", reg.container_instance_arn}});
  return ok();
}

std::string Agent::instanceFile() const { return config_.state_dir + "/instance.json"; }

Result<RegisterRequest> Agent::registerRequest() const {
  if (config_.control_plane.bootstrap_token_file.empty()) {
    return makeError(ErrorCode::kFailedPrecondition, "register with", "sccontrol",
                     "controlPlane.bootstrapTokenFile is not set");
  }
  SC_ASSIGN_OR_RETURN(std::string token, readFile(config_.control_plane.bootstrap_token_file, 4096));
  RegisterRequest req;
  req.bootstrap_token = std::string(trim(token));
  req.cluster = config_.cluster;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  req.hostname = host;
  req.agent_version = SC_VERSION;
  req.memory_mib = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGE_SIZE) / (1024 * 1024);
  req.cpu_units = ::sysconf(_SC_NPROCESSORS_ONLN) * 1024;
  req.attributes = attributes_;
  req.task_cidr = config_.network.task_cidr;
  req.host_address = config_.network.host_address;
  return req;
}

Result<void> Agent::saveRegistration(const Registration& reg) {
  {
    std::lock_guard lock(mu_);
    registration_ = reg;
  }
  // The first endpoint stands for the set: a registration is kept while it stays in the list.
  Json saved = {{"endpoint", config_.control_plane.endpoints.empty() ? "" : config_.control_plane.endpoints.front()},
                {"cluster", config_.cluster},
                {"containerInstanceArn", reg.container_instance_arn},
                {"instanceId", reg.instance_id},
                {"token", reg.token},
                {"heartbeatIntervalSeconds", reg.heartbeat_interval_s},
                {"ttlSeconds", reg.ttl_s}};
  SC_TRY(makeDirs(config_.state_dir, 0700));
  return writeFileAtomic(instanceFile(), saved.dump() + "\n", 0600);
}

// A refused token (401) stops nothing: the tasks keep serving with their last known state while the
// agent retries with backoff (a replica that has not seen the registration yet answers 401 too).
// Only after kRefusalsBeforeRegistering refusals in a row does it register again, naming its old
// instance and the tasks it runs so that sccontrol gives them to the new instance; tasks sccontrol
// no longer has for it leave with the next desired state, as any task sccontrol stopped.
// Returns how long to wait before the next poll.
std::chrono::milliseconds Agent::onTokenRefused(const Error& e, int& failures) {
  if (++refusals_ == 1) {
    log::warn("the instance token was refused; tasks keep serving",
              {{"containerInstanceArn", instanceArn()}, {"error", e.message}});
    deps_.notifier.status("instance token refused; tasks keep serving");
  }
  if (refusals_ < kRefusalsBeforeRegistering) return backoff(failures++);
  if (auto r = registerAgain(); !r.ok()) {
    log::error("registration failed; retrying", {{"error", r.error().message}});
    deps_.notifier.status("cannot register: " + r.error().message);
    return backoff(failures++);
  }
  refusals_ = 0;
  etag_.clear();
  return std::chrono::milliseconds(0);
}

Result<void> Agent::registerAgain() {
  SC_ASSIGN_OR_RETURN(RegisterRequest req, registerRequest());
  size_t live = 0;
  {
    std::lock_guard lock(mu_);
    req.previous_instance_arn = registration_.container_instance_arn;
    for (const auto& [id, t] : tasks_) {
      if (t.status == TaskStatus::kStopped) continue;
      auto arn = task_arns_.find(id);
      req.adopt_task_arns.push_back(arn != task_arns_.end() ? arn->second : id);
      ++live;
    }
  }
  SC_ASSIGN_OR_RETURN(Registration reg, deps_.control_plane.registerInstance(req));
  const std::string previous = req.previous_instance_arn;
  SC_TRY(saveRegistration(reg));
  log::warn("registered again", {{"containerInstanceArn", reg.container_instance_arn},
                                 {"previousInstanceArn", previous},
                                 {"adoptedTasks", std::to_string(reg.adopted_task_arns.size())},
                                 {"tasks", std::to_string(live)}});
  return ok();
}

void Agent::onDeregistered(const Error& e) {
  std::string arn;
  {
    std::lock_guard lock(mu_);
    arn = registration_.container_instance_arn;
    registration_ = {};
  }
  log::error(
      "this instance was deregistered from its cluster; stopping its tasks and not registering again until "
      "scagent restarts",
      {{"containerInstanceArn", arn}, {"error", e.message}});
  deps_.notifier.status("deregistered from cluster " + config_.cluster + "; restart scagent to register again");
  ::unlink(instanceFile().c_str());
  deregistered_ = true;
  applyDesired(DesiredState{});  // sccontrol stopped them and placed replacements elsewhere
  wake();
}

bool Agent::inFlightLocked(const std::string& task_id) const {
  auto it = busy_.find(task_id);
  return it != busy_.end() && it->second.valid() &&
         it->second.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
}

void Agent::startTask(TaskRecord record) {
  const std::string id = record.task_id;
  const auto t0 = deps_.clock.now();
  std::lock_guard lock(mu_);
  // One operation per task: replacing a running future would wait for it under mu_, which it needs.
  if (inFlightLocked(id)) return;
  tasks_[id] = record;
  busy_[id] = std::async(std::launch::async, [this, record = std::move(record), t0]() mutable {
    auto r = lifecycle_.start(record);
    if (!r.ok()) {
      deps_.metrics.add("scagent_task_failures_total", {}, 1);
      log::error("task failed to start", {{"task", record.task_id}, {"error", r.error().message}});
    } else {
      deps_.metrics.observe("scagent_task_start_seconds", {},
                            std::chrono::duration<double>(deps_.clock.now() - t0).count());
    }
    updateMetrics();
  });
}

void Agent::stopTask(const std::string& id, const std::string& reason) {
  std::lock_guard lock(mu_);
  // tickTask and applyDesired may both ask; the first stop wins, the second finds it in flight
  // (assigning over its future would wait for it under mu_, which it needs: a deadlock).
  if (inFlightLocked(id)) return;
  TaskRecord record = tasks_.at(id);
  busy_[id] = std::async(std::launch::async, [this, record = std::move(record), reason]() mutable {
    if (auto r = lifecycle_.stop(record, reason); !r.ok()) {
      log::error("task did not stop cleanly", {{"task", record.task_id}, {"error", r.error().message}});
    }
    updateMetrics();
  });
}

bool Agent::isBusy(const std::string& task_id) {
  std::lock_guard lock(mu_);
  auto it = busy_.find(task_id);
  if (it == busy_.end()) return false;
  if (it->second.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return true;
  busy_.erase(it);
  return false;
}

void Agent::waitIdle() {
  std::map<std::string, std::future<void>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(busy_);
  }
  for (auto& [id, f] : all)
    if (f.valid()) f.wait();
}

void Agent::applyPeers(const std::vector<PeerInstance>& all) {
  std::vector<PeerInstance> others;
  for (const PeerInstance& p : all) {
    if (p.container_instance_arn != registration_.container_instance_arn) others.push_back(p);
  }
  if (deps_.peers == nullptr || applied_peers_ == others) return;
  auto findings = deps_.peers->setPeers(others);
  if (!findings.ok()) {
    log::error("routes to other hosts not set; retrying at the next desired state",
               {{"error", findings.error().message}});
    applied_peers_.reset();
    return;
  }
  applied_peers_ = others;
  if (*findings != peer_findings_) {
    for (const std::string& f : *findings) log::warn("peer host not routed", {{"problem", f}});
    peer_findings_ = *findings;
  }
  log::info("routes to other hosts set",
            {{"peers", std::to_string(others.size())}, {"problems", std::to_string(findings->size())}});
  const size_t unrouted = std::min(findings->size(), others.size());
  deps_.metrics.set("scagent_peer_hosts_routed", {}, static_cast<double>(others.size() - unrouted));
}

void Agent::applyDesired(const DesiredState& desired) {
  if (desired.peers) applyPeers(*desired.peers);
  const auto t0 = deps_.clock.now();
  std::vector<DesiredTask> wanted;
  std::map<std::string, const DesiredTaskPayload*> payloads;
  {
    std::lock_guard lock(mu_);
    for (const auto& p : desired.tasks) {
      wanted.push_back({p.task_id, p.desired_status == "RUNNING", ""});
      payloads[p.task_id] = &p;
      task_arns_[p.task_id] = p.task_arn;
      if (!p.ns || p.ns->is_null()) continue;
      auto snap = parsedNamespaceLocked(*p.ns);
      if (!snap) continue;
      latest_ns_[p.task_id] = snap;
      // A newer revision for a running task: tick() hands it to the proxy; time it until then.
      auto known = tasks_.find(p.task_id);
      if (known != tasks_.end() && known->second.status == TaskStatus::kRunning && known->second.desired_running &&
          snap->revision > known->second.plan.namespace_revision) {
        auto [it, fresh] = propagating_.try_emplace({snap->name, snap->revision});
        if (fresh) it->second.received = t0;
        it->second.waiting.insert(p.task_id);
      }
    }
    // Bounded: a proxy that never takes its members must not grow this forever.
    while (propagating_.size() > 256) propagating_.erase(propagating_.begin());
  }
  std::vector<TaskRecord> current = tasks();
  std::vector<std::string> reported;
  {
    std::lock_guard lock(mu_);
    reported.assign(reported_stopped_.begin(), reported_stopped_.end());
  }
  ReconcileActions actions = reconcile(wanted, current, reported);

  for (const std::string& id : actions.start) {
    if (isBusy(id)) continue;
    auto record = taskFromPayload(*payloads.at(id));
    if (!record.ok()) {
      // Nothing was created: report the task STOPPED with the reason, as ECS does.
      log::error("task refused", {{"task", id}, {"error", record.error().message}});
      deps_.metrics.add("scagent_task_failures_total", {}, 1);
      TaskReport r{payloads.at(id)->task_arn, "STOPPED", "UNKNOWN", record.error().message, {}, {}};
      std::lock_guard lock(mu_);
      pending_reports_[id] = r;
      continue;
    }
    startTask(std::move(record).value());
  }
  for (const auto& [id, reason] : actions.stop) {
    if (!isBusy(id)) stopTask(id, reason);
  }
  for (const std::string& id : actions.forget) {
    if (isBusy(id)) continue;
    if (auto r = deps_.store.remove(id); !r.ok()) {
      log::warn("task record not removed", {{"task", id}, {"error", r.error().message}});
    }
    std::lock_guard lock(mu_);
    tasks_.erase(id);
    reported_stopped_.erase(id);
    latest_ns_.erase(id);
    task_arns_.erase(id);
  }
  updateMetrics();
  deps_.metrics.observe("scagent_reconcile_seconds", {}, std::chrono::duration<double>(deps_.clock.now() - t0).count());
}

void Agent::notePropagated(const std::string& task_id, const std::string& ns, int64_t revision, bool changed) {
  std::lock_guard lock(mu_);
  // Taking revision R also delivers every older revision the task was still waiting for.
  for (auto it = propagating_.lower_bound({ns, INT64_MIN});
       it != propagating_.end() && it->first.first == ns && it->first.second <= revision;) {
    Propagation& p = it->second;
    if (p.waiting.erase(task_id) > 0 && changed) p.changed = true;
    if (p.waiting.empty()) {
      if (p.changed) {
        deps_.metrics.observe("scagent_propagation_seconds", {{"namespace", ns}},
                              std::chrono::duration<double>(deps_.clock.now() - p.received).count());
      }
      it = propagating_.erase(it);
    } else {
      ++it;
    }
  }
}

void Agent::sweepPropagations() {
  // Tasks that stopped (or were forgotten) before taking a revision no longer hold it up.
  std::vector<std::tuple<std::string, std::string, int64_t>> gone;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, p] : propagating_) {
      for (const std::string& id : p.waiting) {
        auto t = tasks_.find(id);
        if (t == tasks_.end() || t->second.status != TaskStatus::kRunning || !t->second.desired_running) {
          gone.emplace_back(id, key.first, key.second);
        }
      }
    }
  }
  for (const auto& [id, ns, rev] : gone) notePropagated(id, ns, rev, false);
}

std::shared_ptr<const model::NamespaceSnapshot> Agent::parsedNamespaceLocked(const model::Json& j) {
  // Every task of a namespace carries the same snapshot: parse it once per revision.
  auto name = j.find("name");
  auto rev = j.find("revision");
  if (name != j.end() && name->is_string() && rev != j.end() && rev->is_number_integer()) {
    auto it = parsed_ns_.find(name->get<std::string>());
    if (it != parsed_ns_.end() && it->second->revision == rev->get<int64_t>()) return it->second;
  }
  auto snap = model::namespaceSnapshotFromJson(j);
  if (!snap.ok()) {
    log::warn("ignoring a namespace snapshot", {{"error", snap.error().message}});
    return nullptr;
  }
  auto shared = std::make_shared<const model::NamespaceSnapshot>(std::move(snap).value());
  parsed_ns_[shared->name] = shared;
  return shared;
}

namespace {

// What a step's check() can change in a record: compared instead of the whole record, which a
// host with a hundred tasks would otherwise serialise twice per task every second.
std::string watchedState(const TaskRecord& t) {
  std::string s = t.health;
  if (t.proxy)
    s += "|" + std::to_string(t.proxy->pid) + ":" + std::to_string(t.proxy->start_time) + ":" + t.proxy->cgroup;
  for (const auto& c : t.containers) {
    s += "|" + c.name + ":" + (c.process ? std::to_string(c.process->pid) : "-") + ":" +
         (c.exit_code ? std::to_string(*c.exit_code) : "-");
  }
  return s;
}

}  // namespace

void Agent::tick() {
  sweepPropagations();
  if (const auto now = deps_.clock.now(); !last_host_check_ || now - *last_host_check_ >= kHostCheckInterval) {
    last_host_check_ = now;
    for (TaskStep* s : deps_.steps) s->checkHost();
  }
  std::vector<TaskRecord> live;
  for (TaskRecord& t : tasks()) {
    if (t.status == TaskStatus::kRunning && t.desired_running && !isBusy(t.task_id)) live.push_back(std::move(t));
  }
  // Tasks are independent; a membership change is a runtime-API round trip and a record write per
  // proxy, so a namespace change reaches a host's proxies side by side rather than one by one.
  // A throw (a bad record, an allocation failure) costs this task's pass, never the agent.
  parallelFor(live.size(), kTickWorkers, [&](size_t i) {
    try {
      tickTask(live[i]);
    } catch (const std::exception& e) {
      log::error("task check failed; retrying next pass", {{"task", live[i].task_id}, {"error", e.what()}});
    }
  });
}

void Agent::tickTask(TaskRecord& t) {
  const std::string before = watchedState(t);
  bool changed = false;
  // Namespace changes: new members of the endpoints this task knows.
  std::shared_ptr<const model::NamespaceSnapshot> snap;
  {
    std::lock_guard lock(mu_);
    if (auto it = latest_ns_.find(t.task_id); it != latest_ns_.end()) snap = it->second;
  }
  if (snap && snap->revision != t.plan.namespace_revision) {
    auto changes = membershipChanges(t.plan, *snap);
    auto r = changes.empty() ? Result<void>() : deps_.membership.apply(t, changes);
    if (r.ok()) {
      applyMembership(t.plan, changes);
      t.plan.namespace_revision = snap->revision;
      changed = true;
      notePropagated(t.task_id, snap->name, snap->revision, !changes.empty());
    } else {
      log::warn("members not updated; retrying", {{"task", t.task_id}, {"error", r.error().message}});
    }
  }
  // Each step's watch: proxy health and restarts, app exits.
  std::optional<std::string> stop_reason;
  for (TaskStep* step : deps_.steps) {
    stop_reason = step->check(t);
    if (stop_reason) break;
  }
  changed = changed || watchedState(t) != before;
  if (changed) {
    if (auto r = deps_.store.save(t); !r.ok()) log::warn("task record not saved", {{"task", t.task_id}});
  }
  {
    std::lock_guard lock(mu_);
    auto old = tasks_.find(t.task_id);
    const bool health_changed = old != tasks_.end() && old->second.health != t.health;
    if (changed || old == tasks_.end()) tasks_[t.task_id] = t;
    if (health_changed) queueReportLocked(t);
  }
  if (stop_reason) {
    deps_.metrics.add("scagent_task_failures_total", {}, 1);
    log::warn("stopping task", {{"task", t.task_id}, {"reason", *stop_reason}});
    stopTask(t.task_id, *stop_reason);
  }
}

Result<void> Agent::flushReports() {
  std::lock_guard in_flight(report_mu_);
  std::map<std::string, TaskReport> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_reports_);
  }
  const std::string tok = token();
  if (batch.empty() || tok.empty()) {
    std::lock_guard lock(mu_);
    for (auto& [id, r] : batch) pending_reports_.try_emplace(id, std::move(r));
    return ok();
  }
  std::vector<TaskReport> list;
  for (const auto& [id, r] : batch) list.push_back(r);
  auto res = deps_.control_plane.report(tok, list);
  std::lock_guard lock(mu_);
  if (!res.ok()) {
    // Keep them; a newer report for the same task (already queued) wins.
    for (auto& [id, r] : batch) pending_reports_.try_emplace(id, std::move(r));
    return res;
  }
  for (const auto& [id, r] : batch)
    if (r.last_status == "STOPPED") reported_stopped_.insert(id);
  return ok();
}

std::chrono::milliseconds Agent::backoff(int failures) {
  // Jitter over an exponential ceiling: 1 s, 2 s, 4 s, 8 s, then 10 s. The cap keeps the first
  // poll after an outage well inside sccontrol's instance TTL (30 s by default): a control plane
  // that comes back must hear from the agent before it declares the instance lost.
  thread_local std::mt19937 rng{std::random_device{}()};
  const int64_t ceiling = std::min<int64_t>(10'000, int64_t{1000} << std::min(failures, 4));
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(ceiling / 2, ceiling)(rng));
}

std::string Agent::token() const {
  std::lock_guard lock(mu_);
  return registration_.token;
}

void Agent::wake() {
  {
    std::lock_guard lock(wait_mu_);
    poke_ = true;
  }
  wake_.notify_all();
}

void Agent::run(std::atomic<bool>& stop) {
  auto sleepUnlessStopped = [&](std::chrono::milliseconds d) {
    std::unique_lock lock(wait_mu_);
    wake_.wait_for(lock, d, [&] { return stop.load(); });
  };

  deps_.notifier.status("recovering tasks");
  if (auto r = recoverTasks(); !r.ok()) log::error("task recovery failed", {{"error", r.error().message}});

  // The monitor: tick(), reports and the watchdog, once a second and whenever a desired state
  // arrived, independent of the long-poll.
  std::thread monitor([&] {
    auto last_watchdog = std::chrono::steady_clock::now();
    while (!stop.load()) {
      try {
        tick();
        (void)flushReports();
      } catch (const std::exception& e) {
        log::error("monitor pass failed; retrying", {{"error", e.what()}});
      }
      if (auto every = deps_.notifier.watchdogInterval();
          every && std::chrono::steady_clock::now() - last_watchdog >= *every) {
        deps_.notifier.watchdog();
        last_watchdog = std::chrono::steady_clock::now();
      }
      std::unique_lock lock(wait_mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(1000), [&] { return stop.load() || poke_; });
      poke_ = false;
    }
  });

  int failures = 0;
  bool ready = false;
  auto last_heartbeat = std::chrono::steady_clock::now();
  while (!stop.load()) {
    if (deregistered_) {
      sleepUnlessStopped(std::chrono::seconds(1));
      continue;
    }
    if (token().empty()) {
      if (auto r = ensureRegistered(); !r.ok()) {
        log::error("registration failed; retrying", {{"error", r.error().message}});
        deps_.notifier.status("cannot register: " + r.error().message);
        sleepUnlessStopped(backoff(failures++));
        continue;
      }
    }
    if (!ready) {
      deps_.notifier.ready("registered as " + registration_.container_instance_arn);
      ready = true;
    }
    if (std::chrono::steady_clock::now() - last_heartbeat >= std::chrono::seconds(registration_.heartbeat_interval_s)) {
      (void)deps_.control_plane.heartbeat(token(), attributes_);
      last_heartbeat = std::chrono::steady_clock::now();
    }
    const auto t0 = deps_.clock.now();
    const int wait = std::min(config_.control_plane.poll_timeout_s, std::max(1, registration_.heartbeat_interval_s));
    auto desired = deps_.control_plane.desired(token(), etag_, wait);
    if (!desired.ok() && stop.load()) break;  // the long-poll was abandoned for the stop
    if (!desired.ok()) {
      if (desired.error().code == ErrorCode::kPermission) {
        sleepUnlessStopped(onTokenRefused(desired.error(), failures));
        continue;
      }
      if (desired.error().code == ErrorCode::kNotFound) {
        onDeregistered(desired.error());
        continue;
      }
      if (desired.error().code == ErrorCode::kFailedPrecondition) {
        // Answered, but too large to read: not an outage, and retrying will not shrink it.
        deps_.metrics.add("scagent_desired_state_too_large_total", {}, 1);
        log::error("desired state refused; tasks keep their last known state", {{"error", desired.error().message}});
        deps_.notifier.status("desired state too large to read; tasks keep their last known state");
        sleepUnlessStopped(backoff(failures++));
        continue;
      }
      if (!away_since_) {
        away_since_ = deps_.clock.now();
        log::warn("control plane unreachable; tasks keep serving with the last known state",
                  {{"error", desired.error().message}});
        deps_.notifier.status("control plane unreachable; tasks keep serving");
      }
      deps_.metrics.set("scagent_control_plane_up", {}, 0);
      sleepUnlessStopped(backoff(failures++));
      continue;
    }
    deps_.metrics.observe("scagent_poll_seconds", {}, std::chrono::duration<double>(deps_.clock.now() - t0).count());
    deps_.metrics.set("scagent_control_plane_up", {}, 1);
    if (away_since_) {
      const double away = std::chrono::duration<double>(deps_.clock.now() - *away_since_).count();
      size_t queued;
      {
        std::lock_guard lock(mu_);
        queued = pending_reports_.size();
      }
      log::info("control plane back",
                {{"awaySeconds", formatMetricValue(away)}, {"queuedReports", std::to_string(queued)}});
      away_since_.reset();
    }
    failures = 0;
    if (refusals_ > 0) {
      log::info("the instance token is accepted again", {{"refusals", std::to_string(refusals_)}});
      refusals_ = 0;
    }
    if (*desired) {
      etag_ = (*desired)->etag;
      applyDesired(**desired);
      wake();
      deps_.notifier.status(std::to_string(tasks().size()) + " tasks; namespace revision " +
                            std::to_string((*desired)->revision));
    }
    (void)flushReports();
  }
  deps_.notifier.stopping();
  wake();
  monitor.join();
  // Operations in flight finish; running tasks stay (an agent restart must not touch traffic).
  waitIdle();
  (void)flushReports();
}

}  // namespace sc::agent
