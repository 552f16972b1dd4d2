#include "agent/metrics.h"

#include <gtest/gtest.h>

namespace sc::agent {
namespace {

// A slice of what HAProxy's Prometheus exporter prints.
constexpr const char* kHaproxyPage = R"(# HELP haproxy_frontend_http_responses_total Total number of HTTP responses.
# TYPE haproxy_frontend_http_responses_total counter
haproxy_frontend_http_responses_total{proxy="ingress-http",code="2xx"} 17
haproxy_frontend_http_responses_total{proxy="ingress-http",code="5xx"} 2
haproxy_frontend_http_responses_total{proxy="egress-db-81",code="2xx"} 40
# TYPE haproxy_backend_response_time_average_seconds gauge
haproxy_backend_response_time_average_seconds{proxy="egress-db-81"} 0.001
this line is broken {
haproxy_process_start_time_seconds 1.7e9
)";

TEST(MetricsTest, ParsesAndRendersExpositionText) {
  int bad = -1;
  auto families = parsePrometheusText(kHaproxyPage, &bad);
  EXPECT_EQ(bad, 1);
  ASSERT_EQ(families.size(), 3u);
  EXPECT_EQ(families[0].name, "haproxy_frontend_http_responses_total");
  EXPECT_EQ(families[0].type, "counter");
  ASSERT_EQ(families[0].samples.size(), 3u);
  EXPECT_EQ(families[0].samples[1].labels, (Labels{{"proxy", "ingress-http"}, {"code", "5xx"}}));
  EXPECT_EQ(families[0].samples[1].value, "2");
  EXPECT_EQ(families[2].type, "untyped");
  // Render, parse again: same families.
  auto again = parsePrometheusText(renderPrometheusText(families));
  EXPECT_EQ(renderPrometheusText(again), renderPrometheusText(families));
}

TEST(MetricsTest, RelabelsEachProxySampleWithItsTaskAndDirection) {
  auto families = parsePrometheusText(kHaproxyPage);
  addLabels(families, {{"namespace", "demo"}, {"task", "t-1"}}, [](const Labels& own) -> Labels {
    for (const auto& [k, v] : own) {
      if (k == "proxy" && v.starts_with("ingress-")) return {{"direction", "ingress"}, {"discovery_name", v.substr(8)}};
      if (k == "proxy" && v.starts_with("egress-")) return {{"direction", "egress"}};
    }
    return {};
  });
  const std::string text = renderPrometheusText(families);
  EXPECT_NE(text.find("haproxy_frontend_http_responses_total{namespace=\"demo\",task=\"t-1\",direction=\"ingress\","
                      "discovery_name=\"http\",proxy=\"ingress-http\",code=\"5xx\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("haproxy_process_start_time_seconds{namespace=\"demo\",task=\"t-1\"} 1.7e9\n"),
            std::string::npos);
}

TEST(MetricsTest, MergingTwoPagesKeepsOneFamilyHeader) {
  auto a = parsePrometheusText(kHaproxyPage);
  auto b = parsePrometheusText(kHaproxyPage);
  mergeFamilies(a, std::move(b));
  const std::string text = renderPrometheusText(a);
  size_t headers = 0;
  for (size_t p = text.find("# TYPE haproxy_frontend_http_responses_total"); p != std::string::npos;
       p = text.find("# TYPE haproxy_frontend_http_responses_total", p + 1))
    ++headers;
  EXPECT_EQ(headers, 1u);
  EXPECT_EQ(a[0].samples.size(), 6u);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  std::vector<Family> f{{"x", "h", "gauge", {{"x", {{"reason", "a \"quoted\"\nline\\"}}, "1"}}}};
  const std::string text = renderPrometheusText(f);
  EXPECT_NE(text.find(R"(x{reason="a \"quoted\"\nline\\"} 1)"), std::string::npos) << text;
  EXPECT_EQ(parsePrometheusText(text)[0].samples[0].labels[0].second, "a \"quoted\"\nline\\");
}

TEST(MetricsTest, TouchMakesAZeroSeriesAndKeepsExistingValues) {
  MetricsRegistry r;
  r.describe("failures_total", "counter", "Failures.");
  r.describeHistogram("start_seconds", "Start time.", {0.1, 1});
  r.describe("restarts_total", "counter", "Restarts.");
  r.touch("failures_total", {});
  r.touch("start_seconds", {});
  r.touch("restarts_total", {{"service", "web"}});
  std::string text = renderPrometheusText(r.snapshot());
  for (const char* line :
       {"failures_total 0\n", "start_seconds_bucket{le=\"0.1\"} 0\n", "start_seconds_bucket{le=\"+Inf\"} 0\n",
        "start_seconds_sum 0\n", "start_seconds_count 0\n", "restarts_total{service=\"web\"} 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in\n" << text;
  }
  r.add("failures_total", {}, 2);
  r.observe("start_seconds", {}, 0.5);
  r.touch("failures_total", {});
  r.touch("start_seconds", {});
  text = renderPrometheusText(r.snapshot());
  EXPECT_NE(text.find("failures_total 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("start_seconds_bucket{le=\"1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("start_seconds_count 1\n"), std::string::npos) << text;
}

TEST(MetricsTest, RegistryCountersGaugesHistograms) {
  MetricsRegistry r;
  r.describe("scagent_tasks", "gauge", "Tasks on this host by state.");
  r.describe("scagent_proxy_restarts_total", "counter", "Proxy restarts.");
  r.describeHistogram("scagent_reconcile_seconds", "Reconcile latency.", {0.01, 0.1, 1});
  r.set("scagent_tasks", {{"state", "RUNNING"}}, 3);
  r.add("scagent_proxy_restarts_total", {{"task", "t"}}, 1);
  r.add("scagent_proxy_restarts_total", {{"task", "t"}}, 1);
  r.observe("scagent_reconcile_seconds", {}, 0.05);
  r.observe("scagent_reconcile_seconds", {}, 2);
  const std::string text = renderPrometheusText(r.snapshot());
  EXPECT_NE(text.find("scagent_tasks{state=\"RUNNING\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("scagent_proxy_restarts_total{task=\"t\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("scagent_reconcile_seconds_bucket{le=\"0.01\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("scagent_reconcile_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("scagent_reconcile_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("scagent_reconcile_seconds_sum 2.05\n"), std::string::npos);
  EXPECT_NE(text.find("scagent_reconcile_seconds_count 2\n"), std::string::npos);
  // The histogram reads back as one family.
  auto parsed = parsePrometheusText(text);
  for (const auto& f : parsed) {
    if (f.name == "scagent_reconcile_seconds") {
      EXPECT_EQ(f.samples.size(), 6u);
    }
  }
}

}  // namespace
}  // namespace sc::agent
