// Proxy health: probe facts, the PENDING -> HEALTHY <-> UNHEALTHY state machine and the restart
// policy (crash or failed probes -> restart with backoff; more than 3 restarts in 5 minutes -> the
// task is UNHEALTHY for good, as ECS replaces such a task). Time comes from sc::Clock.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace sc::health {

enum class HealthState { kPending, kHealthy, kUnhealthy };
const char* healthStateName(HealthState s);

// What one probe found. HEALTHY needs all four.
struct ProbeFacts {
  bool running = false;             // the proxy process is alive
  bool ready = false;               // GET /ready on the admin socket answered 200
  bool listeners_bound = false;     // every listener of the plan is in LISTEN in the task netns
  bool membership_applied = false;  // the runtime state matches the desired membership
  std::string detail;               // the first thing missing, for logs
  bool healthy() const { return running && ready && listeners_bound && membership_applied; }
};

class Prober {
 public:
  virtual ~Prober() = default;
  virtual bool alive() = 0;        // cheap: the pidfd
  virtual ProbeFacts probe() = 0;  // full: sockets, runtime API
  // Light: the process and /ready only; listeners and membership are taken as the last full probe
  // found them. The monitor uses it between full probes once the proxy is HEALTHY.
  virtual ProbeFacts readyProbe() { return probe(); }
};

// What the monitor does to the proxy.
class Restarter {
 public:
  virtual ~Restarter() = default;
  virtual Result<void> restart() = 0;
};

struct HealthPolicy {
  std::chrono::milliseconds probe_interval{10'000};  // AppNet HC_POLL_INTERVAL_MS default
  std::chrono::milliseconds pending_interval{20};    // while PENDING or after a restart
  int failures_to_unhealthy = 3;                     // consecutive failed probes
  // After a restart, failed probes do not count until the proxy was HEALTHY once or this passed
  // (a proxy that is still starting is not failing).
  std::chrono::milliseconds startup_grace{10'000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5'000};
  // Once HEALTHY, every Nth probe is a full one (listeners in /proc/<pid>/net/tcp, membership over
  // the runtime API), the others light (process and /ready): with a hundred proxies on a host the
  // full probes were most of an idle agent's CPU. 1: every probe is full. The first probe after a
  // restart is always full.
  int full_probe_every = 6;
  int max_restarts = 3;  // more than this in the window: task UNHEALTHY
  std::chrono::seconds restart_window{300};
};

class HealthMonitor {
 public:
  HealthMonitor(Prober& prober, Restarter& restarter, Clock& clock, HealthPolicy policy = {});

  // One step: checks liveness, probes when due, restarts when needed. Returns the delay until the
  // next step is due. Never sleeps.
  std::chrono::milliseconds tick();

  HealthState state() const { return state_; }
  // True when the restart budget is spent: the task must be reported UNHEALTHY and replaced.
  bool failed() const { return failed_; }
  const std::string& reason() const { return reason_; }
  int restarts() const { return total_restarts_; }
  const ProbeFacts& lastFacts() const { return facts_; }
  // Observers (logs, reports).
  std::function<void(HealthState from, HealthState to, const std::string& why)> on_change;
  // Added as "task" to the monitor's log lines, so an operator can follow one task's proxy.
  std::string task_id;

  // Runs tick() until `until` returns true or the deadline passes (uses clock.sleepFor).
  bool runUntil(const std::function<bool()>& until, std::chrono::milliseconds deadline);

 private:
  void setState(HealthState s, const std::string& why);
  void scheduleRestart(const std::string& why);

  Prober& prober_;
  Restarter& restarter_;
  Clock& clock_;
  HealthPolicy policy_;
  HealthState state_ = HealthState::kPending;
  ProbeFacts facts_;
  int consecutive_failures_ = 0;
  int light_probes_ = 0;    // light probes since the last full one
  bool full_due_ = true;    // a full probe first, and after every restart
  std::optional<Clock::MonoTime> next_probe_;
  std::optional<Clock::MonoTime> restart_at_;
  std::optional<Clock::MonoTime> starting_until_;
  std::chrono::milliseconds backoff_{0};
  std::deque<Clock::MonoTime> restart_times_;
  int total_restarts_ = 0;
  bool failed_ = false;
  std::string reason_;
};

}  // namespace sc::health
