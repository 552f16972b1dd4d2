#include "agent/proxy_mapping.h"

#include "model/validate.h"

namespace sc::agent {

std::string taskRunDir(const std::string& run_root, const std::string& task_id) {
  return run_root + "/tasks/" + task_id;
}

inject::ProxyProtocol toProxyProtocol(model::AppProtocol p) {
  switch (p) {
    case model::AppProtocol::kTcp:
      return inject::ProxyProtocol::kTcp;
    case model::AppProtocol::kHttp:
      return inject::ProxyProtocol::kHttp;
    case model::AppProtocol::kHttp2:
      return inject::ProxyProtocol::kHttp2;
    case model::AppProtocol::kGrpc:
      return inject::ProxyProtocol::kGrpc;
  }
  return inject::ProxyProtocol::kTcp;
}

namespace {
inject::ProxyTimeouts toTimeouts(const model::Timeouts& t) { return {t.idle_s, t.per_request_s}; }
}  // namespace

inject::ProxyConfig proxyConfigFromPlan(const model::TaskPlan& plan, const std::string& run_dir) {
  inject::ProxyConfig c;
  c.task_id = plan.task_id;
  c.run_dir = run_dir;
  for (const model::IngressListener& l : plan.ingress) {
    c.ingress.push_back({.name = l.name,
                         .discovery_names = l.discovery_names,
                         .listener_port = l.listener_port,
                         .container_port = l.container_port,
                         .protocol = toProxyProtocol(l.app_protocol),
                         .timeouts = toTimeouts(l.timeouts)});
  }
  for (const model::EgressAlias& a : plan.egress) {
    inject::EgressSpec e{.dns_name = a.dns_name,
                         .vip = a.vip,
                         .port = a.port,
                         .listener_port = a.listener_port,
                         .discovery_name = a.discovery_name,
                         .protocol = toProxyProtocol(a.app_protocol),
                         .timeouts = toTimeouts(a.timeouts)};
    for (const model::EndpointAddress& ad : a.addresses) {
      e.upstreams.push_back({.ip = ad.ip, .port = ad.port, .task_id = ad.task_id, .healthy = ad.healthy});
    }
    c.egress.push_back(std::move(e));
  }
  // Logs: ECS's logConfiguration names a Docker log driver. HAProxy can write to its stdout (the
  // launcher points it at the task's proxy.log) or to a syslog target; docs/proxy.md maps drivers.
  if (plan.log && plan.log->driver == "syslog") {
    auto it = plan.log->options.find("syslog-address");
    if (it != plan.log->options.end()) {
      // Validated when the service was accepted; a plan that fails now (a record edited on disk)
      // logs to the proxy's stdout rather than writing the value into haproxy.cfg.
      auto target = model::syslogTarget(it->second);
      c.log.syslog_target = target.ok() ? *target : "";
    } else {
      c.log.syslog_target = "/dev/log";
    }
  }
  if (plan.access_log) {
    c.log.access = plan.access_log->format == "JSON" ? inject::AccessLogFormat::kJson : inject::AccessLogFormat::kText;
    c.log.include_query = plan.access_log->include_query;
  }
  return c;
}

}  // namespace sc::agent
