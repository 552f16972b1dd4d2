// Proxy benchmarks (root): launch-to-HEALTHY latency, latency added by client proxy + server proxy
// against a direct connection, throughput through one proxy against direct, and proxy memory.
// Prints figures with the same-run baseline; see docs/benchmarks.md, section "Proxy".
//
//   bench_proxy launch [N]      N launches (default 50)
//   bench_proxy traffic [R] [S] R interleaved rounds (default 5) of S seconds (default 5) per run
//   bench_proxy egress [R] [S]  the egress path: direct, a proxy bound on VIP:port (before
//                               issue 11), the nat OUTPUT redirect to 127.0.0.1 (now), and the
//                               redirect behind 100 other aliases' rules; R rounds of S seconds
//   bench_proxy serve PORT      (internal) a keep-alive HTTP/1.1 server answering 1 KiB bodies
//
//   --samples-out FILE (before or after the mode): also write what the figures were computed from
//   as JSON (one entry per launch or wrk run, with wrk's latency quantiles), for bench/plot.py.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/file.h"
#include "common/process.h"
#include "common/strings.h"
#include "health/health.h"
#include "health/proxy_prober.h"
#include "inject/proxy_instance.h"
#include "netns/task_rules.h"
#include "tests/support/proxy_net_fixture.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using sc::inject::ProxyInstance;

// --- a tiny keep-alive server: one thread per connection, fixed 1 KiB answer ---
int serve(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, 1024) != 0) return 1;
  const std::string body(1024, 'x');
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" + body;
  const std::string resp_close =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n" + body;
  for (;;) {
    int c = accept(s, nullptr, nullptr);
    if (c < 0) continue;
    std::thread([c, &resp, &resp_close] {
      int nd = 1;
      setsockopt(c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &nd, sizeof nd);
      std::string buf;
      char tmp[4096];
      bool open = true;
      while (open) {
        ssize_t n = read(c, tmp, sizeof tmp);
        if (n <= 0) break;
        buf.append(tmp, static_cast<size_t>(n));
        size_t end;
        while (open && (end = buf.find("\r\n\r\n")) != std::string::npos) {
          // "Connection: close" (the egress bench's new-connection runs): answer, then close.
          const bool close_after = buf.substr(0, end).find("Connection: close") != std::string::npos;
          buf.erase(0, end + 4);
          if (write(c, close_after ? resp_close.data() : resp.data(), close_after ? resp_close.size() : resp.size()) <
              0)
            open = false;
          if (close_after) open = false;
        }
      }
      close(c);
    }).detach();
  }
}

