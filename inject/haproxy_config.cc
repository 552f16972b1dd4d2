#include "inject/haproxy_config.h"

#include <algorithm>
#include <string_view>

#include "common/strings.h"

namespace sc::inject {
namespace {

// HAProxy proxy and server names allow [A-Za-z0-9_.:-]; anything else becomes '_'.
std::string safeName(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    bool okc =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    out.push_back(okc ? c : '_');
  }
  return out;
}

std::string seconds(int64_t s) { return s == 0 ? std::string(kDisabledTimeout) : std::to_string(s) + "s"; }

int64_t perRequest(const ProxyTimeouts& t) { return t.per_request_s.value_or(kPerRequestTimeoutS); }

// Timeouts of one frontend (client side) or backend (server side).
void clientTimeouts(std::string& o, ProxyProtocol p, const ProxyTimeouts& t) {
  o += "  timeout client " + seconds(t.idle_s) + "\n";
  if (isHttpProtocol(p)) o += "  timeout http-keep-alive " + seconds(t.idle_s) + "\n";
}

void serverTimeouts(std::string& o, ProxyProtocol p, const ProxyTimeouts& t) {
  o += "  timeout connect " + std::to_string(kConnectTimeoutMs) + "ms\n";
  // HTTP: the per-request timeout bounds the wait for each response. TCP: the idle timeout.
  o += "  timeout server " + seconds(isHttpProtocol(p) ? perRequest(t) : t.idle_s) + "\n";
  if (!isHttpProtocol(p)) o += "  timeout tunnel " + seconds(t.idle_s) + "\n";
}

void modeLines(std::string& o, ProxyProtocol p) { o += isHttpProtocol(p) ? "  mode http\n" : "  mode tcp\n"; }

std::string accessLogFormat(const LogSpec& log, ProxyProtocol p) {
  const char* path = log.include_query ? "%HU" : "%HP";
  if (log.access == AccessLogFormat::kJson) {
    if (isHttpProtocol(p)) {
      return std::string(
                 "{\\\"time\\\":\\\"%tr\\\",\\\"frontend\\\":\\\"%f\\\",\\\"backend\\\":\\\"%b\\\","
                 "\\\"server\\\":\\\"%s\\\",\\\"client\\\":\\\"%ci:%cp\\\",\\\"method\\\":\\\"%HM\\\","
                 "\\\"path\\\":\\\"") +
             path +
             "\\\",\\\"status\\\":%ST,\\\"bytes\\\":%B,\\\"duration_ms\\\":%Ta,"
             "\\\"retries\\\":%rc,\\\"termination\\\":\\\"%tsc\\\"}";
    }
    return "{\\\"time\\\":\\\"%t\\\",\\\"frontend\\\":\\\"%f\\\",\\\"backend\\\":\\\"%b\\\","
           "\\\"server\\\":\\\"%s\\\",\\\"client\\\":\\\"%ci:%cp\\\",\\\"bytes\\\":%B,"
           "\\\"duration_ms\\\":%Tt,\\\"termination\\\":\\\"%ts\\\"}";
  }
  if (isHttpProtocol(p)) {
    return std::string("%tr %f %b/%s %ci:%cp %HM ") + path + " %ST %B %Ta %rc %tsc";
  }
  return "%t %f %b/%s %ci:%cp %B %Tt %ts";
}

void logLines(std::string& o, const LogSpec& log, ProxyProtocol p) {
  if (log.access == AccessLogFormat::kNone) {
    o += "  no log\n";
    return;
  }
  o += "  log global\n";
  o += "  log-format \"" + accessLogFormat(log, p) + "\"\n";
}

}  // namespace

bool isHttpProtocol(ProxyProtocol p) { return p != ProxyProtocol::kTcp; }

