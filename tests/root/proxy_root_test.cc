// The proxy with real namespaces, cgroups, HAProxy and traffic. Topology (tests/support/proxy_net_fixture):
// one client task and three server tasks on a private bridge, each with its own proxy. Servers run
// busybox httpd on containerPort 80; their proxies listen on 40080 (intercepted: REDIRECT 80 ->
// 40080) and on the override port 99. The client's proxy binds db:81 on VIP 127.255.0.3.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <thread>

#include "agent/proxy_identity.h"
#include "agent/task_steps.h"
#include "common/clock.h"
#include "common/file.h"
#include "common/http_client.h"
#include "common/process.h"
#include "common/strings.h"
#include "health/health.h"
#include "health/proxy_prober.h"
#include "inject/proxy_instance.h"
#include "tests/support/golden.h"
#include "tests/support/proxy_net_fixture.h"
#include "tests/support/root_guard.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

using namespace std::chrono_literals;
using inject::ProxyInstance;
using inject::ProxyInstanceSpec;

constexpr int kContainerPort = 80;
constexpr int kListenerPort = 40080;
constexpr int kOverridePort = 99;
constexpr int64_t kProxyMemoryMib = 64;
constexpr const char* kVip = "127.255.0.3";

std::string orEmpty(const Result<std::string>& r) { return r.ok() ? *r : std::string(); }

std::string statusField(pid_t pid, const std::string& key) {
  auto text = readFile("/proc/" + std::to_string(pid) + "/status");
  if (!text.ok()) return "";
  for (const std::string& line : split(*text, '\n')) {
    if (line.starts_with(key + ":")) return std::string(trim(std::string_view(line).substr(key.size() + 1)));
  }
  return "";
}

// Runs `op` in a child as `uid`/`gid` (no supplementary groups, no capabilities: what a compromised
// proxy of that identity is) and returns what it returned: 0 or an errno. `op` makes system calls
// only (this process has threads).
int errnoAs(uid_t uid, const std::function<int()>& op) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    int err = EPERM;
    if (::setgroups(0, nullptr) == 0 && ::setresgid(uid, uid, uid) == 0 && ::setresuid(uid, uid, uid) == 0) err = op();
    ::_exit(::write(fds[1], &err, sizeof err) == sizeof err ? 0 : 1);
  }
  ::close(fds[1]);
  int err = -1;
  if (pid < 0 || ::read(fds[0], &err, sizeof err) != sizeof err) err = -1;
  ::close(fds[0]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  return err;
}

std::function<int()> connectTo(const std::string& path) {
  auto addr = std::make_shared<sockaddr_un>();
  addr->sun_family = AF_UNIX;
  std::strncpy(addr->sun_path, path.c_str(), sizeof addr->sun_path - 1);
  return [addr] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(addr.get()), sizeof *addr);
    return rc == 0 ? 0 : errno;
  };
}

std::function<int()> openAt(const std::string& path, int flags) {
  return [path, flags] {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NONBLOCK);
    return fd >= 0 ? 0 : errno;
  };
}

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t type = 0;
  mode_t perms = 0;
};
Owner ownerOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {static_cast<uid_t>(-1), static_cast<gid_t>(-1), 0, 0};
  return {st.st_uid, st.st_gid, st.st_mode & S_IFMT, st.st_mode & 07777};
}

struct Task {
  std::string name;
  std::string netns;
  std::unique_ptr<ProxyInstance> proxy;
  std::unique_ptr<health::ProxyProber> prober;
  std::unique_ptr<health::HealthMonitor> monitor;
  std::unique_ptr<testing::BackgroundProcess> app;

  bool waitHealthy(std::chrono::milliseconds deadline) {
    return monitor->runUntil([&] { return monitor->state() == health::HealthState::kHealthy; }, deadline);
  }
};

class ProxyRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SC_REQUIRE_ROOT();
    net_ = std::make_unique<testing::NetFixture>();
    hosts_file_ = tmp_.file("hosts");
    testing::writeTestFile(hosts_file_, "127.0.0.1 localhost\n" + std::string(kVip) + " db\n");
  }

  void TearDown() override {
    for (auto& [name, t] : tasks_) {
      if (t.proxy) {
        EXPECT_TRUE(t.proxy->destroy().ok());
      }
      t.app.reset();
    }
    tasks_.clear();
    net_.reset();
  }

  // Without `own_uid`: the layout of records from before per-task uids (uid 20000, everything in
  // the task directory). With it: as the agent starts proxies now (agent/proxy_identity.h), the
  // task directory root's, the sockets in its proxy/, /run/scagent hidden but for the task's own.
  ProxyInstanceSpec spec(const std::string& name, inject::ProxyConfig config,
                         std::optional<uid_t> own_uid = std::nullopt) {
    ProxyInstanceSpec s;
    config.task_id = net_->prefix() + name;
    config.run_dir = "/run/scagent/tasks/" + net_->prefix() + name;
    if (own_uid) {
      config.state_dir = config.run_dir;
      config.run_dir += "/proxy";
      s.uid = *own_uid;
      s.gid = *own_uid;
      // The test's own directory too: beneath /tmp, it is out of the proxy's sight already.
      s.hidden_dirs = {"/run/scagent", tmp_.path()};
    }
    s.config = std::move(config);
    s.netns_path = net_->netnsPath(name);
    s.hosts_file = hosts_file_;
    s.hostname = name;
    s.cgroup = {.task_cgroup = "scagent-" + net_->prefix() + name,
                .task_memory_bytes = 512ll << 20,
                .cpu_shares = 512,
                .proxy_memory_bytes = kProxyMemoryMib << 20};
    return s;
  }

  Task& startTask(const std::string& name, int host, inject::ProxyConfig config, bool app,
                  std::optional<uid_t> own_uid = std::nullopt) {
    Task& t = tasks_[name];
    t.name = name;
    t.netns = net_->addTask(name, host);
    if (app) t.app = testing::startHttpd(t.netns, tmp_.file("www-" + name), name, kContainerPort);
    auto p = ProxyInstance::start(spec(name, std::move(config), own_uid));
    EXPECT_TRUE(p.ok()) << p.error().message;
    if (!p.ok()) return t;
    t.proxy = std::move(*p);
    t.prober = std::make_unique<health::ProxyProber>(*t.proxy);
    t.monitor = std::make_unique<health::HealthMonitor>(*t.prober, *t.prober, realClock());
    EXPECT_TRUE(t.waitHealthy(5s)) << name << ": " << t.monitor->lastFacts().detail << "\n"
                                   << orEmpty(readFile(t.proxy->logPath()));
    return t;
  }

  Task& startServer(const std::string& name, int host, std::optional<uid_t> own_uid = std::nullopt) {
    inject::ProxyConfig c;
    c.ingress.push_back({.name = "ingress-http",
                         .discovery_names = {"db"},
                         .listener_port = kListenerPort,
                         .container_port = kContainerPort,
                         .protocol = inject::ProxyProtocol::kHttp});
    c.ingress.push_back({.name = "ingress-override",
                         .discovery_names = {"db-direct"},
                         .listener_port = kOverridePort,
                         .container_port = kContainerPort,
                         .protocol = inject::ProxyProtocol::kHttp});
    Task& t = startTask(name, host, c, true, own_uid);
    net_->addRedirect(name, kContainerPort, kListenerPort);
    return t;
  }

  Task& startClient(const std::vector<std::string>& servers) {
    inject::ProxyConfig c;
    inject::EgressSpec e{
        .dns_name = "db", .vip = kVip, .port = 81, .discovery_name = "db", .protocol = inject::ProxyProtocol::kHttp};
    for (const std::string& s : servers) e.upstreams.push_back({net_->address(s), kContainerPort, s});
    c.egress.push_back(e);
    return startTask("client", 2, c, false);
  }

  std::vector<inject::Upstream> upstreams(const std::vector<std::string>& servers) {
    std::vector<inject::Upstream> u;
    for (const std::string& s : servers) u.push_back({net_->address(s), kContainerPort, s});
    return u;
  }

  std::string dbUrl(const std::string& path = "/id") { return std::string("http://") + kVip + ":81" + path; }

  testing::TempDir tmp_;
  std::unique_ptr<testing::NetFixture> net_;
  std::string hosts_file_;
  std::map<std::string, Task> tasks_;
};

