// The seed example's documents, loaded once, for model tests that break one thing at a time.
#pragma once

#include <string>

#include "model/json_input.h"
#include "tests/support/golden.h"

namespace sc::testing {

inline model::Json seedJson(const std::string& file) {
  return model::Json::parse(readSource("examples/seed-example/" + file));
}

}  // namespace sc::testing
