// Strict JSON input: what every user-supplied document goes through before anything reads it.
//
// Beyond RFC 8259 (which nlohmann::json checks, UTF-8 included) this refuses documents over a
// size limit, nesting deeper than a limit and objects with a duplicate member name (which JSON
// parsers otherwise resolve silently, each in its own way). Errors name the JSON path.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sc::model {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

struct JsonLimits {
  size_t max_bytes = 1u << 20;  // ECS caps a task definition at 64 KiB; allow generous room
  int max_depth = 32;
};

// Parses `text`; `what` names the document in errors ("task definition 'td.json'").
Result<Json> parseJsonStrict(std::string_view text, std::string_view what, JsonLimits limits = {});

// Appends a member or index to a JSON path: "a" + "b" = "a.b"; "a" + 3 = "a[3]".
std::string childPath(std::string_view parent, std::string_view member);
std::string indexPath(std::string_view parent, size_t index);

// A short rendering of a value for error messages: `"81"`, `81.5`, `an object`, `an array`.
std::string describeValue(const Json& v);

}  // namespace sc::model
