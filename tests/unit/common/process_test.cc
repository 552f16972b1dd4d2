#include "common/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace sc {
namespace {

TEST(ProcessTest, CapturesStdoutStderrAndExitStatus) {
  auto r = runProcess({.path = "/bin/sh", .args = {"-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->success());
  EXPECT_EQ(r->describe(), "exit status 3: err");
}

TEST(ProcessTest, ArgumentsAreNotInterpretedByAShell) {
  // One argument with shell syntax arrives verbatim.
  auto r = runProcess({.path = "/bin/echo", .args = {"a; rm -rf / $(x) `y`"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "a; rm -rf / $(x) `y`\n");
}

TEST(ProcessTest, FeedsStdin) {
  std::string big(200000, 'x');  // larger than a pipe buffer
  auto r = runProcess({.path = "/usr/bin/wc", .args = {"-c"}, .stdin_data = big});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::stoul(r->out), big.size());
}

TEST(ProcessTest, ChildThatIgnoresStdinDoesNotKillUs) {
  // The child exits without reading: our write gets EPIPE, not SIGPIPE.
  auto r = runProcess({.path = "/bin/true", .stdin_data = std::string(1 << 20, 'x')});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
}

TEST(ProcessTest, MissingProgramIsAnErrorWithErrno) {
  auto r = runProcess({.path = "/nonexistent/program"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sys_errno, ENOENT);
  EXPECT_EQ(r.error().message, "failed to run '/nonexistent/program': No such file or directory");
}

TEST(ProcessTest, RelativePathIsRefused) {
  auto r = runProcess({.path = "echo"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(ProcessTest, DeadlineKillsTheChild) {
  auto r = runProcess({.path = "/bin/sleep", .args = {"30"}, .timeout = std::chrono::milliseconds(100)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
}

TEST(ProcessTest, SignalledChildIsReported) {
  auto r = runProcess({.path = "/bin/sh", .args = {"-c", "kill -9 $$"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->term_signal, 9);
  EXPECT_EQ(r->describe(), "killed by signal 9");
}

TEST(ProcessTest, ChildSeesOnlyStandardDescriptors) {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 3);
  auto r = runProcess({.path = "/bin/ls", .args = {"-1", "/proc/self/fd"}});
  ::close(fd);
  ASSERT_TRUE(r.ok());
  // 0, 1, 2 and the one ls opens to read the directory; a leaked descriptor would be a fifth.
  size_t lines = 0;
  for (char c : r->out) lines += c == '\n';
  EXPECT_EQ(lines, 4u) << r->out;
}

TEST(ProcessTest, OutputIsCapped) {
  auto r = runProcess({.path = "/usr/bin/head", .args = {"-c", "100000", "/dev/zero"}, .max_output = 1000});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 1000u);
}

TEST(ProcessTest, DefaultEnvironmentIsMinimal) {
  ::setenv("SC_SECRET_FOR_TEST", "leak", 1);
  auto r = runProcess({.path = "/usr/bin/env"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.find("SC_SECRET_FOR_TEST"), std::string::npos);
  EXPECT_NE(r->out.find("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), std::string::npos);
}

}  // namespace
}  // namespace sc
