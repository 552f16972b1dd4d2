#include "agent/cli_run.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "agent/agent.h"
#include "agent/apps_step.h"
#include "agent/config.h"
#include "agent/host_check.h"
#include "agent/metrics_page.h"
#include "agent/presence.h"
#include "agent/task_steps.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/process.h"
#include "common/strings.h"
#include "netns/iptables_restore_applier.h"
#include "netns/netlink.h"
#include "netns/sandbox.h"
#include "netns/system.h"

namespace sc::agent {
namespace {

constexpr const char* kCapability = "sc.capability.service-connect-v1";

constexpr const char* kRunUsage =
    "usage: scagent run [--config FILE]\n"
    "The host agent: register with sccontrol, run the tasks placed here, follow namespace changes,\n"
    "report status. SIGTERM stops the agent and leaves tasks running; SIGHUP reloads the log level.\n"
    "Exit status 2 for a configuration error, 1 when the agent cannot start.\n"
    "  --config FILE  the agent configuration (default /etc/scagent/config.json;\n"
    "                 docs/configuration.md)\n";

constexpr const char* kStatusUsage =
    "usage: scagent status [--config FILE]\n"
    "A table of this host's tasks (state, health, address, aliases), read from the state directory.\n"
    "  --config FILE  the agent configuration naming the state directory (default\n"
    "                 /etc/scagent/config.json)\n";

struct ConfigArg {
  std::string path = kDefaultConfigPath;
  bool given = false;
  std::string error;
};

ConfigArg configArg(const std::vector<std::string>& args) {
  ConfigArg c;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      c.path = args[++i];
      c.given = true;
    } else if (args[i].starts_with("--config=")) {
      c.path = args[i].substr(9);
      c.given = true;
    } else if (args[i] == "--config") {
      c.error = "--config needs a value";
    } else {
      c.error = "unknown argument '" + args[i] + "'";
    }
    if (!c.error.empty()) break;
  }
  return c;
}

}  // namespace

int cmdStatus(const std::vector<std::string>& args, CliIo io) {
  if (wantsHelp(args, 1)) return printHelp(io, kStatusUsage);
  ConfigArg c = configArg(args);
  if (!c.error.empty()) return usageError(io, "status", c.error, kStatusUsage);
  // Without --config, the agent running on this host (if any) says where its state is.
  std::optional<RunningAgent> running = c.given ? std::nullopt : findRunningAgent();
  if (running && !running->config_path.empty()) {
    c.path = running->config_path;
    c.given = true;
  }
  auto cfg = loadAgentConfig(c.path, c.given);
  if (!cfg.ok()) return cliError(io, "status", cfg.error().message, kExitUsage);
  if (running) cfg->state_dir = running->state_dir;
  io.err << "scagent status: state directory " << cfg->state_dir
         << (running ? " (the running agent, pid " + std::to_string(running->pid) + ")"
                     : (c.given ? " (from " + c.path + ")" : " (the default; no running agent found)"))
         << "\n";
  // Reading must not create the state directory.
  if (::access((cfg->state_dir + "/tasks").c_str(), F_OK) != 0) {
    io.out << renderStatusTable({});
    return 0;
  }
  auto store = FileTaskStore::create(cfg->state_dir + "/tasks");
  if (!store.ok()) return cliError(io, "status", store.error().message);
  std::vector<std::string> problems;
  auto tasks = (*store)->loadAll(&problems);
  if (!tasks.ok()) return cliError(io, "status", tasks.error().message);
  io.out << renderStatusTable(*tasks);
  for (const auto& p : problems) cliError(io, "status", "warning: unreadable task record " + p);
  return 0;
}

