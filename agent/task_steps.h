// The real steps of a task's life, over the libraries: the network sandbox (netns/), the proxy
// (inject/ + health/), and (apps_step.h) the app containers. The Lifecycle drives them in order.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/agent.h"
#include "agent/lifecycle.h"
#include "agent/metrics_page.h"
#include "agent/proxy_identity.h"
#include "common/clock.h"
#include "health/health.h"
#include "health/proxy_prober.h"
#include "inject/proxy_instance.h"
#include "netns/sandbox.h"

namespace sc::agent {

// PROVISIONING: namespace, veth, address, rules, hosts file. Records task_ip, netns_path,
// hosts_path and, per listener, where other tasks reach it (endpoint_ip:/endpoint_port:<listener>).
class SandboxStep final : public TaskStep, public PeerNetwork {
 public:
  // `host_address`: the address bridge-mode endpoints are published on; empty: the bridge gateway.
  // With `metrics`, repairs of the shared rules count in scagent_host_rules_repairs_total.
  SandboxStep(netns::SandboxManager& sandboxes, std::string host_address, MetricsRegistry* metrics = nullptr);
  // TaskStep
  std::string name() const override { return "sandbox"; }
  TaskStatus upStatus() const override { return TaskStatus::kProvisioning; }
  Result<void> up(TaskRecord& task) override;
  Result<void> down(TaskRecord& task) override;
  Result<bool> adopt(TaskRecord& task) override;
  void checkHost() override;
  // PeerNetwork
  Result<std::vector<std::string>> setPeers(const std::vector<PeerInstance>& peers) override;

 private:
  void recordFacts(TaskRecord& task, const netns::SandboxInfo& info) const;
  void noteRepairs(const std::vector<std::string>& findings, const char* when);
  netns::SandboxManager& sandboxes_;
  std::string host_address_;
  MetricsRegistry* metrics_;
};

struct ProxySettings {
  std::string run_root = "/run/scagent";
  // Each task's proxy runs as uidBase + the offset of its address in task_cidr (agent/proxy_identity.h).
  ProxyIdentityConfig identity;
  std::string task_cidr = "10.222.0.0/16";
  // Hidden from every proxy (the run root, the state and image directories): each sees only its
  // own task directory.
  std::vector<std::string> hidden_dirs;
  std::chrono::milliseconds drain{inject::kDefaultDrain};
  std::chrono::milliseconds healthy_within{10'000};
  health::HealthPolicy health;
  int64_t task_pids_max = 4096;  // pids.max of each task's cgroup (proxy and apps); 0: unlimited
};

// PENDING: the proxy container, started and probed until HEALTHY (apps start only after). Drains
// on stop. check() runs the health monitor (restarts under its policy); a spent restart budget
// stops the task. Also the MembershipApplier: endpoint changes go through the runtime API; and
// the source of the proxies' metrics pages. With `metrics`, each restart the health monitor makes
// counts in scagent_proxy_restarts_total{namespace,service}.
class ProxyStep final : public TaskStep, public MembershipApplier, public ProxyMetricsSource {
 public:
  ProxyStep(ProxySettings settings, Clock& clock, MetricsRegistry* metrics = nullptr);
  // TaskStep
  std::string name() const override { return "proxy"; }
  TaskStatus upStatus() const override { return TaskStatus::kPending; }
  Result<void> up(TaskRecord& task) override;
  Result<void> prepareStop(TaskRecord& task) override;
  Result<void> down(TaskRecord& task) override;
  Result<bool> adopt(TaskRecord& task) override;
  std::optional<std::string> check(TaskRecord& task) override;
  // MembershipApplier
  Result<void> apply(const TaskRecord& task, const std::vector<MembershipChange>& changes) override;

  // ProxyMetricsSource: the proxy's /metrics page of a task (MetricsPage relabels and merges them).
  Result<std::string> metricsPage(const std::string& task_id, std::chrono::milliseconds timeout) override;

  int restarts(const std::string& task_id);

 private:
  struct Running {
    std::unique_ptr<inject::ProxyInstance> instance;
    std::unique_ptr<health::ProxyProber> prober;
    std::unique_ptr<health::HealthMonitor> monitor;
  };
  Result<inject::ProxyInstanceSpec> specFor(const TaskRecord& task) const;
  void keep(const std::string& task_id, std::unique_ptr<inject::ProxyInstance> instance);
  void countRestarts(const TaskRecord& task, int restarts);

  ProxySettings settings_;
  Clock& clock_;
  MetricsRegistry* metrics_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Running>> running_;
};

}  // namespace sc::agent
