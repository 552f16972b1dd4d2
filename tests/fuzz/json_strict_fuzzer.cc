// The strict JSON reader (model/json_input.h): every document a user hands the agent or the
// control plane goes through it first. Invariants:
//   - no crash, no sanitizer report, no deep recursion (depth is checked before parsing);
//   - what it accepts, nlohmann::json accepts too; what it refuses for a reason other than its own
//     limits or a duplicate member, nlohmann::json refuses too;
//   - tighter limits never accept more;
//   - an accepted document round-trips: dump() reads back, strictly, as the same value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/json_input.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using sc::model::Json;
using sc::model::JsonLimits;
using sc::model::parseJsonStrict;

bool refusedByOwnRule(const std::string& message) {
  return message.find("duplicate member") != std::string::npos ||
         message.find("nested deeper than") != std::string::npos ||
         message.find("bytes; the limit is") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = parseJsonStrict(text, "fuzz input");
  auto tight = parseJsonStrict(text, "fuzz input", JsonLimits{.max_bytes = 256, .max_depth = 3});
  const bool plain_accepts = Json::accept(text.begin(), text.end());
  if (!doc.ok()) {
    FUZZ_CHECK(!tight.ok(), "tighter limits accept a document the defaults refuse");
    FUZZ_CHECK(refusedByOwnRule(doc.error().message) || !plain_accepts,
               "refused a document nlohmann::json accepts: " + doc.error().message);
    return 0;
  }
  FUZZ_CHECK(plain_accepts, "accepted a document nlohmann::json refuses");
  (void)sc::model::describeValue(*doc);
  if (tight.ok()) FUZZ_CHECK(*tight == *doc, "tighter limits read a different value");

  const std::string dumped = doc->dump();
  auto back = parseJsonStrict(dumped, "dumped");
  FUZZ_CHECK(back.ok(), "dump() does not read back: " + back.error().message + "\n" + dumped);
  FUZZ_CHECK(*back == *doc, "dump() reads back as a different value:\n" + dumped);
  return 0;
}
