// Crash windows and failures of ProxyInstance::start (root: cgroups, namespaces, HAProxy).
// A failure at each step undoes everything; a crash right after launch (before the record) leaves a
// proxy that cannot be adopted, and removeLeftovers() cleans it up.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/failpoint.h"
#include "inject/proxy_instance.h"
#include "tests/support/proxy_net_fixture.h"
#include "tests/support/root_guard.h"
#include "tests/support/temp_dir.h"

namespace sc::inject {
namespace {

ProxyInstanceSpec specFor(testing::NetFixture& net, const std::string& hosts) {
  ProxyInstanceSpec s;
  s.config.task_id = net.prefix() + "f";
  s.config.run_dir = "/run/scagent/tasks/" + net.prefix() + "f";
  s.config.ingress.push_back({.name = "ingress-x", .listener_port = 40080, .container_port = 80});
  s.netns_path = net.netnsPath("f");
  s.hosts_file = hosts;
  s.cgroup = {.task_cgroup = "scagent-" + net.prefix() + "f",
              .task_memory_bytes = 256ll << 20,
              .proxy_memory_bytes = 64ll << 20};
  return s;
}

void expectNothingLeft(const ProxyInstanceSpec& s) {
  EXPECT_FALSE(std::filesystem::exists(s.config.run_dir));
  EXPECT_FALSE(std::filesystem::exists(TaskCgroup::memoryDir(s.cgroup.task_cgroup)));
}

class ProxyStartFailureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ProxyStartFailureTest, EveryStepUndoesItsWork) {
  SC_REQUIRE_ROOT();
  testing::NetFixture net;
  testing::TempDir tmp;
  testing::writeTestFile(tmp.file("hosts"), "127.0.0.1 localhost\n");
  net.addTask("f", 60);
  ProxyInstanceSpec s = specFor(net, tmp.file("hosts"));
  ASSERT_TRUE(failpoint::set(std::string(GetParam()) + "=error").ok());
  auto p = ProxyInstance::start(s);
  ASSERT_TRUE(failpoint::set("").ok());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kInjected);
  expectNothingLeft(s);
}

INSTANTIATE_TEST_SUITE_P(EveryStep, ProxyStartFailureTest,
                         ::testing::Values("proxy.after_cgroup", "proxy.after_config", "proxy.after_launch"));

TEST(ProxyCrashTest, CrashBeforeTheRecordLeavesAnOrphanThatRecoveryRemoves) {
  SC_REQUIRE_ROOT();
  testing::NetFixture net;
  testing::TempDir tmp;
  testing::writeTestFile(tmp.file("hosts"), "127.0.0.1 localhost\n");
  net.addTask("f", 60);
  ProxyInstanceSpec s = specFor(net, tmp.file("hosts"));
  // The crashing "agent" is our child; its orphaned shim is re-parented to us.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  pid_t agent = ::fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    if (!failpoint::set("proxy.after_launch=abort").ok()) _exit(3);
    (void)ProxyInstance::start(s);
    _exit(0);  // not reached
  }
  int st = 0;
  ASSERT_EQ(::waitpid(agent, &st, 0), agent);
  ASSERT_TRUE(WIFSIGNALED(st));
  // The proxy runs, but without a record it cannot be adopted.
  auto cg = TaskCgroup::open(s.cgroup.task_cgroup);
  ASSERT_TRUE(cg.ok()) << cg.error().message;
  auto pids = (*cg)->proxyPids();
  ASSERT_TRUE(pids.ok());
  EXPECT_FALSE(pids->empty());
  EXPECT_FALSE(ProxyInstance::adopt(s).ok());
  ASSERT_TRUE(ProxyInstance::removeLeftovers(s).ok());
  expectNothingLeft(s);
  for (pid_t pid : *pids) EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid) + "/status"));
  for (int i = 0; i < 100; ++i) {  // reap the re-parented shim
    pid_t r = ::waitpid(-1, &st, WNOHANG);
    if (r < 0) break;
    if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  EXPECT_TRUE(ProxyInstance::removeLeftovers(s).ok());  // idempotent
}

}  // namespace
}  // namespace sc::inject
