#include "tests/support/root_guard.h"

#include <unistd.h>

#include <cstdlib>

namespace sc::testing {

std::string rootUnavailableReason() {
  if (::geteuid() != 0) return "not running as root (run the suite with sudo scripts/test)";
  return {};
}

bool rootRequired() {
  const char* ci = std::getenv("CI");
  const char* req = std::getenv("SC_REQUIRE_ROOT");
  return (ci != nullptr && *ci != '\0') || (req != nullptr && *req != '\0' && std::string(req) != "0");
}

}  // namespace sc::testing
