// The task network sandbox on the real kernel, with real traffic: namespaces, veth, bridge,
// addresses, iptables rules and the hosts file, and the host left as it was found.
#include <gtest/gtest.h>

#include <map>

#include "agent/task_net.h"
#include "model/plan.h"
#include "tests/support/golden.h"
#include "tests/support/netns_fixture.h"
#include "tests/support/root_guard.h"

namespace sc::testing {
namespace {

using netns::Outcome;

netns::SandboxSpec specFromGoldenPlan(const std::string& file, const std::string& task) {
  auto plan = model::parseTaskPlan(readSource("tests/golden/model/" + file));
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  auto spec = agent::sandboxSpecFromPlan(*plan, task);
  EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error().message);
  return spec.ok() ? *spec : netns::SandboxSpec{};
}

netns::SandboxSpec emptySpec(const std::string& task) {
  netns::SandboxSpec s;
  s.task_id = task;
  s.hostname = task;
  return s;
}

// A "remote host": a namespace behind its own veth to the host, not on the bridge, with a default
// route via the host.
struct RemoteHost {
  explicit RemoteHost(const UniqueNames& names)
      : name(names.netnsPrefix() + "remote"),
        link("st" + std::to_string(names.pid) + "r"),
        host_addr(names.remoteNet() + ".1"),
        path("/run/netns/" + name) {
    const std::string remote_addr = names.remoteNet() + ".2";
    runOut("/usr/bin/ip", {"netns", "add", name});
    runOut("/usr/bin/ip", {"link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name});
    runOut("/usr/bin/ip", {"addr", "add", host_addr + "/30", "dev", link});
    runOut("/usr/bin/ip", {"link", "set", link, "up"});
    runOut("/usr/bin/ip", {"-n", name, "addr", "add", remote_addr + "/30", "dev", "eth0"});
    runOut("/usr/bin/ip", {"-n", name, "link", "set", "eth0", "up"});
    runOut("/usr/bin/ip", {"-n", name, "link", "set", "lo", "up"});
    runOut("/usr/bin/ip", {"-n", name, "route", "add", "default", "via", host_addr});
  }
  ~RemoteHost() { remove(); }
  void remove() {
    if (removed) return;
    removed = true;
    runOut("/usr/bin/ip", {"link", "del", link});
    runOut("/usr/bin/ip", {"netns", "del", name});
  }
  std::string name, link, host_addr, path;
  bool removed = false;
};

class SandboxRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SC_REQUIRE_ROOT();
    lock_ = std::make_unique<SuiteLock>();
    before_ = hostSnapshot();
    ASSERT_TRUE(net_.init());
    ipam_before_ = net_.ipamFile();
    ready_ = true;
  }
  void TearDown() override {
    if (!ready_) return;
    // Clean up whatever a failed assertion left, then prove the host is as it was.
    for (const char* t : {"app", "client", "web"}) (void)net_.manager->remove(t);
    (void)net_.manager->recover(true);
    expectHostUnchanged(before_, hostSnapshot(), net_.names);
    EXPECT_EQ(net_.ipamFile(), ipam_before_);
  }
  std::string ip(const netns::ApplyResult& r) { return r.info.address.toString(); }

