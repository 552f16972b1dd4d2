// The HAProxy configuration of one task's proxy, as data, and its renderer (a pure function).
//
// inject/ does not depend on model/: the agent maps a TaskPlan onto ProxyConfig
// (agent/proxy_mapping.h). docs/proxy.md explains every default below and where it comes from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sc::inject {

enum class ProxyProtocol { kTcp, kHttp, kHttp2, kGrpc };
bool isHttpProtocol(ProxyProtocol p);
const char* proxyProtocolName(ProxyProtocol p);

// Defaults (docs/proxy.md, "Defaults and their sources").
inline constexpr int64_t kHttpIdleTimeoutS = 300;   // ECS TimeoutConfiguration, HTTP family
inline constexpr int64_t kTcpIdleTimeoutS = 3600;   // ECS TimeoutConfiguration, TCP
inline constexpr int64_t kPerRequestTimeoutS = 15;  // observed on ECS (containers-roadmap #1958)
inline constexpr int64_t kConnectTimeoutMs = 5000;  // scagent choice
inline constexpr int kRetries = 2;                  // "twice on connect failure or 503"
inline constexpr int kErrorLimit = 5;               // passive ejection: consecutive errors
inline constexpr int64_t kEjectionS = 30;           // passive ejection: time out of rotation
inline constexpr int64_t kCheckIntervalS = 5;       // active re-check while UP
inline constexpr int kMinSlots = 8;                 // server slots per egress backend
// A disabled timeout (0 in the service's TimeoutConfiguration) is rendered as HAProxy's largest.
inline constexpr const char* kDisabledTimeout = "24d";

struct ProxyTimeouts {
  int64_t idle_s = kTcpIdleTimeoutS;     // 0: disabled
  std::optional<int64_t> per_request_s;  // HTTP family; 0: disabled; unset: kPerRequestTimeoutS
};

// A port the proxy listens on for traffic into the task; forwards to 127.0.0.1:container_port.
struct IngressSpec {
  std::string name;  // unique; becomes frontend/backend "ingress_<name>"
  std::vector<std::string> discovery_names;
  int listener_port = 0;
  int container_port = 0;
  ProxyProtocol protocol = ProxyProtocol::kTcp;
  ProxyTimeouts timeouts;
};

struct Upstream {
  std::string ip;
  int port = 0;
  std::string task_id;  // informative
  bool healthy = true;  // unhealthy endpoints are kept out of rotation
  bool operator==(const Upstream& o) const { return ip == o.ip && port == o.port; }
};

// A name the task reaches: the proxy listens on 127.0.0.1:listener_port (the task's nat OUTPUT
// redirects vip:port there) and balances over `upstreams`. listener_port 0: it binds vip:port.
struct EgressSpec {
  std::string dns_name;
  std::string vip;
  int port = 0;
  int listener_port = 0;
  std::string discovery_name;
  ProxyProtocol protocol = ProxyProtocol::kTcp;
  ProxyTimeouts timeouts;
  std::vector<Upstream> upstreams;
  int slots = 0;  // 0: chosen by slotsFor(upstreams.size())
};

enum class AccessLogFormat { kNone, kText, kJson };

struct LogSpec {
  // Where HAProxy sends its log lines: empty = the proxy's stdout (the launcher points it at a
  // file); otherwise a syslog target HAProxy understands ("127.0.0.1:514", "/dev/log").
  std::string syslog_target;
  AccessLogFormat access = AccessLogFormat::kNone;
  bool include_query = false;
};

struct ProxyConfig {
  std::string task_id;
  std::string run_dir;  // sockets live here: admin.sock (runtime API), http.sock (/ready, /metrics)
  // The agent's own files of this proxy: haproxy.cfg, proxy.state, proxy.log. A root-owned directory
  // the proxy may read but not write, holding run_dir (the proxy uid's). Empty: run_dir itself, the
  // layout before each proxy had its own uid (a task record without `proxy_uid`).
  std::string state_dir;
  std::vector<IngressSpec> ingress;
  std::vector<EgressSpec> egress;
  LogSpec log;
  int maxconn = 4096;
  int nbthread = 1;
};

// Names shared by the renderer, the runtime API code and the health checks.
std::string ingressName(const IngressSpec& in);  // "ingress_<name>"
std::string egressName(const EgressSpec& eg);    // "egress_<dns>_<port>"
std::string slotName(int index);                 // "s<index>", 1-based
std::string adminSocketPath(const std::string& run_dir);
std::string httpSocketPath(const std::string& run_dir);
std::string masterSocketPath(const std::string& run_dir);
std::string configPath(const std::string& run_dir);
// Where the agent keeps this proxy's own files: state_dir, else run_dir.
std::string proxyStateDir(const ProxyConfig& config);

// Slots for `n` upstreams: at least kMinSlots, else the next power of two at or above 2n.
int slotsFor(size_t n);

// The whole haproxy.cfg. Deterministic: the same config gives the same text.
std::string renderHaproxyConfig(const ProxyConfig& config);

}  // namespace sc::inject
