// Crash windows of the atomic write: a writer that dies at each step leaves the old content, and
// the next write cleans up what the dead writer left.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "common/failpoint.h"
#include "common/file.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

size_t entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

class AtomicWriteCrashTest : public ::testing::TestWithParam<const char*> {};

TEST_P(AtomicWriteCrashTest, OldContentSurvivesAndLeftoversAreCleaned) {
  testing::TempDir d;
  const std::string p = d.file("state.json");
  ASSERT_TRUE(writeFileAtomic(p, "old").ok());
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!failpoint::set(std::string(GetParam()) + "=abort").ok()) _exit(3);
    (void)writeFileAtomic(p, "new");
    _exit(0);  // not reached: the failpoint aborts
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer should have crashed at " << GetParam();
  EXPECT_EQ(*readFile(p), "old");
  ASSERT_TRUE(writeFileAtomic(p, "next").ok());
  EXPECT_EQ(*readFile(p), "next");
  EXPECT_EQ(entries(d.path()), 1u) << "the crashed writer's temporary file is still there";
}

INSTANTIATE_TEST_SUITE_P(EveryStep, AtomicWriteCrashTest, ::testing::Values("file.write", "file.fsync", "file.rename"));

}  // namespace
}  // namespace sc
