// Root-test support for netns/: unique names per test process, the real kernel wiring, small TCP
// servers that answer with their name from inside a namespace, a client that connects from a
// namespace, and host snapshots (namespaces, links, rules, ip_forward) to prove nothing leaked.
//
// Other engineers' root suites may run on the same host at the same time, so a snapshot
// comparison fails on any difference that names one of this test's objects (its unique tokens);
// with SC_ROOT_EXCLUSIVE=1 every difference fails.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/file.h"
#include "common/process.h"
#include "common/strings.h"
#include "netns/iptables_restore_applier.h"
#include "netns/netlink.h"
#include "netns/netns_thread.h"
#include "netns/sandbox.h"
#include "netns/system.h"
#include "tests/support/temp_dir.h"

namespace sc::testing {

// Names unique to this process: sc-t<pid>-<task> namespaces, st<pid>v.. links, SCT<pid> chains.
struct UniqueNames {
  int pid = static_cast<int>(::getpid());
  std::string token() const { return "t" + std::to_string(pid); }
  std::string netnsPrefix() const { return "sc-t" + std::to_string(pid) + "-"; }
  std::string vethPrefix() const { return "st" + std::to_string(pid) + "v"; }
  std::string bridge() const { return "st" + std::to_string(pid) + "b"; }
  std::string chainPrefix() const { return "SCT" + std::to_string(pid); }
  // 10.<150-199>.<0-249>.0/24 for tasks; 10.<200-249>.<0-249>.0/30 for a "remote host" link.
  std::string taskCidr() const {
    return "10." + std::to_string(150 + pid % 50) + "." + std::to_string(pid / 50 % 250) + ".0/24";
  }
  std::string remoteNet() const {
    return "10." + std::to_string(200 + pid % 50) + "." + std::to_string(pid / 50 % 250);
  }
  std::vector<std::string> tokens() const {
    return {netnsPrefix(),
            vethPrefix(),
            bridge(),
            chainPrefix(),
            "st" + std::to_string(pid) + "r",
            "10." + std::to_string(150 + pid % 50) + "." + std::to_string(pid / 50 % 250) + ".",
            remoteNet() + "."};
  }
};

inline std::string runOut(const std::string& path, std::vector<std::string> args, const std::string& netns = "") {
  auto r = runProcess({.path = path, .args = std::move(args), .netns_path = netns});
  EXPECT_TRUE(r.ok() && r->success()) << path << ": " << (r.ok() ? r->describe() : r.error().message);
  return r.ok() ? r->out : "";
}

struct HostSnapshot {
  std::string netns, links, filter, nat, ip_forward;
};

inline std::string stripRules(const std::string& text) {
  static const std::regex counters(R"(\[\d+:\d+\])");
  std::string out;
  for (const std::string& line : split(text, '\n')) {
    if (line.starts_with("#")) continue;
    out += std::regex_replace(line, counters, "[c]") + "\n";
  }
  return out;
}

inline HostSnapshot hostSnapshot() {
  HostSnapshot s;
  s.netns = runOut("/usr/bin/ip", {"netns", "list"});
  // Names and flags only: counters and transient link state are not ours to compare.
  for (const std::string& l : split(runOut("/usr/bin/ip", {"-o", "link", "show"}), '\n')) {
    std::vector<std::string> f = split(l, ' ');
    if (f.size() > 1) s.links += f[1] + "\n";
  }
  s.filter = stripRules(runOut("/usr/sbin/iptables-save", {"-t", "filter"}));
  s.nat = stripRules(runOut("/usr/sbin/iptables-save", {"-t", "nat"}));
  auto fwd = readFile("/proc/sys/net/ipv4/ip_forward");
  s.ip_forward = fwd.ok() ? *fwd : "?";
  return s;
}

inline void expectSameText(const std::string& what, const std::string& before, const std::string& after,
                           const std::vector<std::string>& tokens) {
  if (before == after) return;
  const bool strict = std::getenv("SC_ROOT_EXCLUSIVE") != nullptr;
  std::multiset<std::string> b, a;
  for (const std::string& l : split(before, '\n')) b.insert(l);
  for (const std::string& l : split(after, '\n')) a.insert(l);
  for (const auto& [from, to, sign] : {std::tuple{&b, &a, '-'}, std::tuple{&a, &b, '+'}}) {
    for (const std::string& l : *from) {
      if (to->count(l)) continue;
      bool ours = false;
      for (const std::string& t : tokens) ours |= l.find(t) != std::string::npos;
      if (ours || strict) {
        ADD_FAILURE() << what << " changed: " << sign << " " << l;
      } else {
        std::cerr << "note: " << what << " changed by someone else: " << sign << " " << l << "\n";
      }
    }
  }
}

inline void expectHostUnchanged(const HostSnapshot& before, const HostSnapshot& after, const UniqueNames& names) {
  const auto tokens = names.tokens();
  expectSameText("ip netns", before.netns, after.netns, tokens);
  expectSameText("ip link", before.links, after.links, tokens);
  expectSameText("iptables-save -t filter", before.filter, after.filter, tokens);
  expectSameText("iptables-save -t nat", before.nat, after.nat, tokens);
  EXPECT_EQ(before.ip_forward, after.ip_forward);
}

// Serializes this suite's root tests (ctest runs tests in parallel): they share ip_forward.
class SuiteLock {
 public:
  SuiteLock() : fd_(::open("/run/lock/scagent-netns-root-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_.valid()) ::flock(fd_.get(), LOCK_EX);
  }

 private:
  UniqueFd fd_;
};

// The real kernel, rules and host behind one SandboxManager, under this process's names.
struct RealNet {
  UniqueNames names;
  TempDir state;
  RealProcessRunner runner;
  std::unique_ptr<netns::IptablesRestoreApplier> applier;
  netns::RealHostSystem system;
  std::unique_ptr<netns::NetlinkKernel> kernel;
  std::unique_ptr<netns::SandboxManager> manager;
  netns::NetConfig config;

