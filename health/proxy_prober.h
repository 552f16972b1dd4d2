// The real Prober and Restarter for a task's HAProxy (inject::ProxyInstance): the pidfd, GET /ready
// over the admin HTTP unix socket (libcurl), the listeners in /proc/<pid>/net/tcp of the task's
// network namespace, and the runtime API's view of membership.
#pragma once

#include <chrono>

#include "health/health.h"
#include "inject/proxy_instance.h"

namespace sc::health {

class ProxyProber final : public Prober, public Restarter {
 public:
  explicit ProxyProber(inject::ProxyInstance& proxy, std::chrono::milliseconds timeout = std::chrono::milliseconds(500))
      : proxy_(proxy), timeout_(timeout) {}
  // Prober
  bool alive() override { return proxy_.container().running(); }
  ProbeFacts probe() override;
  ProbeFacts readyProbe() override;
  // Restarter
  Result<void> restart() override { return proxy_.restart(); }

 private:
  inject::ProxyInstance& proxy_;
  std::chrono::milliseconds timeout_;
};

}  // namespace sc::health