int cmdRun(const std::vector<std::string>& args, CliIo io) {
  if (wantsHelp(args, 1)) return printHelp(io, kRunUsage);
  ConfigArg c = configArg(args);
  if (!c.error.empty()) return usageError(io, "run", c.error, kRunUsage);
  auto cfg = loadAgentConfig(c.path, c.given);
  if (!cfg.ok()) return cliError(io, "run", cfg.error().message, kExitUsage);
  if (cfg->control_plane.endpoints.empty()) {
    return cliError(io, "run", "config: controlPlane.endpoint (or controlPlane.endpoints) is required by scagent run",
                    kExitUsage);
  }
  log::setLevel(cfg->log_level);
  // One agent per state directory; operator commands find this one through what it publishes.
  auto presence = AgentPresence::claim(*cfg, c.path, c.given);
  if (!presence.ok()) return cliError(io, "run", presence.error().message);

  // Signals go to one thread (sigwait), never to a handler racing the loops.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // What this host can do decides whether it advertises Service Connect.
  RealProcessRunner runner;
  RealHostProbe probe(runner);
  HostReport report = evaluateHost(probe.gather(cfg->host_policy), cfg->host_policy);
  std::map<std::string, std::string> attributes;
  if (report.compatible()) {
    attributes[kCapability] = "true";
  } else {
    const std::string why = join(report.failures(), "; ");
    attributes["sc.incompatible-reason"] = why.substr(0, 1024);
    log::error("host is not compatible with Service Connect; not advertising " + std::string(kCapability),
               {{"reason", why}});
  }

  netns::NetConfig net;
  net.state_dir = cfg->state_dir + "/netns";
  net.bridge = cfg->network.bridge;
  net.task_cidr = cfg->network.task_cidr;
  net.veth_prefix = cfg->network.veth_prefix;
  auto backend = netns::detectBackend(runner, "auto");
  if (!backend.ok()) return cliError(io, "run", backend.error().message);
  netns::IptablesRestoreApplier applier(runner, *backend);
  netns::RealHostSystem system;
  auto kernel = netns::NetlinkKernel::create(net.netns_dir);
  if (!kernel.ok()) return cliError(io, "run", kernel.error().message);
  auto sandboxes = netns::SandboxManager::create(net, {**kernel, applier, system});
  if (!sandboxes.ok()) return cliError(io, "run", sandboxes.error().message);
  auto store = FileTaskStore::create(cfg->state_dir + "/tasks");
  if (!store.ok()) return cliError(io, "run", store.error().message);
  MetricsRegistry metrics;
  SandboxStep sandbox_step(**sandboxes, cfg->network.host_address, &metrics);
  ProxySettings proxy_settings;
  proxy_settings.run_root = cfg->run_dir;
  proxy_settings.identity = cfg->proxy;
  proxy_settings.task_cidr = cfg->network.task_cidr;
  // Every task's hosts file too (each proxy gets its own at /etc/hosts before these are covered).
  proxy_settings.hidden_dirs = {cfg->run_dir, cfg->state_dir, cfg->image_dir, net.etc_netns_dir};
  proxy_settings.drain = std::chrono::seconds(cfg->drain_seconds);
  proxy_settings.task_pids_max = cfg->task_pids_limit;
  ProxyStep proxy_step(proxy_settings, realClock(), &metrics);
  AppsStep apps_step({cfg->image_dir, cfg->run_dir, std::chrono::seconds(30)});
  std::atomic<bool> stop{false};
  HttpControlPlaneClient client(cfg->control_plane.endpoints, &stop);
  SystemdNotifier notifier;
  Agent agent(*cfg, attributes,
              {client,
               **store,
               {&sandbox_step, &proxy_step, &apps_step},
               proxy_step,
               notifier,
               metrics,
               realClock(),
               &sandbox_step});

  // The Prometheus page. The operator asked for it: a listener that cannot bind fails the start
  // (systemd reports it) rather than leaving a host without metrics unnoticed. Tasks already
  // running are untouched by that failure. An empty metricsListen turns the page off.
  MetricsPage page(metrics, proxy_step, [&agent] { return agent.tasks(); });
  std::unique_ptr<HttpServer> metrics_server;
  if (!cfg->metrics_listen.empty()) {
    auto server =
        HttpServer::start(cfg->metrics_listen, {{"/metrics", [&page] {
                                                   return HttpPage{200, kPrometheusContentType, page.render()};
                                                 }}});
    if (!server.ok()) return cliError(io, "run", "metricsListen: " + server.error().message);
    metrics_server = std::move(*server);
    log::info("serving metrics", {{"listen", metrics_server->address()}});
  }

  std::thread signal_thread([&] {
    while (true) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        auto fresh = loadAgentConfig(c.path, c.given);
        if (fresh.ok()) {
          log::setLevel(fresh->log_level);
          log::info("configuration reloaded (log level; other settings take effect on restart)");
        } else {
          log::error("configuration not reloaded", {{"error", fresh.error().message}});
        }
        continue;
      }
      log::info("stopping; tasks keep running", {{"signal", std::to_string(sig)}});
      stop = true;
      agent.wake();
      return;
    }
  });
  log::info("scagent starting", {{"config", c.path}, {"controlPlane", join(cfg->control_plane.endpoints, ",")}});
  agent.run(stop);
  if (!stop.load()) {
    stop = true;
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  if (metrics_server) metrics_server->stop();
  log::info("scagent stopped");
  return 0;
}

}  // namespace sc::agent
