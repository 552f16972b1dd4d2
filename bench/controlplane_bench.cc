// Control-plane benchmarks; print figures, never pass or fail on time.
//
//  1. DescribeServices latency (10 services per call, as ECS allows) with 100 services in the
//     cluster, signed requests over fresh loopback connections; baseline: GET /healthz the same way.
//  2. Long-poll fan-out: N agents (1000, 2000) each hold a GET /v1/agent/desired long-poll on its own
//     connection; one task's endpoint turns healthy (a status report); the time until each poll
//     is answered. Baseline: the same with N = 1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "common/clock.h"
#include "controlplane/control_plane.h"
#include "controlplane/frontend.h"
#include "controlplane/http_server.h"
#include "controlplane/sqlite_store.h"
#include "tests/support/controlplane/raw_http.h"

namespace sc::controlplane {
namespace {

using Clk = std::chrono::steady_clock;

double ms(Clk::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Rig {
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<ControlPlane> cp;
  std::unique_ptr<Frontend> fe;
  std::unique_ptr<HttpServer> server;
  AccessKey key{"SCBENCH", "bench-secret"};
  std::string dir;

  explicit Rig(const std::string& d) : dir(d) {
    std::string db = d + "/state.db";
    ::unlink(db.c_str());
    store = std::move(*SqliteStore::open(db));
    ControlPlaneOptions o;
    o.bootstrap_token = "boot";
    o.instance_ttl = std::chrono::seconds(3600);
    cp = std::move(*ControlPlane::create(*store, realClock(), o));
    fe = std::make_unique<Frontend>(*cp, realClock(), FrontendOptions{{{key.id, key.secret}}});
    server = std::move(*HttpServer::start({}, [this](const HttpRequest& r) { return fe->handle(r); }));
    HttpServer* s = server.get();
    cp->setChangeListener([s] { s->wake(); });
  }
  ~Rig() { server->stop(); }
  Json ecs(const std::string& op, const Json& in) {
    auto r = cp->call(Api::kEcs, op, in);
    if (!r) std::fprintf(stderr, "%s: %s\n", op.c_str(), r.error().message.c_str());
    return r ? *r : Json();
  }
};

void benchDescribe(const std::string& dir) {
  Rig rig(dir);
  rig.ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
  rig.ecs("RegisterTaskDefinition", Json::parse(R"({"family": "app", "networkMode": "awsvpc", "memory": "512",
      "containerDefinitions": [{"name": "app", "image": "i", "memory": 256, "portMappings": [{"name": "http", "containerPort": 80, "appProtocol": "http"}]}]})"));
  for (int i = 0; i < 100; ++i) {
    std::string n = "svc" + std::to_string(i);
    rig.ecs(
        "CreateService",
        {{"cluster", "c"},
         {"serviceName", n},
         {"taskDefinition", "app"},
         {"desiredCount", 0},
         {"serviceConnectConfiguration",
          {{"enabled", true},
           {"services",
            {{{"portName", "http"}, {"discoveryName", n}, {"clientAliases", {{{"port", 80}, {"dnsName", n}}}}}}}}}});
  }
  uint16_t port = rig.server->port();
  std::vector<double> p50s, p99s, base50s;
  for (int round = 0; round < 5; ++round) {
    std::vector<double> lat, base;
    for (int i = 0; i < 400; ++i) {
      Json names = Json::array();
      for (int k = 0; k < 10; ++k) names.push_back("svc" + std::to_string((i * 10 + k) % 100));
      auto t0 = Clk::now();
      auto r = testing::awsJson(port, rig.key, "AmazonEC2ContainerServiceV20141113.DescribeServices",
                                {{"cluster", "c"}, {"services", names}});
      lat.push_back(ms(Clk::now() - t0));
      if (!r.ok() || r->status != 200) std::fprintf(stderr, "DescribeServices failed\n");
      auto b0 = Clk::now();
      (void)testing::rawHttp(port, "GET", "/healthz", {}, "");
      base.push_back(ms(Clk::now() - b0));
    }
    p50s.push_back(pct(lat, 0.5));
    p99s.push_back(pct(lat, 0.99));
    base50s.push_back(pct(base, 0.5));
  }
  std::printf("DescribeServices (10 of 100 services, signed, new connection each), 5 rounds x 400 calls:\n");
  std::printf("  p50 median %.3f ms (rounds %.3f-%.3f), p99 median %.3f ms (rounds %.3f-%.3f)\n", pct(p50s, 0.5),
              *std::min_element(p50s.begin(), p50s.end()), *std::max_element(p50s.begin(), p50s.end()), pct(p99s, 0.5),
              *std::min_element(p99s.begin(), p99s.end()), *std::max_element(p99s.begin(), p99s.end()));
  std::printf("  baseline GET /healthz p50 %.3f ms; ratio p50/baseline %.1fx\n", pct(base50s, 0.5),
              pct(p50s, 0.5) / pct(base50s, 0.5));
}

struct Poller {
  int fd = -1;
  std::string token, etag, buf;
  bool done = false;
  Clk::time_point answered;
};

int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) std::perror("connect");
  return fd;
}

// Returns per-round p50/p99/max (ms) of the time from the change to each answer.
std::vector<std::vector<double>> benchFanout(const std::string& dir, int n, int rounds) {
  Rig rig(dir);
  rig.ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
  rig.ecs("RegisterTaskDefinition", Json::parse(R"({"family": "app", "networkMode": "awsvpc", "memory": "512",
      "containerDefinitions": [{"name": "app", "image": "i", "memory": 256, "portMappings": [{"name": "http", "containerPort": 80, "appProtocol": "http"}]}]})"));
  std::vector<Poller> polls(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto r = rig.cp->agentRegister({{"bootstrapToken", "boot"},
                                    {"cluster", "c"},
                                    {"hostname", "h" + std::to_string(i)},
                                    {"memoryMiB", 512},
                                    {"capabilities", {"sc.capability.service-connect-v1"}}});
    polls[static_cast<size_t>(i)].token = (*r)["token"].get<std::string>();
  }
  rig.ecs("CreateService",
          {{"cluster", "c"},
           {"serviceName", "web"},
           {"taskDefinition", "app"},
           {"desiredCount", n},
           {"serviceConnectConfiguration",
            {{"enabled", true},
             {"services", {{{"portName", "http"}, {"clientAliases", {{{"port", 80}, {"dnsName", "web"}}}}}}}}}});
  // Tasks stay PROVISIONING: no endpoint is registered until the change below.
  std::string first_task = (**rig.cp->agentDesired(polls[0].token, ""))["tasks"][0]["taskArn"];
  std::fprintf(stderr, "fan-out %d: set up\n", n);
  for (auto& p : polls) p.etag = (**rig.cp->agentDesired(p.token, ""))["etag"].get<std::string>();
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  uint16_t port = rig.server->port();
  for (size_t i = 0; i < polls.size(); ++i) {
    polls[i].fd = connectTo(port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, polls[i].fd, &ev);
  }
  std::vector<std::vector<double>> out;
  for (int round = 0; round < rounds; ++round) {
    for (auto& p : polls) {
      p.done = false;
      p.buf.clear();
      std::string req =
          testing::renderRequest("GET", "/v1/agent/desired?waitSeconds=60&etag=" + p.etag,
                                 {{"host", "127.0.0.1"}, {"authorization", "Bearer " + p.token}}, "", true);
      if (::send(p.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) std::perror("send");
    }
    while (rig.server->parkedCount() < polls.size()) ::usleep(1000);
    // The change: the first task's endpoint turns healthy (even rounds) or unhealthy (odd rounds).
    std::string owner_token = polls[0].token;
    auto t0 = Clk::now();
    (void)rig.cp->agentStatus(owner_token,
                              {{"tasks",
                                {{{"taskArn", first_task},
                                  {"lastStatus", "RUNNING"},
                                  {"healthStatus", round % 2 == 0 ? "HEALTHY" : "UNHEALTHY"},
                                  {"endpoints", {{{"discoveryName", "http"}, {"ip", "10.0.0.1"}, {"port", 80}}}}}}}});
    std::fprintf(stderr, "fan-out %d round %d: the status report took %.1f ms\n", n, round, ms(Clk::now() - t0));
    size_t left = polls.size();
    std::vector<epoll_event> evs(256);
    while (left > 0) {
      int k = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 10000);
      if (k <= 0) {
        std::fprintf(stderr, "fan-out: %zu polls not answered within 10 s\n", left);
        break;
      }
      for (int e = 0; e < k; ++e) {
        Poller& p = polls[evs[static_cast<size_t>(e)].data.u64];
        char chunk[65536];
        ssize_t got = ::recv(p.fd, chunk, sizeof(chunk), 0);
        if (got <= 0) continue;
        p.buf.append(chunk, static_cast<size_t>(got));
        testing::RawResponse r;
        if (!p.done && testing::parseResponse(p.buf, &r) > 0) {
          p.done = true;
          p.answered = Clk::now();
          --left;
          if (r.status == 200) p.etag = Json::parse(r.body)["etag"].get<std::string>();
        }
      }
    }
    std::vector<double> lat;
    for (const auto& p : polls)
      if (p.done) lat.push_back(ms(p.answered - t0));
    out.push_back({pct(lat, 0.5), pct(lat, 0.99), *std::max_element(lat.begin(), lat.end())});
  }
  for (auto& p : polls) ::close(p.fd);
  ::close(ep);
  return out;
}

void reportFanout(const std::string& dir, int n, double baseline_p99) {
  auto rounds = benchFanout(dir, n, 5);
  std::vector<double> p50, p99, mx;
  for (const auto& r : rounds) {
    p50.push_back(r[0]);
    p99.push_back(r[1]);
    mx.push_back(r[2]);
  }
  std::printf(
      "long-poll fan-out, %d waiting agents, 5 changes: p50 median %.1f ms (rounds %.1f-%.1f), p99 median %.1f ms "
      "(rounds %.1f-%.1f), max median %.1f ms; p99 ratio to 1 agent %.1fx\n",
      n, pct(p50, 0.5), *std::min_element(p50.begin(), p50.end()), *std::max_element(p50.begin(), p50.end()),
      pct(p99, 0.5), *std::min_element(p99.begin(), p99.end()), *std::max_element(p99.begin(), p99.end()), pct(mx, 0.5),
      baseline_p99 > 0 ? pct(p99, 0.5) / baseline_p99 : 0.0);
}

}  // namespace
}  // namespace sc::controlplane

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  std::string dir = argc > 1 ? argv[1] : "/tmp";
  using namespace sc::controlplane;
  benchDescribe(dir);
  auto base = benchFanout(dir, 1, 5);
  std::vector<double> b99;
  for (const auto& r : base) b99.push_back(r[1]);
  std::sort(b99.begin(), b99.end());
  std::printf("long-poll baseline, 1 waiting agent: p99 median %.2f ms\n", b99[b99.size() / 2]);
  reportFanout(dir, 1000, b99[b99.size() / 2]);
  reportFanout(dir, 2000, b99[b99.size() / 2]);
  return 0;
}
