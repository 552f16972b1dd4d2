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
