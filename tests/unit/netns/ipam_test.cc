#include "netns/ipam.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/file.h"
#include "netns/system.h"
#include "tests/support/temp_dir.h"

namespace sc::netns {
namespace {

Cidr cidr(const char* t) { return *Cidr::parse(t); }

Ipam::PortInUse busy(std::set<int> tcp) {
  return [tcp](Proto p, int port) { return p == Proto::kTcp && tcp.count(port) > 0; };
}

TEST(IpamTest, LeasesTheLowestFreeAddressAndPersistsIt) {
  testing::TempDir dir;
  const std::string path = dir.file("ipam.json");
  auto ipam = Ipam::open(path, cidr("10.9.0.0/29"), 50000, 50002);
  ASSERT_TRUE(ipam.ok()) << ipam.error().message;
  EXPECT_TRUE(readFile(path).ok());  // the file exists from the start
  auto a = ipam->allocate("a", {}, nullptr);
  auto b = ipam->allocate("b", {{Proto::kTcp, 0}, {Proto::kTcp, 0}}, busy({50000}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->address.toString(), "10.9.0.2");  // .1 is the gateway
  EXPECT_EQ(b->address.toString(), "10.9.0.3");
  EXPECT_EQ(b->ports, (std::vector<std::pair<Proto, int>>{{Proto::kTcp, 50001}, {Proto::kTcp, 50002}}));
  EXPECT_FALSE(ipam->allocate("a", {}, nullptr).ok());  // one lease per task

  auto reloaded = Ipam::open(path, cidr("10.9.0.0/29"), 50000, 50002);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(reloaded->addressOf("b")->toString(), "10.9.0.3");
  EXPECT_EQ(reloaded->holderOf(IpAddress::fromV4(a->address.v4())), "a");
  ASSERT_TRUE(reloaded->release("a").ok());
  auto c = reloaded->allocate("c", {}, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->address.toString(), "10.9.0.2");
}

TEST(IpamTest, NeverHandsOutAnAddressOrPortTwice) {
  testing::TempDir dir;
  auto ipam = Ipam::open(dir.file("ipam.json"), cidr("10.9.0.0/30"), 50000, 50000);
  ASSERT_TRUE(ipam.ok());
  ASSERT_TRUE(ipam->allocate("a", {{Proto::kTcp, 50000}}, nullptr).ok());
  auto full = ipam->allocate("b", {}, nullptr);  // a /30 has one task address
  EXPECT_FALSE(full.ok());
  ASSERT_TRUE(ipam->release("a").ok());
  EXPECT_FALSE(ipam->allocate("b", {{Proto::kTcp, 50000}}, busy({50000})).ok());  // in use on the host
  EXPECT_TRUE(ipam->tasks().empty());                                             // a failed allocation leaves nothing
  EXPECT_TRUE(ipam->allocate("b", {{Proto::kUdp, 50000}}, busy({50000})).ok());
}

TEST(IpamTest, RefusesAFileOfAnotherRange) {
  testing::TempDir dir;
  ASSERT_TRUE(Ipam::open(dir.file("ipam.json"), cidr("10.9.0.0/24"), 1, 2).ok());
  auto other = Ipam::open(dir.file("ipam.json"), cidr("10.8.0.0/24"), 1, 2);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("10.9.0.0/24"), std::string::npos);
}

TEST(IpamTest, ABoundPortIsInUse) {
  RealHostSystem system;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  EXPECT_TRUE(system.portInUse(Proto::kTcp, ntohs(sa.sin_port)));
  ::close(fd);
}

}  // namespace
}  // namespace sc::netns
