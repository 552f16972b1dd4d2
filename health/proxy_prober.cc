#include "health/proxy_prober.h"

#include "common/file.h"
#include "common/http_client.h"
#include "inject/runtime_api.h"

namespace sc::health {

ProbeFacts ProxyProber::readyProbe() {
  ProbeFacts f;
  f.running = proxy_.container().running();
  if (!f.running) {
    f.detail = "the proxy process is not running";
    return f;
  }
  const inject::ProxyConfig& c = proxy_.driver().config();
  auto ready = httpRequest({.url = "http://localhost/ready",
                            .unix_socket = inject::httpSocketPath(c.run_dir),
                            .timeout = timeout_,
                            .connect_timeout = timeout_});
  f.ready = ready.ok() && ready->status == 200;
  if (!f.ready) {
    f.detail = ready.ok() ? "/ready answered " + std::to_string(ready->status) : "/ready: " + ready.error().message;
    return f;
  }
  f.listeners_bound = f.membership_applied = true;  // as the last full probe found them
  return f;
}

ProbeFacts ProxyProber::probe() {
  ProbeFacts f = readyProbe();
  if (!f.ready) return f;
  f.listeners_bound = f.membership_applied = false;
  const inject::ProxyConfig& c = proxy_.driver().config();
  const std::string proc = "/proc/" + std::to_string(proxy_.container().pid()) + "/net/tcp";
  auto tcp = readFile(proc);
  if (!tcp.ok()) {
    f.detail = tcp.error().message;
    return f;
  }
  auto listening = inject::parseProcNetTcpListeners(*tcp);
  f.listeners_bound = true;
  for (const inject::IngressSpec& in : c.ingress) {
    if (!listening.count({"0.0.0.0", in.listener_port})) {
      f.listeners_bound = false;
      f.detail = "ingress listener " + std::to_string(in.listener_port) + " not bound";
      return f;
    }
  }
  for (const inject::EgressSpec& e : c.egress) {
    const std::string ip = e.listener_port ? "127.0.0.1" : e.vip;
    const int port = e.listener_port ? e.listener_port : e.port;
    if (!listening.count({ip, port})) {
      f.listeners_bound = false;
      f.detail = "egress listener " + ip + ":" + std::to_string(port) + " for " + e.vip + ":" + std::to_string(e.port) +
                 " not bound";
      return f;
    }
  }
  auto applied = proxy_.driver().membershipApplied();
  f.membership_applied = applied.ok() && *applied;
  if (!f.membership_applied) f.detail = applied.ok() ? "membership not applied yet" : applied.error().message;
  return f;
}

}  // namespace sc::health
