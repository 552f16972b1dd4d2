#include "agent/task_steps.h"

#include <algorithm>

#include "agent/proxy_mapping.h"
#include "agent/task_net.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/strings.h"

namespace sc::agent {

// ---- SandboxStep ----

SandboxStep::SandboxStep(netns::SandboxManager& sandboxes, std::string host_address, MetricsRegistry* metrics)
    : sandboxes_(sandboxes), host_address_(std::move(host_address)), metrics_(metrics) {
  if (metrics_) {
    metrics_->describe(
        "scagent_host_rules_repairs_total", "counter",
        "Times the host's shared iptables rules had drifted (a flush, a firewall reload) and were put back.");
    metrics_->add("scagent_host_rules_repairs_total", {}, 0);
  }
}

void SandboxStep::noteRepairs(const std::vector<std::string>& findings, const char* when) {
  if (findings.empty()) return;
  log::warn("host rules had drifted; repaired", {{"when", when}, {"drift", join(findings, "; ")}});
  if (metrics_) metrics_->add("scagent_host_rules_repairs_total", {}, 1);
}

void SandboxStep::checkHost() {
  auto r = sandboxes_.verifyHost();
  if (!r.ok()) {
    log::error("host rules not verified; retrying", {{"error", r.error().message}});
    return;
  }
  noteRepairs(*r, "periodic check");
}

Result<std::vector<std::string>> SandboxStep::setPeers(const std::vector<PeerInstance>& peers) {
  std::vector<std::string> findings;
  std::vector<netns::PeerSubnet> subnets;
  for (const PeerInstance& p : peers) {
    const std::string name = p.container_instance_arn.substr(p.container_instance_arn.rfind('/') + 1);
    auto subnet = Cidr::parse(p.task_cidr);
    auto via = IpAddress::parse(p.host_address);
    if (!subnet.ok() || !via.ok() || via->family != 4 || subnet->base.family != 4) {
      findings.push_back("peer " + name + " is not routed: task CIDR '" + p.task_cidr + "' or host address '" +
                         p.host_address + "' is not IPv4");
      continue;
    }
    if (auto self = IpAddress::parse(host_address_); self.ok() && subnet->contains(*self)) {
      findings.push_back("peer " + name + " is not routed: its task CIDR " + p.task_cidr +
                         " holds this host's address " + host_address_);
      continue;
    }
    subnets.push_back({name, *subnet, *via});
  }
  SC_ASSIGN_OR_RETURN(std::vector<std::string> more, sandboxes_.setPeers(std::move(subnets)));
  findings.insert(findings.end(), more.begin(), more.end());
  return findings;
}

void SandboxStep::recordFacts(TaskRecord& task, const netns::SandboxInfo& info) const {
  task.facts["task_ip"] = info.address.toString();
  task.facts["netns_path"] = info.netns_path;
  task.facts["hosts_path"] = info.hosts_path;
  const std::string host = host_address_.empty() ? info.gateway.toString() : host_address_;
  for (const auto& l : task.plan.ingress) {
    if (!l.publish) continue;
    for (const auto& m : info.port_mappings) {
      if (m.name != l.name) continue;
      task.facts["endpoint_ip:" + l.name] = host;
      task.facts["endpoint_port:" + l.name] = std::to_string(m.host_port);
    }
  }
}

Result<void> SandboxStep::up(TaskRecord& task) {
  SC_ASSIGN_OR_RETURN(netns::SandboxSpec spec, sandboxSpecFromPlan(task.plan, task.task_id));
  SC_ASSIGN_OR_RETURN(netns::ApplyResult applied, sandboxes_.apply(spec));
  noteRepairs(applied.host_repairs, "task start");
  recordFacts(task, applied.info);
  return ok();
}

Result<void> SandboxStep::down(TaskRecord& task) {
  SC_ASSIGN_OR_RETURN(netns::Outcome outcome, sandboxes_.remove(task.task_id));
  (void)outcome;  // kAbsent is fine: down() tolerates what was never made
  for (const char* k : {"task_ip", "netns_path", "hosts_path"}) task.facts.erase(k);
  return ok();
}

Result<bool> SandboxStep::adopt(TaskRecord& task) {
  SC_ASSIGN_OR_RETURN(auto info, sandboxes_.show(task.task_id));
  if (!info || info->state != "applied") return false;
  recordFacts(task, *info);
  return true;
}

// ---- ProxyStep ----

ProxyStep::ProxyStep(ProxySettings settings, Clock& clock, MetricsRegistry* metrics)
    : settings_(std::move(settings)), clock_(clock), metrics_(metrics) {
  if (metrics_) {
    metrics_->describe("scagent_proxy_restarts_total", "counter",
                       "Proxy restarts made by the health monitor (crashes, failed probes).");
  }
}

// Also called with 0: the series of a task's namespace and service exists from its proxy's first
// start or adoption on, at 0 until a restart.
void ProxyStep::countRestarts(const TaskRecord& task, int restarts) {
  if (metrics_ && restarts >= 0) {
    metrics_->add("scagent_proxy_restarts_total",
                  {{"namespace", task.plan.namespace_name}, {"service", task.plan.service_name}}, restarts);
  }
}

Result<inject::ProxyInstanceSpec> ProxyStep::specFor(const TaskRecord& task) const {
  inject::ProxyInstanceSpec spec;
  SC_ASSIGN_OR_RETURN(ProxyLayout layout, proxyLayoutFor(task, settings_.run_root));
  spec.config = proxyConfigFromPlan(task.plan, layout.run_dir);
  spec.config.state_dir = layout.state_dir;
  auto fact = [&](const char* k) {
    auto it = task.facts.find(k);
    return it == task.facts.end() ? std::string() : it->second;
  };
  spec.netns_path = fact("netns_path");
  spec.hosts_file = fact("hosts_path");
  spec.hostname = task.plan.hostname.empty() ? task.task_id : task.plan.hostname;
  spec.uid = layout.uid;
  spec.gid = layout.gid;
  spec.hidden_dirs = settings_.hidden_dirs;
  spec.cgroup = {.task_cgroup = "scagent-" + task.task_id,
                 .task_memory_bytes = static_cast<int64_t>(task.plan.carve.task_memory_mib) << 20,
                 .cpu_shares = static_cast<uint64_t>(task.plan.carve.task_cpu_units.value_or(0)),
                 .proxy_memory_bytes = static_cast<int64_t>(task.plan.carve.proxy_memory_mib) << 20,
                 .pids_max = settings_.task_pids_max};
  return spec;
}

void ProxyStep::keep(const std::string& task_id, std::unique_ptr<inject::ProxyInstance> instance) {
  auto r = std::make_shared<Running>();
  r->instance = std::move(instance);
  r->prober = std::make_unique<health::ProxyProber>(*r->instance);
  r->monitor = std::make_unique<health::HealthMonitor>(*r->prober, *r->prober, clock_, settings_.health);
  r->monitor->task_id = task_id;
  std::lock_guard lock(mu_);
  running_[task_id] = std::move(r);
}

Result<void> ProxyStep::up(TaskRecord& task) {
  auto task_ip = task.facts.find("task_ip");
  if (task_ip == task.facts.end() || task.facts.count("netns_path") == 0) {
    return makeError(ErrorCode::kFailedPrecondition, "start the proxy of task", task.task_id, "no network sandbox");
  }
  // The proxy's own uid, from the task's address (leased, unique on the host); never one a process
  // still runs as (an earlier proxy that outlived its teardown).
  SC_ASSIGN_OR_RETURN(Cidr cidr, Cidr::parse(settings_.task_cidr));
  SC_ASSIGN_OR_RETURN(uid_t uid, proxyUidFor(settings_.identity, cidr, task_ip->second));
  SC_ASSIGN_OR_RETURN(bool in_use, uidInUse(uid));
  if (in_use) {
    return makeError(ErrorCode::kFailedPrecondition, "start the proxy of task", task.task_id,
                     "uid " + std::to_string(uid) + " still has processes (an earlier proxy)");
  }
  task.facts[kProxyUidFact] = std::to_string(uid);
  SC_ASSIGN_OR_RETURN(inject::ProxyInstanceSpec spec, specFor(task));
  SC_ASSIGN_OR_RETURN(auto instance, inject::ProxyInstance::start(spec));
  const auto& rec = instance->container().record();
  task.proxy = ProcessRecord{rec.pid, rec.start_time, rec.cgroup};
  keep(task.task_id, std::move(instance));
  std::shared_ptr<Running> r;
  {
    std::lock_guard lock(mu_);
    r = running_[task.task_id];
  }
  const bool healthy = r->monitor->runUntil([&] { return r->monitor->state() == health::HealthState::kHealthy; },
                                            settings_.healthy_within);
  countRestarts(task, r->monitor->restarts());  // a fresh monitor: every restart so far was made here
  if (!healthy) {
    return makeError(ErrorCode::kTimeout, "start the proxy of task", task.task_id,
                     "not HEALTHY within " + std::to_string(settings_.healthy_within.count()) +
                         " ms: " + r->monitor->lastFacts().detail);
  }
  // Members known at start (the snapshot the plan was made from), once the runtime API answers.
  std::vector<inject::MembershipUpdate> updates;
  for (const auto& a : task.plan.egress) {
    inject::MembershipUpdate u{a.dns_name, a.port, {}};
    for (const auto& ad : a.addresses) u.upstreams.push_back({ad.ip, ad.port, ad.task_id, ad.healthy});
    if (!u.upstreams.empty()) updates.push_back(std::move(u));
  }
  if (!updates.empty()) SC_TRY(r->instance->driver().applyMembership(updates));
  task.health = "HEALTHY";
  return ok();
}

Result<void> ProxyStep::prepareStop(TaskRecord& task) {
  std::shared_ptr<Running> r;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(task.task_id); it != running_.end()) r = it->second;
  }
  if (!r) return ok();
  // The drain ends before the apps are told to stop: in-flight requests finish against a live app.
  return r->instance->drain(settings_.drain, clock_);
}

