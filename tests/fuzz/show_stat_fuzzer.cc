// HAProxy's `show stat` CSV parser (inject/runtime_api.h: parseShowStat), with the two other
// readers of runtime API answers, parseShowInfo and runtimeAnswerOk. Invariants:
//   - no crash, no sanitizer report;
//   - one row per non-empty data line after a header, each with a column of that header;
//   - `show info` keys and values carry no surrounding blanks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "inject/runtime_api.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// Data lines of `show stat` text: non-empty lines after the first "# " header line.
size_t dataLines(std::string_view text) {
  size_t n = 0;
  bool header = false;
  for (const std::string& line : sc::split(text, '\n')) {
    if (line.empty()) continue;
    if (line.starts_with("# ")) {
      header = true;
    } else if (header) {
      ++n;
    }
  }
  return n;
}

bool blankAtEnds(const std::string& s) { return !s.empty() && (sc::trim(s).size() != s.size()); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto rows = sc::inject::parseShowStat(text);
  FUZZ_CHECK(rows.size() == dataLines(text), "rows: " + std::to_string(rows.size()));
  for (const auto& row : rows) FUZZ_CHECK(!row.empty(), "a row without columns");

  for (const auto& [key, value] : sc::inject::parseShowInfo(text)) {
    FUZZ_CHECK(!blankAtEnds(key) && !blankAtEnds(value), "blanks around '" + key + "': '" + value + "'");
  }
  std::string first_error;
  if (!sc::inject::runtimeAnswerOk(text, &first_error)) {
    FUZZ_CHECK(text.find(first_error) != std::string_view::npos, "the error line is not in the answer");
  }
  return 0;
}
