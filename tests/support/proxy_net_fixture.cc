#include "tests/support/proxy_net_fixture.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/http_client.h"
#include "common/process.h"

namespace sc::testing {
namespace {

void run(std::vector<std::string> args, const std::string& stdin_data = "", const std::string& netns = "") {
  auto r = runProcess({.path = "/usr/sbin/ip", .args = std::move(args), .stdin_data = stdin_data, .netns_path = netns});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->success()) << r->describe();
}

void runQuiet(std::vector<std::string> args) { (void)runProcess({.path = "/usr/sbin/ip", .args = std::move(args)}); }

bool pidAlive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

// Removes namespaces "sct<pid>-*" whose test process is gone (or is us).
void removeStale(pid_t self) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    std::string n = e.path().filename().string();
    if (!n.starts_with("sct")) continue;
    size_t dash = n.find('-');
    if (dash == std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::atoi(n.substr(3, dash - 3).c_str()));
    if (pid == self || !pidAlive(pid)) runQuiet({"netns", "del", n});
  }
}

// The pid in "<prefix><pid>-…", or 0.
pid_t ownerPid(const std::string& name, const std::string& prefix) {
  if (!name.starts_with(prefix)) return 0;
  size_t dash = name.find('-', prefix.size());
  if (dash == std::string::npos) return 0;
  return static_cast<pid_t>(std::atoi(name.substr(prefix.size(), dash - prefix.size()).c_str()));
}

void killAndRemoveCgroup(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_directory()) killAndRemoveCgroup(e.path());
  }
  for (int i = 0; i < 100; ++i) {
    std::ifstream procs(dir / "cgroup.procs");
    pid_t pid;
    bool any = false;
    while (procs >> pid) {
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (!any) break;
    usleep(10'000);
  }
  ::rmdir(dir.c_str());
}

// Proxies, cgroups and run directories of earlier test processes that died before cleaning up.
void removeStaleProxies(pid_t self) {
  std::error_code ec;
  for (const char* root : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup"}) {
    for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
      pid_t pid = ownerPid(e.path().filename().string(), "scagent-sct");
      if (pid > 0 && (pid == self || !pidAlive(pid)) && e.is_directory()) killAndRemoveCgroup(e.path());
    }
  }
  for (const auto& e : std::filesystem::directory_iterator("/run/scagent/tasks", ec)) {
    pid_t pid = ownerPid(e.path().filename().string(), "sct");
    if (pid > 0 && (pid == self || !pidAlive(pid))) std::filesystem::remove_all(e.path(), ec);
  }
}

}  // namespace

NetFixture::NetFixture() : prefix_("sct" + std::to_string(getpid()) + "-") {
  removeStale(getpid());
  removeStaleProxies(getpid());
  run({"netns", "add", nsName("hub")});
  run({"-n", nsName("hub"), "link", "add", "br0", "type", "bridge"});
  run({"-n", nsName("hub"), "link", "set", "br0", "up"});
}

NetFixture::~NetFixture() {
  for (const auto& [name, host] : hosts_) runQuiet({"netns", "del", nsName(name)});
  runQuiet({"netns", "del", nsName("hub")});
  // The proxies' run directories lived under /run/scagent/tasks: leave no empty parents behind.
  ::rmdir("/run/scagent/tasks");
  ::rmdir("/run/scagent");
}

std::string NetFixture::addTask(const std::string& name, int host) {
  const std::string ns = nsName(name);
  std::string hub_if = "v";  // not "v" + to_string(): g++ 12 -O3 false -Wrestrict
  hub_if += std::to_string(host);
  run({"netns", "add", ns});
  hosts_[name] = host;
  run({"-n", nsName("hub"), "link", "add", hub_if, "type", "veth", "peer", "name", "eth0", "netns", ns});
  run({"-n", nsName("hub"), "link", "set", hub_if, "master", "br0", "up"});
  run({"-n", ns, "addr", "add", "10.77.0." + std::to_string(host) + "/24", "dev", "eth0"});
  run({"-n", ns, "link", "set", "eth0", "up"});
  run({"-n", ns, "link", "set", "lo", "up"});
  return netnsPath(name);
}

