// SandboxManager: the task network sandbox. For each task it creates a named network namespace
// (<netns dir>/<prefix><task>), a veth pair whose task end is eth0 in the namespace and whose host
// end sits on the bridge, an address from the task CIDR with a default route via the bridge, the
// hosts file, and the task's rules in the namespace and on the host.
//
// State (in `state_dir`): ipam.json (address and host-port leases), tasks/<task>.json (one record
// per task, written when the task is complete: its spec and resolved addressing), host.json (what the
// first task set up on the host: whether the agent created the bridge, the previous ip_forward,
// the shared chains; removed with the last task). Every file is replaced atomically.
//
// Contract:
// * apply(spec) is idempotent: applying the same spec again changes nothing and says
//   kAlreadyPresent; a different spec for a live task is refused (remove it first). A failure at
//   any step undoes every step before it, so nothing of the task is left (failpoints
//   kApplyFailpoints cover each step).
// * remove(task) removes that task's objects and only those, keeps going past failures and
//   reports all of them; removing an unknown task is kAbsent. The last task's removal also removes
//   the shared chains and jumps, the bridge (when the agent created it) and restores ip_forward.
// * The shared rules accept forwarding only to and from the task CIDR through the bridge, and when
//   the agent turned ip_forward on, drop all other forwarding (task_rules.h). verifyHost() repairs
//   them.
// * recover() compares the kernel (namespaces and links by prefix, rules by chain and comment)
//   with the state directory and reports, or removes, what does not match.
// Thread-safe (one mutex) and safe against other processes using the same state directory (flock).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "netns/host_drift.h"
#include "netns/ipam.h"
#include "netns/kernel.h"
#include "netns/rule_applier.h"
#include "netns/spec.h"
#include "netns/system.h"
#include "netns/task_rules.h"

namespace sc::netns {

// The failpoints of apply(), in the order they are reached.
inline constexpr const char* kApplyFailpoints[] = {
    "netns.lease",      "netns.host_setup",   "netns.bridge",      "netns.ip_forward",
    "netns.host_base",  "netns.create_netns", "netns.create_veth", "netns.configure_task",
    "netns.hosts_file", "netns.task_rules",   "netns.host_rules",  "netns.commit",
};

struct SandboxInfo {
  std::string task_id;
  std::string state;  // "applying" or "applied"
  NetMode mode = NetMode::kAwsvpc;
  std::string netns_name, netns_path, host_veth, bridge, hosts_path;
  IpAddress address, gateway;
  int prefix = 0;
  std::vector<PortMapping> port_mappings;  // host ports resolved
  SandboxSpec spec;
};

// Where apply() spent its time (benchmarks): `create` is the lease, namespace, veth, addresses,
// routes and hosts file; `rules` the iptables transactions and the final record write.
struct ApplyTimings {
  std::chrono::nanoseconds create{0};
  std::chrono::nanoseconds rules{0};
};

// Where the last remove() spent its time (benchmarks): host rules (on a helper thread, in
// parallel with the kernel part), veth and namespace, then files and state.
struct RemoveTimings {
  std::chrono::nanoseconds rules{0};
  std::chrono::nanoseconds kernel{0};
  std::chrono::nanoseconds state{0};
};

struct ApplyResult {
  SandboxInfo info;
  Outcome outcome = Outcome::kCreated;
  ApplyTimings timings;
  std::vector<std::string> host_repairs;  // the shared rules had drifted and were put back (verifyHost())
};

// Another host's task subnet, reached through that host's address on a shared link (host-gw).
struct PeerSubnet {
  std::string name;  // the instance, for findings
  Cidr subnet;
  IpAddress via;
};

struct RecoveryReport {
  std::vector<std::string> findings;  // one line each: what did not match, and what was done
  size_t removed = 0;
};

class SandboxManager {
 public:
  struct Deps {
    NetworkKernel& kernel;
    RuleApplier& rules;
    HostSystem& system;
  };
  static Result<std::unique_ptr<SandboxManager>> create(NetConfig config, Deps deps);
  ~SandboxManager();

