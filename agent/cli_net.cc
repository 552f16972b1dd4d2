#include "agent/cli_net.h"

#include <map>
#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "agent/presence.h"
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

constexpr const char* kNetSettings =
    "settings: --state-dir DIR (the running agent's <stateDir>/netns, else /var/lib/scagent/netns)\n"
    "          --bridge NAME (scbr0)\n"
    "          --task-cidr CIDR (10.222.0.0/16) --netns-prefix P (sc-) --veth-prefix P (scv)\n"
    "          --chain-prefix P (SC) --host-ports MIN-MAX (49153-65535) --iptables auto|nft|legacy\n"
    "Exit status: 0 success, 1 the operation failed, 2 bad usage or input.\n";

struct NetSub {
  const char* name;
  const char* usage;
};

constexpr NetSub kNetSubs[] = {
    {"up",
     "usage: scagent net up --task ID --plan FILE [settings]\n"
     "Create the task's network sandbox (namespace, veth, address, rules, hosts file) from a plan\n"
     "printed by `scagent plan`; an existing one is left as it is. Prints the sandbox as JSON.\n"},
    {"down",
     "usage: scagent net down --task ID [--force] [settings]\n"
     "Remove the task's network sandbox (namespace, veth, rules, address, hosts file).\n"
     "Refused beneath a running agent's state directory unless --force.\n"},
    {"show",
     "usage: scagent net show --task ID [settings]\n"
     "Print the task's network sandbox as JSON, its rules, and commands to inspect it.\n"},
    {"recover",
     "usage: scagent net recover [--remove-orphans [--force]] [settings]\n"
     "List kernel objects and records that do not match each other; --remove-orphans removes them.\n"
     "Refused beneath a running agent's state directory unless --force.\n"},
};

std::string netUsage() {
  std::string u =
      "usage: scagent net up --task ID --plan FILE [settings]\n"
      "       scagent net down --task ID [settings]\n"
      "       scagent net show --task ID [settings]\n"
      "       scagent net recover [--remove-orphans] [settings]\n"
      "`scagent net <subcommand> --help` describes one subcommand.\n";
  return u + kNetSettings;
}

constexpr const char* kSettings[] = {"--state-dir",    "--bridge",     "--task-cidr", "--netns-prefix", "--veth-prefix",
                                     "--chain-prefix", "--host-ports", "--iptables",  "--task",         "--plan"};

// The usage of `net <sub>`, or of `net` when `sub` is not a subcommand.
std::string subUsage(const std::string& sub) {
  for (const NetSub& s : kNetSubs) {
    if (sub == s.name) return s.usage + std::string(kNetSettings);
  }
  return netUsage();
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

struct NetArgs {
  std::string sub;
  std::map<std::string, std::string> v;
  bool remove_orphans = false;
  bool force = false;  // act on a state directory a live agent owns
  netns::NetConfig cfg;
};

// Parses the settings after `net <sub>`; returns a usage message, empty when they are fine.
std::string parseNetArgs(const std::vector<std::string>& args, NetArgs& a) {
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--remove-orphans" || args[i] == "--force") {
      (args[i] == "--force" ? a.force : a.remove_orphans) = true;
      continue;
    }
    bool matched = false;
    for (const char* f : kSettings) {
      if (args[i] == f) {
        if (i + 1 >= args.size()) return std::string(f) + " needs a value";
        a.v[f] = args[++i];
        matched = true;
      }
    }
    if (!matched) return "unknown argument '" + args[i] + "'";
  }
  auto& v = a.v;
  if (v.count("--state-dir")) a.cfg.state_dir = v["--state-dir"];
  if (v.count("--bridge")) a.cfg.bridge = v["--bridge"];
  if (v.count("--task-cidr")) a.cfg.task_cidr = v["--task-cidr"];
  if (v.count("--netns-prefix")) a.cfg.netns_prefix = v["--netns-prefix"];
  if (v.count("--veth-prefix")) a.cfg.veth_prefix = v["--veth-prefix"];
  if (v.count("--chain-prefix")) a.cfg.chain_prefix = v["--chain-prefix"];
  if (v.count("--host-ports")) {
    std::vector<std::string> r = split(v["--host-ports"], '-');
    auto lo = r.size() == 2 ? parseUint(r[0], 65535) : std::nullopt;
    auto hi = r.size() == 2 ? parseUint(r[1], 65535) : std::nullopt;
    if (!lo || !hi) return "--host-ports needs MIN-MAX";
    a.cfg.host_port_min = static_cast<int>(*lo);
    a.cfg.host_port_max = static_cast<int>(*hi);
  }
  if (a.sub != "recover" && !v.count("--task")) return "--task is required";
  if (a.sub == "up" && !v.count("--plan")) return "--plan is required";
  return "";
}

// The sandbox `net up` creates, from --plan.
Result<netns::SandboxSpec> specFromPlanFile(NetArgs& a) {
  SC_ASSIGN_OR_RETURN(std::string text, readFile(a.v["--plan"], 4u << 20));
  auto plan = model::parseTaskPlan(text);
  if (!plan.ok())
    return plainError(ErrorCode::kInvalidArgument, "--plan '" + a.v["--plan"] + "': " + plan.error().message);
  return sandboxSpecFromPlan(*plan, a.v["--task"]);
}

