// The scagent binary as users run it: exit codes, stdout, stderr.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/process.h"
#include "common/strings.h"
#include "tests/support/golden.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

const std::string kScagent = std::string(SC_BINARY_DIR) + "/agent/scagent";
const std::string kSccontrol = std::string(SC_BINARY_DIR) + "/controlplane/sccontrol";
std::string seed(const std::string& f) { return testing::sourcePath("examples/seed-example/" + f); }

ProcessResult scagent(std::vector<std::string> args) {
  auto r = runProcess({.path = kScagent, .args = std::move(args), .timeout = std::chrono::milliseconds(30000)});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : ProcessResult{};
}

TEST(CliE2eTest, PlanOnTheSeedExampleMatchesTheGoldenFile) {
  ProcessResult r = scagent({"plan", "--task-definition", seed("task-definition.json"), "--service",
                             seed("service.json"), "--cluster", seed("cluster.json"), "--seed", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, testing::readSource("tests/golden/model/seed-example-awsvpc.json"));
}

TEST(CliE2eTest, PlanInputErrorsExitTwoAndNameFileAndPath) {
  testing::TempDir d;
  testing::writeTestFile(d.file("svc.json"), R"({"serviceName": "app", "serviceConnectConfiguration": {
      "enabled": true, "namespace": "internal", "services": [{"portName": "http"},
      {"portName": "http", "discoveryName": "x", "clientAliases": [{"port": "81"}]}]}})");
  ProcessResult r =
      scagent({"plan", "--task-definition", seed("task-definition.json"), "--service", d.file("svc.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "scagent plan: --service '" + d.file("svc.json") +
                       "': serviceConnectConfiguration.services[1].clientAliases[0].port: expected an integer 1-65535, "
                       "got \"81\"\n");
}

TEST(CliE2eTest, PlanRefusesATaskDefinitionMemberScagentCannotHonour) {
  testing::TempDir d;
  auto td = nlohmann::json::parse(testing::readSource("examples/seed-example/task-definition.json"));
  td["containerDefinitions"][0]["ulimits"] = {{{"name", "nofile"}, {"softLimit", 1024}, {"hardLimit", 2048}}};
  testing::writeTestFile(d.file("td.json"), td.dump());
  ProcessResult r = scagent({"plan", "--task-definition", d.file("td.json"), "--service", seed("service.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "scagent plan: --task-definition '" + d.file("td.json") +
                       "': containerDefinitions[0].ulimits: not supported by scagent: ulimits are not applied by "
                       "scagent\n");
}

TEST(CliE2eTest, PlanRuleViolationsListEveryError) {
  testing::TempDir d;
  testing::writeTestFile(d.file("svc.json"), R"({"serviceName": "app", "deploymentController": {"type": "EXTERNAL"},
      "serviceConnectConfiguration": {"enabled": true, "namespace": "internal",
      "services": [{"portName": "web"}]}})");
  ProcessResult r =
      scagent({"plan", "--task-definition", seed("task-definition.json"), "--service", d.file("svc.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(
      r.err.find(
          "scagent plan: deploymentController.type: Service Connect supports only rolling deployments (type ECS), "
          "got \"EXTERNAL\" [rolling-deployments-only]\n"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("[port-name-unknown]"), std::string::npos) << r.err;
}

TEST(CliE2eTest, PlanWarningsGoToStderrAndThePlanStillPrints) {
  testing::TempDir d;
  auto td = nlohmann::json::parse(testing::readSource("examples/seed-example/task-definition.json"));
  td["memory"] = "300";
  testing::writeTestFile(d.file("td.json"), td.dump());
  ProcessResult r = scagent({"plan", "--task-definition", d.file("td.json"), "--service", seed("service.json")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("scagent plan: warning: memory: the proxy gets 44 MiB"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["carve"]["proxyMemoryMiB"], 44);
}

TEST(CliE2eTest, UsageErrors) {
  EXPECT_EQ(scagent({}).exit_code, 2);
  ProcessResult r = scagent({"plan", "--service", seed("service.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.err.starts_with("scagent plan: --task-definition and --service are required\n\nusage: scagent plan "))
      << r.err;
  ProcessResult unknown = scagent({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(unknown.err.starts_with("scagent: unknown command 'frobnicate'\n\nusage: scagent <command>"))
      << unknown.err;
  ProcessResult net = scagent({"net"});
  EXPECT_EQ(net.exit_code, 2);
  EXPECT_TRUE(net.err.starts_with("scagent net: a subcommand is required (up, down, show or recover)\n\nusage: "))
      << net.err;
  ProcessResult run = scagent({"run", "--help-me"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(run.err.starts_with("scagent run: unknown argument '--help-me'\n\nusage: scagent run ")) << run.err;
  EXPECT_EQ(scagent({"plan", "--task-definition", "/nonexistent.json", "--service", seed("service.json")}).err,
            "scagent plan: failed to read '/nonexistent.json': No such file or directory\n");
  ProcessResult v = scagent({"version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(v.out.starts_with("scagent "));
}

// Every level answers --help and -h on stdout with exit 0, before it checks anything else.
TEST(CliE2eTest, HelpAtEveryLevelExitsZero) {
  const std::vector<std::vector<std::string>> levels = {{},
                                                        {"run"},
                                                        {"check-host"},
                                                        {"plan"},
                                                        {"net"},
                                                        {"net", "up"},
                                                        {"net", "down"},
                                                        {"net", "show"},
                                                        {"net", "recover"},
                                                        {"proxy"},
                                                        {"proxy", "up"},
                                                        {"proxy", "down"},
                                                        {"proxy", "status"},
                                                        {"status"},
                                                        {"version"}};
  for (const auto& level : levels) {
    for (const char* flag : {"--help", "-h"}) {
      std::vector<std::string> args = level;
      args.push_back(flag);
      ProcessResult r = scagent(args);
      const std::string what = "scagent " + join(args, " ");
      EXPECT_EQ(r.exit_code, 0) << what << ": " << r.err;
      EXPECT_TRUE(r.out.starts_with("usage: scagent " + (level.empty() ? std::string("<command>") : level[0])))
          << what << ": " << r.out;
      EXPECT_EQ(r.err, "") << what;
    }
  }
}

TEST(CliE2eTest, SccontrolHelpAndUsageErrors) {
  for (const char* flag : {"--help", "-h"}) {
    auto r = runProcess({.path = kSccontrol, .args = {flag, "--config", "/nonexistent.json"}});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0) << r->err;
    EXPECT_TRUE(r->out.starts_with("usage: sccontrol ")) << r->out;
  }
  auto bad = runProcess({.path = kSccontrol, .args = {"--frobnicate"}});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_TRUE(bad->err.starts_with("sccontrol: unknown argument '--frobnicate'\n\nusage: sccontrol ")) << bad->err;
  auto value = runProcess({.path = kSccontrol, .args = {"--workers"}});
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->exit_code, 2);
  EXPECT_TRUE(value->err.starts_with("sccontrol: --workers needs a value\n\nusage: sccontrol ")) << value->err;
}

TEST(CliE2eTest, CheckHostJsonAgreesWithItsExitStatus) {
  ProcessResult r = scagent({"check-host", "--json"});
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(r.exit_code, j["compatible"].get<bool>() ? 0 : 1);
  EXPECT_GE(j["checks"].size(), 10u);
}

TEST(CliE2eTest, CheckHostRejectsABadConfig) {
  testing::TempDir d;
  testing::writeTestFile(d.file("c.json"), R"({"hostPolicy": {"allowEverything": true}})");
  ProcessResult r = scagent({"check-host", "--config", d.file("c.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config: hostPolicy.allowEverything: unknown member"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sc
