// The scagent command-line convention, through runCli() with in-memory streams: --help at every
// level prints that level's usage and exits 0; usage errors exit 2 with one prefixed line and the
// usage. Nothing here reaches the kernel: every case stops before a command does any work.
#include "agent/cli.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/strings.h"

namespace sc::agent {
namespace {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

CliRun cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  CliRun r;
  r.code = runCli(args, {out, err});
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

TEST(CliTest, HelpAtEveryLevelPrintsThatLevelsUsageAndExitsZero) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--help"}, "usage: scagent <command>"},
      {{"-h"}, "usage: scagent <command>"},
      {{"help"}, "usage: scagent <command>"},
      {{"run", "--help"}, "usage: scagent run "},
      {{"run", "--config", "/nonexistent.json", "-h"}, "usage: scagent run "},
      {{"check-host", "--help"}, "usage: scagent check-host "},
      {{"plan", "--help"}, "usage: scagent plan "},
      {{"plan", "--service", "x.json", "-h"}, "usage: scagent plan "},
      {{"net", "--help"}, "usage: scagent net up "},
      {{"net", "-h"}, "usage: scagent net up "},
      {{"net", "up", "--help"}, "usage: scagent net up "},
      {{"net", "down", "--help"}, "usage: scagent net down "},
      {{"net", "show", "--help"}, "usage: scagent net show "},
      {{"net", "recover", "--help"}, "usage: scagent net recover "},
      {{"proxy", "--help"}, "usage: scagent proxy "},
      {{"proxy", "up", "--help"}, "usage: scagent proxy "},
      {{"proxy", "status", "--task", "t", "-h"}, "usage: scagent proxy "},
      {{"status", "--help"}, "usage: scagent status "},
      {{"version", "--help"}, "usage: scagent version"},
  };
  for (const auto& [args, prefix] : cases) {
    CliRun r = cli(args);
    const std::string what = join(args, " ");
    EXPECT_EQ(r.code, 0) << what << ": " << r.err;
    EXPECT_TRUE(r.out.starts_with(prefix)) << what << ": " << r.out;
    EXPECT_EQ(r.err, "") << what;
  }
}

TEST(CliTest, NetSubcommandHelpListsTheSettings) {
  CliRun r = cli({"net", "show", "--help"});
  EXPECT_NE(r.out.find("--state-dir DIR"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("scagent net up"), std::string::npos) << "show's help is show's alone: " << r.out;
}

TEST(CliTest, UsageErrorsExitTwoWithOnePrefixedLineAndTheUsage) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "scagent: a command is required"},
      {{"frobnicate"}, "scagent: unknown command 'frobnicate'"},
      {{"run", "--bogus"}, "scagent run: unknown argument '--bogus'"},
      {{"status", "--config"}, "scagent status: --config needs a value"},
      {{"check-host", "--yaml"}, "scagent check-host: unknown argument '--yaml'"},
      {{"plan", "--service", "s.json"}, "scagent plan: --task-definition and --service are required"},
      {{"plan", "--task-definition", "t", "--service", "s", "--seed", "x"},
       "scagent plan: --seed needs a non-negative integer"},
      {{"net"}, "scagent net: a subcommand is required (up, down, show or recover)"},
      {{"net", "bogus"}, "scagent net: unknown subcommand 'bogus'"},
      {{"net", "up", "--task", "x"}, "scagent net up: --plan is required"},
      {{"net", "show"}, "scagent net show: --task is required"},
      {{"net", "down", "--task", "x", "--frob"}, "scagent net down: unknown argument '--frob'"},
      {{"proxy"}, "scagent proxy: a subcommand is required (up, down or status)"},
      {{"proxy", "bogus", "--task", "t", "--plan", "p"}, "scagent proxy: unknown subcommand 'bogus'"},
      {{"proxy", "up", "--task", "t"}, "scagent proxy up: --task and --plan are required"},
      {{"version", "extra"}, "scagent version: unknown argument 'extra'"},
  };
  for (const auto& [args, line] : cases) {
    CliRun r = cli(args);
    const std::string what = join(args, " ");
    EXPECT_EQ(r.code, 2) << what;
    EXPECT_EQ(r.out, "") << what;
    EXPECT_EQ(firstLine(r.err), line) << what;
    EXPECT_NE(r.err.find("\n\nusage: scagent"), std::string::npos) << what << ": " << r.err;
  }
}

TEST(CliTest, BadInputNamesTheCommandAndExitsTwoWithoutUsage) {
  CliRun r = cli({"plan", "--task-definition", "/nonexistent.json", "--service", "/nonexistent-too.json"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "scagent plan: failed to read '/nonexistent.json': No such file or directory\n"
            "scagent plan: failed to read '/nonexistent-too.json': No such file or directory\n");
  CliRun net = cli({"net", "down", "--task", "x", "--veth-prefix", "much-too-long-prefix"});
  EXPECT_EQ(net.code, 2);
  EXPECT_TRUE(net.err.starts_with("scagent net down: ")) << net.err;
  EXPECT_EQ(net.err.find("usage:"), std::string::npos) << net.err;
  CliRun proxy = cli({"proxy", "status", "--task", "t", "--plan", "/nonexistent.json"});
  EXPECT_EQ(proxy.code, 2);
  EXPECT_EQ(proxy.err, "scagent proxy status: failed to read '/nonexistent.json': No such file or directory\n");
  CliRun status = cli({"status", "--config", "/nonexistent.json"});
  EXPECT_EQ(status.code, 2);
  EXPECT_TRUE(status.err.starts_with("scagent status: ")) << status.err;
}

TEST(CliTest, VersionPrintsTheVersion) {
  for (const char* v : {"version", "--version"}) {
    CliRun r = cli({v});
    EXPECT_EQ(r.code, 0);
    EXPECT_TRUE(r.out.starts_with("scagent ")) << r.out;
  }
}

}  // namespace
}  // namespace sc::agent
