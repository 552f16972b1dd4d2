#include "common/result.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace sc {
namespace {

Result<int> half(int v) {
  if (v % 2) return makeError(ErrorCode::kInvalidArgument, "halve", std::to_string(v), "odd");
  return v / 2;
}

Result<int> quarter(int v) {
  SC_ASSIGN_OR_RETURN(int h, half(v));
  SC_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Result<void> quarterCtx(int v) {
  SC_TRY_CTX(quarter(v), "plan", "task-1");
  return ok();
}

TEST(ResultTest, MessagesReadFailedToVerbObjectCause) {
  Error e = makeError(ErrorCode::kNotFound, "open", "/x", "no such file");
  EXPECT_EQ(e.message, "failed to open '/x': no such file");
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
}

TEST(ResultTest, ErrnoErrorKeepsErrnoAndMapsCode) {
  Error e = errnoError(ENOENT, "read", "/etc/nothing");
  EXPECT_EQ(e.sys_errno, ENOENT);
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  EXPECT_EQ(e.message, "failed to read '/etc/nothing': No such file or directory");
  EXPECT_EQ(errnoError(EACCES, "x", "y").code, ErrorCode::kPermission);
}

TEST(ResultTest, AssignOrReturnPropagatesTheFirstError) {
  auto r = quarter(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 2);
  auto bad = quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "failed to halve '3': odd");
}

TEST(ResultTest, TryCtxAddsOneClause) {
  auto r = quarterCtx(5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "failed to plan 'task-1': failed to halve '5': odd");
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(quarterCtx(4).ok());
}

TEST(ResultTest, BoolValuesAreNotTestedImplicitly) {
  Result<bool> r = false;
  ASSERT_TRUE(r.ok());  // has a value even though the value is false
  EXPECT_FALSE(*r);
  static_assert(!std::is_convertible_v<Result<bool>, bool>);
}

}  // namespace
}  // namespace sc
