// The agent's Prometheus page (`GET /metrics` on `metricsListen`): the agent's own registry, plus
// the exporter page of every running proxy relabelled with the task it belongs to, merged into
// one exposition (format 0.0.4).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/metrics.h"
#include "agent/task_record.h"
#include "common/result.h"
#include "model/plan.h"

namespace sc::agent {

// Where the proxies' pages come from: ProxyStep in `scagent run`, a fake in tests.
class ProxyMetricsSource {
 public:
  virtual ~ProxyMetricsSource() = default;
  // The exporter page of the task's proxy, answered within `timeout`; kNotFound when no proxy of
  // the task runs in this agent. Called from several threads at once.
  virtual Result<std::string> metricsPage(const std::string& task_id, std::chrono::milliseconds timeout) = 0;
};

// The labels each HAProxy proxy (frontend/backend; the exporter's `proxy` label) of the task's
// configuration adds to its samples: `direction` ("ingress" or "egress") and `discovery_name`
// (an ingress listener serving several discovery names lists them joined by ","). The names are
// inject's ingressName()/egressName() of the plan, so they cannot drift from the configuration.
std::map<std::string, Labels> proxyLabelsOf(const model::TaskPlan& plan);

struct MetricsPageOptions {
  std::chrono::milliseconds proxy_timeout{500};  // per proxy
  size_t parallel = 8;                           // proxies scraped at once
};

class MetricsPage {
 public:
  // `tasks` lists the tasks of the host (Agent::tasks()); every one with a proxy process is
  // scraped. Describes scagent_proxy_scrape_errors_total in `registry`.
  MetricsPage(MetricsRegistry& registry, ProxyMetricsSource& proxies, std::function<std::vector<TaskRecord>()> tasks,
              MetricsPageOptions options = {});

  // The whole page. A proxy that does not answer is left out and counted in
  // scagent_proxy_scrape_errors_total; the page never fails. With N proxies it takes at most
  // about ceil(N / parallel) * proxy_timeout. Thread-safe.
  std::string render();

 private:
  MetricsRegistry& registry_;
  ProxyMetricsSource& proxies_;
  std::function<std::vector<TaskRecord>()> tasks_;
  MetricsPageOptions options_;
};

// The content type of the page.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace sc::agent
