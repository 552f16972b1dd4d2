// Failpoints: named places where a test can make the code fail, stall or crash.
//
//   SC_FAILPOINTS="netns.create_veth=error;proxy.launch=delay:200;agent.after_sandbox=abort@2"
//
// Actions: `error` (the check returns an kInjected error), `delay:<ms>` (sleeps, then passes),
// `abort` (the process aborts: a crash window). `@N` limits the action to the N-th hit (1-based).
// With SC_FAILPOINTS unset, check() costs one predictable branch.
#pragma once

#include <atomic>
#include <string_view>

#include "common/result.h"

namespace sc::failpoint {

namespace detail {
extern std::atomic<bool> g_armed;
void initOnce();
Result<void> checkSlow(std::string_view name);
}  // namespace detail

inline Result<void> check(std::string_view name) {
  detail::initOnce();
  if (!detail::g_armed.load(std::memory_order_relaxed)) return {};
  return detail::checkSlow(name);
}

// Replaces every failpoint with those in `spec` (same syntax as SC_FAILPOINTS); "" clears.
// An invalid spec is an error and changes nothing.
Result<void> set(std::string_view spec);

// How often `name` was checked since it was last set (for tests).
int hits(std::string_view name);

}  // namespace sc::failpoint

#define SC_FAILPOINT(name) SC_TRY(::sc::failpoint::check(name))
