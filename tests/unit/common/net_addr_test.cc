#include "common/net_addr.h"

#include <gtest/gtest.h>

namespace sc {
namespace {

TEST(NetAddrTest, ParsesAndPrintsAddresses) {
  auto a = IpAddress::parse("10.88.0.5");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->toString(), "10.88.0.5");
  EXPECT_EQ(a->v4(), 0x0a580005u);
  EXPECT_FALSE(a->isLoopback());
  EXPECT_TRUE(IpAddress::parse("127.255.0.1")->isLoopback());
  auto b = IpAddress::parse("fd00::1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->family, 6);
  EXPECT_FALSE(IpAddress::parse("10.0.0.256").ok());
  EXPECT_FALSE(IpAddress::parse("").ok());
}

TEST(NetAddrTest, CidrContainsAndIndexes) {
  auto c = Cidr::parse("127.255.0.0/16");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->isLoopback());
  EXPECT_EQ(c->size(), 65536u);
  EXPECT_EQ(c->at(1).toString(), "127.255.0.1");
  EXPECT_EQ(c->at(256).toString(), "127.255.1.0");
  EXPECT_TRUE(c->contains(*IpAddress::parse("127.255.3.4")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("127.254.0.1")));
  EXPECT_EQ(c->toString(), "127.255.0.0/16");
}

TEST(NetAddrTest, CidrRejectsHostBitsAndBadPrefixes) {
  EXPECT_FALSE(Cidr::parse("10.0.0.1/24").ok());
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33").ok());
  EXPECT_FALSE(Cidr::parse("10.0.0.0").ok());
  EXPECT_FALSE(Cidr::parse("10.0.0.0/x").ok());
  EXPECT_TRUE(Cidr::parse("fd00::/64").ok());
}

}  // namespace
}  // namespace sc
