// The Service Connect domain as users write it: ECS task definitions, services and clusters, and
// the namespace snapshot the control plane hands to agents. Plain data; parsing is in parse.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sc::model {

// The application protocol of a port; kTcp when the port mapping sets none.
enum class AppProtocol { kTcp, kHttp, kHttp2, kGrpc };
std::string appProtocolName(AppProtocol p);  // "tcp", "http", "http2", "grpc"
std::optional<AppProtocol> parseAppProtocol(std::string_view s);
bool isHttpFamily(AppProtocol p);  // http, http2, grpc

enum class NetworkMode { kAwsvpc, kBridge, kHost, kNone };
std::string networkModeName(NetworkMode m);
std::optional<NetworkMode> parseNetworkMode(std::string_view s);

struct PortMapping {
  std::optional<std::string> name;
  std::optional<int> container_port;
  std::optional<int> host_port;
  std::string protocol = "tcp";
  std::optional<AppProtocol> app_protocol;  // set only when the mapping names one
  std::optional<std::string> container_port_range;
};

// linuxParameters.tmpfs[]: a tmpfs mounted in the container.
struct TmpfsMount {
  std::string container_path;
  int size_mib = 0;
  std::vector<std::string> mount_options;
};

// The container's linuxParameters that scagent reads. Members it cannot honour are listed in
// `unsupported` (their names) so that the agent refuses the container instead of ignoring them.
struct LinuxParameters {
  std::vector<std::string> cap_add;   // capability names without CAP_, or ALL
  std::vector<std::string> cap_drop;  // the same
  std::optional<int> shared_memory_size_mib;
  std::vector<TmpfsMount> tmpfs;
  std::vector<std::string> unsupported;  // e.g. "devices", "initProcessEnabled"
};

struct ContainerDefinition {
  std::string name;
  std::string image;
  std::optional<int> memory;              // hard limit, MiB
  std::optional<int> memory_reservation;  // soft limit, MiB
  int cpu = 0;                            // CPU units
  bool essential = true;
  std::vector<PortMapping> port_mappings;
  std::vector<std::string> command;
  std::vector<std::string> entry_point;
  std::vector<std::pair<std::string, std::string>> environment;
  std::optional<int> stop_timeout;  // seconds
  std::string working_directory;
  std::string user;
  bool privileged = false;
  bool readonly_root_filesystem = false;
  LinuxParameters linux_parameters;
};

struct TaskDefinition {
  std::string family;
  std::optional<int> revision;
  std::optional<int> cpu_units;                     // task cpu ("256", "1 vCPU")
  std::optional<int> memory_mib;                    // task memory ("512", "1 GB")
  NetworkMode network_mode = NetworkMode::kBridge;  // ECS's default on Linux EC2
  std::optional<std::string> os_family;             // runtimePlatform.operatingSystemFamily
  std::vector<std::string> requires_compatibilities;
  std::vector<ContainerDefinition> containers;
};

struct ClientAlias {
  int port = 0;
  std::optional<std::string> dns_name;
};

struct TimeoutConfig {
  std::optional<int64_t> idle_timeout_s;
  std::optional<int64_t> per_request_timeout_s;
};

struct ServiceConnectService {
  std::string port_name;
  std::optional<std::string> discovery_name;
  std::vector<ClientAlias> client_aliases;
  std::optional<int> ingress_port_override;
  std::optional<TimeoutConfig> timeout;
  bool tls = false;
};

struct LogConfig {
  std::string driver;
  std::map<std::string, std::string> options;
};

struct AccessLogConfig {
  std::string format;          // TEXT | JSON
  bool include_query = false;  // includeQueryParameters == ENABLED
};

struct ServiceConnectConfig {
  bool enabled = false;
  std::optional<std::string> ns;
  std::vector<ServiceConnectService> services;
  std::optional<LogConfig> log;
  std::optional<AccessLogConfig> access_log;
};

struct ServiceDefinition {
  std::string name;
  std::string cluster;
  std::string task_definition;  // family, family:revision or ARN
  std::optional<int> desired_count;
  std::string deployment_controller = "ECS";
  std::string launch_type;
  std::optional<int> minimum_healthy_percent;
  std::optional<int> maximum_percent;
  std::optional<ServiceConnectConfig> service_connect;
};

struct ClusterDefinition {
  std::string name = "default";
  std::optional<std::string> default_namespace;
};

// One task's address for one endpoint, as the control plane registered it.
struct EndpointAddress {
  std::string ip;
  int port = 0;
  std::string task_id;
  bool healthy = true;
};

// One Cloud Map service (one discovery name) of a namespace, with its endpoint and VIP.
struct NamespaceService {
  std::string discovery_name;
  std::string dns_name;
  int port = 0;
  std::string vip;
  std::string owner_service;  // the ECS service that created it
  std::string task_definition_family;
  std::string port_name;
  bool discovery_name_defaulted = false;  // discoveryName was not set; portName was used
  AppProtocol app_protocol = AppProtocol::kTcp;
  TimeoutConfig timeout;
  std::vector<EndpointAddress> addresses;
};

// The namespace as it stands, as the control plane hands it to agents.
struct NamespaceSnapshot {
  std::string name;
  std::string vip_cidr = "127.255.0.0/16";
  int64_t revision = 0;
  std::optional<int64_t> total_tasks;  // tasks across all services in the namespace
  std::vector<NamespaceService> services;
};

}  // namespace sc::model