std::string self() {
  char p[4096];
  ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
  return std::string(p, static_cast<size_t>(std::max<ssize_t>(n, 0)));
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// --- machine-readable samples (--samples-out) ---
std::string utcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// The 1-, 5- and 15-minute load averages.
nlohmann::json loadAverage() {
  auto text = sc::readFile("/proc/loadavg");
  nlohmann::json out = nlohmann::json::array();
  if (!text.ok()) return out;
  for (const std::string& f : sc::split(*text, ' ')) {
    if (out.size() < 3) out.push_back(std::atof(f.c_str()));
  }
  return out;
}

nlohmann::json hostFacts() {
  nlohmann::json h = {{"cpus", std::thread::hardware_concurrency()}};
  utsname u{};
  if (::uname(&u) == 0) h["kernel"] = u.release;
  if (auto cpu = sc::readFile("/proc/cpuinfo"); cpu.ok()) {
    for (const std::string& l : sc::split(*cpu, '\n')) {
      if (l.starts_with("model name")) {
        h["cpu_model"] = sc::trim(l.substr(l.find(':') + 1));
        break;
      }
    }
  }
  return h;
}

// Collects one JSON entry per measurement and writes them to FILE at the end: the top-level keys
// one per line and each run on a line of its own, so that a committed file diffs by run.
class Samples {
 public:
  Samples(std::string path, std::string mode) : path_(std::move(path)) {
    head_ = {{"program", "bench_proxy"},
             {"mode", std::move(mode)},
             {"started_utc", utcNow()},
             {"host", hostFacts()},
             {"loadavg_start", loadAverage()}};
  }
  bool enabled() const { return !path_.empty(); }
  void set(const std::string& key, nlohmann::json v) { head_[key] = std::move(v); }
  void add(nlohmann::json run) {
    if (enabled()) runs_.push_back(std::move(run));
  }
  // 0 when written (or not asked for), 1 on failure.
  int write() {
    if (!enabled()) return 0;
    head_["finished_utc"] = utcNow();
    head_["loadavg_end"] = loadAverage();
    std::string out = "{\n";
    for (const auto& [k, v] : head_.items()) out += nlohmann::json(k).dump() + ": " + v.dump() + ",\n";
    out += "\"runs\": [\n";
    for (size_t i = 0; i < runs_.size(); ++i) out += runs_[i].dump() + (i + 1 < runs_.size() ? ",\n" : "\n");
    out += "]}\n";
    auto w = sc::writeFileAtomic(path_, out);
    if (!w.ok()) {
      std::cerr << "bench_proxy: " << w.error().message << "\n";
      return 1;
    }
    std::cerr << "samples written to " << path_ << "\n";
    return 0;
  }

 private:
  std::string path_;
  nlohmann::json head_;
  std::vector<nlohmann::json> runs_;
};

sc::inject::ProxyInstanceSpec spec(sc::testing::NetFixture& net, const std::string& name, sc::inject::ProxyConfig c,
                                   const std::string& hosts) {
  sc::inject::ProxyInstanceSpec s;
  c.task_id = net.prefix() + name;
  c.run_dir = "/run/scagent/tasks/" + net.prefix() + name;
  s.config = std::move(c);
  s.netns_path = net.netnsPath(name);
  s.hosts_file = hosts;
  s.hostname = name;
  s.cgroup = {.task_cgroup = "scagent-" + net.prefix() + name,
              .task_memory_bytes = 512ll << 20,
              .cpu_shares = 512,
              .proxy_memory_bytes = 64ll << 20};
  return s;
}

sc::inject::ProxyConfig serverConfig() {
  sc::inject::ProxyConfig c;
  c.ingress.push_back({.name = "ingress-http",
                       .discovery_names = {"db"},
                       .listener_port = 40080,
                       .container_port = 80,
                       .protocol = sc::inject::ProxyProtocol::kHttp});
  c.ingress.push_back({.name = "ingress-override",
                       .discovery_names = {"db-direct"},
                       .listener_port = 99,
                       .container_port = 80,
                       .protocol = sc::inject::ProxyProtocol::kHttp});
  return c;
}

bool waitHealthy(ProxyInstance& p) {
  sc::health::ProxyProber prober(p, 500ms);
  sc::health::HealthPolicy policy;
  policy.pending_interval = 2ms;
  sc::health::HealthMonitor m(prober, prober, sc::realClock(), policy);
  return m.runUntil([&] { return m.state() == sc::health::HealthState::kHealthy; }, 5s);
}

int launchBench(int n, Samples& samples) {
  sc::testing::NetFixture net;
  sc::testing::TempDir tmp;
  sc::testing::writeTestFile(tmp.file("hosts"), "127.0.0.1 localhost\n127.255.0.3 db\n");
  net.addTask("launch", 20);
  sc::inject::ProxyConfig c = serverConfig();
  c.egress.push_back({.dns_name = "db",
                      .vip = "127.255.0.3",
                      .port = 81,
                      .discovery_name = "db",
                      .protocol = sc::inject::ProxyProtocol::kHttp,
                      .upstreams = {{"10.77.0.11", 80}}});
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto p = ProxyInstance::start(spec(net, "launch", c, tmp.file("hosts")));
    if (!p.ok()) {
      std::cerr << p.error().message << "\n";
      return 1;
    }
    bool ok = waitHealthy(**p);
    auto t1 = std::chrono::steady_clock::now();
    if (!ok) std::cerr << "launch " << i << " not healthy\n";
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    (void)(*p)->destroy();
  }
  std::cout << "launch-to-HEALTHY over " << n << " launches (cgroups + config + namespaces + exec + probes):\n"
            << "  median " << median(ms) << " ms, p95 " << pct(ms, 0.95) << " ms, min "
            << *std::min_element(ms.begin(), ms.end()) << " ms, max " << *std::max_element(ms.begin(), ms.end())
            << " ms\n";
  samples.add({{"measure", "launch"}, {"unit", "ms"}, {"launch_ms", ms}});
  return samples.write();
}

