// Files: whole-file reads and crash-safe writes.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sc {

// Reads a whole file. Refuses files larger than `max_bytes`.
Result<std::string> readFile(const std::string& path, size_t max_bytes = 64u << 20);

// For files in directories someone else can write (a task's or a proxy's): opened with O_NOFOLLOW
// and O_NONBLOCK, so a symlink is not followed and a FIFO does not block; anything but a regular file
// is refused with "not a regular file".
Result<std::string> readRegularFile(const std::string& path, size_t max_bytes = 1u << 20);
// Opens (creating, mode 0640) a regular file to append to, the same way; a blocking descriptor.
Result<UniqueFd> openRegularForAppend(const std::string& path);

// Replaces `path` atomically: writes a temporary file in the same directory, fsyncs it, sets
// `mode`, renames it over `path` and fsyncs the directory. After a crash the file holds either the
// old or the new content, never a mix. On failure the temporary file is removed and `path` is
// untouched; temporary files left by writers that crashed are removed on the next write.
// Failpoints: `file.write`, `file.fsync`, `file.rename`.
Result<void> writeFileAtomic(const std::string& path, std::string_view content, mode_t mode = 0644);

// Creates a directory and its parents (like mkdir -p); existing directories are fine.
Result<void> makeDirs(const std::string& path, mode_t mode = 0755);

}  // namespace sc
