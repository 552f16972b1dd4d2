#include "common/failpoint.h"

#include <gtest/gtest.h>

#include <chrono>

#include "common/file.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

class FailpointTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(failpoint::set("").ok()); }
};

Result<void> step() {
  SC_FAILPOINT("test.step");
  return ok();
}

TEST_F(FailpointTest, InertWhenUnset) {
  ASSERT_TRUE(failpoint::set("").ok());
  EXPECT_TRUE(step().ok());
}

TEST_F(FailpointTest, ErrorActionFailsTheNamedPointOnly) {
  ASSERT_TRUE(failpoint::set("test.step=error;other=error").ok());
  auto r = step();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInjected);
  EXPECT_EQ(r.error().message, "failed to pass failpoint 'test.step': injected error");
  EXPECT_TRUE(failpoint::check("unrelated").ok());
}

TEST_F(FailpointTest, NthHitOnly) {
  ASSERT_TRUE(failpoint::set("test.step=error@2").ok());
  EXPECT_TRUE(step().ok());
  EXPECT_FALSE(step().ok());
  EXPECT_TRUE(step().ok());
  EXPECT_EQ(failpoint::hits("test.step"), 3);
}

TEST_F(FailpointTest, DelayPassesAfterWaiting) {
  ASSERT_TRUE(failpoint::set("test.step=delay:30").ok());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(step().ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
}

TEST_F(FailpointTest, AbortActionAborts) {
  ASSERT_TRUE(failpoint::set("test.step=abort").ok());
  EXPECT_DEATH({ (void)step(); }, "failpoint abort");
}

TEST_F(FailpointTest, BadSpecsAreRejectedAndChangeNothing) {
  ASSERT_TRUE(failpoint::set("test.step=error").ok());
  for (const char* bad : {"x", "=error", "x=explode", "x=delay:abc", "x=error@0"}) {
    auto r = failpoint::set(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_FALSE(step().ok());  // the earlier setting stands
}

TEST_F(FailpointTest, AtomicWriteFailpointsLeaveOldContent) {
  testing::TempDir d;
  const std::string p = d.file("f");
  ASSERT_TRUE(writeFileAtomic(p, "old").ok());
  for (const char* fp : {"file.write=error", "file.fsync=error", "file.rename=error"}) {
    ASSERT_TRUE(failpoint::set(fp).ok());
    EXPECT_FALSE(writeFileAtomic(p, "new").ok()) << fp;
    EXPECT_EQ(*readFile(p), "old") << fp;
  }
}

}  // namespace
}  // namespace sc