TEST_F(ProxyRootTest, ClientReachesDbThroughBothProxiesAndSpreadsOverThreeServers) {
  startServer("s1", 11);
  startServer("s2", 12);
  startServer("s3", 13);
  Task& client = startClient({"s1", "s2", "s3"});
  ASSERT_EQ(client.monitor->state(), health::HealthState::kHealthy);

  std::map<std::string, int> seen;
  for (const auto& r : testing::getInNetns(client.netns, dbUrl(), 30)) {
    ASSERT_EQ(r.status, 200) << r.error;
    ++seen[r.body];
  }
  EXPECT_EQ(seen.size(), 3u);
  for (const auto& [id, n] : seen) EXPECT_GE(n, 5) << id;

  // Every request passed the server's intercepting ingress (containerPort 80 -> listener 40080).
  auto m = httpRequest({.url = "http://localhost/metrics",
                        .unix_socket = inject::httpSocketPath(tasks_["s1"].proxy->spec().config.run_dir)});
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->body.find("haproxy_frontend_http_requests_total{proxy=\"ingress_http\"} " + std::to_string(seen["s1"])),
            std::string::npos);

  // The override port reaches the server's proxy directly (no interception rule for it).
  auto direct = testing::getInNetns(client.netns, "http://" + net_->address("s2") + ":99/id", 1);
  EXPECT_EQ(direct[0].status, 200);
  EXPECT_EQ(direct[0].body, "s2");
  m = httpRequest({.url = "http://localhost/metrics",
                   .unix_socket = inject::httpSocketPath(tasks_["s2"].proxy->spec().config.run_dir)});
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->body.find("haproxy_frontend_http_requests_total{proxy=\"ingress_override\"} 1"), std::string::npos);
}

TEST_F(ProxyRootTest, SandboxCgroupSeccompCapabilitiesUidAndMounts) {
  Task& s = startServer("s1", 11);
  ASSERT_TRUE(s.proxy);
  const pid_t pid = s.proxy->container().pid();
  EXPECT_EQ(statusField(pid, "Seccomp"), "2");
  EXPECT_EQ(statusField(pid, "CapEff"), "0000000000000400");
  EXPECT_EQ(statusField(pid, "CapPrm"), "0000000000000400");
  EXPECT_EQ(statusField(pid, "CapBnd"), "0000000000000400");
  EXPECT_EQ(statusField(pid, "NoNewPrivs"), "1");
  EXPECT_TRUE(statusField(pid, "Uid").starts_with("20000\t20000\t20000"));
  EXPECT_TRUE(statusField(pid, "Gid").starts_with("20000\t20000\t20000"));
  // PID namespace: the proxy is pid 1 of its own namespace.
  EXPECT_EQ(statusField(pid, "NSpid").substr(statusField(pid, "NSpid").rfind('\t') + 1), "1");
  // The proxy cgroup's limit is the carve; the proxy and its worker are in it.
  auto limit = s.proxy->cgroup().proxyMemoryLimit();
  ASSERT_TRUE(limit.ok()) << limit.error().message;
  EXPECT_EQ(*limit, kProxyMemoryMib << 20);
  auto task_limit = s.proxy->cgroup().taskMemoryLimit();
  ASSERT_TRUE(task_limit.ok());
  EXPECT_EQ(*task_limit, 512ll << 20);
  auto pids = s.proxy->cgroup().proxyPids();
  ASSERT_TRUE(pids.ok());
  EXPECT_GE(pids->size(), 2u);  // master and worker
  EXPECT_NE(std::find(pids->begin(), pids->end(), pid), pids->end());
  // Mounts, seen through the proxy's own mount namespace.
  const std::string root = "/proc/" + std::to_string(pid) + "/root";
  EXPECT_EQ(orEmpty(readFile(root + "/etc/hosts")), orEmpty(readFile(hosts_file_)));
  EXPECT_EQ(readFile("/proc/" + std::to_string(pid) + "/net/tcp").ok(), true);
  auto mounts = readFile("/proc/" + std::to_string(pid) + "/mountinfo");
  ASSERT_TRUE(mounts.ok());
  bool root_ro = false, tmp_rw = false;
  for (const std::string& line : split(*mounts, '\n')) {
    std::vector<std::string> f = split(line, ' ');
    if (f.size() < 6) continue;
    if (f[4] == "/" && f[5].starts_with("ro")) root_ro = true;
    if (f[4] == "/tmp" && f[5].starts_with("rw")) tmp_rw = true;
  }
  EXPECT_TRUE(root_ro);
  EXPECT_TRUE(tmp_rw);
}

