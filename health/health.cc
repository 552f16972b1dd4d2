#include "health/health.h"

#include <algorithm>

#include "common/log.h"

namespace sc::health {

const char* healthStateName(HealthState s) {
  switch (s) {
    case HealthState::kPending:
      return "PENDING";
    case HealthState::kHealthy:
      return "HEALTHY";
    case HealthState::kUnhealthy:
      return "UNHEALTHY";
  }
  return "?";
}

HealthMonitor::HealthMonitor(Prober& prober, Restarter& restarter, Clock& clock, HealthPolicy policy)
    : prober_(prober), restarter_(restarter), clock_(clock), policy_(policy) {}

void HealthMonitor::setState(HealthState s, const std::string& why) {
  if (s == state_) return;
  HealthState from = state_;
  state_ = s;
  if (on_change) on_change(from, s, why);
}

void HealthMonitor::scheduleRestart(const std::string& why) {
  const auto now = clock_.now();
  while (!restart_times_.empty() && now - restart_times_.front() > policy_.restart_window) restart_times_.pop_front();
  if (static_cast<int>(restart_times_.size()) >= policy_.max_restarts) {
    failed_ = true;
    reason_ = "proxy restarted " + std::to_string(restart_times_.size()) + " times in " +
              std::to_string(policy_.restart_window.count()) + " s; last failure: " + why;
    setState(HealthState::kUnhealthy, reason_);
    log::error("proxy failed for good", {{"task", task_id}, {"reason", reason_}});
    return;
  }
  backoff_ = backoff_.count() == 0 ? policy_.backoff_initial : std::min(backoff_ * 2, policy_.backoff_max);
  restart_at_ = now + backoff_;
  reason_ = why;
  setState(HealthState::kUnhealthy, why);
}

std::chrono::milliseconds HealthMonitor::tick() {
  using std::chrono::milliseconds;
  if (failed_) return policy_.probe_interval;
  const auto now = clock_.now();
  if (restart_at_) {
    if (now < *restart_at_) return std::chrono::duration_cast<milliseconds>(*restart_at_ - now);
    restart_at_.reset();
    restart_times_.push_back(now);
    ++total_restarts_;
    Result<void> r = restarter_.restart();
    if (!r.ok()) {
      scheduleRestart("restart failed: " + r.error().message);
      return policy_.pending_interval;
    }
    log::warn("proxy restarted",
              {{"task", task_id}, {"reason", reason_}, {"restarts", std::to_string(total_restarts_)}});
    consecutive_failures_ = 0;
    full_due_ = true;
    next_probe_ = now;
    starting_until_ = now + policy_.startup_grace;
    return policy_.pending_interval;
  }
  if (!prober_.alive()) {
    facts_ = ProbeFacts{.detail = "the proxy process exited"};
    scheduleRestart(facts_.detail);
    return restart_at_ ? std::chrono::duration_cast<milliseconds>(*restart_at_ - now) : policy_.probe_interval;
  }
  // Once the proxy has been HEALTHY, failed probes count towards a restart (PENDING waits for the caller).
  const bool settled = state_ != HealthState::kPending;
  if (next_probe_ && now < *next_probe_) {
    // Liveness is cheap: look at it often, probe fully on the interval.
    return std::min(std::chrono::duration_cast<milliseconds>(*next_probe_ - now), policy_.pending_interval * 5);
  }
  const bool light = !full_due_ && state_ == HealthState::kHealthy && light_probes_ + 1 < policy_.full_probe_every;
  facts_ = light ? prober_.readyProbe() : prober_.probe();
  light_probes_ = light ? light_probes_ + 1 : 0;
  // A failed probe of either kind is followed by full ones until one passes: a light probe must not
  // clear failures a full probe found.
  full_due_ = !facts_.healthy();
  if (facts_.healthy()) {
    consecutive_failures_ = 0;
    backoff_ = milliseconds(0);
    starting_until_.reset();
    setState(HealthState::kHealthy, "all probes passed");
  } else if (starting_until_ && now < *starting_until_) {
    // Still starting after a restart: wait (the pidfd still catches a crash at once).
  } else {
    ++consecutive_failures_;
    if (settled && consecutive_failures_ >= policy_.failures_to_unhealthy) {
      scheduleRestart("probes failed " + std::to_string(consecutive_failures_) + " times: " + facts_.detail);
      return policy_.pending_interval;
    }
  }
  const milliseconds interval = state_ == HealthState::kHealthy ? policy_.probe_interval : policy_.pending_interval;
  next_probe_ = now + interval;
  return std::min(interval, policy_.pending_interval * 5);
}

bool HealthMonitor::runUntil(const std::function<bool()>& until, std::chrono::milliseconds deadline) {
  const auto end = clock_.now() + deadline;
  while (!until()) {
    if (clock_.now() >= end || failed_) return until();
    auto d = tick();
    if (until()) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_.now());
    clock_.sleepFor(std::max(std::chrono::milliseconds(1), std::min(d, left)));
  }
  return true;
}

}  // namespace sc::health