Result<void> ProxyStep::down(TaskRecord& task) {
  std::shared_ptr<Running> r;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(task.task_id); it != running_.end()) {
      r = it->second;
      running_.erase(it);
    }
  }
  if (!r) {
    // Not ours in this process (an agent restart, or up() failed early): find it, else clean the
    // cgroups and run directory a half-made start may have left. (A start that died before its
    // record kept the uid looks like an old record: the state and the task directory are in the
    // same places in both layouts, so adoption or the leftovers' removal still finds them.)
    SC_ASSIGN_OR_RETURN(inject::ProxyInstanceSpec spec, specFor(task));
    auto adopted = inject::ProxyInstance::adopt(spec);
    if (!adopted.ok()) {
      // No record to adopt from (the agent died between launch and writing it): whatever runs in
      // the task's proxy cgroup is still this task's proxy.
      SC_TRY(inject::ProxyInstance::removeLeftovers(spec));
    } else {
      SC_TRY((*adopted)->destroy());
    }
    task.proxy.reset();
    task.facts.erase(kProxyUidFact);
    return ok();
  }
  SC_TRY(r->instance->stop({settings_.drain, inject::kDefaultKillAfter}, clock_));
  task.proxy.reset();
  task.facts.erase(kProxyUidFact);
  task.health = "UNKNOWN";
  return ok();
}

