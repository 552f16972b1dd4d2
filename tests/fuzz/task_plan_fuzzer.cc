// The task plan reader (model/plan.h: parseTaskPlan, taskPlanFromJson): the agent reads plans back
// from its state directory and from `scagent plan` output. Invariants:
//   - no crash, no sanitizer report, no uncaught exception;
//   - a plan it reads, written with taskPlanToJson, reads back; and writing that again gives the
//     same text (the writer and the reader agree on every member).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/plan.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto plan = sc::model::parseTaskPlan(text);
  if (!plan.ok()) return 0;
  const std::string written = sc::model::taskPlanToJson(*plan).dump(2);
  auto again = sc::model::parseTaskPlan(written);
  FUZZ_CHECK(again.ok(), "a plan's own JSON does not read back: " + again.error().message + "\n" + written);
  const std::string rewritten = sc::model::taskPlanToJson(*again).dump(2);
  FUZZ_CHECK(rewritten == written, "the plan changes when read back:\n" + written + "\n---\n" + rewritten);
  return 0;
}
