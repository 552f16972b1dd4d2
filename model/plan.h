// TaskPlan: everything that must exist in one Service Connect task, resolved from the task
// definition, the service, the cluster defaults and the namespace snapshot.
//
// The plan is pure data. netns/ turns it into links, addresses and rules, inject/ into the proxy
// container and its HAProxy configuration. It round-trips through JSON (`scagent plan` prints it;
// `scagent net up --plan` reads it back).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/json_input.h"
#include "model/types.h"
#include "model/validate.h"

namespace sc::model {

// ECS's documented defaults; see docs/proxy.md for sources.
inline constexpr int64_t kDefaultHttpIdleTimeoutS = 300;
inline constexpr int64_t kDefaultTcpIdleTimeoutS = 3600;
inline constexpr int64_t kDefaultPerRequestTimeoutS = 15;
inline constexpr int kEphemeralPortMin = 32768;
inline constexpr int kEphemeralPortMax = 60999;
inline constexpr int kRecommendedProxyMemoryMib = 64;
inline constexpr int kLargeNamespaceExtraMemoryMib = 128;
inline constexpr int kRecommendedProxyCpuUnits = 256;
inline constexpr int kLargeNamespaceServices = 100;
inline constexpr int kLargeNamespaceTasks = 2000;
inline constexpr const char* kDefaultVipCidr = "127.255.0.0/16";

struct Timeouts {
  int64_t idle_s = kDefaultTcpIdleTimeoutS;  // 0: disabled
  std::optional<int64_t> per_request_s;      // HTTP family only; 0: disabled
};
Timeouts resolveTimeouts(AppProtocol proto, const std::optional<TimeoutConfig>& cfg);

// One port the proxy listens on for traffic into this task.
struct IngressListener {
  std::string name;                          // "ingress-<first discovery name>"
  std::vector<std::string> discovery_names;  // the Service Connect services it serves
  std::string container_name;                // the app container behind it
  int container_port = 0;                    // where the proxy forwards: 127.0.0.1:<containerPort>
  int listener_port = 0;                     // where the proxy listens in the task
  bool intercept = false;                    // awsvpc default: REDIRECT containerPort -> listener_port
  bool override = false;                     // listener_port came from ingressPortOverride
  bool publish = false;                      // bridge: published on the host (host port chosen at start)
  AppProtocol app_protocol = AppProtocol::kTcp;
  Timeouts timeouts;
};

// An endpoint this task serves (registered in the namespace once the task is healthy).
struct ServedEndpoint {
  std::string discovery_name;
  std::string dns_name;
  int port = 0;          // the alias port clients dial
  std::string url;       // "http://db:81"
  std::string listener;  // IngressListener::name
  int target_port = 0;   // the port other tasks' proxies connect to (awsvpc: containerPort or override)
  std::string vip;
};

// A name this task can reach. The app dials vip:port; the task's nat OUTPUT redirects that to the
// proxy's listener on 127.0.0.1:listener_port, a port clear of every port the task declares, so
// the proxy never holds a port an app may bind. listener_port 0 (records written before the
// redirect existed) means the proxy binds vip:port itself.
struct EgressAlias {
  std::string dns_name;
  int port = 0;
  std::string vip;
  int listener_port = 0;
  std::string discovery_name;
  AppProtocol app_protocol = AppProtocol::kTcp;
  Timeouts timeouts;
  std::vector<EndpointAddress> addresses;  // the tasks behind it, as of the snapshot
};

// An application port mapping published on the host (bridge mode).
struct PublishedPort {
  std::string container_name;
  int container_port = 0;
  int host_port = 0;  // 0: taken from the dynamic range when the task starts
  std::string protocol = "tcp";
};

struct Carve {
  int task_memory_mib = 0;
  int containers_memory_mib = 0;  // sum of hard limits
  int proxy_memory_mib = 0;       // task - containers; shared with containers without a limit
  std::vector<std::string> unlimited_containers;
  std::optional<int> task_cpu_units;
  int containers_cpu_units = 0;
  std::optional<int> proxy_cpu_units;
};

struct TaskPlan {
  std::string task_id;
  std::string family;
  std::optional<int> revision;
  std::string service_name;
  std::string cluster;
  std::string namespace_name;
  int64_t namespace_revision = 0;
  NetworkMode network_mode = NetworkMode::kAwsvpc;
  std::string hostname;
  std::vector<IngressListener> ingress;
  std::vector<ServedEndpoint> endpoints;
  std::vector<EgressAlias> egress;
  std::string vip_cidr = kDefaultVipCidr;
  std::vector<std::pair<std::string, std::string>> hosts;  // (address, name), aliases only
  std::vector<PublishedPort> published_ports;
  Carve carve;
  std::optional<LogConfig> log;
  std::optional<AccessLogConfig> access_log;
  std::vector<Diagnostic> warnings;
};

struct PlanInput {
  const TaskDefinition& task_definition;
  const ServiceDefinition& service;
  const ClusterDefinition* cluster = nullptr;
  const NamespaceSnapshot* namespace_ = nullptr;
};

struct PlanOptions {
  std::string task_id;                // empty: "<family>-plan"
  std::optional<uint64_t> port_seed;  // fixes the ephemeral listener ports (tests, golden files)
};

struct PlanOutcome {
  std::optional<TaskPlan> plan;
  std::vector<Diagnostic> errors;
};

// Validates, then resolves. Either `plan` is set (with its warnings) or `errors` is not empty.
PlanOutcome buildTaskPlan(const PlanInput& in, const PlanOptions& options);

// Picks `count` distinct ports in 32768-60999 that avoid `avoid`; deterministic for a given seed.
std::vector<int> pickEphemeralPorts(size_t count, const std::vector<int>& avoid, std::optional<uint64_t> seed);

// The first address of `cidr` (skipping the network address) not in `used`.
Result<std::string> allocateVip(const std::string& cidr, const std::vector<std::string>& used);

OrderedJson taskPlanToJson(const TaskPlan& plan);
Result<TaskPlan> taskPlanFromJson(const Json& j);
Result<TaskPlan> parseTaskPlan(std::string_view text);

}  // namespace sc::model
