// The whole system, as an operator runs it: sccontrol (SQLite), `scagent run` with real
// namespaces, HAProxy proxies and busybox app containers, driven by the real `aws` CLI with the
// demo's files (examples/demo/). Traffic is sent with curl from inside a task's namespace
// (`ip netns exec`, so the task's hosts file answers `db`), as the demo does.
//
// Every test ends by deleting its services and comparing the host with what it was before the
// agent started: namespaces, links, iptables rules, cgroups, runtime directories, ip_forward.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "agent/task_record.h"
#include "common/process.h"
#include "common/strings.h"
#include "tests/support/aws_cli.h"
#include "tests/support/background_process.h"
#include "tests/support/controlplane/sccontrol_process.h"
#include "tests/support/root_guard.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// This suite's own bridge, task range and veth names, apart from the demo's (scbr0, 10.222.0.0/16,
// scv...), so a demo or benchmark agent on the same host keeps its own.
constexpr const char* kBridge = "sce2e0";
constexpr const char* kTaskCidr = "10.226.0.0/16";
constexpr const char* kVethPrefix = "sce";

// What the agent may change on the host, in a comparable form.
struct HostState {
  std::set<std::string> netns, links, cgroups, run_tasks;
  std::vector<std::string> iptables;
  std::string ip_forward;
};

std::set<std::string> entries(const std::string& dir, bool dirs_only = false) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!dirs_only || e.is_directory()) out.insert(e.path().filename().string());
  }
  return out;
}

HostState hostState() {
  HostState s;
  s.netns = entries("/run/netns");
  s.links = entries("/sys/class/net");
  for (const char* ctl : {"memory", "cpu"}) {
    for (const auto& d : entries(std::string("/sys/fs/cgroup/") + ctl, true)) s.cgroups.insert(ctl + ("/" + d));
  }
  s.run_tasks = entries("/run/scagent/tasks");
  s.ip_forward = testing::readTestFile("/proc/sys/net/ipv4/ip_forward");
  auto save = runProcess({.path = "/usr/sbin/iptables-save", .args = {}});
  EXPECT_TRUE(save.ok() && save->success());
  if (save.ok()) {
    for (const std::string& line : split(save->out, '\n')) {
      if (line.empty() || line[0] == '#' || line[0] == '*' || line == "COMMIT") continue;
      // Chain lines carry packet counters: only names and policies matter. A table that exists
      // with nothing in it (iptables-nft creates tables on first use, whoever uses them) is the
      // same host as one that does not: built-in chains with the default policy are left out.
      std::string chain = line[0] == ':' ? line.substr(0, line.find(" [")) : line;
      if (chain[0] == ':' && chain.ends_with(" ACCEPT")) {
        const std::string name = chain.substr(1, chain.find(' ') - 1);
        if (name == "INPUT" || name == "OUTPUT" || name == "FORWARD" || name == "PREROUTING" || name == "POSTROUTING")
          continue;
      }
      s.iptables.push_back(chain);
    }
  }
  return s;
}

// What appeared and what vanished between two listings; empty when they are the same.
template <typename C>
std::string difference(const C& before, const C& after) {
  std::multiset<std::string> b(before.begin(), before.end()), a(after.begin(), after.end());
  std::vector<std::string> appeared, vanished;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(appeared));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(vanished));
  if (appeared.empty() && vanished.empty()) return "";
  return "appeared: [" + join(appeared, ", ") + "] vanished: [" + join(vanished, ", ") + "]";
}

void expectSameHost(const HostState& before, const HostState& after) {
  EXPECT_EQ(difference(before.netns, after.netns), "") << "network namespaces";
  EXPECT_EQ(difference(before.links, after.links), "") << "links";
  EXPECT_EQ(difference(before.cgroups, after.cgroups), "") << "cgroups";
  EXPECT_EQ(difference(before.run_tasks, after.run_tasks), "") << "/run/scagent/tasks";
  EXPECT_EQ(difference(before.iptables, after.iptables), "") << "iptables-save";
  EXPECT_EQ(before.ip_forward, after.ip_forward) << "ip_forward";
}

// "pid: command line" of every process whose command line contains `text`.
std::vector<std::string> processesMentioning(const std::string& text) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = testing::readTestFile("/proc/" + pid + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(text) != std::string::npos) found.push_back(pid + ": " + cmdline);
  }
  return found;
}

// The task id a demo app answers with ("db task <id>").
std::vector<std::string> answerIds(const std::string& out) {
  std::vector<std::string> ids;
  for (const std::string& line : split(out, '\n')) {
    auto words = split(std::string(trim(line)), ' ');
    if (words.size() == 3 && words[1] == "task") ids.push_back(words[2]);
  }
  return ids;
}

// curl inside a task's namespace; `urls` are fetched in order by one curl.
ProcessResult curlIn(const std::string& task, const std::vector<std::string>& urls) {
  std::vector<std::string> args = {"netns", "exec", "sc-" + task, "/usr/bin/curl", "-s", "--max-time", "3"};
  args.insert(args.end(), urls.begin(), urls.end());
  auto r = runProcess({.path = "/usr/sbin/ip", .args = args, .timeout = 30s});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : ProcessResult{};
}