// The proxy's sandbox, as ProxyInstance launches HAProxy in it (uid 20000, NET_BIND_SERVICE only,
// the host's root read-only, the task's network namespace, the same seccomp filter), refuses what
// the apps' does: the static probe of the app sandbox tests (tests/support/clone_probe.cc) runs in
// it with and without the filter; without it (the control) the kernel answers otherwise.
TEST_F(ProxyRootTest, TheProxySandboxRefusesNamespacesIoUringBpfKeyctlAndUnlistedCalls) {
  net_->addTask("probe", 20);
  const std::string run_dir = "/run/scagent/tasks/" + net_->prefix() + "probe";
  // The sandbox's /tmp is its own tmpfs, so a build tree under /tmp (a clean clone there) is not
  // visible inside: the probe runs from the run directory, which is.
  std::filesystem::create_directories(run_dir);
  const std::string probe_bin = run_dir + "/sc_clone_probe";
  std::filesystem::copy_file(std::string(SC_BINARY_DIR) + "/tests/root/sc_clone_probe", probe_bin,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(probe_bin, std::filesystem::perms(0755));
  auto probe = [&](bool seccomp) {
    inject::ContainerSpec cs;
    cs.name = "probe in the proxy sandbox";
    cs.netns_path = net_->netnsPath("probe");
    cs.hostname = "probe";
    cs.hosts_file = hosts_file_;
    cs.run_dir = run_dir;
    cs.log_file = run_dir + (seccomp ? "/filtered.log" : "/unfiltered.log");
    cs.binary = probe_bin;
    cs.uid = inject::kProxyUid;
    cs.gid = inject::kProxyGid;
    cs.seccomp = seccomp;
    auto c = inject::Container::launch(cs, {});
    EXPECT_TRUE(c.ok()) << c.error().message;
    if (!c.ok()) return std::string();
    if (!c->waitExit(20s)) {
      ADD_FAILURE() << "the probe did not exit";
      (void)c->signal(SIGKILL);
      c->waitExit(5s);
    }
    c->reap(2s);
    return orEmpty(readFile(cs.log_file));
  };
  const std::string out = probe(true);
  const std::string control = probe(false);
  std::filesystem::remove_all(run_dir);
  for (const char* line : {"clone NEWUSER: EPERM", "clone NEWNET: EPERM", "clone plain: allowed",
                           "clone3 NEWUSER: ENOSYS", "unshare NEWUSER: EPERM", "io_uring_setup: EPERM", "bpf: EPERM",
                           "keyctl: EPERM", "get_mempolicy: EPERM", "probe done"}) {
    EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
  }
  for (const char* line :
       {"clone NEWUSER: allowed", "clone plain: allowed", "clone3 NEWUSER: allowed", "unshare NEWUSER: allowed",
        "io_uring_setup: allowed", "bpf: EINVAL", "keyctl: allowed", "get_mempolicy: allowed", "probe done"}) {
    EXPECT_NE(control.find(line), std::string::npos) << line << "\n" << control;
  }
}

TEST_F(ProxyRootTest, MembershipChangesUnderLoadLoseNothingAndNeverRestart) {
  startServer("s1", 11);
  startServer("s2", 12);
  startServer("s3", 13);
  Task& client = startClient({"s1", "s2"});
  ASSERT_TRUE(client.proxy);
  const pid_t pid = client.proxy->container().pid();

  testing::LoadLoop load(client.netns, dbUrl());
  std::this_thread::sleep_for(300ms);
  auto added = client.proxy->driver().applyMembership({{"db", 81, upstreams({"s1", "s2", "s3"})}});
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_FALSE(added->reloaded);
  EXPECT_EQ(added->commands, 2u);
  std::this_thread::sleep_for(300ms);
  auto removed = client.proxy->driver().applyMembership({{"db", 81, upstreams({"s2", "s3"})}});
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_FALSE(removed->reloaded);
  // s1 is out of rotation; stopping it now must not fail a request.
  std::this_thread::sleep_for(100ms);
  tasks_["s1"].app->stop();
  std::this_thread::sleep_for(300ms);
  // Idempotent: the same membership again sends nothing.
  auto again = client.proxy->driver().applyMembership({{"db", 81, upstreams({"s2", "s3"})}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->commands, 0u);
  load.stop();

  EXPECT_EQ(load.failed(), 0) << (load.errors().empty() ? "" : load.errors()[0]);
  EXPECT_GT(load.ok(), 50);
  EXPECT_GT(load.bodies()["s3"], 0);
  EXPECT_EQ(client.proxy->container().pid(), pid);  // no restart
  EXPECT_TRUE(client.proxy->container().running());
  auto applied = client.proxy->driver().membershipApplied();
  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(*applied);
}

TEST_F(ProxyRootTest, SlotsRunningOutReloadsHitlessly) {
  for (const char* s : {"s1", "s2", "s3"}) startServer(s, 10 + (s[1] - '0'));
  inject::ProxyConfig c;
  inject::EgressSpec e{.dns_name = "db",
                       .vip = kVip,
                       .port = 81,
                       .discovery_name = "db",
                       .protocol = inject::ProxyProtocol::kHttp,
                       .upstreams = upstreams({"s1"}),
                       .slots = 1};
  c.egress.push_back(e);
  Task& client = startTask("client", 2, c, false);
  ASSERT_TRUE(client.proxy);
  const pid_t pid = client.proxy->container().pid();
  testing::LoadLoop load(client.netns, dbUrl());
  std::this_thread::sleep_for(200ms);
  auto r = client.proxy->driver().applyMembership({{"db", 81, upstreams({"s1", "s2", "s3"})}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->reloaded);
  std::this_thread::sleep_for(1000ms);
  load.stop();
  EXPECT_EQ(load.failed(), 0) << (load.errors().empty() ? "" : load.errors()[0]);
  EXPECT_EQ(client.proxy->container().pid(), pid);  // the master stays; workers change
  EXPECT_GT(load.bodies()["s3"], 0);
}

TEST_F(ProxyRootTest, KilledProxyIsHealthyAgainWithinTwoSeconds) {
  Task& s = startServer("s1", 11);
  ASSERT_TRUE(s.proxy);
  const pid_t old_pid = s.proxy->container().pid();
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);
  const auto t0 = std::chrono::steady_clock::now();
  // The monitor notices through the pidfd, restarts with backoff, and probes until HEALTHY.
  EXPECT_TRUE(s.monitor->runUntil(
      [&] { return s.proxy->container().pid() != old_pid && s.monitor->state() == health::HealthState::kHealthy; }, 2s))
      << s.monitor->lastFacts().detail;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "healthy again after " << ms << " ms\n";
  EXPECT_EQ(s.monitor->restarts(), 1);
  // And it serves again.
  auto r = testing::getInNetns(s.netns, "http://127.0.0.1:99/id", 1);
  EXPECT_EQ(r[0].status, 200);
}

// The run directory is the proxy uid's. What a compromised proxy plants there must not steer the
// root agent: a symlink at proxy.log is not followed on restart (the restart fails, the file the
// link names is untouched), and a FIFO at proxy.state does not block adoption (it fails at once).
TEST_F(ProxyRootTest, ASymlinkAtTheLogAndAFifoAtTheStateDoNotSteerTheAgent) {
  Task& s = startServer("s1", 11);
  ASSERT_TRUE(s.proxy);
  const std::string run_dir = s.proxy->spec().config.run_dir;
  const std::string victim = tmp_.file("victim");
  testing::writeTestFile(victim, "untouched");
  ASSERT_EQ(::unlink((run_dir + "/proxy.log").c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), (run_dir + "/proxy.log").c_str()), 0);
  auto restarted = s.proxy->restart();
  ASSERT_FALSE(restarted.ok());
  EXPECT_NE(restarted.error().message.find("symlink"), std::string::npos) << restarted.error().message;
  EXPECT_EQ(orEmpty(readFile(victim)), "untouched");

  ASSERT_EQ(::unlink((run_dir + "/proxy.state").c_str()), 0);
  ASSERT_EQ(::mkfifo((run_dir + "/proxy.state").c_str(), 0600), 0);
  // A blocking open would hang here (and the test would time out).
  auto adopted = ProxyInstance::adopt(s.proxy->spec());
  ASSERT_FALSE(adopted.ok());
  EXPECT_NE(adopted.error().message.find("not a regular file"), std::string::npos) << adopted.error().message;
}

// Each task's proxy has its own uid (issue 12): task A's proxy identity cannot connect to task B's
// admin or master socket, nor read B's task directory, even on the host's view of the files; and in
// its real sandbox A does not even see B's directory (the agent's run root is hidden but for A's own).
TEST_F(ProxyRootTest, OneTasksProxyCannotReachAnothersSocketsOrTaskDirectory) {
  constexpr uid_t kUidA = 20011, kUidB = 20012;
  Task& a = startServer("s1", 11, kUidA);
  Task& b = startServer("s2", 12, kUidB);
  ASSERT_TRUE(a.proxy && b.proxy);
  const pid_t a_pid = a.proxy->container().pid();
  EXPECT_TRUE(statusField(a_pid, "Uid").starts_with("20011\t20011\t20011")) << statusField(a_pid, "Uid");
  EXPECT_TRUE(statusField(a_pid, "Gid").starts_with("20011\t20011\t20011"));
  EXPECT_TRUE(statusField(b.proxy->container().pid(), "Uid").starts_with("20012\t20012\t20012"));

  // Who owns what: the task directory root's (group: the task's proxy), the sockets the proxy's.
  const std::string a_state = a.proxy->stateDir(), a_run = a.proxy->spec().config.run_dir;
  const std::string b_state = b.proxy->stateDir(), b_run = b.proxy->spec().config.run_dir;
  Owner o = ownerOf(a_state);
  EXPECT_TRUE(o.uid == 0 && o.gid == kUidA && o.type == S_IFDIR && o.perms == 0710) << o.uid << " " << o.perms;
  o = ownerOf(a_run);
  EXPECT_TRUE(o.uid == kUidA && o.type == S_IFDIR && o.perms == 0700) << o.uid << " " << o.perms;
  for (const std::string& sock :
       {inject::adminSocketPath(a_run), inject::masterSocketPath(a_run), inject::httpSocketPath(a_run)}) {
    o = ownerOf(sock);
    EXPECT_TRUE(o.uid == kUidA && o.type == S_IFSOCK && o.perms == 0600) << sock << " " << o.uid << " " << o.perms;
  }
  for (auto [file, perms] : {std::pair{inject::configPath(a_state), 0644}, std::pair{a.proxy->recordPath(), 0600},
                             std::pair{a.proxy->logPath(), 0640}}) {
    o = ownerOf(file);
    EXPECT_TRUE(o.uid == 0 && o.type == S_IFREG && o.perms == static_cast<mode_t>(perms)) << file << " " << o.uid;
  }

  // A's identity on the host's view (permissions alone). The control first: its own socket works.
  EXPECT_EQ(errnoAs(kUidA, connectTo(inject::adminSocketPath(a_run))), 0);
  EXPECT_EQ(errnoAs(kUidA, connectTo(inject::adminSocketPath(b_run))), EACCES);
  EXPECT_EQ(errnoAs(kUidA, connectTo(inject::masterSocketPath(b_run))), EACCES);
  EXPECT_EQ(errnoAs(kUidA, connectTo(inject::httpSocketPath(b_run))), EACCES);
  EXPECT_EQ(errnoAs(kUidA, openAt(b_run, O_RDONLY | O_DIRECTORY)), EACCES);
  EXPECT_EQ(errnoAs(kUidA, openAt(b_state, O_RDONLY | O_DIRECTORY)), EACCES);
  EXPECT_EQ(errnoAs(kUidA, openAt(inject::configPath(b_state), O_RDONLY)), EACCES);
  // The uid every proxy shared before (a proxy adopted from an old record) is refused as well.
  EXPECT_EQ(errnoAs(inject::kProxyUid, connectTo(inject::adminSocketPath(b_run))), EACCES);

  // The real proxy's mount view: /run/scagent/tasks holds A's directory only.
  std::vector<std::string> seen;
  const std::string view = "/proc/" + std::to_string(a_pid) + "/root/run/scagent/tasks";
  for (const auto& e : std::filesystem::directory_iterator(view)) seen.push_back(e.path().filename().string());
  EXPECT_EQ(seen, std::vector<std::string>{net_->prefix() + "s1"}) << join(seen, " ");

  // A program in A's sandbox (A's uid, A's view, the seccomp filter) tries B's sockets: not there.
  const std::string probe_bin = a_run + "/sc_clone_probe";
  std::filesystem::copy_file(std::string(SC_BINARY_DIR) + "/tests/root/sc_clone_probe", probe_bin);
  std::filesystem::permissions(probe_bin, std::filesystem::perms(0755));
  inject::ContainerSpec cs;
  cs.name = "probe in proxy A's sandbox";
  cs.netns_path = net_->netnsPath("s1");
  cs.hosts_file = hosts_file_;
  cs.run_dir = a_run;
  cs.view_dir = a_state;
  cs.hidden_dirs = {"/run/scagent"};
  cs.log_file = a_state + "/probe.log";
  cs.binary = probe_bin;
  cs.args = {"paths",
             inject::adminSocketPath(a_run),
             inject::adminSocketPath(b_run),
             inject::masterSocketPath(b_run),
             b_state,
             "/run/scagent/tasks"};
  cs.uid = kUidA;
  cs.gid = kUidA;
  auto c = inject::Container::launch(cs, {});
  ASSERT_TRUE(c.ok()) << c.error().message;
  if (!c->waitExit(20s)) {  // a failure guard only
    ADD_FAILURE() << "the probe did not exit";
    (void)c->signal(SIGKILL);
    c->waitExit(5s);
  }
  c->reap(2s);
  const std::string out = orEmpty(readFile(cs.log_file));
  for (const std::string& line :
       std::vector<std::string>{"connect " + inject::adminSocketPath(a_run) + ": allowed",
                                "connect " + inject::adminSocketPath(b_run) + ": ENOENT",
                                "connect " + inject::masterSocketPath(b_run) + ": ENOENT", "ls " + b_state + ": ENOENT",
                                "ls /run/scagent/tasks: " + net_->prefix() + "s1\n", std::string("probe done")}) {
    EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
  }

  // The confused deputy: A (its uid owns its socket directory) swaps its admin.sock for a symlink to
  // B's, so that the root agent, meaning to drain A, would disable B's frontends. The agent checks
  // who answers and sends nothing; B keeps serving.
  const std::string a_admin = inject::adminSocketPath(a_run), b_admin = inject::adminSocketPath(b_run);
  EXPECT_EQ(errnoAs(kUidA,
                    [&] {
                      if (::unlink(a_admin.c_str()) != 0) return errno;
                      return ::symlink(b_admin.c_str(), a_admin.c_str()) == 0 ? 0 : errno;
                    }),
            0);
  auto misled = a.proxy->driver().disableIngress();
  ASSERT_FALSE(misled.ok());
  EXPECT_NE(misled.error().message.find("the peer runs as uid 20012, not 20011"), std::string::npos)
      << misled.error().message;
  auto still = testing::getInNetns(b.netns, "http://127.0.0.1:99/id", 1);
  EXPECT_EQ(still[0].status, 200);
  EXPECT_EQ(still[0].body, "s2");
}

// The agent's own files of a proxy (its log, its state, its configuration) sit in the root-owned
// task directory: the proxy's identity can neither replace nor add anything there. Should a symlink
// or FIFO appear anyway (a proxy from before per-task uids writes its whole directory), the agent
// does not follow the symlink on restart and does not block on the FIFO when it adopts.
TEST_F(ProxyRootTest, TheProxyCanPlantNothingWhereTheAgentKeepsItsFiles) {
  constexpr uid_t kUid = 20011;
  Task& s = startServer("s1", 11, kUid);
  ASSERT_TRUE(s.proxy);
  const std::string state = s.proxy->stateDir();
  const std::string log = s.proxy->logPath(), record = s.proxy->recordPath(), cfg = inject::configPath(state);
  for (const std::string& f : {log, record, cfg}) {
    EXPECT_EQ(errnoAs(kUid, [f] { return ::unlink(f.c_str()) == 0 ? 0 : errno; }), EACCES) << f;
  }
  const std::string planted = state + "/planted";
  EXPECT_EQ(errnoAs(kUid, [planted] { return ::mkfifo(planted.c_str(), 0600) == 0 ? 0 : errno; }), EACCES);
  EXPECT_EQ(errnoAs(kUid, [planted] { return ::symlink("/etc/shadow", planted.c_str()) == 0 ? 0 : errno; }), EACCES);
  EXPECT_EQ(errnoAs(kUid, openAt(cfg, O_WRONLY)), EACCES);
  EXPECT_EQ(errnoAs(kUid, openAt(log, O_WRONLY)), EACCES);
  EXPECT_EQ(errnoAs(kUid, openAt(record, O_RDONLY)), EACCES);  // the record is root's to read, too
  EXPECT_EQ(errnoAs(kUid, openAt(cfg, O_RDONLY)), 0);          // the control: its configuration it reads

  // Planted all the same (as root here): a symlink at the log, a FIFO at the state.
  const std::string victim = tmp_.file("victim");
  testing::writeTestFile(victim, "untouched");
  ASSERT_EQ(::unlink(log.c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), log.c_str()), 0);
  auto restarted = s.proxy->restart();
  ASSERT_FALSE(restarted.ok());
  EXPECT_NE(restarted.error().message.find("symlink"), std::string::npos) << restarted.error().message;
  EXPECT_EQ(orEmpty(readFile(victim)), "untouched");
  ASSERT_EQ(::unlink(record.c_str()), 0);
  ASSERT_EQ(::mkfifo(record.c_str(), 0600), 0);
  auto adopting = std::async(std::launch::async, [&] { return ProxyInstance::adopt(s.proxy->spec()); });
  if (adopting.wait_for(30s) != std::future_status::ready) {
    // A failure guard, not a measurement: release the blocked open, then fail.
    int fd = ::open(record.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    ADD_FAILURE() << "adopting blocked on the FIFO";
  }
  auto adopted = adopting.get();
  ASSERT_FALSE(adopted.ok());
  EXPECT_NE(adopted.error().message.find("not a regular file"), std::string::npos) << adopted.error().message;
}

// The agent's proxy step (agent/task_steps.h): a task record written before per-task uids (no
// proxy_uid) is adopted as it ran, uid 20000 with the old layout, and driven and stopped through
// its sockets; a new task's proxy gets uidBase + its address offset, kept in the record, so a
// restarted agent adopts it under the same uid; a uid some process still runs as is not given out.
TEST_F(ProxyRootTest, TheAgentAdoptsOldRecordsAs20000AndGivesEachNewProxyItsOwnUid) {
  agent::ProxySettings ps;
  ps.run_root = "/run/scagent";
  ps.task_cidr = "10.77.0.0/24";
  ps.identity = {.uid_base = 20000, .uid_count = 256};
  ps.hidden_dirs = {"/run/scagent"};
  ps.drain = 1s;
  auto record = [&](const std::string& name) {
    agent::TaskRecord r;
    r.task_id = net_->prefix() + name;
    r.plan.task_id = r.task_id;
    r.plan.hostname = name;
    r.plan.carve.task_memory_mib = 512;
    r.plan.carve.proxy_memory_mib = kProxyMemoryMib;
    r.facts = {{"task_ip", net_->address(name)}, {"netns_path", net_->netnsPath(name)}, {"hosts_path", hosts_file_}};
    return r;
  };

  // As the old agent left it: its proxy at uid 20000, everything in the task directory.
  Task& old = startTask("old", 21, {}, false);
  ASSERT_TRUE(old.proxy);
  const std::string old_dir = old.proxy->spec().config.run_dir;
  agent::TaskRecord r_old = record("old");
  {
    agent::ProxyStep step(ps, realClock());
    auto adopted = step.adopt(r_old);
    ASSERT_TRUE(adopted.ok()) << adopted.error().message;
    EXPECT_TRUE(*adopted);
    EXPECT_TRUE(step.metricsPage(r_old.task_id, 2s).ok());  // its http.sock, where the old layout has it
    EXPECT_TRUE(step.prepareStop(r_old).ok());              // the runtime API: peer uid 20000 checked
    ASSERT_TRUE(step.down(r_old).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(old_dir));
  EXPECT_FALSE(*agent::uidInUse(inject::kProxyUid));
  old.monitor.reset();
  old.prober.reset();
  old.proxy.reset();

  // A new task: 10.77.0.22 in 10.77.0.0/24 is offset 22, so uid 20022.
  net_->addTask("n1", 22);
  agent::TaskRecord r_new = record("n1");
  // A process still running as that uid (an earlier proxy that outlived its teardown) holds it.
  pid_t holder = ::fork();
  if (holder == 0) {
    if (::setresgid(20022, 20022, 20022) == 0 && ::setresuid(20022, 20022, 20022) == 0) ::pause();
    ::_exit(1);
  }
  ASSERT_GT(holder, 0);
  for (int i = 0; i < 500 && !*agent::uidInUse(20022); ++i) std::this_thread::sleep_for(10ms);
  {
    agent::ProxyStep step(ps, realClock());
    auto held = step.up(r_new);
    EXPECT_FALSE(held.ok());
    if (!held.ok()) {
      EXPECT_NE(held.error().message.find("uid 20022 still has processes"), std::string::npos);
    }
  }
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  EXPECT_EQ(r_new.facts.count(agent::kProxyUidFact), 0u);
  {
    agent::ProxyStep step(ps, realClock());
    auto up = step.up(r_new);
    ASSERT_TRUE(up.ok()) << up.error().message;
  }
  EXPECT_EQ(r_new.facts[agent::kProxyUidFact], "20022");
  ASSERT_TRUE(r_new.proxy);
  EXPECT_TRUE(statusField(r_new.proxy->pid, "Uid").starts_with("20022\t20022\t20022"));
  const std::string new_dir = "/run/scagent/tasks/" + r_new.task_id;
  EXPECT_EQ(ownerOf(new_dir + "/proxy").uid, 20022u);
  // Save and load the record (as across an agent restart), then adopt under the same uid.
  auto reloaded = agent::taskRecordFromJson(agent::taskRecordToJson(r_new));
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  {
    agent::ProxyStep restarted(ps, realClock());
    auto adopted = restarted.adopt(*reloaded);
    ASSERT_TRUE(adopted.ok()) << adopted.error().message;
    EXPECT_TRUE(*adopted);
    EXPECT_TRUE(restarted.prepareStop(*reloaded).ok());  // runtime API, peer uid 20022 checked
    ASSERT_TRUE(restarted.down(*reloaded).ok());
  }
  EXPECT_EQ(reloaded->facts.count(agent::kProxyUidFact), 0u);
  EXPECT_FALSE(std::filesystem::exists(new_dir));
  EXPECT_FALSE(*agent::uidInUse(20022));
}

TEST_F(ProxyRootTest, MetricsCount2xxAnd5xxPerEndpoint) {
  startServer("s1", 11);
  startServer("s2", 12);
  Task& client = startClient({"s1", "s2"});
  for (const auto& r : testing::getInNetns(client.netns, dbUrl(), 4)) EXPECT_EQ(r.status, 200);
  for (const auto& r : testing::getInNetns(client.netns, dbUrl("/cgi-bin/fail"), 2)) EXPECT_EQ(r.status, 500);
  auto m = httpRequest(
      {.url = "http://localhost/metrics", .unix_socket = inject::httpSocketPath(client.proxy->spec().config.run_dir)});
  ASSERT_TRUE(m.ok());
  for (const char* slot : {"s1", "s2"}) {
    const std::string prefix =
        std::string("haproxy_server_http_responses_total{proxy=\"egress_db_81\",server=\"") + slot;
    EXPECT_NE(m->body.find(prefix + "\",code=\"2xx\"} 2"), std::string::npos) << slot;
    EXPECT_NE(m->body.find(prefix + "\",code=\"5xx\"} 1"), std::string::npos) << slot;
  }
}

TEST_F(ProxyRootTest, DrainStopsIngressThenTeardownLeavesNothing) {
  Task& s = startServer("s1", 11);
  ASSERT_TRUE(s.proxy);
  const pid_t pid = s.proxy->container().pid();
  const std::string run_dir = s.proxy->spec().config.run_dir;
  const std::string cg = inject::TaskCgroup::memoryDir(s.proxy->cgroup().name());
  ASSERT_TRUE(std::filesystem::exists(cg));
  // Re-adoption: a second handle (as after an agent restart) finds the same proxy.
  auto adopted = ProxyInstance::adopt(s.proxy->spec());
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  EXPECT_EQ((*adopted)->container().pid(), pid);

  ASSERT_TRUE(s.proxy->driver().disableIngress().ok());
  auto r = testing::getInNetns(s.netns, "http://127.0.0.1:99/id", 1);
  EXPECT_EQ(r[0].status, 0);  // no longer accepting
  ASSERT_TRUE(s.proxy->stop({.drain = 1s, .kill_after = 3s}, realClock()).ok());
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)));
  EXPECT_FALSE(std::filesystem::exists(run_dir));
  EXPECT_FALSE(std::filesystem::exists(cg));
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/cpu/" + s.proxy->cgroup().name()));
  // Destroy again: idempotent.
  EXPECT_TRUE(s.proxy->destroy().ok());
  s.proxy.reset();
}