struct WrkResult {
  double p50_us = 0, p99_us = 0, rps = 0;
  int errors = 0;
  // From the script's done() (kQuantilesLua): requests, min/max and [percent, us] pairs.
  long requests = 0;
  double min_us = 0, max_us = 0;
  std::vector<std::pair<double, double>> quantiles;
};

// Appended to every wrk script: after the run, print the request count, min, max and the latency
// at 1..99 %, 99.1..99.9 % and 99.91..99.99 % (wrk keeps latencies at 1 us resolution) as "SCQ"
// lines for the samples file. done() runs once after the test, so it does not change the measurement.
constexpr const char* kQuantilesLua = R"lua(
function done(summary, latency, requests)
  io.write(string.format("SCQ n %d %d %d\n", summary.requests, latency.min, latency.max))
  local ps = {}
  for p = 1, 99 do ps[#ps + 1] = p end
  for i = 1, 9 do ps[#ps + 1] = 99 + i / 10 end
  for i = 1, 9 do ps[#ps + 1] = 99.9 + i / 100 end
  for _, p in ipairs(ps) do io.write(string.format("SCQ %.2f %d\n", p, latency:percentile(p))) end
end
)lua";

// Writes a wrk script: `body` followed by kQuantilesLua.
std::string wrkScript(sc::testing::TempDir& tmp, const std::string& name, const std::string& body) {
  const std::string path = tmp.file(name);
  sc::testing::writeTestFile(path, body + kQuantilesLua);
  return path;
}

double toUs(const std::string& v) {
  double x = std::atof(v.c_str());
  if (v.ends_with("us")) return x;
  if (v.ends_with("ms")) return x * 1000;
  if (v.ends_with("s")) return x * 1e6;
  return x;
}

// `script`: a wrk Lua script (empty: none). With `function delay() return 1 end` every connection
// waits 1 ms between requests, so C connections send at most ~1000 x C requests/s: a fixed-rate
// approximation (Debian's wrk 4.1 has no -R; the delay is not counted in the latency).
WrkResult wrk(const std::string& netns, const std::string& url, int threads, int conns, int seconds,
              const std::string& script = "") {
  std::vector<std::string> args = {"-t" + std::to_string(threads), "-c" + std::to_string(conns),
                                   "-d" + std::to_string(seconds) + "s", "--latency"};
  if (!script.empty()) {
    args.push_back("-s");
    args.push_back(script);
  }
  args.push_back(url);
  auto r = sc::runProcess({.path = "/usr/bin/wrk",
                           .args = args,
                           .timeout = std::chrono::milliseconds((seconds + 20) * 1000),
                           .netns_path = netns});
  WrkResult w;
  if (!r.ok()) {
    std::cerr << r.error().message << "\n";
    return w;
  }
  for (const std::string& raw : sc::split(r->out, '\n')) {
    std::vector<std::string> f;
    for (const std::string& x : sc::split(sc::trim(raw), ' ')) {
      if (!x.empty()) f.push_back(x);
    }
    if (f.size() >= 2 && f[0] == "50%") w.p50_us = toUs(f[1]);
    if (f.size() >= 2 && f[0] == "99%") w.p99_us = toUs(f[1]);
    if (f.size() >= 2 && f[0] == "Requests/sec:") w.rps = std::atof(f[1].c_str());
    if (raw.find("Non-2xx") != std::string::npos || raw.find("Socket errors") != std::string::npos) ++w.errors;
    if (f.size() == 5 && f[0] == "SCQ" && f[1] == "n") {
      w.requests = std::atol(f[2].c_str());
      w.min_us = std::atof(f[3].c_str());
      w.max_us = std::atof(f[4].c_str());
    } else if (f.size() == 3 && f[0] == "SCQ") {
      w.quantiles.emplace_back(std::atof(f[1].c_str()), std::atof(f[2].c_str()));
    }
  }
  return w;
}

// One wrk run as a samples entry.
nlohmann::json runJson(const std::string& measure, const std::string& path, int round, int threads, int conns,
                       int seconds, const WrkResult& w) {
  nlohmann::json q = nlohmann::json::array();
  for (const auto& [p, us] : w.quantiles) q.push_back({p, us});
  return {{"measure", measure},     {"path", path},
          {"round", round},         {"threads", threads},
          {"connections", conns},   {"seconds", seconds},
          {"requests", w.requests}, {"rps", w.rps},
          {"p50_us", w.p50_us},     {"p99_us", w.p99_us},
          {"min_us", w.min_us},     {"max_us", w.max_us},
          {"errors", w.errors},     {"loadavg", loadAverage()},
          {"quantiles", q}};
}

struct Mem {
  long rss_kb = 0, pss_kb = 0;  // summed over master and worker
  long max_rss_kb = 0;          // the larger single process
};
long kbField(const std::string& text, const std::string& key) {
  for (const std::string& l : sc::split(text, '\n')) {
    if (l.starts_with(key + ":")) return std::atol(l.c_str() + key.size() + 1);
  }
  return 0;
}
Mem memoryOf(ProxyInstance& p) {
  Mem m;
  auto pids = p.cgroup().proxyPids();
  if (!pids.ok()) return m;
  for (pid_t pid : *pids) {
    auto st = sc::readFile("/proc/" + std::to_string(pid) + "/status");
    auto sm = sc::readFile("/proc/" + std::to_string(pid) + "/smaps_rollup");
    if (st.ok()) {
      m.rss_kb += kbField(*st, "VmRSS");
      m.max_rss_kb = std::max(m.max_rss_kb, kbField(*st, "VmRSS"));
    }
    if (sm.ok()) m.pss_kb += kbField(*sm, "Pss");
  }
  return m;
}

int trafficBench(int rounds, int seconds, Samples& samples) {
  sc::testing::NetFixture net;
  sc::testing::TempDir tmp;
  sc::testing::writeTestFile(tmp.file("hosts"), "127.0.0.1 localhost\n127.255.0.3 db\n");
  const std::string client_ns = net.addTask("client", 2);
  const std::string server_ns = net.addTask("server", 11);
  sc::testing::BackgroundProcess app(server_ns, {self(), "serve", "80"});
  sc::testing::BackgroundProcess direct_app(server_ns, {self(), "serve", "8080"});
  auto server = ProxyInstance::start(spec(net, "server", serverConfig(), tmp.file("hosts")));
  if (!server.ok()) {
    std::cerr << server.error().message << "\n";
    return 1;
  }
  net.addRedirect("server", 80, 40080);
  sc::inject::ProxyConfig cc;
  cc.egress.push_back({.dns_name = "db",
                       .vip = "127.255.0.3",
                       .port = 81,
                       .discovery_name = "db",
                       .protocol = sc::inject::ProxyProtocol::kHttp,
                       .upstreams = {{net.address("server"), 80}}});
  auto client = ProxyInstance::start(spec(net, "client", cc, tmp.file("hosts")));
  if (!client.ok() || !waitHealthy(**server) || !waitHealthy(**client)) {
    std::cerr << "proxies did not come up\n";
    return 1;
  }
  std::this_thread::sleep_for(200ms);
  Mem idle_c = memoryOf(**client), idle_s = memoryOf(**server);

  const std::map<std::string, std::string> urls = {{"direct", "http://" + net.address("server") + ":8080/"},
                                                   {"one-proxy", "http://" + net.address("server") + ":99/"},
                                                   {"two-proxies", "http://127.255.0.3:81/"}};
  const std::vector<std::string> order = {"direct", "one-proxy", "two-proxies"};
  std::map<std::string, std::vector<double>> p50, p99, rps;
  int errors = 0;
  const std::string plain = wrkScript(tmp, "plain.lua", "");
  // Warm-up.
  for (const auto& k : order) (void)wrk(client_ns, urls.at(k), 1, 1, 1, plain);
  for (int r = 0; r < rounds; ++r) {
    for (const auto& k : order) {
      WrkResult w = wrk(client_ns, urls.at(k), 1, 1, seconds, plain);
      p50[k].push_back(w.p50_us);
      p99[k].push_back(w.p99_us);
      errors += w.errors;
      samples.add(runJson("latency", k, r, 1, 1, seconds, w));
    }
  }
  // Fixed rates: 1 ms think time per connection; 1 connection ~ 1000 req/s, 4 connections ~ 4000.
  const std::string lua = wrkScript(tmp, "delay.lua", "function delay()\n  return 1\nend\n");
  const std::vector<int> rate_conns = {1, 4};
  std::map<std::string, std::vector<double>> fp50, fp99, frps;
  for (int r = 0; r < rounds; ++r) {
    for (int c : rate_conns) {
      for (const auto& k : order) {
        WrkResult w = wrk(client_ns, urls.at(k), 1, c, seconds, lua);
        const std::string key = k + "@" + std::to_string(c);
        fp50[key].push_back(w.p50_us);
        fp99[key].push_back(w.p99_us);
        frps[key].push_back(w.rps);
        errors += w.errors;
        samples.add(runJson("fixed-rate", k, r, 1, c, seconds, w));
      }
    }
  }
  Mem load_c, load_s;
  for (int r = 0; r < rounds; ++r) {
    for (const auto& k : order) {
      std::atomic<bool> sampled{false};
      std::thread sampler([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(seconds * 500));
        if (k == "two-proxies") {
          Mem c = memoryOf(**client), s = memoryOf(**server);
          load_c.rss_kb = std::max(load_c.rss_kb, c.rss_kb);
          load_c.pss_kb = std::max(load_c.pss_kb, c.pss_kb);
          load_c.max_rss_kb = std::max(load_c.max_rss_kb, c.max_rss_kb);
          load_s.max_rss_kb = std::max(load_s.max_rss_kb, s.max_rss_kb);
          load_s.rss_kb = std::max(load_s.rss_kb, s.rss_kb);
          load_s.pss_kb = std::max(load_s.pss_kb, s.pss_kb);
        }
        sampled = true;
      });
      WrkResult w = wrk(client_ns, urls.at(k), 2, 32, seconds, plain);
      sampler.join();
      rps[k].push_back(w.rps);
      errors += w.errors;
      samples.add(runJson("throughput", k, r, 2, 32, seconds, w));
    }
  }
  auto line = [](const std::string& name, double v, double base, const char* unit) {
    std::cout << "  " << name << ": " << v << " " << unit << " (" << (v - base >= 0 ? "+" : "") << v - base << " "
              << unit << " vs direct, x" << (base > 0 ? v / base : 0) << ")\n";
  };
  std::cout << "latency, wrk -t1 -c1 (closed loop, one keep-alive connection), 1 KiB bodies, median of " << rounds
            << " interleaved runs of " << seconds << " s:\n";
  for (const auto& k : order) {
    std::cout << "  " << k << ": p50 " << median(p50[k]) << " us [" << pct(p50[k], 0) << "-" << pct(p50[k], 1)
              << "], p99 " << median(p99[k]) << " us [" << pct(p99[k], 0) << "-" << pct(p99[k], 1) << "]\n";
  }
  line("added p50, two proxies", median(p50["two-proxies"]), median(p50["direct"]), "us");
  line("added p99, two proxies", median(p99["two-proxies"]), median(p99["direct"]), "us");
  line("added p50, one proxy", median(p50["one-proxy"]), median(p50["direct"]), "us");
  for (int c : rate_conns) {
    std::cout << "latency at a fixed rate (wrk -c" << c << " with 1 ms delay per request), median of " << rounds
              << " runs:\n";
    for (const auto& k : order) {
      const std::string key = k + "@" + std::to_string(c);
      std::cout << "  " << k << ": " << median(frps[key]) << " req/s, p50 " << median(fp50[key]) << " us ["
                << pct(fp50[key], 0) << "-" << pct(fp50[key], 1) << "], p99 " << median(fp99[key]) << " us ["
                << pct(fp99[key], 0) << "-" << pct(fp99[key], 1) << "]\n";
    }
    const std::string d = "direct@" + std::to_string(c), two = "two-proxies@" + std::to_string(c);
    line("added p50, two proxies", median(fp50[two]), median(fp50[d]), "us");
    line("added p99, two proxies", median(fp99[two]), median(fp99[d]), "us");
  }
  std::cout << "throughput, wrk -t2 -c32, median of " << rounds << " runs:\n";
  for (const auto& k : order) {
    std::cout << "  " << k << ": " << median(rps[k]) << " req/s [" << pct(rps[k], 0) << "-" << pct(rps[k], 1) << "]"
              << " = " << 100 * median(rps[k]) / std::max(1.0, median(rps["direct"])) << " % of direct\n";
  }
  auto mem = [](const char* what, const Mem& m) {
    std::cout << "  " << what << ": Pss " << m.pss_kb << ", VmRSS sum " << m.rss_kb << ", largest process VmRSS "
              << m.max_rss_kb << "\n";
  };
  std::cout << "proxy memory (master + worker), KiB:\n";
  mem("client proxy idle", idle_c);
  mem("server proxy idle", idle_s);
  mem("client proxy under load", load_c);
  mem("server proxy under load", load_s);
  std::cout << "wrk error lines: " << errors << "\n";
  auto memJson = [](const Mem& m) {
    return nlohmann::json{{"pss", m.pss_kb}, {"rss_sum", m.rss_kb}, {"rss_max", m.max_rss_kb}};
  };
  samples.set("memory_kib", {{"client_idle", memJson(idle_c)},
                             {"server_idle", memJson(idle_s)},
                             {"client_load", memJson(load_c)},
                             {"server_load", memJson(load_s)}});
  (void)(*client)->destroy();
  (void)(*server)->destroy();
  return samples.write();
}

// The egress paths of one client proxy to one server app (no server proxy), interleaved per
// round: keep-alive latency (wrk -t1 -c1) and a new connection per request (Connection: close,
// where the nat rules are evaluated on every request).
int egressBench(int rounds, int seconds, Samples& samples) {
  sc::testing::NetFixture net;
  sc::testing::TempDir tmp;
  sc::testing::writeTestFile(tmp.file("hosts"), "127.0.0.1 localhost\n");
  const std::string client_ns = net.addTask("client", 2);
  const std::string server_ns = net.addTask("server", 11);
  sc::testing::BackgroundProcess app(server_ns, {self(), "serve", "8080"});
  const std::string upstream = net.address("server");
  auto egress = [&](const std::string& dns, const std::string& vip, int listener) {
    return sc::inject::EgressSpec{.dns_name = dns,
                                  .vip = vip,
                                  .port = 81,
                                  .listener_port = listener,
                                  .discovery_name = dns,
                                  .protocol = sc::inject::ProxyProtocol::kHttp,
                                  .upstreams = {{upstream, 8080}}};
  };
  sc::inject::ProxyConfig cc;
  cc.egress = {egress("bound", "127.255.0.3", 0), egress("redirected", "127.255.0.5", 41005),
               egress("last", "127.255.1.100", 41100)};
  // The agent's own rules: 100 aliases, "redirected" first and "last" at the end of the chain.
  sc::netns::SandboxSpec rules;
  rules.task_id = net.prefix() + "client";
  rules.hostname = "client";
  rules.vip_range = *sc::Cidr::parse("127.255.0.0/16");
  rules.egress.push_back({*sc::IpAddress::parse("127.255.0.5"), 81, 41005});
  for (int i = 1; i < 99; ++i)
    rules.egress.push_back({*sc::IpAddress::parse("127.255.1." + std::to_string(i)), 81, 42000 + i});
  rules.egress.push_back({*sc::IpAddress::parse("127.255.1.100"), 81, 41100});
  auto text = sc::netns::renderInstall(sc::netns::taskNamespaceRules(rules, sc::netns::ChainNames::of("SCB")),
                                       sc::netns::Table::kNat);
  if (!text.ok()) {
    std::cerr << text.error().message << "\n";
    return 1;
  }
  net.applyRules("client", *text);
  auto client = ProxyInstance::start(spec(net, "client", cc, tmp.file("hosts")));
  if (!client.ok() || !waitHealthy(**client)) {
    std::cerr << "the client proxy did not come up\n";
    return 1;
  }
  const std::vector<std::pair<std::string, std::string>> paths = {{"direct", "http://" + upstream + ":8080/"},
                                                                  {"bound VIP:port (before)", "http://127.255.0.3:81/"},
                                                                  {"redirect (now)", "http://127.255.0.5:81/"},
                                                                  {"redirect, 100th rule", "http://127.255.1.100:81/"}};
  const std::string plain = wrkScript(tmp, "plain.lua", "");
  const std::string close_lua = wrkScript(tmp, "close.lua", "wrk.headers[\"Connection\"] = \"close\"\n");
  std::map<std::string, std::vector<double>> keep, fresh;
  int errors = 0;
  for (const auto& [k, url] : paths) (void)wrk(client_ns, url, 1, 1, 1, plain);
  for (int r = 0; r < rounds; ++r) {
    for (const auto& [k, url] : paths) {
      WrkResult w = wrk(client_ns, url, 1, 1, seconds, plain);
      keep[k].push_back(w.p50_us);
      WrkResult c = wrk(client_ns, url, 1, 1, seconds, close_lua);
      fresh[k].push_back(c.p50_us);
      errors += w.errors + c.errors;
      samples.add(runJson("egress-keepalive", k, r, 1, 1, seconds, w));
      samples.add(runJson("egress-new-connection", k, r, 1, 1, seconds, c));
    }
  }
  std::cout << "egress paths, 1 KiB bodies, p50 per run, median [min-max] of " << rounds << " interleaved runs of "
            << seconds << " s:\n";
  const double kd = median(keep["direct"]), fd = median(fresh["direct"]);
  const double kb = median(keep["bound VIP:port (before)"]), fb = median(fresh["bound VIP:port (before)"]);
  for (const auto& [k, url] : paths) {
    std::cout << "  " << k << ": keep-alive " << median(keep[k]) << " us [" << pct(keep[k], 0) << "-" << pct(keep[k], 1)
              << "] (+" << median(keep[k]) - kd << " vs direct, " << median(keep[k]) - kb
              << " vs bound); new connection " << median(fresh[k]) << " us [" << pct(fresh[k], 0) << "-"
              << pct(fresh[k], 1) << "] (+" << median(fresh[k]) - fd << " vs direct, " << median(fresh[k]) - fb
              << " vs bound)\n";
  }
  std::cout << "wrk error lines: " << errors << "\n";
  (void)(*client)->destroy();
  return samples.write();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a;
  std::string samples_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--samples-out" && i + 1 < argc) {
      samples_path = argv[++i];
    } else {
      a.push_back(arg);
    }
  }
  if (a.size() >= 2 && a[0] == "serve") return serve(std::atoi(a[1].c_str()));
  if (getuid() != 0) {
    std::cerr << "bench_proxy: needs root (namespaces, cgroups)\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  Samples samples(samples_path, a.empty() ? "" : a[0]);
  if (!a.empty()) samples.set("args", std::vector<std::string>(a.begin() + 1, a.end()));
  if (!a.empty() && a[0] == "launch") return launchBench(a.size() > 1 ? std::atoi(a[1].c_str()) : 50, samples);
  if (!a.empty() && a[0] == "traffic") {
    return trafficBench(a.size() > 1 ? std::atoi(a[1].c_str()) : 5, a.size() > 2 ? std::atoi(a[2].c_str()) : 5,
                        samples);
  }
  if (!a.empty() && a[0] == "egress") {
    return egressBench(a.size() > 1 ? std::atoi(a[1].c_str()) : 5, a.size() > 2 ? std::atoi(a[2].c_str()) : 5, samples);
  }
  std::cerr << "usage: bench_proxy [--samples-out FILE] launch [N] | traffic [ROUNDS] [SECONDS] | egress [ROUNDS] "
               "[SECONDS]\n";
  return 2;
}