// Steady load: one request after another from a task to a URL until stopped; counts failures.
class Load {
 public:
  Load(std::string task, std::string url)
      : thread_([this, task = std::move(task), url = std::move(url)] {
          while (!stop_.load()) {
            ProcessResult r = curlIn(task, {url});
            if (r.success() && answerIds(r.out).size() == 1) {
              ++ok_;
            } else {
              ++failed_;
              std::lock_guard lock(mu_);
              if (failures_.size() < 5) failures_.push_back(r.describe() + " " + r.out + r.err);
            }
          }
        }) {}
  ~Load() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_.load(); }
  int failed() const { return failed_.load(); }
  std::string failures() {
    std::lock_guard lock(mu_);
    return join(failures_, "\n");
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds timeout, std::chrono::milliseconds every = 50ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

class AgentE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SC_REQUIRE_ROOT();
    aws_program_ = testing::findAwsCli();
    if (aws_program_.empty()) {
      if (testing::rootRequired()) FAIL() << "the aws CLI is not on PATH (scripts/setup installs it)";
      GTEST_SKIP() << "the aws CLI is not on PATH (scripts/setup installs it)";
    }
    auto image = runProcess(
        {.path = "/usr/bin/bash",
         .args = {std::string(SC_SOURCE_DIR) + "/scripts/build-demo-image", dir_.file("images/busybox-httpd")},
         .timeout = 60s});
    ASSERT_TRUE(image.ok() && image->success()) << (image.ok() ? image->describe() + image->err : "");

    before_ = hostState();
    run_dir_existed_ = fs::exists("/run/scagent");
    fs::create_directories(dir_.file("sccontrol"));
    startControlPlane("127.0.0.1:0");
    ASSERT_TRUE(cp_->up());
    port_ = cp_->port();
    aws_.emplace(aws_program_, cp_->endpoint(), cp_->key().id, cp_->key().secret, dir_.path());

    testing::writeTestFile(dir_.file("bootstrap-token"), cp_->bootstrapToken());
    Json config = {{"cluster", "demo"},
                   {"stateDir", dir_.file("agent")},
                   {"imageDir", dir_.file("images")},
                   {"metricsListen", "unix:" + dir_.file("metrics.sock")},
                   {"drainSeconds", 1},
                   {"controlPlane",
                    {{"endpoint", cp_->endpoint()},
                     {"bootstrapTokenFile", dir_.file("bootstrap-token")},
                     {"pollTimeoutSeconds", 30}}},
                   {"network", {{"bridge", kBridge}, {"taskCidr", kTaskCidr}, {"vethPrefix", kVethPrefix}}}};
    testing::writeTestFile(dir_.file("agent.json"), config.dump());
    startAgent();
    started_ = true;

    const std::string ex = std::string(SC_SOURCE_DIR) + "/examples/demo/";
    aws_->json({"ecs", "create-cluster", "--cli-input-json", "file://" + ex + "cluster.json"});
    aws_->json({"ecs", "register-task-definition", "--cli-input-json", "file://" + ex + "db-task-definition.json"});
    aws_->json({"ecs", "register-task-definition", "--cli-input-json", "file://" + ex + "web-task-definition.json"});
  }

  void TearDown() override {
    if (!started_) return;
    if (!cp_ || !cp_->up()) startControlPlane("127.0.0.1:" + std::to_string(port_));
    for (const std::string& s : services_) {
      aws_->run({"ecs", "delete-service", "--cluster", "demo", "--service", s, "--force"});
    }
    // The agent drains and stops every task; its records then go.
    const bool idle = waitFor([&] { return activeTasks() == 0; }, 90s, 200ms);
    EXPECT_TRUE(idle) << "tasks still active after the services were deleted; agent log:\n" << agentLog();
    // Deleting the services leaves the host as it was, with the agent still running.
    expectSameHost(before_, hostState());
    // SIGTERM abandons the long-poll (30 s here): the agent is gone well before the 10 s grace.
    EXPECT_EQ(agent_.stop(10s), 0) << "scagent did not exit on SIGTERM within 10 s";
    cp_.reset();
    // The agent keeps its runtime directory (packages make it with tmpfiles.d); the test removes
    // it when it made it, and it must be empty by now.
    if (!run_dir_existed_) {
      for (const char* d : {"/run/scagent/tasks", "/run/scagent/apps", "/run/scagent"}) ::rmdir(d);
      EXPECT_FALSE(fs::exists("/run/scagent")) << "/run/scagent is not empty after the test";
    }
    // No process of this test's agent is left: containers' shims are forks of the agent and keep
    // its command line (with this test's directory), and a container keeps its shim alive.
    EXPECT_EQ(processesMentioning(dir_.path()), std::vector<std::string>{});
    if (HasFailure()) {
      std::cerr << "--- scagent log (tail) ---\n" << tail(agentLog(), 20000) << "\n";
      if (const char* keep = std::getenv("SC_E2E_KEEP_LOGS")) {
        std::error_code ec;
        fs::copy(dir_.file("scagent.log"), std::string(keep) + "/scagent.log", fs::copy_options::overwrite_existing,
                 ec);
        fs::copy(dir_.file("sccontrol/sccontrol.log"), std::string(keep) + "/sccontrol.log",
                 fs::copy_options::overwrite_existing, ec);
      }
    }
  }

  void startControlPlane(const std::string& listen) {
    cp_.reset();
    cp_ = std::make_unique<testing::SccontrolProcess>(dir_.file("sccontrol"), std::vector<std::string>{}, listen);
  }
  void startAgent() {
    agent_.start({std::string(SC_BINARY_DIR) + "/agent/scagent", "run", "--config", dir_.file("agent.json")},
                 dir_.file("scagent.log"));
  }
  std::string agentLog() const { return testing::readTestFile(dir_.file("scagent.log")); }
  // The tasks of the agent's JSON log lines whose message is `msg`.
  std::set<std::string> loggedTasks(const std::string& msg) const {
    std::set<std::string> ids;
    for (const std::string& line : split(agentLog(), '\n')) {
      auto j = Json::parse(line, nullptr, false);
      if (j.is_object() && j.value("msg", "") == msg && j.contains("task")) ids.insert(j.value("task", ""));
    }
    return ids;
  }
  static std::string tail(const std::string& s, size_t n) { return s.size() > n ? s.substr(s.size() - n) : s; }

  std::vector<agent::TaskRecord> records() {
    std::vector<agent::TaskRecord> out;
    if (!fs::exists(dir_.file("agent/tasks"))) return out;
    auto store = agent::FileTaskStore::create(dir_.file("agent/tasks"));
    if (!store.ok()) return out;
    std::vector<std::string> problems;
    auto all = (*store)->loadAll(&problems);
    return all.ok() ? *all : out;
  }
  int activeTasks() {
    int n = 0;
    for (const auto& r : records()) n += r.status != agent::TaskStatus::kStopped ? 1 : 0;
    return n;
  }
  // Ids of the service's tasks that are RUNNING with a HEALTHY proxy, in the agent's records.
  std::set<std::string> healthy(const std::string& service) {
    std::set<std::string> ids;
    for (const auto& r : records()) {
      if (r.plan.service_name == service && r.status == agent::TaskStatus::kRunning && r.health == "HEALTHY")
        ids.insert(r.task_id);
    }
    return ids;
  }
  std::set<std::string> waitHealthy(const std::string& service, size_t n) {
    std::set<std::string> ids;
    const bool ok = waitFor(
        [&] {
          ids = healthy(service);
          return ids.size() == n;
        },
        60s);
    EXPECT_TRUE(ok) << service << ": " << ids.size() << " of " << n << " tasks RUNNING and HEALTHY";
    return ids;
  }
  std::optional<agent::TaskRecord> record(const std::string& id) {
    for (auto& r : records())
      if (r.task_id == id) return r;
    return std::nullopt;
  }

  void createService(const Json& svc) {
    const std::string name = svc["serviceName"];
    testing::writeTestFile(dir_.file(name + "-service.json"), svc.dump());
    aws_->json({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file(name + "-service.json")});
    services_.push_back(name);
  }
  static Json example(const std::string& file) {
    return Json::parse(testing::readTestFile(std::string(SC_SOURCE_DIR) + "/examples/demo/" + file));
  }
  void scale(const std::string& service, int n) {
    aws_->json(
        {"ecs", "update-service", "--cluster", "demo", "--service", service, "--desired-count", std::to_string(n)});
  }
  // The demo: db (3 tasks, alias db:81) and web; returns the web task.
  std::string startDemo() {
    createService(example("db-service.json"));
    db_ = waitHealthy("db", 3);
    createService(example("web-service.json"));
    auto web = waitHealthy("web", 1);
    return web.empty() ? "" : *web.begin();
  }
  // Distinct db tasks answering `http://<alias>/` from `task`, over `n` requests.
  std::set<std::string> answers(const std::string& task, const std::string& url, int n, std::string* out = nullptr) {
    ProcessResult r = curlIn(task, std::vector<std::string>(static_cast<size_t>(n), url));
    if (out) *out = r.describe() + "\n" + r.out + r.err;
    auto ids = answerIds(r.out);
    return {ids.begin(), ids.end()};
  }

  testing::TempDir dir_;
  std::string aws_program_;
  HostState before_;
  std::unique_ptr<testing::SccontrolProcess> cp_;
  uint16_t port_ = 0;
  std::optional<testing::AwsCli> aws_;
  testing::BackgroundProcess agent_;
  bool started_ = false;
  bool run_dir_existed_ = true;
  std::vector<std::string> services_;
  std::set<std::string> db_;
};

