// Golden files: compare rendered text byte for byte with tests/golden/<relpath>.
// SC_UPDATE_GOLDEN=1 rewrites the files instead (review the diff before committing).
#pragma once

#include <string>

namespace sc::testing {

std::string sourcePath(const std::string& relative);  // <repo>/<relative>
std::string readSource(const std::string& relative);  // aborts the test on failure

// Adds a gtest failure with a line diff when `actual` differs from the golden file.
void expectGolden(const std::string& golden_relative, const std::string& actual);

}  // namespace sc::testing
