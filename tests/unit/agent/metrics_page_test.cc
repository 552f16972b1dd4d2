#include "agent/metrics_page.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "agent/proxy_mapping.h"
#include "inject/haproxy_config.h"
#include "tests/support/golden.h"

namespace sc::agent {
namespace {

// Proxies answering from a table; records who was asked and with which timeout.
class FakeProxies : public ProxyMetricsSource {
 public:
  Result<std::string> metricsPage(const std::string& task_id, std::chrono::milliseconds timeout) override {
    std::lock_guard lock(mu);
    asked.insert(task_id);
    timeouts.insert(timeout.count());
    auto it = pages.find(task_id);
    if (it == pages.end()) return makeError(ErrorCode::kNotFound, "scrape the proxy of task", task_id, "no proxy runs");
    if (it->second == "<down>") {
      return makeError(ErrorCode::kUnavailable, "scrape the proxy of task", task_id, "connection refused");
    }
    return it->second;
  }
  std::mutex mu;
  std::map<std::string, std::string> pages;
  std::set<std::string> asked;
  std::set<int64_t> timeouts;
};

model::TaskPlan webPlan() {
  model::TaskPlan p;
  p.task_id = "t1";
  p.service_name = "web";
  p.namespace_name = "demo";
  model::IngressListener in;
  in.name = "ingress-web";
  in.discovery_names = {"web"};
  in.container_port = 8080;
  in.listener_port = 40000;
  in.app_protocol = model::AppProtocol::kHttp;
  p.ingress.push_back(in);
  model::EgressAlias eg;
  eg.dns_name = "db";
  eg.port = 81;
  eg.vip = "127.255.0.1";
  eg.discovery_name = "db-http";
  p.egress.push_back(eg);
  return p;
}

TaskRecord task(const std::string& id, model::TaskPlan plan, bool with_proxy = true,
                TaskStatus status = TaskStatus::kRunning) {
  TaskRecord t;
  t.task_id = id;
  plan.task_id = id;
  t.plan = std::move(plan);
  t.status = status;
  if (with_proxy) t.proxy = ProcessRecord{1234, 1, ""};
  return t;
}

// What HAProxy's exporter prints, reduced: frontends and backends carry `proxy`, servers add
// `server`, process-wide figures carry neither.
constexpr const char* kProxyPage = R"(# HELP haproxy_process_uptime_seconds How long ago this worker process was started (seconds).
# TYPE haproxy_process_uptime_seconds gauge
haproxy_process_uptime_seconds 12
# HELP haproxy_frontend_http_responses_total Total number of HTTP responses sent.
# TYPE haproxy_frontend_http_responses_total counter
haproxy_frontend_http_responses_total{proxy="ingress_web",code="2xx"} 17
haproxy_frontend_http_responses_total{proxy="admin",code="2xx"} 3
# TYPE haproxy_server_current_sessions gauge
haproxy_server_current_sessions{proxy="egress_db_81",server="s1"} 2
)";

TEST(MetricsPageTest, ProxyNamesAreThoseOfTheRenderedConfiguration) {
  const model::TaskPlan plan = webPlan();
  const auto labels = proxyLabelsOf(plan);
  EXPECT_EQ(labels, (std::map<std::string, Labels>{
                        {"ingress_web", {{"direction", "ingress"}, {"discovery_name", "web"}}},
                        {"egress_db_81", {{"direction", "egress"}, {"discovery_name", "db-http"}}}}));
  const std::string config = inject::renderHaproxyConfig(proxyConfigFromPlan(plan, "/run/scagent/tasks/t1"));
  for (const auto& [name, l] : labels) {
    EXPECT_NE(config.find("\nfrontend " + name + "\n"), std::string::npos) << name << "\n" << config;
    EXPECT_NE(config.find("\nbackend " + name + "\n"), std::string::npos) << name;
  }
}

TEST(MetricsPageTest, OneProxyPageIsRelabelledAndFollowsTheAgentsOwnFigures) {
  MetricsRegistry registry;
  registry.describe("scagent_tasks", "gauge", "Tasks on this host by ECS state.");
  registry.set("scagent_tasks", {{"state", "RUNNING"}}, 1);
  FakeProxies proxies;
  proxies.pages["t1"] = kProxyPage;
  MetricsPage page(registry, proxies, [] { return std::vector<TaskRecord>{task("t1", webPlan())}; });
  EXPECT_EQ(page.render(),
            "# HELP scagent_proxy_scrape_errors_total Proxy metrics pages that did not answer in time or answered an "
            "error; left out of the page.\n"
            "# TYPE scagent_proxy_scrape_errors_total counter\n"
            "scagent_proxy_scrape_errors_total 0\n"
            "# HELP scagent_tasks Tasks on this host by ECS state.\n"
            "# TYPE scagent_tasks gauge\n"
            "scagent_tasks{state=\"RUNNING\"} 1\n"
            "# HELP haproxy_process_uptime_seconds How long ago this worker process was started (seconds).\n"
            "# TYPE haproxy_process_uptime_seconds gauge\n"
            "haproxy_process_uptime_seconds{namespace=\"demo\",service=\"web\",task=\"t1\"} 12\n"
            "# HELP haproxy_frontend_http_responses_total Total number of HTTP responses sent.\n"
            "# TYPE haproxy_frontend_http_responses_total counter\n"
            "haproxy_frontend_http_responses_total{namespace=\"demo\",service=\"web\",task=\"t1\",direction=\"ingress\","
            "discovery_name=\"web\",proxy=\"ingress_web\",code=\"2xx\"} 17\n"
            "haproxy_frontend_http_responses_total{namespace=\"demo\",service=\"web\",task=\"t1\",proxy=\"admin\","
            "code=\"2xx\"} 3\n"
            "# TYPE haproxy_server_current_sessions gauge\n"
            "haproxy_server_current_sessions{namespace=\"demo\",service=\"web\",task=\"t1\",direction=\"egress\","
            "discovery_name=\"db-http\",proxy=\"egress_db_81\",server=\"s1\"} 2\n");
  EXPECT_EQ(proxies.timeouts, std::set<int64_t>{500});
}

TEST(MetricsPageTest, PagesOfSeveralProxiesShareFamiliesAndSilentOnesAreCounted) {
  MetricsRegistry registry;
  FakeProxies proxies;
  proxies.pages["t1"] = kProxyPage;
  proxies.pages["t2"] = kProxyPage;
  proxies.pages["t3"] = "<down>";
  proxies.pages["stopped"] = kProxyPage;
  proxies.pages["starting"] = kProxyPage;
  model::TaskPlan api = webPlan();
  api.service_name = "api";
  MetricsPage page(
      registry, proxies,
      [&] {
        return std::vector<TaskRecord>{task("t1", webPlan()), task("t2", api), task("t3", webPlan()),
                                       task("t4", webPlan()),  // a proxy record, but not ours: kNotFound
                                       task("starting", webPlan(), false),
                                       task("stopped", webPlan(), true, TaskStatus::kStopped)};
      },
      {.proxy_timeout = std::chrono::milliseconds(250), .parallel = 2});
  const std::string text = page.render();
  EXPECT_EQ(proxies.asked, (std::set<std::string>{"t1", "t2", "t3", "t4"}));
  EXPECT_EQ(proxies.timeouts, std::set<int64_t>{250});
  auto families = parsePrometheusText(text);
  auto find = [&](const std::string& name) -> const Family* {
    for (const auto& f : families)
      if (f.name == name) return &f;
    return nullptr;
  };
  size_t headers = 0;
  for (size_t p = text.find("# TYPE haproxy_server_current_sessions "); p != std::string::npos;
       p = text.find("# TYPE haproxy_server_current_sessions ", p + 1))
    ++headers;
  EXPECT_EQ(headers, 1u) << text;
  const Family* sessions = find("haproxy_server_current_sessions");
  ASSERT_NE(sessions, nullptr);
  ASSERT_EQ(sessions->samples.size(), 2u);
  EXPECT_EQ(sessions->samples[0].labels[1], (std::pair<std::string, std::string>{"service", "web"}));
  EXPECT_EQ(sessions->samples[0].labels[2], (std::pair<std::string, std::string>{"task", "t1"}));
  EXPECT_EQ(sessions->samples[1].labels[1], (std::pair<std::string, std::string>{"service", "api"}));
  EXPECT_EQ(sessions->samples[1].labels[2], (std::pair<std::string, std::string>{"task", "t2"}));
  const Family* errors = find("scagent_proxy_scrape_errors_total");
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->samples.size(), 1u);
  EXPECT_EQ(errors->samples[0].value, "1");
  EXPECT_EQ(text.find("t3"), std::string::npos);
  // Counted again at the next scrape.
  (void)page.render();
  EXPECT_NE(renderPrometheusText(registry.snapshot()).find("scagent_proxy_scrape_errors_total 2\n"), std::string::npos);
}

