// FakeClock: time that moves only when a test says so.
#pragma once

#include <atomic>

#include "common/clock.h"

namespace sc::testing {

class FakeClock final : public Clock {
 public:
  // Clock
  MonoTime now() const override { return MonoTime(offset()); }
  WallTime wallNow() const override { return WallTime(std::chrono::seconds(1795000000)) + offset(); }
  void sleepFor(std::chrono::nanoseconds d) override { advance(d); }

  void advance(std::chrono::nanoseconds d) { ns_ += d.count(); }

 private:
  std::chrono::nanoseconds offset() const { return std::chrono::nanoseconds(ns_.load()); }
  std::atomic<int64_t> ns_{0};
};

}  // namespace sc::testing