// The demo flow, then scaling db from 3 to 5: the web task that already runs reaches all five
// within a second of the new tasks being RUNNING.
TEST_F(AgentE2eTest, DemoFlowThenScaledDbTasksAreReachedAtOnce) {
  const std::string web = startDemo();
  ASSERT_FALSE(web.empty());
  ASSERT_EQ(db_.size(), 3u);

  std::string out;
  EXPECT_EQ(answers(web, "http://db:81/", 9, &out), db_) << out;
  // The long form of the alias (botocore's default dnsName, discoveryName.namespace) resolves too.
  EXPECT_EQ(answers(web, "http://db.demo:81/", 9, &out), db_) << out;

  auto status = runProcess(
      {.path = std::string(SC_BINARY_DIR) + "/agent/scagent", .args = {"status", "--config", dir_.file("agent.json")}});
  ASSERT_TRUE(status.ok() && status->success());
  for (const std::string& id : db_) EXPECT_NE(status->out.find(id), std::string::npos) << status->out;
  EXPECT_NE(status->out.find("db:81"), std::string::npos) << status->out;

  // Without --config the operator commands find this agent (its state is not the default) and
  // say so; removing kernel objects beneath it is refused and removes nothing.
  const std::string scagent = std::string(SC_BINARY_DIR) + "/agent/scagent";
  auto found = runProcess({.path = scagent, .args = {"status"}});
  ASSERT_TRUE(found.ok() && found->success()) << (found.ok() ? found->describe() + found->err : "");
  for (const std::string& id : db_) EXPECT_NE(found->out.find(id), std::string::npos) << found->out;
  EXPECT_NE(found->err.find("(the running agent, pid "), std::string::npos) << found->err;
  auto recover = runProcess({.path = scagent, .args = {"net", "recover"}});
  ASSERT_TRUE(recover.ok() && recover->success()) << (recover.ok() ? recover->describe() + recover->err : "");
  EXPECT_NE(recover->out.find("0 finding(s), 0 removed"), std::string::npos) << recover->out;
  auto remove = runProcess({.path = scagent, .args = {"net", "recover", "--remove-orphans"}});
  ASSERT_TRUE(remove.ok());
  EXPECT_EQ(remove->exit_code, 1) << remove->describe();
  EXPECT_NE(remove->err.find("; stop it first, or pass --force"), std::string::npos) << remove->err;
  auto second = runProcess({.path = scagent, .args = {"run", "--config", dir_.file("agent.json")}});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->exit_code, 1) << "a second agent on the same state directory must not start";
  EXPECT_NE(second->err.find("another scagent (pid "), std::string::npos) << second->err;

  // The agent's /metrics (on this test's unix socket): its own figures and every proxy's,
  // relabelled with the task, service, direction and discovery name.
  auto metrics = runProcess(
      {.path = "/usr/bin/curl",
       .args = {"-s", "--max-time", "10", "--unix-socket", dir_.file("metrics.sock"), "http://localhost/metrics"}});
  ASSERT_TRUE(metrics.ok() && metrics->success()) << (metrics.ok() ? metrics->describe() : "");
  const std::string& page = metrics->out;
  EXPECT_NE(page.find("scagent_tasks{state=\"RUNNING\"} 4\n"), std::string::npos) << tail(page, 3000);
  EXPECT_NE(page.find("scagent_control_plane_up 1\n"), std::string::npos);
  EXPECT_NE(page.find("scagent_task_start_seconds_count 4\n"), std::string::npos);
  // The web proxy's egress to db counted the nine requests above as 2xx responses.
  const std::string egress = "haproxy_backend_http_responses_total{namespace=\"demo\",service=\"web\",task=\"" + web +
                             "\",direction=\"egress\",discovery_name=\"db\",proxy=\"egress_db_81\",code=\"2xx\"} ";
  auto at = page.find(egress);
  ASSERT_NE(at, std::string::npos) << "no " << egress << "in the page";
  EXPECT_GE(std::stoi(page.substr(at + egress.size())), 9);
  for (const std::string& id : db_) {
    EXPECT_NE(page.find("task=\"" + id + "\",direction=\"ingress\",discovery_name=\"db\""), std::string::npos) << id;
  }

  // The control plane's view agrees: three db tasks RUNNING.
  Json svc = aws_->json({"ecs", "describe-services", "--cluster", "demo", "--services", "db"});
  EXPECT_EQ(svc["services"][0]["runningCount"], 3);

  scale("db", 5);
  const std::set<std::string> five = waitHealthy("db", 5);
  ASSERT_EQ(five.size(), 5u);
  // From the moment the agent holds all five RUNNING, the existing web task must reach every one
  // of them within a second (the bound; bench/ measures the propagation delay itself).
  const auto t0 = std::chrono::steady_clock::now();
  std::set<std::string> seen;
  while (seen != five && std::chrono::steady_clock::now() - t0 < 1s) {
    for (const auto& id : answers(web, "http://db:81/", 5)) seen.insert(id);
  }
  EXPECT_EQ(seen, five) << "the web task reached " << seen.size() << " of 5 db tasks within 1 s";
  // And round robin keeps reaching all five.
  EXPECT_EQ(answers(web, "http://db:81/", 10, &out), five) << out;
}

