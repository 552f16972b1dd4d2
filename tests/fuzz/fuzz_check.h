// FUZZ_CHECK: an invariant of a fuzz target. When it does not hold, the input and the reason are
// printed and the process aborts, which libFuzzer reports as a crash and saves as a reproducer.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace sc::fuzz {

[[noreturn]] inline void invariantBroken(const char* expr, const std::string& why, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n%s\n", file, line, expr, why.c_str());
  std::abort();
}

}  // namespace sc::fuzz

#define FUZZ_CHECK(cond, why)                                                   \
  do {                                                                          \
    if (!(cond)) ::sc::fuzz::invariantBroken(#cond, (why), __FILE__, __LINE__); \
  } while (false)
