#include "agent/metrics_page.h"

#include <algorithm>
#include <atomic>
#include <optional>

#include "agent/proxy_mapping.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/strings.h"
#include "inject/haproxy_config.h"

namespace sc::agent {

std::map<std::string, Labels> proxyLabelsOf(const model::TaskPlan& plan) {
  std::map<std::string, Labels> out;
  const inject::ProxyConfig config = proxyConfigFromPlan(plan, "");
  for (const inject::IngressSpec& in : config.ingress) {
    out[inject::ingressName(in)] = {{"direction", "ingress"}, {"discovery_name", join(in.discovery_names, ",")}};
  }
  for (const inject::EgressSpec& eg : config.egress) {
    out[inject::egressName(eg)] = {{"direction", "egress"}, {"discovery_name", eg.discovery_name}};
  }
  return out;
}

MetricsPage::MetricsPage(MetricsRegistry& registry, ProxyMetricsSource& proxies,
                         std::function<std::vector<TaskRecord>()> tasks, MetricsPageOptions options)
    : registry_(registry), proxies_(proxies), tasks_(std::move(tasks)), options_(options) {
  registry_.describe("scagent_proxy_scrape_errors_total", "counter",
                     "Proxy metrics pages that did not answer in time or answered an error; left out of the page.");
  registry_.add("scagent_proxy_scrape_errors_total", {}, 0);  // present from the start, so rate() works
}

std::string MetricsPage::render() {
  std::vector<TaskRecord> scraped;
  for (TaskRecord& t : tasks_()) {
    if (t.proxy && t.status != TaskStatus::kStopped) scraped.push_back(std::move(t));
  }
  // Scrape with a few workers: one hung proxy costs one timeout, not the page.
  std::vector<std::optional<std::string>> pages(scraped.size());
  std::atomic<int> errors{0};
  parallelFor(scraped.size(), std::max<size_t>(options_.parallel, 1), [&](size_t i) {
    auto page = proxies_.metricsPage(scraped[i].task_id, options_.proxy_timeout);
    if (page.ok()) {
      pages[i] = std::move(*page);
    } else if (page.error().code != ErrorCode::kNotFound) {  // not ours (yet): nothing to scrape
      ++errors;
      log::debug("proxy metrics not scraped", {{"task", scraped[i].task_id}, {"error", page.error().message}});
    }
  });
  if (errors > 0) registry_.add("scagent_proxy_scrape_errors_total", {}, errors.load());

  std::vector<Family> families = registry_.snapshot();
  for (size_t i = 0; i < scraped.size(); ++i) {
    if (!pages[i]) continue;
    const TaskRecord& t = scraped[i];
    std::vector<Family> proxy = parsePrometheusText(*pages[i]);
    const std::map<std::string, Labels> by_proxy = proxyLabelsOf(t.plan);
    addLabels(proxy, {{"namespace", t.plan.namespace_name}, {"service", t.plan.service_name}, {"task", t.task_id}},
              [&](const Labels& own) -> Labels {
                for (const auto& [k, v] : own) {
                  if (k != "proxy") continue;
                  if (auto it = by_proxy.find(v); it != by_proxy.end()) return it->second;
                }
                return {};
              });
    mergeFamilies(families, std::move(proxy));
  }
  return renderPrometheusText(families);
}

}  // namespace sc::agent