// A service created after web started is not resolvable in that web task (its aliases are fixed
// at its start) and is in a web task started later; a service with ingressPortOverride listens on
// the override port.
TEST_F(AgentE2eTest, LaterServicesReachOnlyNewTasksAndOverridePortsAnswer) {
  const std::string web = startDemo();
  ASSERT_FALSE(web.empty());

  Json cache = example("db-service.json");
  cache["serviceName"] = "cache";
  cache["desiredCount"] = 1;
  cache["serviceConnectConfiguration"]["services"] =
      Json::array({{{"portName", "http"},
                    {"discoveryName", "cache"},
                    {"ingressPortOverride", 15000},
                    {"clientAliases", Json::array({{{"dnsName", "cache"}, {"port", 82}}})}}});
  createService(cache);
  const auto cache_ids = waitHealthy("cache", 1);
  ASSERT_EQ(cache_ids.size(), 1u);
  const std::string cache_task = *cache_ids.begin();

  // The existing web task: `cache` does not resolve (curl exit 6); db still answers.
  ProcessResult old_web = curlIn(web, {"http://cache:82/"});
  EXPECT_EQ(old_web.exit_code, 6) << old_web.describe() << old_web.out << old_web.err;
  EXPECT_EQ(answers(web, "http://db:81/", 3), db_);

  // A web task started now knows cache.
  scale("web", 2);
  std::set<std::string> webs = waitHealthy("web", 2);
  ASSERT_EQ(webs.size(), 2u);
  webs.erase(web);
  const std::string new_web = *webs.begin();
  std::string out;
  EXPECT_EQ(answers(new_web, "http://cache:82/", 2, &out), cache_ids) << out;
  EXPECT_EQ(answers(new_web, "http://db:81/", 6, &out), db_) << out;

  // The override port answers on the cache task's address, from another task.
  auto rec = record(cache_task);
  ASSERT_TRUE(rec.has_value());
  ASSERT_TRUE(rec->facts.count("task_ip")) << "no task_ip fact";
  EXPECT_EQ(answers(new_web, "http://" + rec->facts.at("task_ip") + ":15000/", 1, &out), cache_ids) << out;
}

// The seed's minimal configuration (`services: [{portName}]`: no discovery name, no alias, so the
// endpoint is `http://http:8080`, the app's own containerPort) beside a service whose app binds
// the wildcard on that same port, and a client whose own app binds it too. Every app keeps its
// port (the proxies listen elsewhere and the alias VIPs are redirected), every task reaches
// RUNNING and HEALTHY, and a client started after them reaches both by their endpoint names.
void registerAppDefinition(testing::AwsCli& aws, const std::string& path, const std::string& family,
                           const std::string& mode) {
  Json td = Json::parse(testing::readTestFile(std::string(SC_SOURCE_DIR) + "/examples/demo/db-task-definition.json"));
  td["family"] = family;
  td["networkMode"] = mode;
  auto& c = td["containerDefinitions"][0];
  c["command"][2] = "mkdir -p /tmp/www && echo \"" + family + " task $SC_TASK_ID\" > /tmp/www/index.html && exec " +
                    "httpd -f -p 0.0.0.0:8080 -h /tmp/www";
  if (mode == "bridge") c["portMappings"][0]["hostPort"] = 0;
  testing::writeTestFile(path, td.dump());
  aws.json({"ecs", "register-task-definition", "--cli-input-json", "file://" + path});
}