const char* proxyProtocolName(ProxyProtocol p) {
  switch (p) {
    case ProxyProtocol::kTcp:
      return "tcp";
    case ProxyProtocol::kHttp:
      return "http";
    case ProxyProtocol::kHttp2:
      return "http2";
    case ProxyProtocol::kGrpc:
      return "grpc";
  }
  return "tcp";
}

std::string ingressName(const IngressSpec& in) {
  std::string_view n = in.name;
  if (n.starts_with("ingress-")) n.remove_prefix(8);  // the plan's names already say "ingress-"
  return "ingress_" + safeName(n);
}
std::string egressName(const EgressSpec& eg) {
  return "egress_" + safeName(eg.dns_name) + "_" + std::to_string(eg.port);
}
std::string slotName(int index) {
  std::string s = "s";  // not "s" + to_string(): g++ 12 -O3 reports a false -Wrestrict
  s += std::to_string(index);
  return s;
}
std::string adminSocketPath(const std::string& run_dir) { return run_dir + "/admin.sock"; }
std::string httpSocketPath(const std::string& run_dir) { return run_dir + "/http.sock"; }
std::string masterSocketPath(const std::string& run_dir) { return run_dir + "/master.sock"; }
std::string configPath(const std::string& run_dir) { return run_dir + "/haproxy.cfg"; }
std::string proxyStateDir(const ProxyConfig& config) {
  return config.state_dir.empty() ? config.run_dir : config.state_dir;
}

int slotsFor(size_t n) {
  size_t want = std::max<size_t>(static_cast<size_t>(kMinSlots), 2 * n);
  size_t p = 1;
  while (p < want) p <<= 1;
  return static_cast<int>(p);
}

