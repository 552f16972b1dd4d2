#include "common/failpoint.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/log.h"
#include "common/strings.h"

namespace sc::failpoint {
namespace {

enum class Action { kError, kDelay, kAbort };

struct Point {
  Action action = Action::kError;
  int delay_ms = 0;
  int only_hit = 0;  // 0: every hit
  int hits = 0;
};

std::mutex g_mu;
std::map<std::string, Point, std::less<>> g_points;

Result<std::map<std::string, Point, std::less<>>> parse(std::string_view spec) {
  std::map<std::string, Point, std::less<>> out;
  for (const std::string& raw : split(spec, ';')) {
    std::string_view entry = trim(raw);
    if (entry.empty()) continue;
    auto bad = [&](std::string_view why) {
      return makeError(ErrorCode::kInvalidArgument, "parse failpoint", entry, why);
    };
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) return bad("expected name=action");
    std::string name(trim(entry.substr(0, eq)));
    std::string_view action = trim(entry.substr(eq + 1));
    Point p;
    if (size_t at = action.find('@'); at != std::string_view::npos) {
      auto n = parseUint(action.substr(at + 1), 1'000'000);
      if (!n || *n == 0) return bad("expected @<hit number> counting from 1");
      p.only_hit = static_cast<int>(*n);
      action = action.substr(0, at);
    }
    if (action == "error") {
      p.action = Action::kError;
    } else if (action == "abort") {
      p.action = Action::kAbort;
    } else if (action.starts_with("delay:")) {
      auto ms = parseUint(action.substr(6), 3'600'000);
      if (!ms) return bad("expected delay:<milliseconds>");
      p.action = Action::kDelay;
      p.delay_ms = static_cast<int>(*ms);
    } else {
      return bad("unknown action; expected error, delay:<ms> or abort");
    }
    out[name] = p;
  }
  return out;
}

Result<void> setImpl(std::string_view spec) {
  SC_ASSIGN_OR_RETURN(auto points, parse(spec));
  std::lock_guard lock(g_mu);
  g_points = std::move(points);
  detail::g_armed.store(!g_points.empty());
  return {};
}

}  // namespace

namespace detail {

std::atomic<bool> g_armed{false};

void initOnce() {
  static const bool done = [] {
    const char* env = std::getenv("SC_FAILPOINTS");
    if (env != nullptr && *env != '\0') {
      if (auto r = setImpl(env); !r.ok()) log::warn("ignoring SC_FAILPOINTS", {{"error", r.error().message}});
    }
    return true;
  }();
  (void)done;
}

Result<void> checkSlow(std::string_view name) {
  Point p;
  {
    std::lock_guard lock(g_mu);
    auto it = g_points.find(name);
    if (it == g_points.end()) return {};
    ++it->second.hits;
    if (it->second.only_hit != 0 && it->second.hits != it->second.only_hit) return {};
    p = it->second;
  }
  switch (p.action) {
    case Action::kDelay:
      std::this_thread::sleep_for(std::chrono::milliseconds(p.delay_ms));
      return {};
    case Action::kAbort:
      log::error("failpoint abort", {{"failpoint", std::string(name)}});
      std::abort();
    case Action::kError:
      break;
  }
  return makeError(ErrorCode::kInjected, "pass failpoint", name, "injected error");
}

}  // namespace detail

Result<void> set(std::string_view spec) {
  detail::initOnce();
  return setImpl(spec);
}

int hits(std::string_view name) {
  std::lock_guard lock(g_mu);
  auto it = g_points.find(name);
  return it == g_points.end() ? 0 : it->second.hits;
}

}  // namespace sc::failpoint
