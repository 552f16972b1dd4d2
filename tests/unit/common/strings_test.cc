#include "common/strings.h"

#include <gtest/gtest.h>

namespace sc {
namespace {

TEST(StringsTest, JsonQuoteEscapesControlCharacters) {
  EXPECT_EQ(jsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST(StringsTest, SplitTrimJoin) {
  EXPECT_EQ(split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_EQ(join({"a", "b"}, ", "), "a, b");
}

TEST(StringsTest, ParseUintIsStrict) {
  EXPECT_EQ(parseUint("42"), 42u);
  EXPECT_FALSE(parseUint("42x"));
  EXPECT_FALSE(parseUint("-1"));
  EXPECT_FALSE(parseUint(""));
  EXPECT_FALSE(parseUint("70000", 65535));
}

}  // namespace
}  // namespace sc