  Result<ApplyResult> apply(const SandboxSpec& spec);
  Result<Outcome> remove(const std::string& task_id);
  Result<std::optional<SandboxInfo>> show(const std::string& task_id);
  Result<std::vector<SandboxInfo>> list();
  Result<RecoveryReport> recover(bool remove_orphans);
  // Checks the shared chains and jumps and every live task's port mappings against the kernel and
  // puts back what is missing in one iptables-restore (a firewall reload, `iptables -t nat -F`, a
  // deleted chain). Returns what had drifted (empty: nothing, or no task on the host). apply()
  // runs it too before each task that is not the host's first.
  Result<std::vector<std::string>> verifyHost();
  // The other hosts' task subnets: a route to each via its host address (tagged kRouteProtocol)
  // and rules that let their tasks reach this host's tasks, and ours theirs, with the tasks' own
  // addresses (no masquerade between task subnets). A peer whose subnet overlaps this host's task
  // CIDR or an earlier peer's, whose address lies in this host's CIDR, or whose route the kernel
  // refuses (next hop not on-link) is left out and named in the returned findings. With no task
  // on the host the peers are kept and set up with the first task; the last task's removal
  // removes the routes. host.json records the subnets applied; verifyHost() puts back a missing route.
  Result<std::vector<std::string>> setPeers(std::vector<PeerSubnet> peers);

  // The rules of a live task, rendered (renderAllRules()).
  Result<std::string> renderRules(const SandboxInfo& info) const;

  RemoveTimings lastRemoveTimings() const { return last_remove_; }
  const NetConfig& config() const { return config_; }
  const ChainNames& chains() const { return chains_; }
  std::string netnsName(const std::string& task_id) const { return config_.netns_prefix + task_id; }

 private:
  struct HostState;
  SandboxManager(NetConfig config, Deps deps, Cidr cidr, Ipam ipam, UniqueFd lock);

  Result<ApplyResult> applyLocked(const SandboxSpec& spec);
  Result<Outcome> removeLocked(const std::string& task_id);
  Result<void> setupHost();
  Result<void> teardownHostIfIdle();
  Result<void> removeTaskHostRulesByTag(const std::string& task_id);
  Result<void> removeBase();
  Result<std::vector<std::string>> verifyHostLocked();
  // Routes and rules for peers_ (host set up); returns the peers left out and why.
  Result<std::vector<std::string>> setPeersLocked(std::vector<PeerSubnet> peers);
  Result<std::vector<std::string>> syncPeersLocked();
  Result<void> recordPeers(const std::vector<PeerSubnet>& routed);
  std::vector<PeerSubnet> recordedPeers() const;  // host.json's "peers"
  std::vector<std::string> verifyRoutesLocked();
  std::vector<std::string> removeRoutes();
  // The shared rules' inputs, with whether the agent turned ip_forward on (from host.json).
  HostBase hostBase() const;
  Result<std::optional<SandboxInfo>> loadRecord(const std::string& task_id) const;
  Result<void> writeRecord(const SandboxInfo& info) const;
  Result<std::vector<std::string>> recordedTasks() const;
  std::string vethName(const IpAddress& address) const;
  std::string recordPath(const std::string& task_id) const;
  std::string hostStatePath() const;

  NetConfig config_;
  Deps deps_;
  Cidr cidr_;
  ChainNames chains_;
  Ipam ipam_;
  UniqueFd lock_fd_;
  std::mutex mu_;
  RemoveTimings last_remove_;
  std::vector<PeerSubnet> peers_;  // as last given to setPeers(), those that can be routed
};

// Spec <-> JSON (the task record; `scagent net show`).
std::string specToJson(const SandboxSpec& spec);
Result<SandboxSpec> specFromJson(const std::string& text);

}  // namespace sc::netns
