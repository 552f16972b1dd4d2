// Root tests need root. Outside CI they skip, loudly; inside CI (CI or SC_REQUIRE_ROOT set) a
// missing privilege is a failure, so a root suite can never pass by skipping.
#pragma once

#include <gtest/gtest.h>

namespace sc::testing {

// Empty when the test may run; otherwise why not.
std::string rootUnavailableReason();
bool rootRequired();

}  // namespace sc::testing

#define SC_REQUIRE_ROOT()                                                                        \
  do {                                                                                           \
    const std::string sc_reason_ = ::sc::testing::rootUnavailableReason();                       \
    if (!sc_reason_.empty()) {                                                                   \
      if (::sc::testing::rootRequired()) FAIL() << "root test cannot run in CI: " << sc_reason_; \
      GTEST_SKIP() << "SKIPPED (needs root): " << sc_reason_;                                    \
    }                                                                                            \
  } while (false)
