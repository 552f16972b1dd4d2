// The agent's configuration file (/etc/scagent/config.json). Every member is optional; unknown
// members are errors, so a typo never silently falls back to a default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/host_check.h"
#include "common/log.h"
#include "common/result.h"

namespace sc::agent {

struct ControlPlaneConfig {
  std::vector<std::string> endpoints;  // sccontrol replicas, tried in turn; required by `scagent run`
  std::string bootstrap_token_file;    // read at registration; the token itself never sits in config.json
  int poll_timeout_s = 30;             // long-poll length the agent asks for
};

struct NetworkSettings {
  std::string task_cidr = "10.222.0.0/16";  // addresses of the tasks on this host
  std::string bridge = "scbr0";
  std::string host_address;         // where bridge-mode endpoints are published; empty: the bridge gateway
  std::string veth_prefix = "scv";  // host ends of the tasks' veth pairs: <prefix><address offset>
};

// Each task's proxy runs as its own uid and gid, uidBase + the offset of the task's address in
// taskCidr (docs/security.md). The range must miss uid 0 and cover every offset of the CIDR.
struct ProxyIdentityConfig {
  uint32_t uid_base = 20000;  // offset 0 is the network address, so no task gets uidBase itself
  uint32_t uid_count = 65536;
};

struct AgentConfig {
  HostPolicy host_policy;
  log::Level log_level = log::Level::kInfo;
  std::string cluster = "default";
  std::string state_dir = "/var/lib/scagent";  // task records, IPAM leases, instance token
  std::string run_dir = "/run/scagent";        // per-task sockets
  std::string image_dir = "/var/lib/scagent/images";
  std::string metrics_listen = "127.0.0.1:9464";  // host:port, or unix:/path
  int drain_seconds = 20;
  int task_pids_limit = 4096;  // pids.max per task (proxy and apps together); 0: unlimited
  ControlPlaneConfig control_plane;
  NetworkSettings network;
  ProxyIdentityConfig proxy;  // "proxy": {"uidBase", "uidCount"}
};

inline constexpr const char* kDefaultConfigPath = "/etc/scagent/config.json";

Result<AgentConfig> parseAgentConfig(std::string_view text);
// Reads `path`; a missing file at the default path gives the defaults, elsewhere it is an error.
Result<AgentConfig> loadAgentConfig(const std::string& path, bool path_was_given);

}  // namespace sc::agent
