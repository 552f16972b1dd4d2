#include "tests/support/etcd_cluster.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/http_client.h"

namespace sc::testing {
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";

// A port the kernel just handed out on loopback (and took back): free unless raced.
int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

bool healthy(const std::string& client_url) {
  HttpRequest req;
  req.url = client_url + "/health";
  req.timeout = std::chrono::milliseconds(1000);
  auto r = httpRequest(req);
  return r.ok() && r->status == 200 && r->body.find("true") != std::string::npos;
}

}  // namespace

bool etcdInstalled() { return ::access(kEtcd, X_OK) == 0; }

EtcdCluster::EtcdCluster(const std::string& dir, int members) : dir_(dir) {
  std::vector<std::string> peer_urls;
  std::string initial;
  for (int i = 0; i < members; ++i) {
    client_urls_.push_back("http://127.0.0.1:" + std::to_string(freePort()));
    peer_urls.push_back("http://127.0.0.1:" + std::to_string(freePort()));
    initial += (i ? "," : "") + std::string("m") + std::to_string(i) + "=" + peer_urls.back();
  }
  for (size_t i = 0; i < client_urls_.size(); ++i) {
    const std::string name = "m" + std::to_string(i);
    procs_.push_back(std::make_unique<BackgroundProcess>());
    procs_.back()->start({kEtcd,
                          "--name",
                          name,
                          "--data-dir",
                          dir_ + "/etcd-" + name,
                          "--listen-client-urls",
                          client_urls_[i],
                          "--advertise-client-urls",
                          client_urls_[i],
                          "--listen-peer-urls",
                          peer_urls[i],
                          "--initial-advertise-peer-urls",
                          peer_urls[i],
                          "--initial-cluster",
                          initial,
                          "--initial-cluster-state",
                          "new",
                          "--initial-cluster-token",
                          "sc-test",
                          "--log-level",
                          "warn"},
                         dir_ + "/etcd-" + name + ".log");
  }
  // Startup is waited for by polling /health: there is nothing to be told by.
  for (int attempt = 0; attempt < 300; ++attempt) {
    bool all = true;
    for (const std::string& u : client_urls_) all = all && healthy(u);
    if (all) {
      ok_ = true;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "etcd did not become healthy; logs: " << readTestFile(dir_ + "/etcd-m0.log");
}

EtcdCluster::~EtcdCluster() {
  for (auto& p : procs_) p->stop();
}

std::string EtcdCluster::url() const {
  std::string out = "etcd://";
  for (size_t i = 0; i < client_urls_.size(); ++i) out += (i ? "," : "") + client_urls_[i].substr(7);
  return out;
}

void EtcdCluster::kill(int member) { procs_.at(static_cast<size_t>(member))->kill(SIGKILL); }

}  // namespace sc::testing
