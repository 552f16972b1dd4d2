#include "agent/cli.h"

#include <map>
#include <optional>

#include "agent/cli_net.h"
#include "agent/cli_proxy.h"
#include "agent/cli_run.h"
#include "agent/config.h"
#include "agent/host_check.h"
#include "common/file.h"
#include "common/process.h"
#include "common/strings.h"
#include "model/parse.h"
#include "model/plan.h"

#ifndef SC_VERSION
#define SC_VERSION "0.0.0"
#endif

namespace sc::agent {
namespace {

constexpr const char* kUsage =
    "usage: scagent <command> [options]\n"
    "\n"
    "commands:\n"
    "  check-host [--json] [--config FILE]\n"
    "      Check that this host can run Service Connect tasks: OS and AMI policy, ECS agent\n"
    "      version, kernel features (network namespaces, nat REDIRECT, cgroup memory, seccomp,\n"
    "      ip_forward) and HAProxy. Exit status 1 when the host is incompatible.\n"
    "  plan --task-definition FILE --service FILE [--cluster FILE] [--namespace FILE]\n"
    "       [--task-id ID] [--seed N]\n"
    "      Resolve what one task of the service needs (listeners, endpoints, aliases and VIPs,\n"
    "      rules, proxy memory and CPU) and print it as JSON; print the errors and exit 2 when\n"
    "      the configuration is wrong. FILEs are the JSON you give the aws CLI\n"
    "      (register-task-definition, create-service, create-cluster --cli-input-json); the\n"
    "      namespace file is a snapshot as docs/service-connect-model.md describes.\n"
    "  net up|down|show --task ID [--plan FILE] [settings]; net recover [--remove-orphans]\n"
    "      Create, remove or show one task's network sandbox (namespace, veth, address, rules,\n"
    "      hosts file) from a plan printed by `scagent plan`; `scagent net --help` lists the settings.\n"
    "  proxy up|down|status --task ID --plan FILE [--netns PATH] [--run-root DIR]\n"
    "       [--uid N] [--gid N] [--drain-seconds N] [--wait-seconds N]\n"
    "      Run, drain and stop, or probe one task's proxy (HAProxy) from a plan (`scagent plan`).\n"
    "  run [--config FILE]\n"
    "      The host agent: register with sccontrol, run the tasks placed here (network sandbox,\n"
    "      proxy, app containers), follow namespace changes, report status. SIGTERM stops the agent\n"
    "      and leaves tasks running; SIGHUP reloads the log level. See docs/configuration.md.\n"
    "  status [--config FILE]\n"
    "      A table of this host's tasks: state, health, address, aliases.\n"
    "  version\n"
    "      Print the version.\n"
    "\n"
    "Every command takes --help (-h) for its own usage. Exit status: 0 success, 1 a runtime\n"
    "failure (check-host: the host is incompatible), 2 bad usage or input.\n";

constexpr const char* kCheckHostUsage =
    "usage: scagent check-host [--json] [--config FILE]\n"
    "Check that this host can run Service Connect tasks. Exit status 0 compatible, 1 incompatible,\n"
    "2 bad usage or configuration.\n"
    "  --json         print the report as JSON instead of a table\n"
    "  --config FILE  the agent configuration (default /etc/scagent/config.json; its hostPolicy)\n";

constexpr const char* kPlanUsage =
    "usage: scagent plan --task-definition FILE --service FILE [--cluster FILE] [--namespace FILE]\n"
    "                    [--task-id ID] [--seed N]\n"
    "Resolve what one task of the service needs and print it as JSON. Exit status 0 with a plan\n"
    "(warnings on stderr), 2 when an input is wrong (every error on stderr).\n"
    "  --task-definition FILE  register-task-definition input JSON\n"
    "  --service FILE          create-service input JSON\n"
    "  --cluster FILE          create-cluster input JSON (its Service Connect defaults)\n"
    "  --namespace FILE        a namespace snapshot (docs/service-connect-model.md)\n"
    "  --task-id ID            the task id to plan for\n"
    "  --seed N                a fixed seed for the VIPs (reproducible output)\n";

constexpr const char* kVersionUsage = "usage: scagent version\nPrint the version.\n";

// Parses "--flag value" pairs and bare "--switch"es.
struct Args {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> switches;
  std::string error;
};

Args parseArgs(const std::vector<std::string>& args, size_t from, std::initializer_list<const char*> with_value,
               std::initializer_list<const char*> switches) {
  Args a;
  for (size_t i = from; i < args.size(); ++i) {
    const std::string& arg = args[i];
    bool matched = false;
    for (const char* f : with_value) {
      if (arg == f) {
        if (i + 1 >= args.size()) {
          a.error = std::string(f) + " needs a value";
          return a;
        }
        a.values[f] = args[++i];
        matched = true;
      } else if (arg.starts_with(std::string(f) + "=")) {
        a.values[f] = arg.substr(std::string(f).size() + 1);
        matched = true;
      }
    }
    for (const char* s : switches) {
      if (arg == s) {
        a.switches[s] = true;
        matched = true;
      }
    }
    if (!matched) {
      a.error = "unknown argument '" + arg + "'";
      return a;
    }
  }
  return a;
}

int cmdCheckHost(const std::vector<std::string>& args, CliIo io) {
  if (wantsHelp(args, 1)) return printHelp(io, kCheckHostUsage);
  Args a = parseArgs(args, 1, {"--config"}, {"--json"});
  if (!a.error.empty()) return usageError(io, "check-host", a.error, kCheckHostUsage);
  const bool given = a.values.count("--config") > 0;
  auto cfg = loadAgentConfig(given ? a.values["--config"] : kDefaultConfigPath, given);
  if (!cfg.ok()) return cliError(io, "check-host", cfg.error().message, kExitUsage);
  RealProcessRunner runner;
  RealHostProbe probe(runner);
  HostReport report = evaluateHost(probe.gather(cfg->host_policy), cfg->host_policy);
  io.out << (a.switches["--json"] ? renderHostReportJson(report) : renderHostReportTable(report));
  return report.compatible() ? 0 : 1;
}

// Reads and parses one input file; prints "scagent plan: <flag> '<file>': <problem>" lines on failure.
template <typename T, typename Fn>
std::optional<T> loadInput(CliIo io, const std::string& flag, const std::string& path, Fn parse) {
  auto text = readFile(path, 4u << 20);
  if (!text.ok()) {
    cliError(io, "plan", text.error().message);
    return std::nullopt;
  }
  Result<T> r = parse(*text);
  if (!r.ok()) {
    for (const std::string& line : split(r.error().message, '\n')) {
      cliError(io, "plan", flag + " '" + path + "': " + line);
    }
    return std::nullopt;
  }
  return std::move(r).value();
}

int cmdPlan(const std::vector<std::string>& args, CliIo io) {
  if (wantsHelp(args, 1)) return printHelp(io, kPlanUsage);
  Args a =
      parseArgs(args, 1, {"--task-definition", "--service", "--cluster", "--namespace", "--task-id", "--seed"}, {});
  if (!a.error.empty()) return usageError(io, "plan", a.error, kPlanUsage);
  if (!a.values.count("--task-definition") || !a.values.count("--service")) {
    return usageError(io, "plan", "--task-definition and --service are required", kPlanUsage);
  }
  std::optional<uint64_t> seed;
  if (a.values.count("--seed")) {
    seed = parseUint(a.values["--seed"]);
    if (!seed) return usageError(io, "plan", "--seed needs a non-negative integer", kPlanUsage);
  }
  bool failed = false;
  auto td = loadInput<model::TaskDefinition>(
      io, "--task-definition", a.values["--task-definition"], [](std::string_view t) -> Result<model::TaskDefinition> {
        SC_ASSIGN_OR_RETURN(model::TaskDefinition parsed, model::parseTaskDefinition(t));
        SC_TRY(model::checkHonouredMembers(model::Json::parse(t, nullptr, false)));
        return parsed;
      });
  failed |= !td;
  auto svc = loadInput<model::ServiceDefinition>(io, "--service", a.values["--service"],
                                                 [](std::string_view t) { return model::parseServiceDefinition(t); });
  failed |= !svc;
  std::optional<model::ClusterDefinition> cluster;
  if (a.values.count("--cluster")) {
    cluster = loadInput<model::ClusterDefinition>(io, "--cluster", a.values["--cluster"],
                                                  [](std::string_view t) { return model::parseClusterDefinition(t); });
    failed |= !cluster;
  }
  std::optional<model::NamespaceSnapshot> ns;
  if (a.values.count("--namespace")) {
    ns = loadInput<model::NamespaceSnapshot>(io, "--namespace", a.values["--namespace"],
                                             [](std::string_view t) { return model::parseNamespaceSnapshot(t); });
    failed |= !ns;
  }
  if (failed) return kExitUsage;
  model::PlanOutcome outcome = model::buildTaskPlan({*td, *svc, cluster ? &*cluster : nullptr, ns ? &*ns : nullptr},
                                                    {a.values["--task-id"], seed});
  if (!outcome.plan) {
    for (const auto& e : outcome.errors) cliError(io, "plan", e.text());
    return kExitUsage;
  }
  for (const auto& w : outcome.plan->warnings) cliError(io, "plan", "warning: " + w.text());
  io.out << model::taskPlanToJson(*outcome.plan).dump(2) << "\n";
  return 0;
}

int cmdVersion(const std::vector<std::string>& args, CliIo io) {
  if (wantsHelp(args, 1)) return printHelp(io, kVersionUsage);
  if (args.size() > 1) return usageError(io, "version", "unknown argument '" + args[1] + "'", kVersionUsage);
  io.out << "scagent " << SC_VERSION << "\n";
  return 0;
}

}  // namespace

bool wantsHelp(const std::vector<std::string>& args, size_t from) {
  for (size_t i = from; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") return true;
  }
  return false;
}

int printHelp(CliIo io, const std::string& usage) {
  io.out << usage;
  return 0;
}

int usageError(CliIo io, const std::string& cmd, const std::string& message, const std::string& usage) {
  io.err << "scagent " << cmd << ": " << message << "\n\n" << usage;
  return kExitUsage;
}

int cliError(CliIo io, const std::string& cmd, const std::string& message, int code) {
  io.err << "scagent " << cmd << ": " << message << "\n";
  return code;
}

int runCli(const std::vector<std::string>& args, CliIo io) {
  if (args.empty()) {
    io.err << "scagent: a command is required\n\n" << kUsage;
    return kExitUsage;
  }
  const std::string& cmd = args[0];
  if (cmd == "help" || cmd == "--help" || cmd == "-h") return printHelp(io, kUsage);
  if (cmd == "--version") return cmdVersion({"version"}, io);
  if (cmd == "version") return cmdVersion(args, io);
  if (cmd == "check-host") return cmdCheckHost(args, io);
  if (cmd == "plan") return cmdPlan(args, io);
  if (cmd == "net") return cmdNet(args, io);
  if (cmd == "proxy") return cmdProxy(args, io);
  if (cmd == "run") return cmdRun(args, io);
  if (cmd == "status") return cmdStatus(args, io);
  io.err << "scagent: unknown command '" << cmd << "'\n\n" << kUsage;
  return kExitUsage;
}

}  // namespace sc::agent
