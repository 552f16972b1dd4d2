#include "inject/app_rootfs.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"
#include "common/strings.h"

namespace sc::inject {

struct RootfsPlan {
  struct Tmpfs {
    char* path;  // relative, scratch
    const char* const* kv;
    uint64_t attrs;
  };
  const char* image = nullptr;
  const char* upper = nullptr;
  const char* work = nullptr;
  const char* merged = nullptr;
  const char* hosts = nullptr;  // host path; nullptr: none
  char* hosts_in = nullptr;     // "etc/hosts", scratch
  const char* run_dir = nullptr;
  char* run_dir_in = nullptr;  // relative, scratch
  const char* shm_size = nullptr;
  bool readonly = false;
  const Tmpfs* tmpfs = nullptr;
  size_t tmpfs_count = 0;
};

namespace {

enum : int {
  kStepOverlay = kRootfsStepBase,
  kStepRoot,
  kStepProc,
  kStepProcMask,
  kStepProcReadOnly,
  kStepDev,
  kStepDevNode,
  kStepShm,
  kStepTmp,
  kStepHosts,
  kStepRunDir,
  kStepTmpfs,
  kStepReadOnlyRoot,
  kStepPivot,
  kStepEnd
};

constexpr const char* kStepNames[] = {"mount the image layer",
                                      "open the container root",
                                      "mount /proc",
                                      "mask /proc paths",
                                      "make /proc paths read-only",
                                      "mount /dev",
                                      "bind a /dev node",
                                      "mount /dev/shm",
                                      "mount /tmp",
                                      "bind /etc/hosts",
                                      "bind the run directory",
                                      "mount a tmpfs (linuxParameters.tmpfs)",
                                      "make the root read-only",
                                      "pivot_root"};

// runc's default masked paths that exist under /proc (/sys is not mounted in an app at all).
constexpr const char* kMaskedProc[] = {"proc/acpi",        "proc/asound",        "proc/interrupts", "proc/kcore",
                                       "proc/keys",        "proc/latency_stats", "proc/timer_list", "proc/timer_stats",
                                       "proc/sched_debug", "proc/scsi"};
constexpr const char* kReadOnlyProc[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger"};

int openat2Path(int dirfd, const char* path, uint64_t flags) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC | flags;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

// The directory `rel` beneath `root` (O_PATH), each missing component made (0755) in the writable
// layer; a component that is not a directory there is replaced by one. `rel` is scratch: separators
// are put back before returning.
int dirIn(int root, char* rel) {
  int parent = fcntl(root, F_DUPFD_CLOEXEC, 0);
  if (parent < 0) return -1;
  char* name = rel;
  for (char* p = rel;; ++p) {
    if (*p != '/' && *p != '\0') continue;
    const char end = *p;
    *p = '\0';
    int fd = openat2Path(root, rel, O_DIRECTORY);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
      // Missing, or a file or a symlink that leads nowhere inside the root: replaced by a directory
      // in the writable layer (unlinkat never removes a directory).
      if (mkdirat(parent, name, 0755) != 0 && errno == EEXIST && unlinkat(parent, name, 0) == 0) {
        mkdirat(parent, name, 0755);
      }
      fd = openat2Path(root, rel, O_DIRECTORY);
    }
    *p = end;
    const int err = errno;
    close(parent);
    errno = err;
    if (fd < 0) return -1;
    if (end == '\0') return fd;
    parent = fd;
    name = p + 1;
  }
}

// The regular file `rel` beneath `root` (O_PATH), created empty in the writable layer when missing.
// A FIFO, socket, device or symlink there is unlinked first (never opened); a directory is an error.
int fileIn(int root, char* rel) {
  char* slash = std::strrchr(rel, '/');
  int dir;
  const char* base = rel;
  if (slash) {
    *slash = '\0';
    dir = dirIn(root, rel);
    *slash = '/';
    base = slash + 1;
  } else {
    dir = fcntl(root, F_DUPFD_CLOEXEC, 0);
  }
  if (dir < 0) return -1;
  int fd = openat(dir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return -1;
    if (S_ISREG(st.st_mode)) return fd;
    close(fd);
    if (S_ISDIR(st.st_mode)) {
      errno = EISDIR;
      return -1;
    }
    if (unlinkat(dir, base, 0) != 0) return -1;
  } else if (errno != ENOENT) {
    return -1;
  }
  int w = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (w < 0) return -1;
  close(w);
  return openat(dir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

// Attaches the detached mount `mnt` on `target`; closes both. -1 when either is -1.
int attach(int mnt, int target) {
  if (mnt < 0 || target < 0) return -1;
  int r =
      static_cast<int>(syscall(SYS_move_mount, mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
  const int err = errno;
  close(mnt);
  close(target);
  errno = err;
  return r;
}

// A new detached mount of filesystem `type`, configured with string pairs `kv` (nullptr-ended).
int newFs(const char* type, const char* const* kv, uint64_t attrs) {
  int fs = static_cast<int>(syscall(SYS_fsopen, type, FSOPEN_CLOEXEC));
  if (fs < 0) return -1;
  for (; kv && kv[0]; kv += 2) {
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, kv[0], kv[1], 0) != 0) return -1;
  }
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return -1;
  int m = static_cast<int>(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, static_cast<unsigned>(attrs)));
  close(fs);
  return m;
}

// A detached copy of the mount at `dirfd`/`path` (AT_RECURSIVE in `flags`: with what is below), with
// `attrs` set on it.
int cloneTree(int dirfd, const char* path, unsigned flags, uint64_t attrs) {
  int m = static_cast<int>(syscall(SYS_open_tree, dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | flags));
  if (m < 0 || attrs == 0) return m;
  mount_attr a{};
  a.attr_set = attrs;
  if (syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH | (flags & AT_RECURSIVE), &a, sizeof a) != 0) return -1;
  return m;
}

int mountProc(int root) {
  char rel[] = "proc";
  if (attach(newFs("proc", nullptr, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC), dirIn(root, rel)) != 0)
    return kStepProc;
  for (const char* path : kMaskedProc) {
    int t = openat2Path(root, path, O_NOFOLLOW);
    if (t < 0 && errno == ENOENT) continue;
    struct stat st {};
    if (t < 0 || fstat(t, &st) != 0) return kStepProcMask;
    int m = S_ISDIR(st.st_mode) ? newFs("tmpfs", nullptr, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
                                : cloneTree(AT_FDCWD, "/dev/null", 0, 0);
    if (attach(m, t) != 0) return kStepProcMask;
  }
  for (const char* path : kReadOnlyProc) {
    int t = openat2Path(root, path, O_NOFOLLOW);
    if (t < 0 && errno == ENOENT) continue;
    const uint64_t ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if (t < 0 || attach(cloneTree(t, "", AT_EMPTY_PATH | AT_RECURSIVE, ro), t) != 0) return kStepProcReadOnly;
  }
  return 0;
}

int mountDev(int root, const char* shm_size) {
  char rel[] = "dev";
  const char* const dev_kv[] = {"mode", "755", "size", "64k", nullptr};
  const uint64_t safe = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  if (attach(newFs("tmpfs", dev_kv, safe), dirIn(root, rel)) != 0) return kStepDev;
  for (const char* node : {"null", "zero", "random", "urandom"}) {
    char in[16] = "dev/";
    char host[16] = "/dev/";
    std::strcat(in, node);
    std::strcat(host, node);
    if (attach(cloneTree(AT_FDCWD, host, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC), fileIn(root, in)) != 0)
      return kStepDevNode;
  }
  int dev = openat2Path(root, "dev", O_DIRECTORY);
  if (dev < 0) return kStepDev;
  const char* const links[][2] = {{"/proc/self/fd", "fd"},
                                  {"/proc/self/fd/0", "stdin"},
                                  {"/proc/self/fd/1", "stdout"},
                                  {"/proc/self/fd/2", "stderr"}};
  for (const auto& l : links)
    if (symlinkat(l[0], dev, l[1]) != 0) return kStepDev;
  close(dev);
  char shm[] = "dev/shm";
  const char* const shm_kv[] = {"mode", "1777", "size", shm_size, nullptr};
  if (attach(newFs("tmpfs", shm_kv, safe), dirIn(root, shm)) != 0) return kStepShm;
  return 0;
}

int mountRest(int root, const RootfsPlan* p) {
  char tmp[] = "tmp";
  const char* const tmp_kv[] = {"mode", "1777", "size", "16m", nullptr};
  if (attach(newFs("tmpfs", tmp_kv, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV), dirIn(root, tmp)) != 0) return kStepTmp;
  if (p->hosts && attach(cloneTree(AT_FDCWD, p->hosts, 0, MOUNT_ATTR_RDONLY), fileIn(root, p->hosts_in)) != 0)
    return kStepHosts;
  if (attach(cloneTree(AT_FDCWD, p->run_dir, 0, 0), dirIn(root, p->run_dir_in)) != 0) return kStepRunDir;
  for (size_t i = 0; i < p->tmpfs_count; ++i) {
    const RootfsPlan::Tmpfs& t = p->tmpfs[i];
    const uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | t.attrs;
    if (attach(newFs("tmpfs", t.kv, attrs), dirIn(root, t.path)) != 0) return kStepTmpfs;
  }
  return 0;
}

}  // namespace

const char* rootfsStepName(int step) {
  if (step < kRootfsStepBase || step >= kStepEnd) return nullptr;
  return kStepNames[step - kRootfsStepBase];
}

int enterAppRootfs(const RootfsPlan* p) {
  const char* const overlay_kv[] = {"lowerdir", p->image, "upperdir", p->upper, "workdir", p->work, nullptr};
  int merged = open(p->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (attach(newFs("overlay", overlay_kv, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV), merged) != 0) return kStepOverlay;
  // Opened again: the mount now covers the directory.
  int root = open(p->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return kStepRoot;
  if (int step = mountProc(root)) return step;
  if (int step = mountDev(root, p->shm_size)) return step;
  if (int step = mountRest(root, p)) return step;
  if (p->readonly) {
    mount_attr a{};
    a.attr_set = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, root, "", AT_EMPTY_PATH, &a, sizeof a) != 0) return kStepReadOnlyRoot;
  }
  if (fchdir(root) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
    return kStepPivot;
  close(root);
  return 0;
}

// ---- the parent's side ----

struct AppRootfs::Data {
  std::string image, upper, work, merged, hosts, hosts_in = "etc/hosts", run_dir, run_dir_in, shm_size;
  std::vector<std::string> tmpfs_paths;
  std::vector<std::vector<std::string>> tmpfs_kv_strings;
  std::vector<std::vector<const char*>> tmpfs_kv;
  std::vector<RootfsPlan::Tmpfs> tmpfs;
  bool readonly = false;
  RootfsPlan plan;
};

AppRootfs::AppRootfs() : d_(std::make_unique<Data>()) {}
AppRootfs::AppRootfs(AppRootfs&&) noexcept = default;
AppRootfs& AppRootfs::operator=(AppRootfs&&) noexcept = default;
AppRootfs::~AppRootfs() = default;

namespace {

// An absolute path as the child uses it: relative to the root, with no empty, "." or ".." part.
Result<std::string> relativePath(const std::string& path, const std::string& what) {
  if (path.size() < 2 || path[0] != '/') {
    return makeError(ErrorCode::kInvalidArgument, "use", path, what + " must be an absolute path below /");
  }
  for (const std::string& part : split(path.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") {
      return makeError(ErrorCode::kInvalidArgument, "use", path, what + " must not have empty, '.' or '..' parts");
    }
  }
  return path.substr(1);
}

// Overlay options split on ',' and ':' and take '\' as an escape; such paths are refused.
Result<void> overlaySafe(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.find_first_of(",:\\") != std::string::npos) {
    return makeError(ErrorCode::kInvalidArgument, "use", path,
                     "an image or layer path must be absolute, without ',', ':' or '\\'");
  }
  return ok();
}

}  // namespace

Result<AppRootfs> AppRootfs::prepare(const ContainerSpec& spec) {
  AppRootfs r;
  Data& d = *r.d_;
  SC_TRY(overlaySafe(spec.rootfs));
  struct stat image {};
  if (::stat(spec.rootfs.c_str(), &image) != 0) return errnoError(errno, "open image", spec.rootfs);
  if (!S_ISDIR(image.st_mode))
    return makeError(ErrorCode::kInvalidArgument, "use image", spec.rootfs, "not a directory");
  const std::string layer = spec.layer_dir.empty() ? spec.run_dir + ".layer" : spec.layer_dir;
  SC_TRY(overlaySafe(layer));
  d.image = spec.rootfs;
  d.upper = layer + "/upper";
  d.work = layer + "/work";
  d.merged = layer + "/root";
  SC_TRY(makeDirs(layer, 0700));
  for (const std::string& dir : {d.upper, d.work, d.merged}) SC_TRY(makeDirs(dir, 0700));
  // The root of the container is the upper layer's directory: give it the image root's owner and mode.
  if (::chown(d.upper.c_str(), image.st_uid, image.st_gid) != 0 || ::chmod(d.upper.c_str(), image.st_mode & 07777) != 0)
    return errnoError(errno, "prepare", d.upper);
  d.hosts = spec.hosts_file;
  d.run_dir = spec.run_dir;
  SC_ASSIGN_OR_RETURN(d.run_dir_in, relativePath(spec.run_dir, "the run directory"));
  d.shm_size = std::to_string(spec.shm_bytes > 0 ? spec.shm_bytes : 64ll << 20);
  d.readonly = spec.readonly_rootfs;
  for (const TmpfsSpec& t : spec.tmpfs) {
    SC_ASSIGN_OR_RETURN(std::string rel, relativePath(t.path, "a tmpfs containerPath"));
    d.tmpfs_paths.push_back(std::move(rel));
    std::vector<std::string> kv;
    for (const auto& [k, v] : t.options) {
      kv.push_back(k);
      kv.push_back(v);
    }
    d.tmpfs_kv_strings.push_back(std::move(kv));
    d.tmpfs.push_back({nullptr, nullptr, t.attrs});
  }
  return r;
}

const RootfsPlan* AppRootfs::plan() {
  Data& d = *d_;
  d.tmpfs_kv.clear();
  for (size_t i = 0; i < d.tmpfs.size(); ++i) {
    std::vector<const char*> kv;
    for (const std::string& s : d.tmpfs_kv_strings[i]) kv.push_back(s.c_str());
    kv.push_back(nullptr);
    d.tmpfs_kv.push_back(std::move(kv));
  }
  for (size_t i = 0; i < d.tmpfs.size(); ++i) {
    d.tmpfs[i].path = d.tmpfs_paths[i].data();
    d.tmpfs[i].kv = d.tmpfs_kv[i].data();
  }
  RootfsPlan& p = d.plan;
  p.image = d.image.c_str();
  p.upper = d.upper.c_str();
  p.work = d.work.c_str();
  p.merged = d.merged.c_str();
  p.hosts = d.hosts.empty() ? nullptr : d.hosts.c_str();
  p.hosts_in = d.hosts_in.data();
  p.run_dir = d.run_dir.c_str();
  p.run_dir_in = d.run_dir_in.data();
  p.shm_size = d.shm_size.c_str();
  p.readonly = d.readonly;
  p.tmpfs = d.tmpfs.data();
  p.tmpfs_count = d.tmpfs.size();
  return &p;
}

}  // namespace sc::inject
