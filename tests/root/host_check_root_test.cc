// The real host probe on this machine: every kernel feature scagent needs is present, and the
// probes (a throwaway namespace, rules inside it, a seccomp filter in a child) leave the host's
// namespaces, rules and ip_forward exactly as they were.
#include <gtest/gtest.h>

#include "agent/host_check.h"
#include "common/file.h"
#include "common/process.h"
#include "common/strings.h"
#include "tests/support/root_guard.h"

namespace sc::agent {
namespace {

std::string run(const std::string& path, std::vector<std::string> args) {
  auto r = runProcess({.path = path, .args = std::move(args)});
  EXPECT_TRUE(r.ok() && r->success()) << path;
  return r.ok() ? r->out : "";
}

// iptables-save without its comment lines (they carry timestamps).
std::string rules() {
  std::string out;
  for (const std::string& line : split(run("/usr/sbin/iptables-save", {}), '\n')) {
    if (!line.starts_with("#")) out += line + "\n";
  }
  return out;
}

TEST(HostCheckRootTest, KernelFeaturesArePresentAndProbesLeaveNothing) {
  SC_REQUIRE_ROOT();
  const std::string netns_before = run("/usr/bin/ip", {"netns", "list"});
  const std::string rules_before = rules();
  const std::string links_before = run("/usr/bin/ip", {"-o", "link", "show"});
  const std::string fwd_before = *readFile("/proc/sys/net/ipv4/ip_forward");

  RealProcessRunner runner;
  RealHostProbe probe(runner);
  HostReport r = evaluateHost(probe.gather({}), {});
  for (const auto& c : r.checks) {
    if (c.name.starts_with("kernel.") || c.name == "haproxy") {
      EXPECT_EQ(c.status, CheckStatus::kPass) << c.name << ": " << c.detail;
    }
  }
  EXPECT_TRUE(r.compatible());

  EXPECT_EQ(run("/usr/bin/ip", {"netns", "list"}), netns_before);
  EXPECT_EQ(rules(), rules_before);
  EXPECT_EQ(run("/usr/bin/ip", {"-o", "link", "show"}), links_before);
  EXPECT_EQ(*readFile("/proc/sys/net/ipv4/ip_forward"), fwd_before);
}

}  // namespace
}  // namespace sc::agent
