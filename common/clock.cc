#include "common/clock.h"

#include <thread>

namespace sc {

void RealClock::sleepFor(std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); }

Clock& realClock() {
  static RealClock clock;
  return clock;
}

}  // namespace sc