  // Returns false (after a test failure) when anything cannot be set up.
  bool init() {
    auto backend = netns::detectBackend(runner);
    EXPECT_TRUE(backend.ok()) << (backend.ok() ? "" : backend.error().message);
    if (!backend.ok()) return false;
    applier = std::make_unique<netns::IptablesRestoreApplier>(runner, *backend);
    auto k = netns::NetlinkKernel::create();
    EXPECT_TRUE(k.ok()) << (k.ok() ? "" : k.error().message);
    if (!k.ok()) return false;
    kernel = std::move(k).value();
    config.state_dir = state.path() + "/state";
    config.bridge = names.bridge();
    config.task_cidr = names.taskCidr();
    config.netns_prefix = names.netnsPrefix();
    config.veth_prefix = names.vethPrefix();
    config.chain_prefix = names.chainPrefix();
    auto m = netns::SandboxManager::create(config, {*kernel, *applier, system});
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    if (!m.ok()) return false;
    manager = std::move(m).value();
    return true;
  }
  std::string ipamFile() const {
    auto r = readFile(config.state_dir + "/ipam.json");
    return r.ok() ? *r : "<missing>";
  }
};

// A TCP server in a namespace that writes `name` to every connection and closes it.
class NamedServer {
 public:
  NamedServer(const std::string& netns_path, const std::string& address, int port, std::string name)
      : name_(std::move(name)) {
    auto fd = netns_path.empty() ? Result<UniqueFd>(UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)))
                                 : netns::socketInNetns(netns_path, AF_INET, SOCK_STREAM);
    if (!fd.ok() || !fd->valid()) {
      ADD_FAILURE() << "socket for " << name_;
      return;
    }
    fd_ = std::move(fd).value();
    int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd_.get(), 16) != 0) {
      ADD_FAILURE() << "bind " << address << ":" << port << " for " << name_ << ": " << std::strerror(errno);
      return;
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    stop_r_.reset(p[0]);
    stop_w_.reset(p[1]);
    thread_ = std::thread([this] { serve(); });
  }
  ~NamedServer() {
    if (stop_w_.valid()) [[maybe_unused]]
      auto n = ::write(stop_w_.get(), "x", 1);
    if (thread_.joinable()) thread_.join();
  }
  NamedServer(const NamedServer&) = delete;
  NamedServer& operator=(const NamedServer&) = delete;

 private:
  void serve() {
    for (;;) {
      pollfd p[2] = {{fd_.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents) return;
      UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c.valid()) continue;
      const std::string line = name_ + "\n";
      [[maybe_unused]] auto n = ::write(c.get(), line.data(), line.size());
    }
  }
  std::string name_;
  UniqueFd fd_, stop_r_, stop_w_;
  std::thread thread_;
};

// Connects from `netns_path` ("" = host) to address:port and returns the first line, or an
// "error: ..." text.
inline std::string ask(const std::string& netns_path, const std::string& address, int port) {
  auto fd = netns_path.empty() ? Result<UniqueFd>(UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)))
                               : netns::socketInNetns(netns_path, AF_INET, SOCK_STREAM);
  if (!fd.ok() || !fd->valid()) return "error: socket";
  ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    return std::string("error: connect: ") + std::strerror(errno);
  }
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd->get(), POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    char buf[256];
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      if (got.find('\n') != std::string::npos) return got.substr(0, got.find('\n'));
      continue;
    }
    if (n == 0) return got.empty() ? "error: closed" : got;
    if (errno == EAGAIN) continue;
    return std::string("error: ") + std::strerror(errno);
  }
  return "error: timeout";
}

}  // namespace sc::testing