TEST_F(ProxyRootTest, DrainLetsInFlightRequestsFinishAndRefusesNewOnes) {
  Task& s = startServer("s1", 11);
  ASSERT_TRUE(s.proxy);
  std::vector<testing::GetResult> slow;
  std::thread in_flight([&] { slow = testing::getInNetns(s.netns, "http://127.0.0.1:99/cgi-bin/slow", 1); });
  // Wait until the proxy counts the request on its ingress frontend.
  for (int i = 0; i < 200; ++i) {
    auto n = s.proxy->driver().ingressSessions();
    if (n.ok() && *n > 0) break;
    std::this_thread::sleep_for(5ms);
  }
  std::vector<testing::GetResult> refused;
  std::thread late([&] {
    std::this_thread::sleep_for(300ms);
    refused = testing::getInNetns(s.netns, "http://127.0.0.1:99/id", 1);
  });
  ASSERT_TRUE(s.proxy->stop({.drain = 10s, .kill_after = 3s}, realClock()).ok());
  in_flight.join();
  late.join();
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].status, 200) << slow[0].error;
  EXPECT_EQ(slow[0].body, "slow");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].status, 0);  // not accepted while draining
  s.proxy.reset();
}

TEST_F(ProxyRootTest, AccessLogsFollowTheServiceConfiguration) {
  inject::ProxyConfig c;
  c.ingress.push_back({.name = "ingress-override",
                       .discovery_names = {"db"},
                       .listener_port = kOverridePort,
                       .container_port = kContainerPort,
                       .protocol = inject::ProxyProtocol::kHttp});
  c.log.access = inject::AccessLogFormat::kJson;
  Task& s = startTask("s1", 11, c, true);
  ASSERT_TRUE(s.proxy);
  auto r = testing::getInNetns(s.netns, "http://127.0.0.1:99/id?secret=1", 1);
  ASSERT_EQ(r[0].status, 200);
  std::string log;
  for (int i = 0; i < 100 && log.find("\"status\":200") == std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
    log = orEmpty(readFile(s.proxy->logPath()));
  }
  EXPECT_NE(log.find("\"path\":\"/id\",\"status\":200"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret"), std::string::npos);  // query strings only when includeQueryParameters
}

TEST_F(ProxyRootTest, LaunchFailuresNameTheStepAndUndoEverything) {
  const std::string ns = net_->addTask("bad", 40);
  inject::ProxyConfig c;
  c.ingress.push_back({.name = "ingress-x", .listener_port = 40080, .container_port = 80});
  ProxyInstanceSpec sp = spec("bad", c);
  sp.netns_path = "/run/netns/" + net_->prefix() + "missing";
  auto r = ProxyInstance::start(sp);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("failed to open '" + sp.netns_path + "'"), std::string::npos) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(inject::TaskCgroup::memoryDir(sp.cgroup.task_cgroup)));
  EXPECT_FALSE(std::filesystem::exists(sp.config.run_dir));

  // A failure inside the child names its step.
  inject::ContainerSpec cs{
      .name = "bad", .netns_path = ns, .run_dir = sp.config.run_dir, .binary = "/nonexistent/haproxy"};
  auto launched = inject::Container::launch(cs);
  ASSERT_FALSE(launched.ok());
  EXPECT_NE(launched.error().message.find("exec: No such file or directory"), std::string::npos)
      << launched.error().message;
  std::filesystem::remove_all(sp.config.run_dir);
}

