// JSON-lines logging: one object per line on stderr (or a sink set for tests).
//
//   {"ts":"2026-11-25T15:04:00.123Z","level":"info","msg":"task running","task":"abc"}
//
// Library code returns errors and does not log; the reconcile loop and CLIs log once.
// Thread-safe; a line is written with one write(2).
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sc::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using Field = std::pair<std::string_view, std::string>;

void setLevel(Level level);
Level level();
// Parses "debug", "info", "warn", "error"; false when unknown.
bool parseLevel(std::string_view text, Level* out);
// Redirects output (tests); an empty function restores stderr.
void setSinkForTest(std::function<void(std::string_view line)> sink);

// Renders one line (without the newline); exposed for tests.
std::string formatLine(Level level, std::string_view msg, std::initializer_list<Field> fields,
                       std::string_view timestamp);

void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::kDebug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::kInfo, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::kWarn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::kError, m, f); }

}  // namespace sc::log
