// Pins the rule text rendered for the seed example (the plans pinned in tests/golden/model/) in
// awsvpc and bridge mode: the task namespace's rules, the task's host rules and the shared base.
// The root suite feeds the same text to iptables-restore.
#include <gtest/gtest.h>

#include "agent/task_net.h"
#include "model/plan.h"
#include "netns/hosts_file.h"
#include "netns/task_rules.h"
#include "tests/support/golden.h"

namespace sc::netns {
namespace {

// Fixed addressing: the first task address of the default CIDR, host ports from 49153.
std::string render(const std::string& plan_file, const std::string& what) {
  auto plan = model::parseTaskPlan(testing::readSource("tests/golden/model/" + plan_file));
  EXPECT_TRUE(plan.ok());
  auto spec = agent::sandboxSpecFromPlan(*plan);
  EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error().message);
  if (!spec.ok()) return "";
  auto cidr = Cidr::parse(NetConfig{}.task_cidr);
  std::vector<PortMapping> maps = spec->port_mappings;
  for (size_t i = 0; i < maps.size(); ++i) maps[i].host_port = 49153 + static_cast<int>(i);
  if (what == "hosts") return renderHostsFile(*spec, cidr->at(2));
  // A host whose ip_forward the agent turned on (the usual case): the final DROP is rendered.
  auto text = renderAllRules(*spec, {cidr->at(2), *cidr, maps}, {*cidr, NetConfig{}.bridge, true},
                             ChainNames::of(NetConfig{}.chain_prefix), NetConfig{}.netns_prefix + spec->task_id);
  EXPECT_TRUE(text.ok()) << (text.ok() ? "" : text.error().message);
  return text.ok() ? *text : "";
}

TEST(NetnsRulesGoldenTest, SeedExampleAwsvpc) {
  testing::expectGolden("netns/seed-example-awsvpc.rules", render("seed-example-awsvpc.json", "rules"));
}

TEST(NetnsRulesGoldenTest, SeedExampleBridge) {
  testing::expectGolden("netns/seed-example-bridge.rules", render("seed-example-bridge.json", "rules"));
}

TEST(NetnsRulesGoldenTest, SeedExampleHostsFile) {
  testing::expectGolden("netns/seed-example-awsvpc.hosts", render("seed-example-awsvpc.json", "hosts"));
}

TEST(NetnsRulesGoldenTest, NonLoopbackVipRange) {
  SandboxSpec s;
  s.task_id = "egress-example";
  s.hostname = "egress-example";
  s.vip_range = *Cidr::parse("198.18.0.0/16");
  s.egress = {{*IpAddress::parse("198.18.0.1"), 80, 15001}, {*IpAddress::parse("198.18.0.2"), 443, 15002}};
  auto cidr = Cidr::parse("10.222.0.0/16");
  // ip_forward was on before the agent: no final DROP.
  auto text =
      renderAllRules(s, {cidr->at(2), *cidr, {}}, {*cidr, "scbr0", false}, ChainNames::of("SC"), "sc-egress-example");
  ASSERT_TRUE(text.ok());
  testing::expectGolden("netns/non-loopback-vip.rules", *text);
}

// The shared base of a lab host with two peer hosts (host-gw): their tasks' traffic is neither
// masqueraded nor dropped.
TEST(NetnsRulesGoldenTest, HostBaseWithPeerHosts) {
  HostBase base{
      *Cidr::parse("10.222.1.0/24"), "scbr0", true, {*Cidr::parse("10.222.2.0/24"), *Cidr::parse("10.222.3.0/24")}};
  const RuleDocument doc = hostBaseRules(ChainNames::of("SC"), base);
  std::string out;
  for (Table t : tablesOf(doc)) {
    auto text = renderInstall(doc, t);
    ASSERT_TRUE(text.ok()) << text.error().message;
    out += *text;
  }
  testing::expectGolden("netns/host-base-peers.rules", out);
}

}  // namespace
}  // namespace sc::netns
