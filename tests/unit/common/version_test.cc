#include "common/version.h"

#include <gtest/gtest.h>

namespace sc {
namespace {

Version v(const char* s) {
  auto r = parseVersion(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : Version{};
}

TEST(VersionTest, DottedVersionsCompareNumerically) {
  EXPECT_LT(v("1.67.1"), v("1.67.2"));
  EXPECT_LT(v("1.9.0"), v("1.67.2"));  // not string order
  EXPECT_GT(v("1.100.0"), v("1.67.2"));
  EXPECT_EQ(v("1.67"), v("1.67.0"));
  EXPECT_EQ(v("v1.67.2"), v("1.67.2"));
  EXPECT_EQ(v("2.6.12-1+deb12u4"), v("2.6.12"));
  EXPECT_EQ(v("1.67.2").toString(), "1.67.2");
}

TEST(VersionTest, MalformedVersionsAreErrors) {
  for (const char* bad : {"", "abc", "1..2", "1.2.x", "-1.2"}) {
    auto r = parseVersion(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_EQ(parseVersion("1.x").error().message, "failed to parse version '1.x': expected dot-separated numbers");
}

TEST(VersionTest, AmiVersionsFromNamesAndValues) {
  auto a = parseAmiVersion("amzn2-ami-ecs-hvm-2.0.20221115-x86_64-ebs");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->toString(), "2.0.20221115");
  auto b = parseAmiVersion("2.0.20221025");
  ASSERT_TRUE(b.ok());
  EXPECT_LT(*b, *a);
  auto c = parseAmiVersion("amzn2-ami-ecs-hvm-2.0.20240109-x86_64.xfs.gpt");
  ASSERT_TRUE(c.ok());
  EXPECT_GT(*c, *a);
  EXPECT_FALSE(parseAmiVersion("amzn2-ami-ecs-hvm").ok());
  EXPECT_FALSE(parseAmiVersion("1.67.2").ok());  // not a date-stamped AMI version
}

}  // namespace
}  // namespace sc
