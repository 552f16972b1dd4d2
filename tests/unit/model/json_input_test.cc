#include "model/json_input.h"

#include <gtest/gtest.h>

namespace sc::model {
namespace {

TEST(JsonInputTest, ParsesValidDocuments) {
  auto j = parseJsonStrict(R"({"a": [1, {"b": "c"}]})", "doc");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["a"][1]["b"], "c");
}

TEST(JsonInputTest, SyntaxErrorsSayWhere) {
  auto j = parseJsonStrict(R"({"a": )", "task definition");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("failed to parse 'task definition': invalid JSON: parse error at line 1, column 7"),
            std::string::npos)
      << j.error().message;
}

TEST(JsonInputTest, DuplicateMembersAreNamedByPath) {
  auto j = parseJsonStrict(R"({"s": [{"x": 1}, {"portName": "a", "portName": "b"}]})", "service");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().message, "failed to parse 'service': s[1]: duplicate member 'portName'");
  auto top = parseJsonStrict(R"({"a": 1, "a": 2})", "service");
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.error().message, "failed to parse 'service': the top-level object: duplicate member 'a'");
}

TEST(JsonInputTest, DepthAndSizeLimits) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto j = parseJsonStrict(deep, "doc");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("nested deeper than 32 levels"), std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_TRUE(parseJsonStrict("{\"a\": \"" + std::string(100, '[') + "\"}", "doc").ok());
  auto big = parseJsonStrict(std::string(2u << 20, ' '), "doc");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("the limit is"), std::string::npos);
}

TEST(JsonInputTest, InvalidUtf8IsRejected) {
  auto j = parseJsonStrict("{\"a\": \"\xff\xfe\"}", "doc");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("invalid JSON"), std::string::npos);
}

TEST(JsonInputTest, DescribeValueIsShort) {
  EXPECT_EQ(describeValue(Json("81")), "\"81\"");
  EXPECT_EQ(describeValue(Json::object()), "an object");
  EXPECT_EQ(describeValue(Json(std::string(100, 'x'))).size(), 40u);
}

}  // namespace
}  // namespace sc::model
