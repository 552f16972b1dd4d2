#include "health/health.h"

#include <gtest/gtest.h>

namespace sc::health {
namespace {

class FakeClock final : public Clock {
 public:
  MonoTime t{};
  MonoTime now() const override { return t; }
  WallTime wallNow() const override { return WallTime{}; }
  void sleepFor(std::chrono::nanoseconds d) override { t += std::chrono::duration_cast<MonoTime::duration>(d); }
};

class FakeProber final : public Prober {
 public:
  bool is_alive = true;
  ProbeFacts facts{true, true, true, true, ""};
  int probes = 0;
  bool alive() override { return is_alive; }
  ProbeFacts probe() override {
    ++probes;
    return facts;
  }
};

class FakeRestarter final : public Restarter {
 public:
  FakeProber* prober = nullptr;
  int calls = 0;
  Result<void> restart() override {
    ++calls;
    if (prober != nullptr) prober->is_alive = true;
    return ok();
  }
};

struct Fixture {
  FakeClock clock;
  FakeProber prober;
  FakeRestarter restarter;
  HealthMonitor monitor{prober, restarter, clock};
  std::vector<std::string> changes;
  Fixture() {
    restarter.prober = &prober;
    monitor.on_change = [this](HealthState a, HealthState b, const std::string&) {
      changes.push_back(std::string(healthStateName(a)) + "->" + healthStateName(b));
    };
  }
  void advance(std::chrono::milliseconds total) {
    auto end = clock.t + total;
    while (clock.t < end)
      clock.sleepFor(std::min(monitor.tick(), std::chrono::duration_cast<std::chrono::milliseconds>(end - clock.t)));
  }
};

TEST(HealthMonitorTest, PendingUntilEveryFactHoldsThenHealthy) {
  Fixture f;
  f.prober.facts.listeners_bound = false;
  f.advance(std::chrono::milliseconds(200));
  EXPECT_EQ(f.monitor.state(), HealthState::kPending);
  f.prober.facts.listeners_bound = true;
  f.advance(std::chrono::milliseconds(100));
  EXPECT_EQ(f.monitor.state(), HealthState::kHealthy);
  // Healthy: full probes on the 10 s interval only.
  int before = f.prober.probes;
  f.advance(std::chrono::seconds(30));
  EXPECT_LE(f.prober.probes - before, 4);
  EXPECT_EQ(f.changes, std::vector<std::string>{"PENDING->HEALTHY"});
}

// Counts full and light probes separately.
class CountingProber final : public Prober {
 public:
  ProbeFacts facts{true, true, true, true, ""};
  int full = 0, light = 0;
  bool alive() override { return true; }
  ProbeFacts probe() override {
    ++full;
    return facts;
  }
  ProbeFacts readyProbe() override {
    ++light;
    ProbeFacts f = facts;
    f.listeners_bound = f.membership_applied = true;  // a light probe cannot see these
    return f;
  }
};

TEST(HealthMonitorTest, HealthyProxiesGetAFullProbeEverySixthTime) {
  FakeClock clock;
  CountingProber prober;
  FakeRestarter restarter;
  HealthMonitor monitor{prober, restarter, clock};
  auto advance = [&](std::chrono::milliseconds total) {
    auto end = clock.t + total;
    while (clock.t < end)
      clock.sleepFor(std::min(monitor.tick(), std::chrono::duration_cast<std::chrono::milliseconds>(end - clock.t)));
  };
  advance(std::chrono::milliseconds(50));
  ASSERT_EQ(monitor.state(), HealthState::kHealthy);
  EXPECT_EQ(prober.full, 1);  // PENDING -> HEALTHY takes a full probe
  EXPECT_EQ(prober.light, 0);
  // 12 more probes at 10 s: full ones on every sixth.
  advance(std::chrono::seconds(120));
  EXPECT_EQ(prober.full + prober.light, 13);
  EXPECT_EQ(prober.full, 3);
  // A lost listener is seen by the next full probe (within 60 s); full probes follow until one
  // passes, and the third failure restarts the proxy, although the light probes would pass.
  prober.facts.listeners_bound = false;
  const int full_before = prober.full;
  advance(std::chrono::seconds(75));
  EXPECT_EQ(restarter.calls, 0);
  advance(std::chrono::seconds(10));
  EXPECT_EQ(restarter.calls, 1) << "full " << prober.full - full_before << ", light " << prober.light;
}

TEST(HealthMonitorTest, CrashRestartsWithBackoffAndRecovers) {
  Fixture f;
  f.advance(std::chrono::milliseconds(50));
  ASSERT_EQ(f.monitor.state(), HealthState::kHealthy);
  f.prober.is_alive = false;
  f.advance(std::chrono::milliseconds(500));
  EXPECT_EQ(f.restarter.calls, 1);
  EXPECT_EQ(f.monitor.state(), HealthState::kHealthy);
  EXPECT_EQ(f.changes, (std::vector<std::string>{"PENDING->HEALTHY", "HEALTHY->UNHEALTHY", "UNHEALTHY->HEALTHY"}));
}

TEST(HealthMonitorTest, FailedProbesRestartAndMoreThanThreeInFiveMinutesFailTheTask) {
  Fixture f;
  f.advance(std::chrono::milliseconds(50));
  f.prober.facts.ready = false;
  f.prober.facts.detail = "/ready did not answer";
  f.advance(std::chrono::seconds(120));
  EXPECT_TRUE(f.monitor.failed());
  EXPECT_EQ(f.restarter.calls, 3);
  EXPECT_EQ(f.monitor.state(), HealthState::kUnhealthy);
  EXPECT_NE(f.monitor.reason().find("/ready did not answer"), std::string::npos) << f.monitor.reason();
}

TEST(HealthMonitorTest, AProxyStillStartingAfterARestartIsNotRestartedAgain) {
  Fixture f;
  f.advance(std::chrono::milliseconds(50));
  f.prober.is_alive = false;
  f.prober.facts.ready = false;  // the new proxy takes a while to answer /ready
  f.advance(std::chrono::seconds(5));
  EXPECT_EQ(f.restarter.calls, 1);
  EXPECT_EQ(f.monitor.state(), HealthState::kUnhealthy);
  f.prober.facts.ready = true;
  f.advance(std::chrono::milliseconds(100));
  EXPECT_EQ(f.monitor.state(), HealthState::kHealthy);
  EXPECT_EQ(f.restarter.calls, 1);
}

TEST(HealthMonitorTest, RestartsSpreadOverMoreThanFiveMinutesAreFine) {
  Fixture f;
  for (int i = 0; i < 6; ++i) {
    f.advance(std::chrono::seconds(1));
    ASSERT_EQ(f.monitor.state(), HealthState::kHealthy) << i;
    f.prober.is_alive = false;
    f.advance(std::chrono::seconds(120));
  }
  EXPECT_FALSE(f.monitor.failed());
  EXPECT_EQ(f.restarter.calls, 6);
}

}  // namespace
}  // namespace sc::health
