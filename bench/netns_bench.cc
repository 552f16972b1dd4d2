// netns_bench: creates N task network sandboxes one after another, then removes them, on the
// real kernel, and prints per-task figures for each phase: create (lease, namespace, veth,
// addresses, route, hosts file), apply-rules (iptables-restore in the task namespace and on the
// host) and remove. Run as root:
//
//   build/release/bench/netns_bench [--n 10,200] [--mode awsvpc|bridge] [--rounds R]
//
// Each N is run `rounds` times (default 3) and the figures pool all samples. The last line per
// phase is the ratio of the per-task median at the largest N to the smallest: 1.0 means no
// growth as tasks accumulate. Names are unique to the process (sc-b<pid>-*, bridge sb<pid>) and
// everything is removed at the end, also after a failure.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/file.h"
#include "common/process.h"
#include "common/strings.h"
#include "netns/iptables_restore_applier.h"
#include "netns/netlink.h"
#include "netns/sandbox.h"
#include "netns/system.h"

namespace {

using Clock = std::chrono::steady_clock;
using sc::netns::SandboxSpec;

struct Stats {
  double median = 0, p10 = 0, p90 = 0, min = 0, max = 0;
};

Stats stats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)]; };
  s.median = at(0.5);
  s.p10 = at(0.1);
  s.p90 = at(0.9);
  s.min = v.front();
  s.max = v.back();
  return s;
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

SandboxSpec specFor(int i, bool bridge) {
  SandboxSpec s;
  s.task_id = "task" + std::to_string(i);
  s.hostname = s.task_id;
  s.mode = bridge ? sc::netns::NetMode::kBridge : sc::netns::NetMode::kAwsvpc;
  if (bridge) {
    s.port_mappings = {{"ingress", sc::netns::Proto::kTcp, 0, 36547}, {"app:80", sc::netns::Proto::kTcp, 0, 80}};
  } else {
    s.intercepts = {{80, 36547}};
  }
  s.hosts = {{"127.255.0.1", "http"}, {"127.255.0.2", "http-second"}, {"127.255.0.3", "db"}, {"127.255.0.4", "db.app"}};
  return s;
}