int netShow(netns::SandboxManager& m, NetArgs& a, CliIo io, const std::string& cmd) {
  auto r = m.show(a.v["--task"]);
  if (!r.ok()) return cliError(io, cmd, r.error().message);
  if (!*r) return cliError(io, cmd, "failed to show '" + a.v["--task"] + "': no network sandbox for this task");
  io.out << infoJson(**r).dump(2) << "\n";
  auto rules = m.renderRules(**r);
  if (rules.ok()) io.out << "\n" << *rules;
  io.out << "\ninspect: ip netns exec " << (*r)->netns_name << " ip addr; ip netns exec " << (*r)->netns_name
         << " iptables-save -t nat; iptables-save | grep 'sc:" << (*r)->task_id << "'\n";
  return 0;
}

int netRun(netns::SandboxManager& m, NetArgs& a, const std::optional<netns::SandboxSpec>& spec, CliIo io) {
  const std::string cmd = "net " + a.sub;
  if (a.sub == "up") {
    auto r = m.apply(*spec);
    if (!r.ok()) return cliError(io, cmd, r.error().message);
    nlohmann::ordered_json j = infoJson(r->info);
    j["outcome"] = netns::outcomeName(r->outcome);
    io.out << j.dump(2) << "\n";
    return 0;
  }
  if (a.sub == "down") {
    auto r = m.remove(a.v["--task"]);
    if (!r.ok()) return cliError(io, cmd, r.error().message);
    io.out << "task " << a.v["--task"] << ": " << netns::outcomeName(*r) << "\n";
    return 0;
  }
  if (a.sub == "show") return netShow(m, a, io, cmd);
  auto r = m.recover(a.remove_orphans);
  if (!r.ok()) return cliError(io, cmd, r.error().message);
  for (const std::string& f : r->findings) io.out << f << "\n";
  io.out << r->findings.size() << " finding(s), " << r->removed << " removed\n";
  return 0;
}

bool knownSub(const std::string& sub) {
  for (const NetSub& s : kNetSubs) {
    if (sub == s.name) return true;
  }
  return false;
}

// Without --state-dir, the agent running on this host says where its network state is and which
// bridge, CIDR and veth prefix it uses (flags given still win). Returns where the state came from.
std::string adoptRunningAgent(NetArgs& a) {
  if (a.v.count("--state-dir")) return "from --state-dir";
  auto running = findRunningAgent();
  if (!running) return "the default; no running agent found";
  auto cfg = loadAgentConfig(running->config_path.empty() ? kDefaultConfigPath : running->config_path,
                             !running->config_path.empty());
  a.cfg.state_dir = running->state_dir + "/netns";
  if (cfg.ok()) {
    if (!a.v.count("--bridge")) a.cfg.bridge = cfg->network.bridge;
    if (!a.v.count("--task-cidr")) a.cfg.task_cidr = cfg->network.task_cidr;
    if (!a.v.count("--veth-prefix")) a.cfg.veth_prefix = cfg->network.veth_prefix;
  }
  return "the running agent, pid " + std::to_string(running->pid);
}

// `net down` and `net recover --remove-orphans` remove kernel objects: not beneath a live agent.
std::string ownedByLiveAgent(const NetArgs& a) {
  const bool removes = a.sub == "down" || (a.sub == "recover" && a.remove_orphans);
  if (!removes || a.force) return "";
  const std::string& dir = a.cfg.state_dir;
  const std::string agent_dir = dir.ends_with("/netns") ? dir.substr(0, dir.size() - 6) : dir;
  auto owner = stateOwner(agent_dir);
  if (!owner) return "";
  return "a running scagent (pid " + std::to_string(*owner) + ") owns " + agent_dir +
         "; stop it first, or pass --force to act beneath it";
}

}  // namespace

int cmdNet(const std::vector<std::string>& args, CliIo io) {
  if (args.size() < 2) return usageError(io, "net", "a subcommand is required (up, down, show or recover)", netUsage());
  NetArgs a;
  a.sub = args[1];
  if (wantsHelp(args, 1)) return printHelp(io, subUsage(a.sub));
  if (!knownSub(a.sub)) return usageError(io, "net", "unknown subcommand '" + a.sub + "'", netUsage());
  const std::string cmd = "net " + a.sub;
  if (std::string msg = parseNetArgs(args, a); !msg.empty()) return usageError(io, cmd, msg, subUsage(a.sub));
  const std::string source = adoptRunningAgent(a);
  io.err << "scagent " << cmd << ": state directory " << a.cfg.state_dir << " (" << source << ")\n";
  // Bad settings are usage errors (2) whether or not an agent runs here.
  if (auto c = netns::validateConfig(a.cfg); !c.ok()) return cliError(io, cmd, c.error().message, kExitUsage);
  if (std::string owned = ownedByLiveAgent(a); !owned.empty()) return cliError(io, cmd, owned);
  std::optional<netns::SandboxSpec> spec;
  if (a.sub == "up") {
    auto s = specFromPlanFile(a);
    if (!s.ok()) return cliError(io, cmd, s.error().message, kExitUsage);
    spec = std::move(s).value();
  }
  RealProcessRunner runner;
  auto backend = netns::detectBackend(runner, a.v.count("--iptables") ? a.v["--iptables"] : "auto");
  if (!backend.ok()) return cliError(io, cmd, backend.error().message);
  netns::IptablesRestoreApplier applier(runner, *backend);
  netns::RealHostSystem system;
  auto kernel = netns::NetlinkKernel::create(a.cfg.netns_dir);
  if (!kernel.ok()) return cliError(io, cmd, kernel.error().message);
  auto mgr = netns::SandboxManager::create(a.cfg, {**kernel, applier, system});
  if (!mgr.ok()) return cliError(io, cmd, mgr.error().message);
  return netRun(**mgr, a, spec, io);
}

}  // namespace sc::agent