// A real exporter page: six families of HAProxy 2.6's (Debian 12) /metrics for a configuration
// with the admin frontend, ingress_web and egress_db_81.
TEST(MetricsPageTest, ARealHaproxyPageParsesWholeAndEverySampleIsRelabelled) {
  const std::string real = testing::readSource("tests/corpus/agent/haproxy-2.6-metrics.txt");
  int bad = -1;
  ASSERT_EQ(parsePrometheusText(real, &bad).size(), 6u);
  EXPECT_EQ(bad, 0);
  MetricsRegistry registry;
  FakeProxies proxies;
  proxies.pages["t1"] = real;
  MetricsPage page(registry, proxies, [] { return std::vector<TaskRecord>{task("t1", webPlan())}; });
  std::map<std::string, int> by_direction;  // "<direction>/<discovery_name>" -> samples
  for (const Family& f : parsePrometheusText(page.render(), &bad)) {
    if (!f.name.starts_with("haproxy_")) continue;
    for (const Sample& s : f.samples) {
      std::map<std::string, std::string> l(s.labels.begin(), s.labels.end());
      EXPECT_EQ(l["namespace"], "demo") << s.name;
      EXPECT_EQ(l["service"], "web") << s.name;
      EXPECT_EQ(l["task"], "t1") << s.name;
      ++by_direction[(l.count("direction") ? l["direction"] : "-") + "/" +
                     (l.count("discovery_name") ? l["discovery_name"] : "-") + "/" + l["proxy"]];
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(by_direction, (std::map<std::string, int>{{"-/-/", 1},
                                                      {"-/-/admin", 7},
                                                      {"egress/db-http/egress_db_81", 15},
                                                      {"ingress/web/ingress_web", 15}}));
}

TEST(MetricsPageTest, NoTasksGiveTheAgentsFiguresOnly) {
  MetricsRegistry registry;
  FakeProxies proxies;
  MetricsPage page(registry, proxies, [] { return std::vector<TaskRecord>{}; });
  EXPECT_EQ(page.render(),
            "# HELP scagent_proxy_scrape_errors_total Proxy metrics pages that did not answer in time or answered an "
            "error; left out of the page.\n"
            "# TYPE scagent_proxy_scrape_errors_total counter\n"
            "scagent_proxy_scrape_errors_total 0\n");
  EXPECT_TRUE(proxies.asked.empty());
}

}  // namespace
}  // namespace sc::agent