std::string firstLine(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key)) return std::string(sc::trim(line.substr(line.find(':') + 1)));
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ns = {10, 200};
  std::string mode = "awsvpc";
  int rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--n") {
      ns.clear();
      for (const std::string& x : sc::split(v, ',')) ns.push_back(std::stoi(x));
    } else if (a == "--mode") {
      mode = v;
    } else if (a == "--rounds") {
      rounds = std::stoi(v);
    } else {
      std::fprintf(stderr, "usage: netns_bench [--n 10,200] [--mode awsvpc|bridge] [--rounds R]\n");
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "netns_bench: run as root\n");
    return 2;
  }
  const int pid = static_cast<int>(::getpid());
  sc::RealProcessRunner runner;
  auto backend = sc::netns::detectBackend(runner);
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", backend.error().message.c_str());
    return 1;
  }
  sc::netns::IptablesRestoreApplier applier(runner, *backend);
  sc::netns::RealHostSystem system;
  auto kernel = sc::netns::NetlinkKernel::create();
  if (!kernel.ok()) {
    std::fprintf(stderr, "%s\n", kernel.error().message.c_str());
    return 1;
  }
  sc::netns::NetConfig cfg;
  cfg.state_dir = "/tmp/netns-bench-" + std::to_string(pid);
  cfg.bridge = "sb" + std::to_string(pid);
  cfg.task_cidr = "10.251.0.0/16";
  cfg.netns_prefix = "sc-b" + std::to_string(pid) + "-";
  cfg.veth_prefix = "sb" + std::to_string(pid % 100000) + "v";
  cfg.chain_prefix = "SCB" + std::to_string(pid);
  auto mgr = sc::netns::SandboxManager::create(cfg, {**kernel, applier, system});
  if (!mgr.ok()) {
    std::fprintf(stderr, "%s\n", mgr.error().message.c_str());
    return 1;
  }

  utsname u{};
  ::uname(&u);
  std::printf("netns_bench: mode %s, iptables backend %s, rounds %d\n", mode.c_str(), sc::netns::backendName(*backend),
              rounds);
  std::printf("machine: %s %s, %ld CPUs, %s, %s memory\n", u.sysname, u.release, ::sysconf(_SC_NPROCESSORS_ONLN),
              firstLine("/proc/cpuinfo", "model name").c_str(), firstLine("/proc/meminfo", "MemTotal").c_str());
  auto load = sc::readFile("/proc/loadavg");
  std::printf("load average at start: %s", load.ok() ? load->c_str() : "?\n");
  std::printf("%-6s %-12s %10s %10s %10s %10s %10s  (ms per task)\n", "N", "phase", "median", "p10", "p90", "min",
              "max");

  // Rounds are the outer loop, so a change in the machine's load during the run hits every N alike
  // and the ratio stays fair.
  std::map<int, std::map<std::string, std::vector<double>>> samples;
  int status = 0;
  for (int round = 0; round < rounds && status == 0; ++round) {
    for (int n : ns) {
      auto& smp = samples[n];
      for (int i = 0; i < n; ++i) {
        auto r = (*mgr)->apply(specFor(i, mode == "bridge"));
        if (!r.ok()) {
          std::fprintf(stderr, "apply task%d: %s\n", i, r.error().message.c_str());
          status = 1;
          break;
        }
        smp["create"].push_back(ms(r->timings.create));
        smp["apply-rules"].push_back(ms(r->timings.rules));
        smp["total-up"].push_back(ms(r->timings.create + r->timings.rules));
      }
      for (int i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        auto r = (*mgr)->remove("task" + std::to_string(i));
        const auto t1 = Clock::now();
        if (!r.ok()) {
          std::fprintf(stderr, "remove task%d: %s\n", i, r.error().message.c_str());
          status = 1;
        }
        smp["remove"].push_back(ms(t1 - t0));
        const sc::netns::RemoveTimings rt = (*mgr)->lastRemoveTimings();
        smp["rm-rules"].push_back(ms(rt.rules));
        smp["rm-kernel"].push_back(ms(rt.kernel));
        smp["rm-state"].push_back(ms(rt.state));
      }
    }
  }
  std::map<int, std::map<std::string, Stats>> results;
  for (int n : ns) {
    for (const char* phase : {"create", "apply-rules", "total-up", "remove", "rm-rules", "rm-kernel", "rm-state"}) {
      Stats s = stats(samples[n][phase]);
      results[n][phase] = s;
      std::printf("%-6d %-12s %10.2f %10.2f %10.2f %10.2f %10.2f\n", n, phase, s.median, s.p10, s.p90, s.min, s.max);
    }
  }
  if (ns.size() >= 2) {
    const int lo = ns.front(), hi = ns.back();
    for (const char* phase : {"create", "apply-rules", "total-up", "remove"}) {
      const double a = results[lo][phase].median, b = results[hi][phase].median;
      std::printf("ratio per-task(%d)/per-task(%d) %-12s %.2f\n", hi, lo, phase, a > 0 ? b / a : 0.0);
    }
  }
  load = sc::readFile("/proc/loadavg");
  std::printf("load average at end: %s", load.ok() ? load->c_str() : "?\n");
  auto rec = (*mgr)->recover(true);  // anything a failure left
  if (!rec.ok()) std::fprintf(stderr, "cleanup: %s\n", rec.error().message.c_str());
  ::unlink((cfg.state_dir + "/ipam.json").c_str());
  ::unlink((cfg.state_dir + "/lock").c_str());
  ::rmdir((cfg.state_dir + "/tasks").c_str());
  ::rmdir(cfg.state_dir.c_str());
  return status;
}