  std::unique_ptr<SuiteLock> lock_;
  HostSnapshot before_;
  RealNet net_;
  std::string ipam_before_;
  bool ready_ = false;
};

TEST_F(SandboxRootTest, AwsvpcInterceptOverrideAndLoopbackEgress) {
  netns::SandboxSpec app = specFromGoldenPlan("seed-example-awsvpc.json", "app");
  // The seed: containerPort 80 intercepted to listener 36547; override listener 99, no rule.
  ASSERT_EQ(app.intercepts.size(), 1u);
  ASSERT_EQ(app.intercepts[0].container_port, 80);
  const int listener = app.intercepts[0].listener_port;
  auto a = net_.manager->apply(app);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->outcome, Outcome::kCreated);
  auto c = net_.manager->apply(emptySpec("client"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  const std::string app_ns = a->info.netns_path, client_ns = c->info.netns_path, app_ip = ip(*a);
  {
    NamedServer s_app(app_ns, "0.0.0.0", 80, "app");
    NamedServer s_listener(app_ns, "0.0.0.0", listener, "listener");
    NamedServer s_override(app_ns, "0.0.0.0", 99, "override");
    // Egress: nat OUTPUT redirects each alias VIP:port to its listener on 127.0.0.1.
    std::map<std::string, int> egress_listener;
    for (const auto& e : app.egress) egress_listener[e.vip.toString() + ":" + std::to_string(e.port)] = e.listener_port;
    ASSERT_TRUE(egress_listener.count("127.255.0.3:81") && egress_listener.count("127.255.0.4:81"));
    NamedServer s_db(app_ns, "127.0.0.1", egress_listener["127.255.0.3:81"], "egress-db");
    NamedServer s_dbapp(app_ns, "127.0.0.1", egress_listener["127.255.0.4:81"], "egress-db.app");

    // From another namespace: containerPort lands on the listener; the override is direct.
    EXPECT_EQ(ask(client_ns, app_ip, 80), "listener");
    EXPECT_EQ(ask(client_ns, app_ip, 99), "override");
    EXPECT_EQ(ask(client_ns, app_ip, listener), "listener");
    // From inside the task (the proxy's own path): containerPort reaches the app.
    EXPECT_EQ(ask(app_ns, "127.0.0.1", 80), "app");
    EXPECT_EQ(ask(app_ns, app_ip, 80), "app");
    // Egress: each alias's VIP reaches its own listener, and the alias http:80 (the seed's app
    // port) leaves port 80 to the app.
    EXPECT_EQ(ask(app_ns, "127.255.0.3", 81), "egress-db");
    EXPECT_EQ(ask(app_ns, "127.255.0.4", 81), "egress-db.app");
    EXPECT_NE(ask(app_ns, "127.255.0.1", 80), "app");
  }
  // The hosts file: frozen aliases and the task's own name.
  auto hosts = readFile(a->info.hosts_path);
  ASSERT_TRUE(hosts.ok());
  EXPECT_NE(hosts->find("127.255.0.3\tdb\n"), std::string::npos);
  EXPECT_NE(hosts->find(app_ip + "\tapp-plan\n"), std::string::npos);
  // `ip netns exec` sees the namespace and its hosts file.
  EXPECT_NE(runOut("/usr/bin/ip", {"netns", "exec", a->info.netns_name, "/bin/cat", "/etc/hosts"}).find("db.app"),
            std::string::npos);

  // Idempotent: a second apply changes nothing.
  const HostSnapshot mid = hostSnapshot();
  const std::string ns_rules = stripRules(runOut("/usr/sbin/iptables-save", {"-t", "nat"}, app_ns));
  auto again = net_.manager->apply(app);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->outcome, Outcome::kAlreadyPresent);
  EXPECT_EQ(again->info.address, a->info.address);
  EXPECT_EQ(stripRules(runOut("/usr/sbin/iptables-save", {"-t", "nat"}, app_ns)), ns_rules);
  const HostSnapshot mid2 = hostSnapshot();
  EXPECT_EQ(mid.nat, mid2.nat);
  EXPECT_EQ(mid.filter, mid2.filter);
  EXPECT_EQ(mid.links, mid2.links);

  // Removing one task leaves the other whole.
  auto r = net_.manager->remove("app");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, Outcome::kRemoved);
  EXPECT_TRUE(net_.kernel->netnsExists(c->info.netns_name));
  EXPECT_EQ(runOut("/usr/sbin/iptables-save", {"-t", "nat"}).find("sc:app"), std::string::npos);
  auto r2 = net_.manager->remove("app");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*r2, Outcome::kAbsent);
  ASSERT_TRUE(net_.manager->remove("client").ok());
}

TEST_F(SandboxRootTest, NonLoopbackVipRangeRedirectsEachAliasToItsListener) {
  netns::SandboxSpec app = emptySpec("app");
  auto range = Cidr::parse("198.18." + std::to_string(net_.names.pid % 250) + ".0/24");
  ASSERT_TRUE(range.ok());
  app.vip_range = *range;
  app.egress = {{range->at(7), 8080, 15001}, {range->at(200), 443, 15002}};
  auto a = net_.manager->apply(app);
  ASSERT_TRUE(a.ok()) << a.error().message;
  {
    NamedServer first(a->info.netns_path, "127.0.0.1", 15001, "first");
    NamedServer second(a->info.netns_path, "127.0.0.1", 15002, "second");
    EXPECT_EQ(ask(a->info.netns_path, range->at(7).toString(), 8080), "first");
    EXPECT_EQ(ask(a->info.netns_path, range->at(200).toString(), 443), "second");
  }
  ASSERT_TRUE(net_.manager->remove("app").ok());
}

