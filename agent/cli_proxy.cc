#include "agent/cli_proxy.h"

#include <filesystem>
#include <map>

#include "agent/proxy_mapping.h"
#include "common/clock.h"
#include "common/file.h"
#include "common/strings.h"
#include "health/health.h"
#include "health/proxy_prober.h"
#include "inject/proxy_instance.h"
#include "model/plan.h"

namespace sc::agent {
namespace {

constexpr const char* kProxyUsage =
    "usage: scagent proxy up|down|status --task ID --plan FILE [options]\n"
    "  up      create the task and proxy cgroups, write haproxy.cfg, launch the proxy in the task's\n"
    "          network namespace and wait until it is HEALTHY (an already running proxy is adopted)\n"
    "  down    drain (stop accepting on ingress, wait for in-flight connections), soft-stop, kill\n"
    "          after a bound, and remove cgroups, sockets and files\n"
    "  status  probe the proxy and print its health as JSON (exit 0 HEALTHY, 1 otherwise)\n"
    "options:\n"
    "  --netns PATH          network namespace (default /run/netns/sc-<task>)\n"
    "  --run-root DIR        default /run/scagent (the proxy's sockets: <DIR>/tasks/<task>/)\n"
    "  --uid N --gid N       proxy identity (default 20000)\n"
    "  --drain-seconds N     drain period for down (default 20)\n"
    "  --wait-seconds N      how long up waits for HEALTHY (default 10)\n"
    "Exit status: 0 success (status: HEALTHY), 1 the operation failed (status: not HEALTHY), 2 bad\n"
    "usage or input.\n";

struct ProxyArgs {
  std::string verb;
  std::map<std::string, std::string> v;
  std::string error;
};

ProxyArgs parse(const std::vector<std::string>& args) {
  ProxyArgs a;
  if (args.size() < 2) {
    a.error = "a subcommand is required (up, down or status)";
    return a;
  }
  a.verb = args[1];
  static const char* kKnown[] = {"--task", "--plan", "--netns",         "--run-root",
                                 "--uid",  "--gid",  "--drain-seconds", "--wait-seconds"};
  for (size_t i = 2; i < args.size(); ++i) {
    std::string k = args[i], val;
    size_t eq = k.find('=');
    if (eq != std::string::npos) {
      val = k.substr(eq + 1);
      k = k.substr(0, eq);
    } else if (i + 1 < args.size()) {
      val = args[++i];
    } else {
      a.error = k + " needs a value";
      return a;
    }
    bool known = false;
    for (const char* n : kKnown) known = known || k == n;
    if (!known) {
      a.error = "unknown argument '" + k + "'";
      return a;
    }
    a.v[k] = val;
  }
  if (a.verb != "up" && a.verb != "down" && a.verb != "status") a.error = "unknown subcommand '" + a.verb + "'";
  if (a.error.empty() && (!a.v.count("--task") || !a.v.count("--plan"))) a.error = "--task and --plan are required";
  return a;
}

int64_t number(const ProxyArgs& a, const char* key, int64_t def) {
  auto it = a.v.find(key);
  if (it == a.v.end()) return def;
  auto n = parseUint(it->second, INT32_MAX);
  return n ? static_cast<int64_t>(*n) : -1;
}

std::string factsJson(const std::string& task, const char* state, const health::ProbeFacts& f, pid_t pid,
                      const std::string& run_dir) {
  std::string o =
      "{\"task\":" + jsonQuote(task) + ",\"state\":" + jsonQuote(state) + ",\"pid\":" + std::to_string(pid) +
      ",\"running\":" + (f.running ? "true" : "false") + ",\"ready\":" + (f.ready ? "true" : "false") +
      ",\"listenersBound\":" + (f.listeners_bound ? "true" : "false") +
      ",\"membershipApplied\":" + (f.membership_applied ? "true" : "false") + ",\"runDir\":" + jsonQuote(run_dir);
  if (!f.detail.empty()) o += ",\"detail\":" + jsonQuote(f.detail);
  return o + "}";
}

}  // namespace

int cmdProxy(const std::vector<std::string>& args, CliIo io) {
  if (wantsHelp(args, 1)) return printHelp(io, kProxyUsage);
  ProxyArgs a = parse(args);
  const bool known = a.verb == "up" || a.verb == "down" || a.verb == "status";
  const std::string cmd = known ? "proxy " + a.verb : "proxy";
  if (!a.error.empty()) return usageError(io, cmd, a.error, kProxyUsage);
  const std::string task = a.v["--task"];
  auto text = readFile(a.v["--plan"]);
  if (!text.ok()) return cliError(io, cmd, text.error().message, kExitUsage);
  auto plan = model::parseTaskPlan(*text);
  if (!plan.ok()) return cliError(io, cmd, "--plan '" + a.v["--plan"] + "': " + plan.error().message, kExitUsage);
  plan->task_id = task;
  const std::string run_root = a.v.count("--run-root") ? a.v["--run-root"] : "/run/scagent";
  const std::string run_dir = taskRunDir(run_root, task);
  const int64_t uid = number(a, "--uid", inject::kProxyUid), gid = number(a, "--gid", inject::kProxyGid);
  const int64_t drain = number(a, "--drain-seconds", 20), wait = number(a, "--wait-seconds", 10);
  if (uid < 0 || gid < 0 || drain < 0 || wait < 0) {
    return usageError(io, cmd, "--uid, --gid, --drain-seconds and --wait-seconds take non-negative numbers",
                      kProxyUsage);
  }

  inject::ProxyInstanceSpec spec;
  spec.config = proxyConfigFromPlan(*plan, run_dir);
  spec.netns_path = a.v.count("--netns") ? a.v["--netns"] : "/run/netns/sc-" + task;
  spec.hostname = plan->hostname.empty() ? task : plan->hostname;
  spec.hosts_file = run_root + "/tasks/" + task + ".hosts";
  spec.uid = static_cast<uid_t>(uid);
  spec.gid = static_cast<gid_t>(gid);
  spec.cgroup = {.task_cgroup = "scagent-" + task,
                 .task_memory_bytes = static_cast<int64_t>(plan->carve.task_memory_mib) << 20,
                 .cpu_shares = static_cast<uint64_t>(plan->carve.task_cpu_units.value_or(0)),
                 .proxy_memory_bytes = static_cast<int64_t>(plan->carve.proxy_memory_mib) << 20};

  if (a.verb == "up") {
    std::unique_ptr<inject::ProxyInstance> proxy;
    if (auto adopted = inject::ProxyInstance::adopt(spec); adopted.ok()) {
      proxy = std::move(*adopted);  // already running (e.g. the agent restarted): never a second one
    } else {
      std::string hosts = "127.0.0.1 localhost\n::1 localhost\n";
      for (const auto& [ip, name] : plan->hosts) hosts += ip + " " + name + "\n";
      if (auto w = makeDirs(run_root + "/tasks", 0755); !w.ok()) return cliError(io, cmd, w.error().message);
      if (auto w = writeFileAtomic(spec.hosts_file, hosts, 0644); !w.ok()) return cliError(io, cmd, w.error().message);
      auto started = inject::ProxyInstance::start(spec);
      if (!started.ok()) return cliError(io, cmd, started.error().message);
      proxy = std::move(*started);
    }
    health::ProxyProber prober(*proxy);
    health::HealthMonitor monitor(prober, prober, realClock());
    bool healthy =
        monitor.runUntil([&] { return monitor.state() == health::HealthState::kHealthy; }, std::chrono::seconds(wait));
    io.out << factsJson(task, health::healthStateName(monitor.state()), monitor.lastFacts(), proxy->container().pid(),
                        run_dir)
           << "\n";
    return healthy ? 0 : 1;
  }

  if (a.verb == "status") {
    auto adopted = inject::ProxyInstance::adopt(spec);
    if (!adopted.ok()) {
      io.out << factsJson(task, "STOPPED", {.detail = adopted.error().message}, 0, run_dir) << "\n";
      return 1;
    }
    health::ProxyProber prober(**adopted);
    health::ProbeFacts f = prober.probe();
    io.out << factsJson(task, f.healthy() ? "HEALTHY" : "UNHEALTHY", f, (*adopted)->container().pid(), run_dir) << "\n";
    return f.healthy() ? 0 : 1;
  }

  // down
  auto adopted = inject::ProxyInstance::adopt(spec);
  Result<void> stopped = ok();
  if (adopted.ok()) {
    stopped =
        (*adopted)->stop({.drain = std::chrono::seconds(drain), .kill_after = inject::kDefaultKillAfter}, realClock());
  } else {
    // Nothing to adopt: still remove what a crashed run may have left (processes included).
    stopped = inject::ProxyInstance::removeLeftovers(spec);
  }
  std::error_code ec;
  std::filesystem::remove(spec.hosts_file, ec);
  if (!stopped.ok()) return cliError(io, cmd, stopped.error().message);
  io.out << "{\"task\":" << jsonQuote(task) << ",\"state\":\"STOPPED\"}\n";
  return 0;
}

}  // namespace sc::agent