std::string renderHaproxyConfig(const ProxyConfig& c) {
  std::string o;
  o += "# scagent proxy for task " + c.task_id + "; rendered by inject/haproxy_config.cc, do not edit.\n";
  o += "global\n";
  o += "  master-worker\n";
  o += "  nbthread " + std::to_string(c.nbthread) + "\n";
  o += "  maxconn " + std::to_string(c.maxconn) + "\n";
  o += "  hard-stop-after 30s\n";
  o += "  stats socket " + adminSocketPath(c.run_dir) + " mode 600 level admin expose-fd listeners\n";
  o += "  stats timeout 10s\n";
  if (c.log.syslog_target.empty() || !isConfigToken(c.log.syslog_target)) {
    // An unsafe target (a newline would add directives) is never written: stdout instead.
    o += "  log stdout format raw local0\n";
  } else {
    o += "  log " + c.log.syslog_target + " local0\n";
  }
  o += "\n";
  o += "defaults\n";
  o += "  timeout connect " + std::to_string(kConnectTimeoutMs) + "ms\n";
  o += "  timeout client " + std::to_string(kTcpIdleTimeoutS) + "s\n";
  o += "  timeout server " + std::to_string(kTcpIdleTimeoutS) + "s\n";
  o += "  timeout client-fin 1s\n";
  o += "  timeout server-fin 1s\n";
  o += "  balance roundrobin\n";
  o += "  retries " + std::to_string(kRetries) + "\n";
  o += "  option redispatch 1\n";
  o += "\n";
  o += "# Admin: /ready answers once the proxy runs with this configuration; /metrics is Prometheus.\n";
  o += "frontend admin\n";
  o += "  mode http\n";
  o += "  bind unix@" + httpSocketPath(c.run_dir) + " mode 600\n";
  o += "  timeout client 10s\n";
  o += "  no log\n";
  o += "  http-request return status 200 content-type text/plain string \"ready\" if { path /ready }\n";
  o += "  http-request use-service prometheus-exporter if { path /metrics }\n";
  o += "  http-request return status 404 content-type text/plain string \"not found\"\n";

  for (const IngressSpec& in : c.ingress) {
    const std::string name = ingressName(in);
    o += "\n# Ingress " + in.name + " (";
    for (size_t i = 0; i < in.discovery_names.size(); ++i) {
      o += (i ? ", " : "") + in.discovery_names[i];
    }
    o += "): " + std::string(proxyProtocolName(in.protocol)) + ", listener " + std::to_string(in.listener_port) +
         " -> 127.0.0.1:" + std::to_string(in.container_port) + "\n";
    o += "frontend " + name + "\n";
    modeLines(o, in.protocol);
    bool h2 = in.protocol == ProxyProtocol::kHttp2 || in.protocol == ProxyProtocol::kGrpc;
    o += "  bind :" + std::to_string(in.listener_port) + (h2 ? " proto h2" : "") + "\n";
    clientTimeouts(o, in.protocol, in.timeouts);
    logLines(o, c.log, in.protocol);
    if (isHttpProtocol(in.protocol)) o += "  option http-keep-alive\n";
    o += "  default_backend " + name + "\n";
    o += "backend " + name + "\n";
    modeLines(o, in.protocol);
    serverTimeouts(o, in.protocol, in.timeouts);
    if (isHttpProtocol(in.protocol)) o += "  retry-on conn-failure empty-response 503\n";
    o += "  server app 127.0.0.1:" + std::to_string(in.container_port) + (h2 ? " proto h2" : "") + "\n";
  }

  for (const EgressSpec& eg : c.egress) {
    const std::string name = egressName(eg);
    const int slots = eg.slots > 0 ? eg.slots : slotsFor(eg.upstreams.size());
    bool h2 = eg.protocol == ProxyProtocol::kHttp2 || eg.protocol == ProxyProtocol::kGrpc;
    const std::string bind =
        eg.listener_port ? "127.0.0.1:" + std::to_string(eg.listener_port) : eg.vip + ":" + std::to_string(eg.port);
    o += "\n# Egress " + eg.dns_name + ":" + std::to_string(eg.port) + " -> " + eg.discovery_name + ": " +
         proxyProtocolName(eg.protocol) + ", " + std::to_string(slots) + " server slots";
    o += eg.listener_port ? ", redirected from " + eg.vip + ":" + std::to_string(eg.port) + "\n" : "\n";
    o += "frontend " + name + "\n";
    modeLines(o, eg.protocol);
    o += "  bind " + bind + (h2 ? " proto h2" : "") + "\n";
    clientTimeouts(o, eg.protocol, eg.timeouts);
    logLines(o, c.log, eg.protocol);
    if (isHttpProtocol(eg.protocol)) o += "  option http-keep-alive\n";
    o += "  default_backend " + name + "\n";
    o += "backend " + name + "\n";
    modeLines(o, eg.protocol);
    serverTimeouts(o, eg.protocol, eg.timeouts);
    if (isHttpProtocol(eg.protocol)) o += "  retry-on conn-failure empty-response 503\n";
    // Passive ejection: kErrorLimit consecutive errors mark a server down; it is re-checked every
    // kEjectionS and returns on the first success.
    o += "  default-server check inter " + std::to_string(kCheckIntervalS) + "s downinter " +
         std::to_string(kEjectionS) + "s rise 1 fall 3 observe " + (isHttpProtocol(eg.protocol) ? "layer7" : "layer4") +
         " error-limit " + std::to_string(kErrorLimit) + " on-error mark-down" + (h2 ? " proto h2" : "") + "\n";
    size_t placed = 0;
    for (int i = 1; i <= slots; ++i) {
      std::string line = "  server " + slotName(i) + " ";
      // Healthy upstreams fill the first slots, in order; the rest wait, disabled, for the runtime API.
      while (placed < eg.upstreams.size() && !eg.upstreams[placed].healthy) ++placed;
      if (placed < eg.upstreams.size()) {
        const Upstream& u = eg.upstreams[placed++];
        line += u.ip + ":" + std::to_string(u.port);
      } else {
        line += "0.0.0.0:0 disabled";
      }
      o += line + "\n";
    }
  }
  return o;
}

}  // namespace sc::inject