// The seed's minimal configuration: the alias port is the app's own containerPort. The app binds
// the wildcard on that port and still reaches the alias (through the redirect to the listener),
// and a connection to its own port reaches the app.
TEST_F(SandboxRootTest, LoopbackAliasOnTheAppsOwnPortLeavesThePortToTheApp) {
  netns::SandboxSpec app = emptySpec("app");
  app.vip_range = *Cidr::parse("127.255.0.0/16");
  app.egress = {{*IpAddress::parse("127.255.0.1"), 8080, 15001}};
  auto a = net_.manager->apply(app);
  ASSERT_TRUE(a.ok()) << a.error().message;
  {
    NamedServer own(a->info.netns_path, "0.0.0.0", 8080, "app");
    NamedServer egress(a->info.netns_path, "127.0.0.1", 15001, "egress-listener");
    EXPECT_EQ(ask(a->info.netns_path, "127.255.0.1", 8080), "egress-listener");
    EXPECT_EQ(ask(a->info.netns_path, "127.0.0.1", 8080), "app");
  }
  ASSERT_TRUE(net_.manager->remove("app").ok());
}

TEST_F(SandboxRootTest, BridgePortMappingsFromAnotherHostFromTheHostAndHairpin) {
  netns::SandboxSpec app = specFromGoldenPlan("seed-example-bridge.json", "app");
  ASSERT_EQ(app.port_mappings.size(), 3u);
  auto a = net_.manager->apply(app);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto c = net_.manager->apply(emptySpec("client"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  std::map<std::string, int> host_port;
  for (const auto& m : a->info.port_mappings) {
    EXPECT_GE(m.host_port, net_.config.host_port_min);
    host_port[m.name] = m.host_port;
  }
  ASSERT_TRUE(host_port.count("ingress-http") && host_port.count("app:80"));

  RemoteHost remote(net_.names);
  const std::string& host_addr = remote.host_addr;
  const std::string& remote_path = remote.path;
  {
    const std::string app_ns = a->info.netns_path;
    NamedServer s_listener(app_ns, "0.0.0.0", a->info.port_mappings[0].task_port, "listener");
    NamedServer s_override(app_ns, "0.0.0.0", 99, "override");
    NamedServer s_app(app_ns, "0.0.0.0", 80, "app");
    // From another host, through the host's address.
    EXPECT_EQ(ask(remote_path, host_addr, host_port["ingress-http"]), "listener");
    EXPECT_EQ(ask(remote_path, host_addr, host_port["ingress-http-four"]), "override");
    EXPECT_EQ(ask(remote_path, host_addr, host_port["app:80"]), "app");
    // From the host itself (nat OUTPUT).
    EXPECT_EQ(ask("", host_addr, host_port["app:80"]), "app");
    // From another task on the bridge, through the host's address (hairpin).
    EXPECT_EQ(ask(c->info.netns_path, host_addr, host_port["ingress-http"]), "listener");
  }
  remote.remove();
  ASSERT_TRUE(net_.manager->remove("app").ok());
  ASSERT_TRUE(net_.manager->remove("client").ok());
}

// Forwarding is scoped to the bridge: a neighbour that routes the task CIDR through the host
// reaches a task only through its port mappings, not its address. And the shared rules put back
// after a firewall tool flushed a chain and deleted the jumps: verifyHost() repairs them in one
// restore, and a task start does the same.
TEST_F(SandboxRootTest, ForwardingIsScopedToTheBridgeAndDriftedRulesAreRepaired) {
  netns::SandboxSpec app = specFromGoldenPlan("seed-example-bridge.json", "app");
  auto a = net_.manager->apply(app);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(a->host_repairs.empty());
  RemoteHost remote(net_.names);
  runOut("/usr/bin/ip", {"-n", remote.name, "route", "add", net_.config.task_cidr, "via", remote.host_addr});
  int mapped = 0;
  for (const auto& m : a->info.port_mappings) mapped = m.name == "app:80" ? m.host_port : mapped;
  ASSERT_NE(mapped, 0);
  const std::string p = net_.names.chainPrefix();
  {
    NamedServer s_app(a->info.netns_path, "0.0.0.0", 80, "app");
    EXPECT_EQ(ask(remote.path, remote.host_addr, mapped), "app");
    EXPECT_NE(ask(remote.path, ip(*a), 80), "app") << "the task's address is not reachable from outside the host";

    // What `iptables -t nat -F <chain>` and a firewall reload that drops foreign jumps leave.
    runOut("/usr/sbin/iptables", {"-w", "-t", "nat", "-F", p + "_PORTMAP"});
    runOut("/usr/sbin/iptables",
           {"-w", "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment", "sc:agent", "-j", p + "_POSTROUTING"});
    runOut("/usr/sbin/iptables",
           {"-w", "-t", "filter", "-D", "FORWARD", "-m", "comment", "--comment", "sc:agent", "-j", p + "_FORWARD"});
    runOut("/usr/sbin/iptables", {"-w", "-t", "filter", "-F", p + "_FORWARD"});
    runOut("/usr/sbin/iptables", {"-w", "-t", "filter", "-X", p + "_FORWARD"});
    EXPECT_NE(ask(remote.path, remote.host_addr, mapped), "app") << "the mapping is gone with the flush";

    auto fixed = net_.manager->verifyHost();
    ASSERT_TRUE(fixed.ok()) << fixed.error().message;
    const std::string said = join(*fixed, "; ");
    EXPECT_NE(said.find("nat chain " + p + "_PORTMAP: 3 rule(s) missing"), std::string::npos) << said;
    EXPECT_NE(said.find("nat chain POSTROUTING lacks the rule -j " + p + "_POSTROUTING"), std::string::npos) << said;
    EXPECT_NE(said.find("filter chain " + p + "_FORWARD is missing"), std::string::npos) << said;
    EXPECT_EQ(ask(remote.path, remote.host_addr, mapped), "app") << "repaired";
    EXPECT_NE(ask(remote.path, ip(*a), 80), "app");
    auto again = net_.manager->verifyHost();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, std::vector<std::string>{}) << "nothing to repair twice";

    // A task start checks too.
    runOut("/usr/sbin/iptables", {"-w", "-t", "nat", "-F", p + "_POSTROUTING"});
    auto c = net_.manager->apply(emptySpec("client"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->host_repairs, std::vector<std::string>{"nat chain " + p + "_POSTROUTING: 2 rule(s) missing, 0 unexpected"});
  }
  remote.remove();
  ASSERT_TRUE(net_.manager->remove("app").ok());
  ASSERT_TRUE(net_.manager->remove("client").ok());
}

TEST_F(SandboxRootTest, RecoverReportsAndRemovesOrphans) {
  auto a = net_.manager->apply(specFromGoldenPlan("seed-example-bridge.json", "app"));
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto w = net_.manager->apply(emptySpec("web"));
  ASSERT_TRUE(w.ok()) << w.error().message;
  // A crash that lost the record of "app": its namespace, veth, rules and lease are orphans.
  ASSERT_EQ(::unlink((net_.config.state_dir + "/tasks/app.json").c_str()), 0);
  auto seen = net_.manager->recover(false);
  ASSERT_TRUE(seen.ok()) << seen.error().message;
  EXPECT_EQ(seen->removed, 0u);
  EXPECT_GE(seen->findings.size(), 3u);
  EXPECT_TRUE(net_.kernel->netnsExists(a->info.netns_name));
  auto fixed = net_.manager->recover(true);
  ASSERT_TRUE(fixed.ok()) << fixed.error().message;
  EXPECT_GE(fixed->removed, 1u);
  EXPECT_FALSE(net_.kernel->netnsExists(a->info.netns_name));
  EXPECT_TRUE(net_.kernel->netnsExists(w->info.netns_name));
  EXPECT_EQ(runOut("/usr/sbin/iptables-save", {"-t", "nat"}).find("sc:app"), std::string::npos);
  auto again = net_.manager->recover(true);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->findings.empty()) << join(again->findings, "\n");
  ASSERT_TRUE(net_.manager->remove("web").ok());
}

// The golden rule text is what iptables-restore accepts: applied in a throwaway namespace.
TEST_F(SandboxRootTest, RenderedRulesAreAcceptedByIptablesRestore) {
  for (const char* file : {"seed-example-awsvpc.json", "seed-example-bridge.json"}) {
    netns::SandboxSpec spec = specFromGoldenPlan(file, "app");
    std::vector<netns::PortMapping> maps = spec.port_mappings;
    for (size_t i = 0; i < maps.size(); ++i) maps[i].host_port = 49153 + static_cast<int>(i);
    auto cidr = Cidr::parse("10.222.0.0/16");
    ASSERT_TRUE(cidr.ok());
    const netns::TaskAddressing addressing{cidr->at(2), *cidr, maps};
    const auto chains = netns::ChainNames::of("SC");
    const netns::RuleDocument base = netns::hostBaseRules(chains, {*cidr, "scbr0", true});
    const netns::RuleDocument host = netns::hostTaskRules(spec, addressing, chains);
    const netns::RuleDocument task = netns::taskNamespaceRules(spec, chains);
    for (netns::Table t : {netns::Table::kNat, netns::Table::kFilter}) {
      std::string input =
          *netns::renderInstall(base, t) + *netns::renderInstall(host, t) + *netns::renderInstall(task, t);
      auto r = runProcess({.path = "/usr/sbin/iptables-restore",
                           .args = {"--noflush", "--wait"},
                           .stdin_data = input,
                           .new_netns = true});
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_TRUE(r->success()) << file << " " << netns::tableName(t) << ": " << r->describe() << "\n" << input;
    }
  }
}

}  // namespace
}  // namespace sc::testing
