#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "common/strings.h"

namespace sc::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_sink_mu;
std::function<void(std::string_view)> g_sink;

std::string_view levelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::string nowUtc() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto secs = time_point_cast<seconds>(now);
  const auto ms = duration_cast<milliseconds>(now - secs).count();
  const std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

void setLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level level() { return static_cast<Level>(g_level.load()); }

bool parseLevel(std::string_view text, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == levelName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

void setSinkForTest(std::function<void(std::string_view)> sink) {
  std::lock_guard lock(g_sink_mu);
  g_sink = std::move(sink);
}

std::string formatLine(Level lvl, std::string_view msg, std::initializer_list<Field> fields,
                       std::string_view timestamp) {
  std::string line;
  line.reserve(64 + msg.size());
  line += "{\"ts\":";
  appendJsonString(line, timestamp);
  line += ",\"level\":";
  appendJsonString(line, levelName(lvl));
  line += ",\"msg\":";
  appendJsonString(line, msg);
  for (const auto& [k, v] : fields) {
    line += ',';
    appendJsonString(line, k);
    line += ':';
    appendJsonString(line, v);
  }
  line += '}';
  return line;
}

void write(Level lvl, std::string_view msg, std::initializer_list<Field> fields) {
  if (static_cast<int>(lvl) < g_level.load(std::memory_order_relaxed)) return;
  std::string line = formatLine(lvl, msg, fields, nowUtc());
  std::lock_guard lock(g_sink_mu);
  if (g_sink) {
    g_sink(line);
    return;
  }
  line += '\n';
  // One write keeps lines whole when several processes share stderr.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace sc::log