class MinimalConfigurationE2eTest : public AgentE2eTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(MinimalConfigurationE2eTest, EveryAppKeepsItsPortAndTheClientReachesEachEndpoint) {
  const std::string mode = GetParam();
  registerAppDefinition(*aws_, dir_.file("api-td.json"), "api", mode);
  registerAppDefinition(*aws_, dir_.file("cache-td.json"), "cache", mode);
  registerAppDefinition(*aws_, dir_.file("client-td.json"), "client", mode);
  auto service = [&](const std::string& name, const Json& services) {
    Json svc = example("db-service.json");
    svc["serviceName"] = name;
    svc["taskDefinition"] = name;
    svc["desiredCount"] = 1;
    svc["serviceConnectConfiguration"]["services"] = services;
    if (services.empty()) svc["serviceConnectConfiguration"].erase("services");
    return svc;
  };
  createService(service("api", Json::array({{{"portName", "http"}}})));
  const auto api = waitHealthy("api", 1);
  // Its alias port is 8080, on which cache's app binds the wildcard.
  createService(
      service("cache", Json::array({{{"portName", "http"},
                                     {"discoveryName", "cache"},
                                     {"clientAliases", Json::array({{{"dnsName", "cache"}, {"port", 81}}})}}})));
  const auto cache = waitHealthy("cache", 1);
  createService(service("client", Json::array()));
  const auto client = waitHealthy("client", 1);
  ASSERT_EQ(api.size(), 1u);
  ASSERT_EQ(cache.size(), 1u);
  ASSERT_EQ(client.size(), 1u);
  // No task was replaced: the first tasks are still the only ones.
  EXPECT_EQ(loggedTasks("task RUNNING").size(), 3u) << tail(agentLog(), 4000);

  const std::string c = *client.begin();
  std::string out;
  EXPECT_EQ(answers(c, "http://http:8080/", 2, &out), api) << out;
  EXPECT_EQ(answers(c, "http://cache:81/", 2, &out), cache) << out;
  // The client's own app still answers on its own port inside its namespace.
  ProcessResult own = curlIn(c, {"http://127.0.0.1:8080/"});
  EXPECT_EQ(answerIds(own.out), std::vector<std::string>{c}) << own.describe() << own.out << own.err;
}

INSTANTIATE_TEST_SUITE_P(NetworkModes, MinimalConfigurationE2eTest, ::testing::Values("awsvpc", "bridge"));

// kill -9 of the agent under a steady load: no request fails, and the restarted agent adopts every
// task (the same proxy and app processes, no second proxy).
TEST_F(AgentE2eTest, KillNineUnderLoadLosesNoRequestAndRestartAdoptsEveryTask) {
  const std::string web = startDemo();
  ASSERT_FALSE(web.empty());
  std::map<std::string, int> proxies;  // task -> proxy pid
  for (const auto& r : records()) {
    ASSERT_TRUE(r.proxy.has_value()) << r.task_id;
    proxies[r.task_id] = r.proxy->pid;
  }
  ASSERT_EQ(proxies.size(), 4u);

  Load load(web, "http://db:81/");
  ASSERT_TRUE(waitFor([&] { return load.ok() >= 5; }, 30s));
  agent_.kill(SIGKILL);
  std::this_thread::sleep_for(2s);
  const int during = load.ok();
  startAgent();
  std::set<std::string> adopted;
  waitFor(
      [&] {
        adopted = loggedTasks("task adopted");
        return adopted.size() == proxies.size();
      },
      30s);
  std::set<std::string> all;
  for (const auto& [id, pid] : proxies) all.insert(id);
  EXPECT_EQ(adopted, all) << "the restarted agent did not log \"task adopted\" for every task";
  std::this_thread::sleep_for(2s);
  load.finish();
  EXPECT_GT(load.ok(), during) << "requests kept flowing while the agent was away";
  EXPECT_EQ(load.failed(), 0) << load.ok() << " ok; failures:\n" << load.failures();

  // Adopted, not replaced: the same proxy processes, alive, and the tasks still RUNNING.
  for (const auto& [id, pid] : proxies) {
    auto r = record(id);
    ASSERT_TRUE(r.has_value()) << id;
    EXPECT_EQ(r->status, agent::TaskStatus::kRunning) << id;
    ASSERT_TRUE(r->proxy.has_value()) << id;
    EXPECT_EQ(r->proxy->pid, pid) << "task " << id << " got a new proxy";
    EXPECT_EQ(::kill(pid, 0), 0) << "proxy " << pid << " of task " << id << " is gone";
  }
  EXPECT_EQ(healthy("db"), db_);
  std::string out;
  EXPECT_EQ(answers(web, "http://db:81/", 6, &out), db_) << out;
}

// The control plane stops for 60 s: traffic keeps flowing on the last known state, and once it is
// back the agent reconnects and no task was replaced.
TEST_F(AgentE2eTest, ControlPlaneAwayForSixtySecondsTrafficKeepsFlowing) {
  const std::string web = startDemo();
  ASSERT_FALSE(web.empty());

  Load load(web, "http://db:81/");
  ASSERT_TRUE(waitFor([&] { return load.ok() >= 5; }, 30s));
  cp_->kill(SIGTERM);
  const int before_outage = load.ok();
  std::this_thread::sleep_for(60s);
  EXPECT_GT(load.ok(), before_outage + 10) << "requests kept flowing while the control plane was away";
  EXPECT_NE(agentLog().find("control plane unreachable"), std::string::npos);
  startControlPlane("127.0.0.1:" + std::to_string(port_));
  ASSERT_TRUE(cp_->up());
  const bool back = waitFor([&] { return agentLog().find("\"control plane back\"") != std::string::npos; }, 30s);
  EXPECT_TRUE(back) << "the agent did not reconnect within 30 s";
  load.finish();
  EXPECT_EQ(load.failed(), 0) << load.ok() << " ok; failures:\n" << load.failures();

  // The same tasks run, and the control plane sees them RUNNING (the instance was not lost).
  EXPECT_EQ(healthy("db"), db_);
  Json svc = aws_->json({"ecs", "describe-services", "--cluster", "demo", "--services", "db"});
  EXPECT_EQ(svc["services"][0]["runningCount"], 3);
  Json tasks = aws_->json({"ecs", "list-tasks", "--cluster", "demo", "--service-name", "db"});
  std::set<std::string> listed;
  for (const auto& arn : tasks["taskArns"])
    listed.insert(arn.get<std::string>().substr(arn.get<std::string>().rfind('/') + 1));
  EXPECT_EQ(listed, db_);
}

