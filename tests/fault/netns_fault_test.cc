// A failure at every step of SandboxManager::apply() on the real kernel: nothing of the task is
// left behind (namespaces, links, rules, hosts file, lease, record, host state), a neighbour
// task is untouched, and the next apply succeeds.
#include <dirent.h>
#include <gtest/gtest.h>

#include "common/failpoint.h"
#include "tests/support/netns_fixture.h"
#include "tests/support/root_guard.h"

namespace sc::testing {
namespace {

netns::SandboxSpec fullSpec(const std::string& task) {
  netns::SandboxSpec s;
  s.task_id = task;
  s.hostname = task;
  s.intercepts = {{80, 36547}};
  s.vip_range = *Cidr::parse("198.18.0.0/24");
  s.egress = {{*IpAddress::parse("198.18.0.3"), 80, 15001}};
  s.port_mappings = {{"ingress", netns::Proto::kTcp, 0, 36547}};
  s.hosts = {{"127.255.0.3", "db"}};
  return s;
}

std::string listDir(const std::string& dir) {
  std::string out;
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    out = join(names, ",");
  }
  return out;
}

struct State {
  HostSnapshot host;
  std::string ipam, tasks, state_dir;
};

State state(RealNet& net) {
  return {hostSnapshot(), net.ipamFile(), listDir(net.config.state_dir + "/tasks"), listDir(net.config.state_dir)};
}

void expectSame(const State& before, const State& after, const UniqueNames& names, const std::string& where) {
  SCOPED_TRACE(where);
  expectHostUnchanged(before.host, after.host, names);
  EXPECT_EQ(before.ipam, after.ipam);
  EXPECT_EQ(before.tasks, after.tasks);
  EXPECT_EQ(before.state_dir, after.state_dir);
}

class NetnsFaultTest : public ::testing::TestWithParam<bool> {};

TEST_P(NetnsFaultTest, EveryApplyStepRollsBack) {
  SC_REQUIRE_ROOT();
  SuiteLock lock;
  const bool with_neighbour = GetParam();
  const HostSnapshot pristine = hostSnapshot();
  RealNet net;
  ASSERT_TRUE(net.init());
  const std::string pristine_ipam = net.ipamFile();
  if (with_neighbour) {
    auto n = net.manager->apply(fullSpec("neighbour"));
    ASSERT_TRUE(n.ok()) << n.error().message;
  }
  const State before = state(net);
  for (const char* fp : netns::kApplyFailpoints) {
    SCOPED_TRACE(fp);
    ASSERT_TRUE(failpoint::set(std::string(fp) + "=error").ok());
    auto r = net.manager->apply(fullSpec("victim"));
    const int hits = failpoint::hits(fp);
    ASSERT_TRUE(failpoint::set("").ok());
    if (hits == 0) {
      // Not on this path (the host's shared steps run with the first task only).
      ASSERT_TRUE(r.ok()) << r.error().message;
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, ErrorCode::kInjected) << r.error().message;
      EXPECT_EQ(r.error().message.find("rollback left errors"), std::string::npos) << r.error().message;
      expectSame(before, state(net), net.names, std::string("after failing at ") + fp);
      auto again = net.manager->apply(fullSpec("victim"));
      ASSERT_TRUE(again.ok()) << again.error().message;
      EXPECT_EQ(again->outcome, netns::Outcome::kCreated);
    }
    auto gone = net.manager->remove("victim");
    ASSERT_TRUE(gone.ok()) << gone.error().message;
    expectSame(before, state(net), net.names, std::string("after removing, ") + fp);
  }
  if (with_neighbour) {
    ASSERT_TRUE(net.manager->remove("neighbour").ok());
  }
  expectHostUnchanged(pristine, hostSnapshot(), net.names);
  EXPECT_EQ(net.ipamFile(), pristine_ipam);
}

INSTANTIATE_TEST_SUITE_P(FirstTaskAndWithNeighbour, NetnsFaultTest, ::testing::Bool());

}  // namespace
}  // namespace sc::testing
