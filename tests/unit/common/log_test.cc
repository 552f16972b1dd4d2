#include "common/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

namespace sc {
namespace {

TEST(LogTest, LinesAreJsonWithEscapedFields) {
  std::string line = log::formatLine(log::Level::kWarn, "proxy \"restarted\"\n", {{"task", "t-1"}, {"error", "a\tb"}},
                                     "2026-11-25T00:00:00.000Z");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "proxy \"restarted\"\n");
  EXPECT_EQ(j["task"], "t-1");
  EXPECT_EQ(j["error"], "a\tb");
  EXPECT_EQ(j["ts"], "2026-11-25T00:00:00.000Z");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(LogTest, LevelFilters) {
  std::vector<std::string> lines;
  log::setSinkForTest([&](std::string_view l) { lines.emplace_back(l); });
  log::setLevel(log::Level::kWarn);
  log::info("hidden");
  log::error("shown", {{"k", "v"}});
  log::setLevel(log::Level::kInfo);
  log::setSinkForTest({});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "shown");
  log::Level l;
  EXPECT_TRUE(log::parseLevel("debug", &l));
  EXPECT_EQ(l, log::Level::kDebug);
  EXPECT_FALSE(log::parseLevel("verbose", &l));
}

}  // namespace
}  // namespace sc