// A firewall tool flushed the agent's nat chain under running tasks: the next task start finds it
// and puts the rules back in one restore, logs it and counts it.
TEST_F(AgentE2eTest, AFlushedSharedChainIsRepairedAtTheNextTaskStart) {
  createService(example("db-service.json"));
  ASSERT_EQ(waitHealthy("db", 3).size(), 3u);
  auto flush = runProcess({.path = "/usr/sbin/iptables", .args = {"-w", "-t", "nat", "-F", "SC_POSTROUTING"}});
  ASSERT_TRUE(flush.ok() && flush->success());
  scale("db", 4);
  EXPECT_EQ(waitHealthy("db", 4).size(), 4u);
  EXPECT_TRUE(waitFor([&] { return agentLog().find("host rules had drifted; repaired") != std::string::npos; }, 30s))
      << agentLog();
  EXPECT_NE(agentLog().find("nat chain SC_POSTROUTING: 2 rule(s) missing"), std::string::npos);
  auto saved = runProcess({.path = "/usr/sbin/iptables-save", .args = {"-t", "nat"}});
  ASSERT_TRUE(saved.ok());
  EXPECT_NE(saved->out.find("-A SC_POSTROUTING -s 10.226.0.0/16 ! -d 10.226.0.0/16"), std::string::npos) << saved->out;
}

// controlPlane.endpoints with a replica that is down first: the restarted agent keeps its
// registration (the endpoint it registered with is still listed), moves on to the replica that
// answers, adopts its tasks and takes new ones through it.
TEST_F(AgentE2eTest, AnAgentMovesPastAControlPlaneEndpointThatIsDownAndKeepsItsRegistration) {
  createService(example("db-service.json"));
  const std::set<std::string> db = waitHealthy("db", 3);
  ASSERT_EQ(db.size(), 3u);
  Json arns = aws_->json({"ecs", "list-container-instances", "--cluster", "demo"})["containerInstanceArns"];
  ASSERT_EQ(arns.size(), 1u);
  ASSERT_EQ(agent_.stop(10s), 0);

  Json config = Json::parse(testing::readTestFile(dir_.file("agent.json")));
  config["controlPlane"].erase("endpoint");
  config["controlPlane"]["endpoints"] = {"http://127.0.0.1:1", cp_->endpoint()};  // nothing listens on port 1
  testing::writeTestFile(dir_.file("agent.json"), config.dump());
  startAgent();
  EXPECT_TRUE(waitFor([&] { return loggedTasks("task adopted") == db; }, 60s)) << agentLog();
  EXPECT_TRUE(waitFor([&] { return agentLog().find("control plane endpoint switched") != std::string::npos; }, 30s));
  scale("db", 4);
  EXPECT_EQ(waitHealthy("db", 4).size(), 4u) << "a task placed after the switch starts";
  EXPECT_EQ(aws_->json({"ecs", "list-container-instances", "--cluster", "demo"})["containerInstanceArns"], arns)
      << "the same instance: no new registration";
  const std::string log = agentLog();  // both runs of the agent
  const size_t first = log.find("\"msg\":\"registered\"");
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(log.find("\"msg\":\"registered\"", first + 1), std::string::npos) << "the restart reused instance.json";
}

// DeregisterContainerInstance --force with a real agent: sccontrol stops the instance's tasks, the
// agent hears 410, stops them on the host and does not register again until it is restarted.
TEST_F(AgentE2eTest, DeregisteredWithForceTheAgentStopsItsTasksAndStaysOutUntilRestarted) {
  createService(example("db-service.json"));
  ASSERT_EQ(waitHealthy("db", 3).size(), 3u);
  Json arns = aws_->json({"ecs", "list-container-instances", "--cluster", "demo"})["containerInstanceArns"];
  ASSERT_EQ(arns.size(), 1u);
  const std::string arn = arns[0].get<std::string>();
  scale("db", 0);  // so the restart below has nothing to place
  Json out = aws_->json({"ecs", "deregister-container-instance", "--cluster", "demo", "--container-instance", arn,
                         "--force"});
  EXPECT_EQ(out["containerInstance"]["status"], "INACTIVE");

  EXPECT_TRUE(waitFor([&] { return activeTasks() == 0; }, 60s)) << agentLog();
  EXPECT_TRUE(waitFor([&] { return agentLog().find("this instance was deregistered") != std::string::npos; }, 30s));
  std::this_thread::sleep_for(3s);  // several poll intervals: the agent must not come back
  EXPECT_TRUE(aws_->json({"ecs", "list-container-instances", "--cluster", "demo"})["containerInstanceArns"].empty());
  EXPECT_FALSE(fs::exists(dir_.file("agent/instance.json")));

  ASSERT_EQ(agent_.stop(10s), 0);
  startAgent();
  EXPECT_TRUE(waitFor(
      [&] {
        Json now = aws_->json({"ecs", "list-container-instances", "--cluster", "demo"})["containerInstanceArns"];
        return now.size() == 1 && now[0] != arn;
      },
      30s))
      << "a restarted agent registers as a new instance";
}

// scripts/demo itself, with this build's binaries (SC_DEMO_BUILD), watched by a real Prometheus
// (Debian's /usr/bin/prometheus on a loopback port, this test's config and storage, the shipped
// rules of packaging/monitoring/): it scrapes the demo's agent, loads every rule without an error
// and records every series the dashboard shows. A service the demo did not create, and a db scaled
// to 4 (an endpoint change, so propagation is observed), are then removed by `scripts/demo --down`
// like the rest: nothing of the demo is left on the host.
class DemoE2eTest : public ::testing::Test {
 protected:
  static constexpr const char* kDemoDir = "/var/lib/scagent-demo";