void NetFixture::addRedirect(const std::string& name, int container_port, int listener_port) {
  const std::string rules = "*nat\n:SCT_INGRESS - [0:0]\n-A SCT_INGRESS -p tcp --dport " +
                            std::to_string(container_port) + " -j REDIRECT --to-ports " +
                            std::to_string(listener_port) +
                            "\n-A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j SCT_INGRESS\nCOMMIT\n";
  applyRules(name, rules);
}

void NetFixture::applyRules(const std::string& name, const std::string& rules) {
  auto r = runProcess({.path = "/usr/sbin/iptables-restore",
                       .args = {"--noflush", "--wait"},
                       .stdin_data = rules,
                       .netns_path = netnsPath(name)});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->success()) << r->describe();
}

BackgroundProcess::BackgroundProcess(const std::string& netns_path, std::vector<std::string> argv) {
  std::vector<char*> cargv;
  for (std::string& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  int nsfd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    ADD_FAILURE() << "open " << netns_path;
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    if (setns(nsfd, CLONE_NEWNET) != 0) _exit(126);
    int devnull = ::open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    close_range(3, ~0u, 0);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  ::close(nsfd);
}

BackgroundProcess::~BackgroundProcess() { stop(); }

void BackgroundProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::unique_ptr<BackgroundProcess> startHttpd(const std::string& netns_path, const std::string& dir,
                                              const std::string& id, int port) {
  std::filesystem::create_directories(dir + "/cgi-bin");
  std::ofstream(dir + "/id") << id;
  std::string body(1024, 'x');
  std::ofstream(dir + "/1k") << body;
  {
    std::ofstream f(dir + "/cgi-bin/fail");
    f << "#!/bin/sh\nprintf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nfail'\n";
  }
  ::chmod((dir + "/cgi-bin/fail").c_str(), 0755);
  {
    std::ofstream f(dir + "/cgi-bin/slow");
    f << "#!/bin/sh\nsleep 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow'\n";
  }
  ::chmod((dir + "/cgi-bin/slow").c_str(), 0755);
  auto p = std::make_unique<BackgroundProcess>(
      netns_path, std::vector<std::string>{"/bin/busybox", "httpd", "-f", "-p", std::to_string(port), "-h", dir});
  // Wait until it answers.
  for (int i = 0; i < 200; ++i) {
    auto r = getInNetns(netns_path, "http://127.0.0.1:" + std::to_string(port) + "/id", 1);
    if (r[0].status == 200) break;
    usleep(10'000);
  }
  return p;
}

namespace {
template <typename F>
void inNetns(const std::string& netns_path, F&& f) {
  std::thread t([&] {
    int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "setns " << netns_path;
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    f();
  });
  t.join();
}
}  // namespace

std::vector<GetResult> getInNetns(const std::string& netns_path, const std::string& url, int count) {
  std::vector<GetResult> out;
  inNetns(netns_path, [&] {
    for (int i = 0; i < count; ++i) {
      auto r = httpRequest({.url = url, .timeout = std::chrono::milliseconds(3000)});
      if (r.ok()) {
        out.push_back({r->status, r->body, ""});
      } else {
        out.push_back({0, "", r.error().message});
      }
    }
  });
  return out;
}

LoadLoop::LoadLoop(const std::string& netns_path, const std::string& url) {
  thread_ = std::thread([this, netns_path, url] {
    int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      ++failed_;
      errors_.push_back("setns");
      return;
    }
    ::close(fd);
    while (!stop_) {
      auto r = httpRequest({.url = url, .timeout = std::chrono::milliseconds(5000)});
      if (r.ok() && r->status == 200) {
        ++ok_;
        ++bodies_[r->body];
      } else {
        ++failed_;
        errors_.push_back(r.ok() ? "status " + std::to_string(r->status) : r.error().message);
      }
    }
  });
}

LoadLoop::~LoadLoop() { stop(); }

void LoadLoop::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::map<std::string, int> LoadLoop::bodies() const { return bodies_; }
std::vector<std::string> LoadLoop::errors() const { return errors_; }

}  // namespace sc::testing
