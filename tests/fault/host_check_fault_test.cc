// The host probe when the tools it relies on are missing or broken: every check still reports,
// with the reason, and nothing throws or hangs.
#include <gtest/gtest.h>

#include "agent/host_check.h"

namespace sc::agent {
namespace {

const HostCheck& find(const HostReport& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return c;
  static HostCheck none{"", CheckStatus::kFail, "missing"};
  ADD_FAILURE() << "no check " << name;
  return none;
}

TEST(HostCheckFaultTest, BrokenToolsAreReportedNotFatal) {
  RealProcessRunner runner;
  RealHostProbe probe(runner);
  HostPolicy policy;
  policy.iptables_restore_path = "/bin/false";
  policy.haproxy_path = "/nonexistent/haproxy";
  HostReport r = evaluateHost(probe.gather(policy), policy);
  EXPECT_FALSE(r.compatible());
  EXPECT_EQ(find(r, "kernel.nat-redirect").status, CheckStatus::kFail);
  EXPECT_NE(find(r, "kernel.nat-redirect").detail.find("/bin/false: exit status 1"), std::string::npos)
      << find(r, "kernel.nat-redirect").detail;
  EXPECT_EQ(find(r, "haproxy").detail, "failed to run '/nonexistent/haproxy': No such file or directory");
}

TEST(HostCheckFaultTest, HangingToolIsKilledAtItsDeadline) {
  class SlowRunner : public ProcessRunner {
   public:
    Result<ProcessResult> run(const ProcessOptions& o) override {
      if (o.path.find("haproxy") == std::string::npos) return real_.run(o);
      ProcessOptions slow = o;
      slow.path = "/bin/sleep";
      slow.args = {"60"};
      return real_.run(slow);  // keeps the probe's own deadline
    }
    RealProcessRunner real_;
  } runner;
  RealHostProbe probe(runner);
  HostReport r = evaluateHost(probe.gather({}), {});
  EXPECT_NE(find(r, "haproxy").detail.find("no exit within 5000 ms; killed"), std::string::npos)
      << find(r, "haproxy").detail;
}

}  // namespace
}  // namespace sc::agent
