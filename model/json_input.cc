#include "model/json_input.h"

#include <cstdio>
#include <set>
#include <vector>

namespace sc::model {

std::string childPath(std::string_view parent, std::string_view member) {
  std::string p(parent);
  if (!p.empty()) p += '.';
  p += member;
  return p;
}

std::string indexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string describeValue(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::null:
      return "null";
    default:
      break;
  }
  std::string s;
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v.get<double>());
    s = buf;
  } else {
    s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

namespace {

// Tracks where the parser is, to name duplicate members and over-deep values by path.
struct Frame {
  bool is_object = false;
  size_t index = 0;            // arrays: index of the next element
  std::string key;             // objects: the member being parsed
  std::set<std::string> keys;  // objects: members seen so far
};

}  // namespace

Result<Json> parseJsonStrict(std::string_view text, std::string_view what, JsonLimits limits) {
  const std::string obj(what);
  if (text.size() > limits.max_bytes) {
    return makeError(
        ErrorCode::kInvalidArgument, "parse", obj,
        "document is " + std::to_string(text.size()) + " bytes; the limit is " + std::to_string(limits.max_bytes));
  }
  // Depth is checked before parsing: a hostile document must not reach any recursive code.
  {
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
      if (in_string) {
        if (escaped)
          escaped = false;
        else if (c == '\\')
          escaped = true;
        else if (c == '"')
          in_string = false;
        continue;
      }
      if (c == '"')
        in_string = true;
      else if (c == '{' || c == '[') {
        if (++depth > limits.max_depth) {
          return makeError(ErrorCode::kInvalidArgument, "parse", obj,
                           "nested deeper than " + std::to_string(limits.max_depth) + " levels");
        }
      } else if (c == '}' || c == ']') {
        --depth;
      }
    }
  }

  std::vector<Frame> stack;
  std::string dup_error;
  auto pathOf = [&](size_t upto) {
    std::string p;
    for (size_t i = 0; i < upto && i < stack.size(); ++i) {
      const Frame& f = stack[i];
      if (f.is_object)
        p = childPath(p, f.key);
      else
        p = indexPath(p, f.index);
    }
    return p;
  };
  // Called after a value (scalar or container) completes inside the current frame.
  auto valueDone = [&] {
    if (!stack.empty() && !stack.back().is_object) ++stack.back().index;
  };
  Json::parser_callback_t cb = [&](int /*depth*/, Json::parse_event_t ev, Json& parsed) -> bool {
    switch (ev) {
      case Json::parse_event_t::object_start:
        stack.push_back(Frame{true, 0, {}, {}});
        break;
      case Json::parse_event_t::array_start:
        stack.push_back(Frame{false, 0, {}, {}});
        break;
      case Json::parse_event_t::key: {
        Frame& f = stack.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second && dup_error.empty()) {
          std::string where = pathOf(stack.size() - 1);
          dup_error =
              (where.empty() ? std::string("the top-level object") : where) + ": duplicate member '" + f.key + "'";
        }
        break;
      }
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        stack.pop_back();
        valueDone();
        break;
      case Json::parse_event_t::value:
        valueDone();
        break;
    }
    return true;
  };

  Json j = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false,
                       /*ignore_comments=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions for the parser's own description (byte offset and what it saw).
    try {
      Json ignored = Json::parse(text.begin(), text.end());
      (void)ignored;
    } catch (const std::exception& e) {
      std::string why = e.what();
      // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> drop the tag.
      if (why.starts_with("[json.exception.")) {
        if (size_t p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
      }
      return makeError(ErrorCode::kInvalidArgument, "parse", obj, "invalid JSON: " + why);
    }
    return makeError(ErrorCode::kInvalidArgument, "parse", obj, "invalid JSON");
  }
  if (!dup_error.empty()) return makeError(ErrorCode::kInvalidArgument, "parse", obj, dup_error);
  return j;
}

}  // namespace sc::model
