// A per-test temporary directory, removed with everything in it.
#pragma once

#include <string>

namespace sc::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `content` to `path` (creating or truncating); fails the test on error.
void writeTestFile(const std::string& path, const std::string& content);

}  // namespace sc::testing