Result<bool> ProxyStep::adopt(TaskRecord& task) {
  SC_ASSIGN_OR_RETURN(inject::ProxyInstanceSpec spec, specFor(task));
  auto adopted = inject::ProxyInstance::adopt(spec);
  if (!adopted.ok()) {
    if (adopted.error().code == ErrorCode::kNotFound) return false;
    return std::move(adopted).error();
  }
  keep(task.task_id, std::move(*adopted));
  countRestarts(task, 0);
  return true;
}

std::optional<std::string> ProxyStep::check(TaskRecord& task) {
  std::shared_ptr<Running> r;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(task.task_id); it != running_.end()) r = it->second;
  }
  if (!r) return std::nullopt;
  const int restarts_before = r->monitor->restarts();
  r->monitor->tick();
  countRestarts(task, r->monitor->restarts() - restarts_before);
  const auto state = r->monitor->state();
  task.health = state == health::HealthState::kHealthy     ? "HEALTHY"
                : state == health::HealthState::kUnhealthy ? "UNHEALTHY"
                                                           : task.health;
  const auto& rec = r->instance->container().record();
  task.proxy = ProcessRecord{rec.pid, rec.start_time, rec.cgroup};
  if (r->monitor->failed()) return "proxy unhealthy: " + r->monitor->reason();
  return std::nullopt;
}

Result<void> ProxyStep::apply(const TaskRecord& task, const std::vector<MembershipChange>& changes) {
  std::shared_ptr<Running> r;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(task.task_id); it != running_.end()) r = it->second;
  }
  if (!r) return makeError(ErrorCode::kNotFound, "update the members of task", task.task_id, "no proxy runs");
  std::vector<inject::MembershipUpdate> updates;
  for (const auto& c : changes) {
    inject::MembershipUpdate u{c.dns_name, c.port, {}};
    for (const auto& a : c.addresses) u.upstreams.push_back({a.ip, a.port, a.task_id, a.healthy});
    updates.push_back(std::move(u));
  }
  SC_ASSIGN_OR_RETURN(inject::ApplyOutcome outcome, r->instance->driver().applyMembership(updates));
  log::info("proxy members updated", {{"task", task.task_id},
                                      {"commands", std::to_string(outcome.commands)},
                                      {"reloaded", outcome.reloaded ? "true" : "false"}});
  return ok();
}

Result<std::string> ProxyStep::metricsPage(const std::string& task_id, std::chrono::milliseconds timeout) {
  std::shared_ptr<Running> r;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(task_id); it != running_.end()) r = it->second;
  }
  if (!r) return makeError(ErrorCode::kNotFound, "scrape the proxy of task", task_id, "no proxy runs");
  SC_ASSIGN_OR_RETURN(HttpResponse resp,
                      httpRequest({.url = "http://localhost/metrics",
                                   .unix_socket = inject::httpSocketPath(r->instance->spec().config.run_dir),
                                   .timeout = timeout,
                                   .connect_timeout = std::min(timeout, std::chrono::milliseconds(250))}));
  if (resp.status != 200) {
    return makeError(ErrorCode::kUnavailable, "scrape the proxy of task", task_id,
                     "HTTP " + std::to_string(resp.status));
  }
  return resp.body;
}

int ProxyStep::restarts(const std::string& task_id) {
  std::lock_guard lock(mu_);
  auto it = running_.find(task_id);
  return it == running_.end() ? 0 : it->second->monitor->restarts();
}

}  // namespace sc::agent