  void SetUp() override {
    SC_REQUIRE_ROOT();
    ASSERT_FALSE(testing::findAwsCli().empty()) << "the aws CLI is not on PATH (scripts/setup installs it)";
    ASSERT_TRUE(fs::exists(kPrometheus)) << kPrometheus << " is missing (scripts/setup installs prometheus)";
    ASSERT_FALSE(fs::exists(kDemoDir)) << "a demo runs on this host (" << kDemoDir << "); stop it: scripts/demo --down";
    before_ = hostState();
    run_dir_existed_ = fs::exists("/run/scagent");
    cgroups_before_ = scagentCgroups();
    proxies_before_ = processesMentioning("/run/scagent/tasks/");
    started_ = true;
    ProcessResult up = demo({});
    ASSERT_TRUE(up.success()) << up.describe() << "\n" << up.out << up.err;
    demo_out_ = up.out;
    Json creds = Json::parse(testing::readTestFile(std::string(kDemoDir) + "/sccontrol/credentials"), nullptr, false);
    ASSERT_TRUE(creds.is_object() && creds.contains("accessKeys")) << "no credentials in the demo's directory";
    aws_.emplace(testing::findAwsCli(), "http://127.0.0.1:8500", creds["accessKeys"][0]["id"].get<std::string>(),
                 creds["accessKeys"][0]["secret"].get<std::string>(), dir_.path());
  }

  void TearDown() override {
    prometheus_.stop();
    if (!started_) return;
    if (fs::exists(kDemoDir)) {
      ProcessResult down = demo({"--down"});
      EXPECT_TRUE(down.success()) << down.describe() << "\n" << down.out << down.err;
    }
    if (HasFailure()) {
      std::cerr << "--- scripts/demo ---\n" << demo_out_ << "\n--- prometheus log (tail) ---\n"
                << tail(testing::readTestFile(dir_.file("prometheus.log")), 4000) << "\n";
    }
  }

  // scripts/demo [args] with this build's binaries and the test's environment (PATH finds aws).
  ProcessResult demo(const std::vector<std::string>& args) {
    std::vector<std::string> env = {"SC_DEMO_BUILD=" + std::string(SC_BINARY_DIR)};
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    std::vector<std::string> argv = {std::string(SC_SOURCE_DIR) + "/scripts/demo"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runProcess({.path = "/usr/bin/bash", .args = argv, .env = env, .timeout = 300s});
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : ProcessResult{};
  }

  static std::set<std::string> scagentCgroups() {
    std::set<std::string> out;
    for (const std::string& e : entries("/sys/fs/cgroup", true))
      if (e.find("scagent") != std::string::npos) out.insert(e);
    return out;
  }

  static uint16_t freeLoopbackPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    return port;
  }

