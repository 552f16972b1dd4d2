// Clock: time as a dependency, so timers, backoff and deadlines are testable with a fake.
#pragma once

#include <chrono>

namespace sc {

class Clock {
 public:
  using MonoTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual MonoTime now() const = 0;      // monotonic, for intervals and deadlines
  virtual WallTime wallNow() const = 0;  // wall clock, for timestamps shown to people
  virtual void sleepFor(std::chrono::nanoseconds d) = 0;
};

class RealClock final : public Clock {
 public:
  // Clock
  MonoTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wallNow() const override { return std::chrono::system_clock::now(); }
  void sleepFor(std::chrono::nanoseconds d) override;
};

// The process-wide real clock; wire it in main() and pass a reference down.
Clock& realClock();

}  // namespace sc