// The launcher with a rootfs directory (app containers): pivot_root into it, same identity and filter.
TEST_F(ProxyRootTest, AppContainerRunsInItsOwnRootfs) {
  const std::string ns = net_->addTask("app", 50);
  const std::string rootfs = tmp_.file("rootfs");
  std::filesystem::create_directories(rootfs + "/bin");
  std::filesystem::create_directories(rootfs + "/www");
  std::filesystem::copy_file("/bin/busybox", rootfs + "/bin/busybox");
  ::chmod((rootfs + "/bin/busybox").c_str(), 0755);
  testing::writeTestFile(rootfs + "/www/id", "app");
  ::chmod((rootfs + "/www").c_str(), 0755);
  ::chmod((rootfs + "/www/id").c_str(), 0644);
  const std::string run_dir = "/run/scagent/tasks/" + net_->prefix() + "app";
  inject::ContainerSpec cs{.name = "app",
                           .netns_path = ns,
                           .hostname = "app",
                           .hosts_file = hosts_file_,
                           .run_dir = run_dir,
                           .rootfs = rootfs,
                           .binary = "/bin/busybox",
                           .args = {"httpd", "-f", "-p", "8080", "-h", "/www"},
                           .capabilities = 0};
  auto c = inject::Container::launch(cs);
  ASSERT_TRUE(c.ok()) << c.error().message;
  testing::GetResult got;
  for (int i = 0; i < 200 && got.status != 200; ++i) {
    got = testing::getInNetns(ns, "http://127.0.0.1:8080/id", 1)[0];
    if (got.status != 200) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(got.status, 200) << got.error;
  EXPECT_EQ(got.body, "app");
  const pid_t pid = c->pid();
  const std::string root = "/proc/" + std::to_string(pid) + "/root";
  EXPECT_TRUE(std::filesystem::exists(root + "/bin/busybox"));
  EXPECT_FALSE(std::filesystem::exists(root + "/usr"));
  EXPECT_EQ(orEmpty(readFile(root + "/etc/hosts")), orEmpty(readFile(hosts_file_)));
  EXPECT_EQ(statusField(pid, "Seccomp"), "2");
  EXPECT_EQ(statusField(pid, "CapEff"), "0000000000000000");
  EXPECT_TRUE(statusField(pid, "Uid").starts_with("20000\t"));
  ASSERT_TRUE(c->signal(SIGKILL).ok());
  EXPECT_TRUE(c->waitExit(2s));
  c->reap(2s);
  std::filesystem::remove_all(run_dir);
  std::filesystem::remove_all(run_dir + ".layer");
}

// An agent that dies between starting a container and letting it go (the "go" pipe) leaves
// nothing behind: the shim and the waiting init see the pipe close and exit, and neither keeps the
// agent's descriptors (a restarted agent must be able to bind its metrics address again).
TEST_F(ProxyRootTest, AgentDyingBeforeGoLeavesNoContainerBehind) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  const std::string ns = net_->addTask("orphan", 51);
  const std::string run_dir = "/run/scagent/tasks/" + net_->prefix() + "orphan";
  std::filesystem::create_directories(run_dir);
  pid_t agent = ::fork();
  if (agent == 0) {
    inject::ContainerSpec cs{.name = "orphan",
                             .netns_path = ns,
                             .hosts_file = hosts_file_,
                             .run_dir = run_dir,
                             .binary = "/bin/sleep",
                             .args = {"60"}};
    // The "agent" dies right after the fork, before the go byte.
    (void)inject::Container::launch(cs, [](pid_t) -> Result<void> { ::_exit(0); });
    ::_exit(1);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(agent, &st, 0), agent);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "the launch did not reach the placement step";
  // Its shim and init were re-parented to this test (the subreaper): they must all exit.
  bool all_gone = false;
  for (int i = 0; i < 500 && !all_gone; ++i) {
    while (::waitpid(-1, &st, WNOHANG) > 0) {
    }
    all_gone = ::waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD;
    if (!all_gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(all_gone) << "the container's shim or init outlived the agent that never let it go";
  // Leave nothing: kill our re-parented children (an init orphaned by its killed shim comes to us
  // next), reaping as they go, until none is left.
  for (int round = 0; round < 100 && !all_gone; ++round) {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string pid = e.path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string stat = orEmpty(readFile("/proc/" + pid + "/stat"));
      const auto close = stat.rfind(')');
      if (close == std::string::npos) continue;
      auto fields = split(stat.substr(close + 2), ' ');  // state ppid ...
      if (fields.size() > 1 && fields[1] == std::to_string(::getpid())) ::kill(std::stoi(pid), SIGKILL);
    }
    std::this_thread::sleep_for(10ms);
    while (::waitpid(-1, &st, WNOHANG) > 0) {
    }
    all_gone = ::waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD;
  }
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
  std::filesystem::remove_all(run_dir);
}

// A process left in a task's cgroups (an app the agent lost track of) dies with the cgroups; it
// is not moved to the root cgroup to run on unseen.
TEST_F(ProxyRootTest, DestroyingTaskCgroupsKillsWhatIsStillInside) {
  const std::string name = "scagent-" + net_->prefix() + "leak";
  auto cg =
      inject::TaskCgroup::create({.task_cgroup = name, .task_memory_bytes = 64 << 20, .proxy_memory_bytes = 32 << 20});
  ASSERT_TRUE(cg.ok()) << cg.error().message;
  pid_t app = ::fork();
  if (app == 0) {
    ::pause();
    ::_exit(0);
  }
  pid_t proxy = ::fork();
  if (proxy == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_TRUE((*cg)->attachApp("web", app, 16 << 20).ok());
  ASSERT_TRUE((*cg)->attachProxy(proxy).ok());
  ASSERT_TRUE((*cg)->destroy().ok());
  for (pid_t pid : {app, proxy}) {
    int st = 0;
    pid_t got = 0;
    for (int i = 0; i < 500 && got == 0; ++i) {
      got = ::waitpid(pid, &st, WNOHANG);
      if (got == 0) std::this_thread::sleep_for(10ms);
    }
    if (got == 0) {  // still running: it escaped; do not leave it behind
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      ADD_FAILURE() << "pid " << pid << " survived the destruction of its cgroup";
      continue;
    }
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "pid " << pid << " status " << st;
  }
  EXPECT_FALSE(std::filesystem::exists(inject::TaskCgroup::memoryDir(name)));
}

// `scagent proxy up|status|down` on the seed example's plan. The CLI exits while the proxy runs, so
// its shim is re-parented: this test makes itself the subreaper to reap it and leave nothing behind.
TEST_F(ProxyRootTest, CliUpAdoptsStatusAndDownLeavesNothing) {
  const std::string scagent = std::string(SC_BINARY_DIR) + "/agent/scagent";
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  const std::string ns = net_->addTask("cli", 30);
  const std::string task = net_->prefix() + "cli";
  auto plan = runProcess(
      {.path = scagent,
       .args = {"plan", "--task-definition", testing::sourcePath("examples/seed-example/task-definition.json"),
                "--service", testing::sourcePath("examples/seed-example/service.json"), "--seed", "1"}});
  ASSERT_TRUE(plan.ok() && plan->success());
  const std::string plan_file = tmp_.file("plan.json");
  testing::writeTestFile(plan_file, plan->out);
  auto cli = [&](const std::string& verb) {
    return runProcess(
        {.path = scagent,
         .args = {"proxy", verb, "--task", task, "--plan", plan_file, "--netns", ns, "--drain-seconds", "1"},
         .timeout = std::chrono::milliseconds(30000)});
  };
  auto up = cli("up");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->exit_code, 0) << up->out << up->err;
  EXPECT_NE(up->out.find("\"state\":\"HEALTHY\""), std::string::npos) << up->out;
  auto again = cli("up");  // adopts: the same pid, never a second proxy
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 0);
  auto pidOf = [](const std::string& out) {
    return out.substr(out.find("\"pid\":"), out.find(",\"running\"") - out.find("\"pid\":"));
  };
  EXPECT_EQ(pidOf(up->out), pidOf(again->out));
  auto status = cli("status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->exit_code, 0) << status->out;
  auto down = cli("down");
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->exit_code, 0) << down->err;
  auto after = cli("status");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists("/run/scagent/tasks/" + task));
  EXPECT_FALSE(std::filesystem::exists("/run/scagent/tasks/" + task + ".hosts"));
  EXPECT_FALSE(std::filesystem::exists(inject::TaskCgroup::memoryDir("scagent-" + task)));
  // Reap the re-parented shim(s).
  for (int i = 0; i < 100; ++i) {
    int st = 0;
    pid_t r = ::waitpid(-1, &st, WNOHANG);
    if (r < 0) break;
    if (r == 0) std::this_thread::sleep_for(10ms);
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

}  // namespace
}  // namespace sc
