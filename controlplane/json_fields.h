// Small readers of the control plane's JSON documents.
#pragma once

#include <string>

#include "model/json_input.h"

namespace sc::controlplane {

// The string member `name`, or `def` when it is absent or not a string.
inline std::string str(const model::Json& j, const char* name, const std::string& def = "") {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

// What follows the last '/' of an ARN or key ("arn:...:task/c/abc" -> "abc").
inline std::string afterSlash(const std::string& ref) {
  auto p = ref.rfind('/');
  return p == std::string::npos ? ref : ref.substr(p + 1);
}

}  // namespace sc::controlplane
