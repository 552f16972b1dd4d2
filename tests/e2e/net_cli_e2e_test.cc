// `scagent net up|show|down|recover` as operators and tests run it, on the real kernel.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/golden.h"
#include "tests/support/netns_fixture.h"
#include "tests/support/root_guard.h"

namespace sc::testing {
namespace {

const std::string kScagent = std::string(SC_BINARY_DIR) + "/agent/scagent";

ProcessResult scagent(std::vector<std::string> args) {
  auto r = runProcess({.path = kScagent, .args = std::move(args), .timeout = std::chrono::milliseconds(30000)});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : ProcessResult{};
}

TEST(NetCliE2eTest, UpShowDownOnTheSeedPlan) {
  SC_REQUIRE_ROOT();
  SuiteLock lock;
  UniqueNames names;
  TempDir dir;
  const HostSnapshot before = hostSnapshot();
  const std::vector<std::string> settings = {"--state-dir",      dir.path() + "/state", "--bridge",
                                             names.bridge(),     "--task-cidr",         names.taskCidr(),
                                             "--netns-prefix",   names.netnsPrefix(),   "--veth-prefix",
                                             names.vethPrefix(), "--chain-prefix",      names.chainPrefix()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), settings.begin(), settings.end());
    return scagent(args);
  };
  ProcessResult up =
      with({"net", "up", "--task", "web", "--plan", sourcePath("tests/golden/model/seed-example-bridge.json")});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  auto j = nlohmann::json::parse(up.out);
  EXPECT_EQ(j["outcome"], "created");
  EXPECT_EQ(j["netns"], names.netnsPrefix() + "web");
  EXPECT_EQ(j["portMappings"].size(), 3u);
  ProcessResult again =
      with({"net", "up", "--task", "web", "--plan", sourcePath("tests/golden/model/seed-example-bridge.json")});
  EXPECT_EQ(nlohmann::json::parse(again.out)["outcome"], "already present");
  ProcessResult show = with({"net", "show", "--task", "web"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("-j DNAT --to-destination"), std::string::npos);
  ProcessResult rec = with({"net", "recover"});
  EXPECT_EQ(rec.exit_code, 0) << rec.err;
  EXPECT_EQ(rec.out, "0 finding(s), 0 removed\n");
  ProcessResult down = with({"net", "down", "--task", "web"});
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(down.out, "task web: removed\n");
  ProcessResult gone = with({"net", "show", "--task", "web"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("scagent net show: state directory "), std::string::npos) << gone.err;
  EXPECT_NE(
      gone.err.find(" (from --state-dir)\nscagent net show: failed to show 'web': no network sandbox for this task\n"),
      std::string::npos)
      << gone.err;
  expectHostUnchanged(before, hostSnapshot(), names);
}

TEST(NetCliE2eTest, UsageErrorsExitTwo) {
  ProcessResult bare = scagent({"net"});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_TRUE(bare.err.starts_with("scagent net: ")) << bare.err;
  EXPECT_EQ(scagent({"net", "up", "--task", "x"}).exit_code, 2);
  EXPECT_EQ(scagent({"net", "bogus"}).exit_code, 2);
  EXPECT_EQ(scagent({"net", "down", "--task", "x", "--veth-prefix", "much-too-long-prefix"}).exit_code, 2);
}

}  // namespace
}  // namespace sc::testing
