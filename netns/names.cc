#include "netns/names.h"

#include <algorithm>

namespace sc::netns {

bool isValidTaskId(std::string_view id) {
  if (id.empty() || id.size() > kMaxTaskIdLength) return false;
  if (id.front() == '-' || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

bool isValidIfName(std::string_view name) {
  if (name.empty() || name.size() > 15) return false;
  if (name == "." || name == "..") return false;
  bool all_digits = true;
  for (char c : name) {
    if (c <= ' ' || c > '~' || c == ':' || c == '/' || c == '%') return false;
    if (c < '0' || c > '9') all_digits = false;
  }
  return !all_digits;
}

bool isValidChainName(std::string_view name) {
  if (name.empty() || name.size() > kMaxChainLength) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

bool isValidRuleComment(std::string_view comment) {
  if (!comment.starts_with("sc:")) return false;
  return isValidTaskId(comment.substr(3));
}

Result<void> checkTaskId(std::string_view id) {
  if (isValidTaskId(id)) return ok();
  return makeError(ErrorCode::kInvalidArgument, "accept task id", id,
                   "expected 1-64 characters of [A-Za-z0-9_.-], not starting with '-' or '.'");
}

std::string ruleComment(std::string_view task_id) { return "sc:" + std::string(task_id); }

}  // namespace sc::netns
