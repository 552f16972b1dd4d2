// Fakes for netns/ seams: an in-memory kernel and a rule applier that record every operation as
// a readable line, and a host system with settable values.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "netns/kernel.h"
#include "netns/rule_applier.h"
#include "netns/system.h"

namespace sc::testing {

class FakeNetworkKernel final : public netns::NetworkKernel {
 public:
  std::vector<std::string> ops;
  std::set<std::string> links, namespaces;

  // NetworkKernel
  Result<netns::Outcome> ensureBridge(const std::string& name, const IpAddress& gw, int prefix) override {
    ops.push_back("ensureBridge " + name + " " + gw.toString() + "/" + std::to_string(prefix));
    return links.insert(name).second ? netns::Outcome::kCreated : netns::Outcome::kAlreadyPresent;
  }
  Result<netns::Outcome> deleteLink(const std::string& name) override {
    ops.push_back("deleteLink " + name);
    return links.erase(name) ? netns::Outcome::kRemoved : netns::Outcome::kAbsent;
  }
  Result<bool> linkExists(const std::string& name) override { return links.count(name) > 0; }
  Result<std::vector<std::string>> listLinks(const std::string& prefix) override {
    std::vector<std::string> out;
    for (const auto& l : links) {
      if (l.starts_with(prefix)) out.push_back(l);
    }
    return out;
  }
  Result<netns::Outcome> createNetns(const std::string& name) override {
    ops.push_back("createNetns " + name);
    return namespaces.insert(name).second ? netns::Outcome::kCreated : netns::Outcome::kAlreadyPresent;
  }
  Result<netns::Outcome> deleteNetns(const std::string& name) override {
    ops.push_back("deleteNetns " + name);
    return namespaces.erase(name) ? netns::Outcome::kRemoved : netns::Outcome::kAbsent;
  }
  bool netnsExists(const std::string& name) override { return namespaces.count(name) > 0; }
  std::string netnsPath(const std::string& name) const override { return "/run/netns/" + name; }
  Result<std::vector<std::string>> listNetns(const std::string& prefix) override {
    std::vector<std::string> out;
    for (const auto& n : namespaces) {
      if (n.starts_with(prefix)) out.push_back(n);
    }
    return out;
  }
  Result<void> createVeth(const netns::VethRequest& r) override {
    ops.push_back("createVeth " + r.host_name + " " + r.netns_name + "/" + r.peer_name + " master " + r.bridge);
    if (!namespaces.count(r.netns_name))
      return makeError(ErrorCode::kNotFound, "create veth", r.host_name, "no namespace");
    links.insert(r.host_name);
    return ok();
  }
  Result<void> configureTask(const netns::TaskAddress& a) override {
    ops.push_back("configureTask " + a.netns_name + " " + a.ifname + " " + a.address.toString() + "/" +
                  std::to_string(a.prefix) + " via " + a.gateway.toString());
    return ok();
  }
  Result<std::vector<std::string>> taskAddresses(const std::string&, const std::string&) override {
    return std::vector<std::string>{};
  }
  std::set<netns::HostRoute> routes;  // tagged host routes
  std::string unreachable_via;        // replaceHostRoute via this address fails (not on-link)
  Result<std::vector<netns::HostRoute>> listHostRoutes() override {
    return std::vector<netns::HostRoute>(routes.begin(), routes.end());
  }
  Result<void> replaceHostRoute(const netns::HostRoute& r) override {
    ops.push_back("replaceHostRoute " + r.dst.toString() + " via " + r.via.toString());
    if (r.via.toString() == unreachable_via)
      return makeError(ErrorCode::kFailedPrecondition, "add route to " + r.dst.toString() + " via", r.via.toString(),
                       "Network is unreachable");
    std::erase_if(routes, [&](const netns::HostRoute& x) { return x.dst == r.dst; });
    routes.insert(r);
    return ok();
  }
  Result<netns::Outcome> deleteHostRoute(const netns::HostRoute& r) override {
    ops.push_back("deleteHostRoute " + r.dst.toString() + " via " + r.via.toString());
    return routes.erase(r) ? netns::Outcome::kRemoved : netns::Outcome::kAbsent;
  }
};

class FakeRuleApplier final : public netns::RuleApplier {
 public:
  std::vector<std::string> ops;  // "restore <netns or host>\n<text>"
  int fail_on_call = 0;          // 1-based restore call that fails; 0: none
  int calls = 0;
  std::map<netns::Table, std::string> saved;  // what save() returns on the host

  // RuleApplier
  Result<void> restore(const std::string& netns_path, int, const std::string& text) override {
    ++calls;
    ops.push_back("restore " + (netns_path.empty() ? std::string("host") : netns_path) + "\n" + text);
    if (calls == fail_on_call) return makeError(ErrorCode::kFailedPrecondition, "apply rules in", "fake", "refused");
    return ok();
  }
  Result<std::string> save(const std::string&, int, netns::Table t) override { return saved[t]; }
};

class FakeHostSystem final : public netns::HostSystem {
 public:
  std::string ip_forward = "0";
  std::set<int> tcp_in_use;

  // HostSystem
  Result<std::string> sysctlGet(netns::SysNet) override { return ip_forward; }
  Result<void> sysctlSet(netns::SysNet, const std::string& v) override {
    ip_forward = v;
    return ok();
  }
  bool portInUse(netns::Proto p, int port) override { return p == netns::Proto::kTcp && tcp_in_use.count(port) > 0; }
};

}  // namespace sc::testing
