// The monitoring files shipped in packaging/monitoring/ agree with each other and with the metrics
// the agent serves: the Grafana dashboard is well-formed JSON whose panels use only recording
// rules the rules file defines (and show every one of them), every scagent_* and haproxy_* name in
// either file is a documented metric (docs/operations.md, docs/proxy.md), every alert has its
// section in docs/monitoring.md, and the scagent package installs both files. promtool checks the
// rules themselves (unit_prometheus_rules_*); e2e_demo_test loads them into a real Prometheus.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/golden.h"

namespace sc {
namespace {

using Json = nlohmann::json;

const std::string kRules = "packaging/monitoring/scagent.rules.yml";
const std::string kDashboard = "packaging/monitoring/scagent-dashboard.json";

// The text without its comment lines (YAML comments start the line here).
std::string withoutComments(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(' ');
    if (first != std::string::npos && line[first] == '#') continue;
    out += line + "\n";
  }
  return out;
}

std::set<std::string> matches(const std::string& text, const std::regex& re, size_t group = 0) {
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[group].str());
  }
  return out;
}

// Recording-rule names follow level:metric:operations.
const std::regex kRecordedName(R"([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)");
// Raw metric names outside a recorded name (a recorded name embeds one between its colons).
const std::regex kRawMetric(R"((^|[^a-z0-9_:])((scagent|haproxy)_[a-z0-9_]+)(?![a-z0-9_:]))");

std::set<std::string> records() {
  return matches(testing::readSource(kRules), std::regex(R"(- record:\s*(\S+))"), 1);
}

std::set<std::string> alerts() {
  return matches(testing::readSource(kRules), std::regex(R"(- alert:\s*(\S+))"), 1);
}

// Every target expression of the dashboard's panels, also those inside rows.
void collectExprs(const Json& panels, std::vector<std::string>& exprs) {
  for (const Json& p : panels) {
    if (p.contains("panels")) collectExprs(p["panels"], exprs);
    for (const Json& t : p.value("targets", Json::array())) exprs.push_back(t.value("expr", ""));
  }
}

std::vector<std::string> dashboardExprs() {
  std::vector<std::string> exprs;
  collectExprs(Json::parse(testing::readSource(kDashboard))["panels"], exprs);
  return exprs;
}

// Names that docs/operations.md tables as the agent's metrics, plus every haproxy_* name the
// proxy docs mention.
std::set<std::string> documentedMetrics() {
  std::set<std::string> out =
      matches(testing::readSource("docs/operations.md"), std::regex(R"(\| `(scagent_[a-z0-9_]+)` \|)"), 1);
  for (const std::string doc : {"docs/operations.md", "docs/proxy.md"}) {
    for (const std::string& m : matches(testing::readSource(doc), std::regex(R"(haproxy_[a-z0-9_]+)"))) out.insert(m);
  }
  return out;
}

bool documented(const std::set<std::string>& docs, const std::string& name) {
  if (docs.contains(name)) return true;
  for (const std::string suffix : {"_bucket", "_sum", "_count"}) {  // histogram series
    if (name.ends_with(suffix) && docs.contains(name.substr(0, name.size() - suffix.size()))) return true;
  }
  return false;
}

TEST(MonitoringTest, DashboardIsWellFormed) {
  Json d = Json::parse(testing::readSource(kDashboard));
  EXPECT_EQ(d["uid"], "scagent-service-connect");
  EXPECT_FALSE(d.value("title", "").empty());
  ASSERT_TRUE(d["panels"].is_array());
  std::set<int> ids;
  size_t graphs = 0;
  for (const Json& p : d["panels"]) {
    SCOPED_TRACE(p.dump());
    ASSERT_TRUE(p.contains("id") && p.contains("gridPos") && p.contains("type"));
    EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate panel id";
    EXPECT_FALSE(p.value("title", "").empty());
    if (p["type"] == "row") continue;
    EXPECT_FALSE(p.value("description", "").empty());
    EXPECT_EQ(p["datasource"]["uid"], "${datasource}");
    ASSERT_FALSE(p.value("targets", Json::array()).empty());
    for (const Json& t : p["targets"]) EXPECT_FALSE(t.value("expr", "").empty());
    ++graphs;
  }
  EXPECT_EQ(graphs, 13u);  // update with the panels
}

TEST(MonitoringTest, DashboardShowsEveryRecordedSeriesAndNoOther) {
  const std::set<std::string> defined = records();
  ASSERT_EQ(defined.size(), 8u);  // update with the rules
  std::set<std::string> used;
  for (const std::string& e : dashboardExprs()) {
    for (const std::string& name : matches(e, kRecordedName)) used.insert(name);
  }
  for (const std::string& name : used) EXPECT_TRUE(defined.contains(name)) << name << " is not a recording rule";
  for (const std::string& name : defined) EXPECT_TRUE(used.contains(name)) << name << " has no panel";
}

TEST(MonitoringTest, AlertsUseOnlyRecordedSeriesTheRulesDefine) {
  const std::set<std::string> defined = records();
  for (const std::string& name : matches(withoutComments(testing::readSource(kRules)), kRecordedName)) {
    EXPECT_TRUE(defined.contains(name)) << name << " is used but not recorded";
  }
}

TEST(MonitoringTest, EveryMetricNamedIsOneTheAgentServes) {
  const std::set<std::string> docs = documentedMetrics();
  ASSERT_TRUE(docs.contains("scagent_control_plane_up"));  // the tables were read
  std::set<std::string> named = matches(withoutComments(testing::readSource(kRules)), kRawMetric, 2);
  for (const std::string& e : dashboardExprs()) {
    for (const std::string& name : matches(e, kRawMetric, 2)) named.insert(name);
  }
  EXPECT_GE(named.size(), 10u);
  for (const std::string& name : named) EXPECT_TRUE(documented(docs, name)) << name << " is not a documented metric";
}

TEST(MonitoringTest, EveryAlertHasItsSectionInTheDocs) {
  const std::string doc = testing::readSource("docs/monitoring.md");
  const std::set<std::string> names = alerts();
  EXPECT_EQ(names.size(), 5u);  // update with the rules
  for (const std::string& a : names) {
    EXPECT_NE(doc.find("\n### " + a + "\n"), std::string::npos) << a;
  }
}

// Both packages ship the rules and the dashboard: Prometheus may run beside an agent or beside the
// control plane.
TEST(MonitoringTest, BothPackagesInstallBothFiles) {
  const std::string manifest = testing::readSource("packaging/manifest");
  for (const std::string pkg : {"scagent", "sccontrol"}) {
    for (const std::string& row :
         {"/usr/share/" + pkg + "/monitoring/scagent.rules.yml 0644 root root " + kRules,
          "/usr/share/" + pkg + "/monitoring/scagent-dashboard.json 0644 root root " + kDashboard}) {
      std::regex re(pkg + " +file +" + std::regex_replace(row, std::regex(" "), " +"));
      EXPECT_TRUE(std::regex_search(manifest, re)) << pkg << ": " << row;
    }
  }
}

}  // namespace
}  // namespace sc
