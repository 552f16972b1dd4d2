#include "tests/support/golden.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "common/file.h"
#include "common/strings.h"

namespace sc::testing {

std::string sourcePath(const std::string& relative) { return std::string(SC_SOURCE_DIR) + "/" + relative; }

std::string readSource(const std::string& relative) {
  auto r = readFile(sourcePath(relative));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : std::string();
}

void expectGolden(const std::string& golden_relative, const std::string& actual) {
  const std::string path = sourcePath("tests/golden/" + golden_relative);
  const char* update = std::getenv("SC_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    auto w = writeFileAtomic(path, actual);
    ASSERT_TRUE(w.ok()) << w.error().message;
    return;
  }
  auto expected = readFile(path);
  ASSERT_TRUE(expected.ok()) << "missing golden file " << path
                             << " (run with SC_UPDATE_GOLDEN=1 to create it): " << expected.error().message;
  if (*expected == actual) return;
  std::vector<std::string> want = split(*expected, '\n');
  std::vector<std::string> got = split(actual, '\n');
  std::ostringstream diff;
  for (size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    const std::string* w = i < want.size() ? &want[i] : nullptr;
    const std::string* g = i < got.size() ? &got[i] : nullptr;
    if (w && g && *w == *g) continue;
    diff << "line " << i + 1 << ":\n  golden: " << (w ? *w : "<none>") << "\n  actual: " << (g ? *g : "<none>") << "\n";
  }
  ADD_FAILURE() << "rendered text differs from " << path << " (SC_UPDATE_GOLDEN=1 regenerates it)\n" << diff.str();
}

}  // namespace sc::testing