  // Prometheus scraping the demo's agent every second, evaluating the shipped rules every second.
  void startPrometheus() {
    port_ = freeLoopbackPort();
    ASSERT_NE(port_, 0);
    testing::writeTestFile(dir_.file("prometheus.yml"),
                           "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                           "rule_files:\n  - " + std::string(SC_SOURCE_DIR) + "/packaging/monitoring/scagent.rules.yml\n"
                           "scrape_configs:\n  - job_name: scagent\n    static_configs:\n"
                           "      - targets: ['127.0.0.1:9464']\n");
    prometheus_.start({kPrometheus, "--config.file=" + dir_.file("prometheus.yml"),
                       "--storage.tsdb.path=" + dir_.file("prometheus-data"),
                       "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
                      dir_.file("prometheus.log"));
  }

  // GET <path> of Prometheus's HTTP API with the given query parameters; null when it does not answer.
  Json api(const std::string& path, const std::vector<std::string>& params = {}) {
    std::vector<std::string> args = {"-s", "--max-time", "5", "-G"};
    for (const std::string& p : params) {
      args.push_back("--data-urlencode");
      args.push_back(p);
    }
    args.push_back("http://127.0.0.1:" + std::to_string(port_) + path);
    auto r = runProcess({.path = "/usr/bin/curl", .args = args});
    if (!r.ok() || !r->success()) return nullptr;
    Json j = Json::parse(r->out, nullptr, false);
    return j.is_object() && j.value("status", "") == "success" ? j["data"] : Json();
  }
  // The result vector of an instant query (empty when there is none yet).
  Json query(const std::string& promql) {
    Json d = api("/api/v1/query", {"query=" + promql});
    return d.is_object() && d.contains("result") ? d["result"] : Json::array();
  }
  std::string value(const std::string& promql) {
    Json r = query(promql);
    return r.size() == 1 ? r[0]["value"][1].get<std::string>() : "";
  }

  static std::string tail(const std::string& s, size_t n) { return s.size() > n ? s.substr(s.size() - n) : s; }

  static constexpr const char* kPrometheus = "/usr/bin/prometheus";
  testing::TempDir dir_;
  HostState before_;
  bool run_dir_existed_ = true, started_ = false;
  std::set<std::string> cgroups_before_;
  std::vector<std::string> proxies_before_;
  std::string demo_out_;
  std::optional<testing::AwsCli> aws_;
  testing::BackgroundProcess prometheus_;
  uint16_t port_ = 0;
};

TEST_F(DemoE2eTest, PrometheusScrapesTheDemoAndDownRemovesEveryServiceAddedToIt) {
  // The demo's own check: db answers from inside the web task (9 requests).
  EXPECT_NE(demo_out_.find("db task "), std::string::npos) << demo_out_;

  startPrometheus();
  ASSERT_TRUE(waitFor([&] { return value("scagent_tasks{job=\"scagent\",state=\"RUNNING\"}") == "4"; }, 60s, 500ms))
      << "Prometheus did not scrape the demo's agent (4 tasks RUNNING): "
      << query("scagent_tasks{job=\"scagent\"}").dump();
  EXPECT_EQ(value("scagent_control_plane_up{job=\"scagent\",instance=\"127.0.0.1:9464\"}"), "1");

  // A service the demo does not know, and an endpoint change in namespace demo.
  Json extra = {{"cluster", "demo"},
                {"serviceName", "extra"},
                {"taskDefinition", "db"},
                {"desiredCount", 1},
                {"serviceConnectConfiguration",
                 {{"enabled", true},
                  {"namespace", "demo"},
                  {"services",
                   {{{"portName", "http"},
                     {"discoveryName", "extra"},
                     {"clientAliases", {{{"dnsName", "extra"}, {"port", 82}}}}}}}}}};
  testing::writeTestFile(dir_.file("extra-service.json"), extra.dump());
  aws_->json({"ecs", "create-service", "--cli-input-json", "file://" + dir_.file("extra-service.json")});
  aws_->json({"ecs", "update-service", "--cluster", "demo", "--service", "db", "--desired-count", "4"});
  ASSERT_TRUE(waitFor([&] { return value("scagent_tasks{job=\"scagent\",state=\"RUNNING\"}") == "6"; }, 90s, 500ms))
      << query("scagent_tasks{job=\"scagent\"}").dump();

  // Traffic from the web task to db while Prometheus watches, so the endpoint rates are not 0.
  Json tasks = aws_->json({"ecs", "list-tasks", "--cluster", "demo", "--service-name", "web"});
  ASSERT_EQ(tasks["taskArns"].size(), 1u);
  const std::string web = tasks["taskArns"][0].get<std::string>().substr(tasks["taskArns"][0].get<std::string>().rfind('/') + 1);
  const std::string rate = "namespace_discovery_name:haproxy_backend_http_requests:rate1m{namespace=\"demo\",discovery_name=\"db\"}";
  const bool flowing = waitFor(
      [&] {
        curlIn(web, std::vector<std::string>(5, "http://db:81/"));
        const std::string v = value(rate);
        return !v.empty() && v != "0" && v != "NaN";
      },
      60s, 200ms);
  EXPECT_TRUE(flowing) << rate << " = " << query(rate).dump();

  // Every recording rule yields a series from the demo's agent and proxies, and every rule of the
  // shipped file was loaded and evaluated without an error.
  for (const char* record :
       {"namespace_discovery_name:haproxy_backend_http_requests:rate1m{discovery_name=\"db\"}",
        "namespace_discovery_name_code:haproxy_backend_http_responses:rate1m{discovery_name=\"db\",code=\"2xx\"}",
        "namespace_discovery_name:haproxy_backend_http_responses_5xx:ratio_rate5m{discovery_name=\"db\"}",
        "namespace_discovery_name:haproxy_backend_response_time_average_seconds:avg{discovery_name=\"db\"}",
        "namespace_discovery_name:haproxy_backend_response_time_average_seconds:max{discovery_name=\"db\"}",
        "namespace_service:haproxy_frontend_http_requests:rate1m{service=\"db\"}",
        "instance_namespace:scagent_propagation_seconds:p99_5m{namespace=\"demo\"}",
        "instance:scagent_task_start_seconds:p95_5m{instance=\"127.0.0.1:9464\"}"}) {
    EXPECT_TRUE(waitFor([&] { return query(record).size() == 1; }, 30s, 500ms)) << record << ": " << query(record).dump();
  }
  Json groups;
  std::set<std::string> names, unhealthy;
  const bool evaluated = waitFor(
      [&] {
        groups = api("/api/v1/rules");
        names.clear();
        unhealthy.clear();
        if (!groups.is_object()) return false;
        for (const Json& g : groups["groups"]) {
          names.insert(g.value("name", ""));
          for (const Json& r : g["rules"])
            if (r.value("health", "") != "ok") unhealthy.insert(r.value("name", "") + ": " + r.value("lastError", ""));
        }
        return names.size() == 3 && unhealthy.empty();
      },
      30s, 500ms);
  EXPECT_TRUE(evaluated) << "groups: " << join(std::vector<std::string>(names.begin(), names.end()), ", ")
                         << "; not ok: " << join(std::vector<std::string>(unhealthy.begin(), unhealthy.end()), "; ");
  EXPECT_EQ(names, (std::set<std::string>{"scagent-endpoints", "scagent-agent", "scagent-alerts"}));
  size_t rules = 0;
  if (groups.is_object())
    for (const Json& g : groups["groups"]) rules += g["rules"].size();
  EXPECT_EQ(rules, 13u);
  EXPECT_EQ(prometheus_.stop(), 0) << "prometheus did not exit cleanly on SIGTERM";

  // --down deletes web, db and extra, stops the agent and the control plane, and removes the rest.
  ProcessResult down = demo({"--down"});
  ASSERT_TRUE(down.success()) << down.describe() << "\n" << down.out << down.err;
  std::set<std::string> deleted;
  for (const std::string& line : split(down.out, '\n')) {
    const std::string step = "== deleting the services (";
    if (!line.starts_with(step) || !line.ends_with(")")) continue;
    for (const std::string& w : split(line.substr(step.size(), line.size() - step.size() - 1), ' ')) deleted.insert(w);
  }
  EXPECT_EQ(deleted, (std::set<std::string>{"db", "extra", "web"})) << down.out;
  EXPECT_EQ(down.err.find("warning"), std::string::npos) << down.err;
  EXPECT_FALSE(fs::exists(kDemoDir));
  expectSameHost(before_, hostState());
  EXPECT_EQ(scagentCgroups(), cgroups_before_) << "scagent cgroups";
  EXPECT_EQ(processesMentioning(kDemoDir), std::vector<std::string>{});
  EXPECT_EQ(processesMentioning("/run/scagent/tasks/"), proxies_before_) << "proxies";
  if (!run_dir_existed_) {
    EXPECT_FALSE(fs::exists("/run/scagent")) << "/run/scagent is left";
  }
}

}  // namespace
}  // namespace sc
