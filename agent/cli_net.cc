#include "agent/cli_net.h"

#include <map>
#include <nlohmann/json.hpp>

#include "agent/task_net.h"
#include "common/file.h"
#include "common/process.h"
#include "common/strings.h"
#include "model/plan.h"
#include "netns/iptables_restore_applier.h"
#include "netns/netlink.h"
#include "netns/sandbox.h"
#include "netns/system.h"

namespace sc::agent {
namespace {

constexpr const char* kNetUsage =
    "usage: scagent net up --task ID --plan FILE [settings]\n"
    "       scagent net down --task ID [settings]\n"
    "       scagent net show --task ID [settings]\n"
    "       scagent net recover [--remove-orphans] [settings]\n"
    "settings: --state-dir DIR (/var/lib/scagent/netns) --bridge NAME (scbr0)\n"
    "          --task-cidr CIDR (10.222.0.0/16) --netns-prefix P (sc-) --veth-prefix P (scv)\n"
    "          --chain-prefix P (SC) --host-ports MIN-MAX (49153-65535) --iptables auto|nft|legacy\n";

constexpr const char* kSettings[] = {"--state-dir",    "--bridge",     "--task-cidr", "--netns-prefix", "--veth-prefix",
                                     "--chain-prefix", "--host-ports", "--iptables",  "--task",         "--plan"};

int usage(CliIo io, const std::string& msg) {
  io.err << "scagent net: " << msg << "\n\n" << kNetUsage;
  return 2;
}

nlohmann::ordered_json infoJson(const netns::SandboxInfo& i) {
  nlohmann::ordered_json j;
  j["task"] = i.task_id;
  j["state"] = i.state;
  j["networkMode"] = netns::netModeName(i.mode);
  j["netns"] = i.netns_name;
  j["netnsPath"] = i.netns_path;
  j["address"] = i.address.toString() + "/" + std::to_string(i.prefix);
  j["gateway"] = i.gateway.toString();
  j["bridge"] = i.bridge;
  j["hostVeth"] = i.host_veth;
  j["hostsFile"] = i.hosts_path;
  j["portMappings"] = nlohmann::ordered_json::array();
  for (const auto& m : i.port_mappings) {
    j["portMappings"].push_back({{"name", m.name},
                                 {"protocol", netns::protoName(m.proto)},
                                 {"hostPort", m.host_port},
                                 {"taskPort", m.task_port}});
  }
  return j;
}

}  // namespace

int cmdNet(const std::vector<std::string>& args, CliIo io) {
  if (args.size() < 2) return usage(io, "net needs a subcommand");
  const std::string& sub = args[1];
  std::map<std::string, std::string> v;
  bool remove_orphans = false;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--remove-orphans") {
      remove_orphans = true;
      continue;
    }
    bool matched = false;
    for (const char* f : kSettings) {
      if (args[i] == f) {
        if (i + 1 >= args.size()) return usage(io, std::string(f) + " needs a value");
        v[f] = args[++i];
        matched = true;
      }
    }
    if (!matched) return usage(io, "unknown argument '" + args[i] + "'");
  }
  netns::NetConfig cfg;
  if (v.count("--state-dir")) cfg.state_dir = v["--state-dir"];
  if (v.count("--bridge")) cfg.bridge = v["--bridge"];
  if (v.count("--task-cidr")) cfg.task_cidr = v["--task-cidr"];
  if (v.count("--netns-prefix")) cfg.netns_prefix = v["--netns-prefix"];
  if (v.count("--veth-prefix")) cfg.veth_prefix = v["--veth-prefix"];
  if (v.count("--chain-prefix")) cfg.chain_prefix = v["--chain-prefix"];
  if (v.count("--host-ports")) {
    std::vector<std::string> r = split(v["--host-ports"], '-');
    auto lo = r.size() == 2 ? parseUint(r[0], 65535) : std::nullopt;
    auto hi = r.size() == 2 ? parseUint(r[1], 65535) : std::nullopt;
    if (!lo || !hi) return usage(io, "--host-ports needs MIN-MAX");
    cfg.host_port_min = static_cast<int>(*lo);
    cfg.host_port_max = static_cast<int>(*hi);
  }
  if (auto c = netns::validateConfig(cfg); !c.ok()) {
    io.err << "scagent net: " << c.error().message << "\n";
    return 2;
  }
  const bool needs_task = sub == "up" || sub == "down" || sub == "show";
  if (sub != "up" && sub != "down" && sub != "show" && sub != "recover")
    return usage(io, "unknown subcommand '" + sub + "'");
  if (needs_task && !v.count("--task")) return usage(io, sub + " needs --task");
  if (sub == "up" && !v.count("--plan")) return usage(io, "up needs --plan");

  std::optional<netns::SandboxSpec> spec;
  if (sub == "up") {
    auto text = readFile(v["--plan"], 4u << 20);
    if (!text.ok()) {
      io.err << "error: " << text.error().message << "\n";
      return 2;
    }
    auto plan = model::parseTaskPlan(*text);
    if (!plan.ok()) {
      io.err << "error: --plan '" << v["--plan"] << "': " << plan.error().message << "\n";
      return 2;
    }
    auto s = sandboxSpecFromPlan(*plan, v["--task"]);
    if (!s.ok()) {
      io.err << "error: " << s.error().message << "\n";
      return 2;
    }
    spec = std::move(s).value();
  }

  RealProcessRunner runner;
  auto backend = netns::detectBackend(runner, v.count("--iptables") ? v["--iptables"] : "auto");
  if (!backend.ok()) {
    io.err << "error: " << backend.error().message << "\n";
    return 1;
  }
  netns::IptablesRestoreApplier applier(runner, *backend);
  netns::RealHostSystem system;
  auto kernel = netns::NetlinkKernel::create(cfg.netns_dir);
  if (!kernel.ok()) {
    io.err << "error: " << kernel.error().message << "\n";
    return 1;
  }
  auto mgr = netns::SandboxManager::create(cfg, {**kernel, applier, system});
  if (!mgr.ok()) {
    io.err << "error: " << mgr.error().message << "\n";
    return 1;
  }
  netns::SandboxManager& m = **mgr;

  if (sub == "up") {
    auto r = m.apply(*spec);
    if (!r.ok()) {
      io.err << "error: " << r.error().message << "\n";
      return 1;
    }
    nlohmann::ordered_json j = infoJson(r->info);
    j["outcome"] = netns::outcomeName(r->outcome);
    io.out << j.dump(2) << "\n";
    return 0;
  }
  if (sub == "down") {
    auto r = m.remove(v["--task"]);
    if (!r.ok()) {
      io.err << "error: " << r.error().message << "\n";
      return 1;
    }
    io.out << "task " << v["--task"] << ": " << netns::outcomeName(*r) << "\n";
    return 0;
  }
  if (sub == "show") {
    auto r = m.show(v["--task"]);
    if (!r.ok()) {
      io.err << "error: " << r.error().message << "\n";
      return 1;
    }
    if (!*r) {
      io.err << "error: no network for task '" << v["--task"] << "'\n";
      return 1;
    }
    io.out << infoJson(**r).dump(2) << "\n";
    auto rules = m.renderRules(**r);
    if (rules.ok()) io.out << "\n" << *rules;
    io.out << "\ninspect: ip netns exec " << (*r)->netns_name << " ip addr; ip netns exec " << (*r)->netns_name
           << " iptables-save -t nat; iptables-save | grep 'sc:" << (*r)->task_id << "'\n";
    return 0;
  }
  auto r = m.recover(remove_orphans);
  if (!r.ok()) {
    io.err << "error: " << r.error().message << "\n";
    return 1;
  }
  for (const std::string& f : r->findings) io.out << f << "\n";
  io.out << r->findings.size() << " finding(s), " << r->removed << " removed\n";
  return 0;
}

}  // namespace sc::agent
