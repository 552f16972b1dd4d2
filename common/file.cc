#include "common/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <random>

#include "common/failpoint.h"
#include "common/unique_fd.h"

namespace sc {
namespace {

std::string dirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<void> writeAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError(errno, "write", what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ok();
}

// A writer that crashed between create and rename leaves "<name>.tmp.<pid>.<n>"; remove those
// whose writer is gone, so crash windows do not accumulate files in state directories.
void removeStaleTemps(const std::string& path) {
  const std::string dir = dirOf(path);
  const std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  const std::string prefix = base + ".tmp.";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (!name.starts_with(prefix)) continue;
    std::string_view rest = name.substr(prefix.size());
    pid_t pid = static_cast<pid_t>(std::atoi(std::string(rest.substr(0, rest.find('.'))).c_str()));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlinkat(::dirfd(d), e->d_name, 0);
  }
  ::closedir(d);
}

}  // namespace

namespace {

// Everything `fd` holds, at most `max_bytes`.
Result<std::string> readAll(int fd, const std::string& path, size_t max_bytes) {
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError(errno, "read", path);
    }
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return makeError(ErrorCode::kInvalidArgument, "read", path,
                       "larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

Result<std::string> readFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errnoError(errno, "read", path);
  return readAll(fd.get(), path, max_bytes);
}

namespace {

// `fd` (opened with O_NONBLOCK) is a regular file; then blocking again.
Result<UniqueFd> regularOnly(UniqueFd fd, const std::string& path, std::string_view verb) {
  if (!fd.valid()) {
    if (errno == ELOOP) return makeError(ErrorCode::kPermission, verb, path, "a symlink (not followed)");
    return errnoError(errno, verb, path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errnoError(errno, verb, path);
  if (!S_ISREG(st.st_mode)) return makeError(ErrorCode::kPermission, verb, path, "not a regular file");
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return errnoError(errno, verb, path);
  return fd;
}

}  // namespace

Result<std::string> readRegularFile(const std::string& path, size_t max_bytes) {
  SC_ASSIGN_OR_RETURN(
      UniqueFd fd,
      regularOnly(UniqueFd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)), path, "read"));
  return readAll(fd.get(), path, max_bytes);
}

Result<UniqueFd> openRegularForAppend(const std::string& path) {
  return regularOnly(
      UniqueFd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640)), path,
      "open");
}

Result<void> writeFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  removeStaleTemps(path);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rng() % 1000000);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return errnoError(errno, "create", tmp);
  auto fail = [&](Error e) -> Result<void> {
    ::unlink(tmp.c_str());
    return e;
  };
  if (auto r = failpoint::check("file.write"); !r.ok()) return fail(r.error().context("write", path));
  if (auto r = writeAll(fd.get(), content, tmp); !r.ok()) return fail(r.error());
  if (::fchmod(fd.get(), mode) != 0) return fail(errnoError(errno, "chmod", tmp));
  if (auto r = failpoint::check("file.fsync"); !r.ok()) return fail(r.error().context("fsync", tmp));
  if (::fsync(fd.get()) != 0) return fail(errnoError(errno, "fsync", tmp));
  fd.reset();
  if (auto r = failpoint::check("file.rename"); !r.ok()) return fail(r.error().context("rename", tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(errnoError(errno, "rename", tmp));
  // Persist the rename itself.
  const std::string dir = dirOf(path);
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid()) return errnoError(errno, "open", dir);
  if (::fsync(dfd.get()) != 0) return errnoError(errno, "fsync", dir);
  return ok();
}

Result<void> makeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return makeError(ErrorCode::kInvalidArgument, "create", path, "empty path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return errnoError(errno, "create", cur);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errnoError(errno, "create", path);
  if (!S_ISDIR(st.st_mode)) {
    return makeError(ErrorCode::kAlreadyExists, "create", path, "exists and is not a directory");
  }
  return ok();
}

}  // namespace sc
