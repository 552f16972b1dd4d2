#include "common/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace sc {
namespace {

size_t entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST(FileTest, AtomicWriteReplacesContentAndSetsMode) {
  testing::TempDir d;
  const std::string p = d.file("state.json");
  ASSERT_TRUE(writeFileAtomic(p, "one", 0600).ok());
  ASSERT_TRUE(writeFileAtomic(p, "two", 0640).ok());
  auto r = readFile(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "two");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(entries(d.path()), 1u);  // no temporary file left
}

TEST(FileTest, AtomicWriteIntoMissingDirectoryFailsCleanly) {
  testing::TempDir d;
  auto r = writeFileAtomic(d.file("no/such/dir/x"), "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("failed to create"), std::string::npos);
}

TEST(FileTest, ReadFileRefusesOversizedFiles) {
  testing::TempDir d;
  testing::writeTestFile(d.file("big"), std::string(2048, 'a'));
  auto r = readFile(d.file("big"), 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("larger than 1024 bytes"), std::string::npos);
}

// Files in directories a task or proxy can write: a symlink is not followed, a FIFO does not block.
TEST(FileTest, RegularFileReadsRefuseSymlinksAndFifosWithoutBlocking) {
  testing::TempDir dir;
  testing::writeTestFile(dir.file("plain"), "x");
  EXPECT_EQ(*readRegularFile(dir.file("plain")), "x");
  std::filesystem::create_symlink(dir.file("plain"), dir.file("link"));
  auto link = readRegularFile(dir.file("link"));
  ASSERT_FALSE(link.ok());
  EXPECT_NE(link.error().message.find("symlink"), std::string::npos) << link.error().message;
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  auto fifo = readRegularFile(dir.file("fifo"));  // a blocking open would hang here
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos) << fifo.error().message;
  EXPECT_FALSE(openRegularForAppend(dir.file("link")).ok());
  EXPECT_FALSE(openRegularForAppend(dir.file("fifo")).ok());
  auto fd = openRegularForAppend(dir.file("new.log"));
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("new.log")));
}

TEST(FileTest, MakeDirsCreatesParentsAndIsIdempotent) {
  testing::TempDir d;
  ASSERT_TRUE(makeDirs(d.file("a/b/c")).ok());
  ASSERT_TRUE(makeDirs(d.file("a/b/c")).ok());
  EXPECT_TRUE(std::filesystem::is_directory(d.file("a/b/c")));
  testing::writeTestFile(d.file("f"), "x");
  EXPECT_FALSE(makeDirs(d.file("f")).ok());
}

}  // namespace
}  // namespace sc
