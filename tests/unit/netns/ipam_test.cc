#include "netns/ipam.h"

#include <gtest/gtest.h>

#include "common/file.h"
#include "netns/system.h"
#include "tests/support/temp_dir.h"

namespace sc::netns {
namespace {

Cidr cidr(const char* t) { return *Cidr::parse(t); }

TEST(IpamTest, LeasesTheLowestFreeAddressAndPersistsIt) {
  testing::TempDir dir;
  const std::string path = dir.file("ipam.json");
  auto ipam = Ipam::open(path, cidr("10.9.0.0/29"), 50000, 50002);
  ASSERT_TRUE(ipam.ok()) << ipam.error().message;
  EXPECT_TRUE(readFile(path).ok());  // the file exists from the start
  auto a = ipam->allocate("a", {}, {});
  auto b = ipam->allocate("b", {{Proto::kTcp, 0}, {Proto::kTcp, 0}}, {{Proto::kTcp, {50000}}});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->address.toString(), "10.9.0.2");  // .1 is the gateway
  EXPECT_EQ(b->address.toString(), "10.9.0.3");
  EXPECT_EQ(b->ports, (std::vector<std::pair<Proto, int>>{{Proto::kTcp, 50001}, {Proto::kTcp, 50002}}));
  EXPECT_FALSE(ipam->allocate("a", {}, {}).ok());  // one lease per task

  auto reloaded = Ipam::open(path, cidr("10.9.0.0/29"), 50000, 50002);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(reloaded->addressOf("b")->toString(), "10.9.0.3");
  EXPECT_EQ(reloaded->holderOf(IpAddress::fromV4(a->address.v4())), "a");
  ASSERT_TRUE(reloaded->release("a").ok());
  auto c = reloaded->allocate("c", {}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->address.toString(), "10.9.0.2");
}

TEST(IpamTest, NeverHandsOutAnAddressOrPortTwice) {
  testing::TempDir dir;
  auto ipam = Ipam::open(dir.file("ipam.json"), cidr("10.9.0.0/30"), 50000, 50000);
  ASSERT_TRUE(ipam.ok());
  ASSERT_TRUE(ipam->allocate("a", {{Proto::kTcp, 50000}}, {}).ok());
  auto full = ipam->allocate("b", {}, {});  // a /30 has one task address
  EXPECT_FALSE(full.ok());
  ASSERT_TRUE(ipam->release("a").ok());
  EXPECT_FALSE(ipam->allocate("b", {{Proto::kTcp, 50000}}, {{Proto::kTcp, {50000}}}).ok());  // in use on the host
  EXPECT_TRUE(ipam->tasks().empty());  // a failed allocation leaves nothing
  EXPECT_TRUE(ipam->allocate("b", {{Proto::kUdp, 50000}}, {{Proto::kTcp, {50000}}}).ok());
}

TEST(IpamTest, RefusesAFileOfAnotherRange) {
  testing::TempDir dir;
  ASSERT_TRUE(Ipam::open(dir.file("ipam.json"), cidr("10.9.0.0/24"), 1, 2).ok());
  auto other = Ipam::open(dir.file("ipam.json"), cidr("10.8.0.0/24"), 1, 2);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("10.9.0.0/24"), std::string::npos);
}

TEST(IpamTest, ParsesProcNetPorts) {
  const std::string tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
      "   1: 0100007F:C350 0100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 2\n";
  EXPECT_EQ(parseProcNetPorts(tcp, "0A"), (std::set<int>{80}));
  EXPECT_EQ(parseProcNetPorts(tcp, ""), (std::set<int>{80, 50000}));
}

}  // namespace
}  // namespace sc::netns
