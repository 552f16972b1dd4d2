// The root filesystem of an app container, built by the launcher's child inside the container's own
// mount namespace, then made its root (pivot_root):
//
//   /            overlay: the image (read-only lower layer) + the container's writable layer;
//                nosuid, nodev; read-only with readonlyRootFilesystem
//   /proc        a fresh proc; /proc/{bus,fs,irq,sys,sysrq-trigger} read-only, runc's masked paths
//                masked (a file: /dev/null bound over it; a directory: an empty read-only tmpfs)
//   /dev         tmpfs with null, zero, random, urandom (bound from the host), fd/std* symlinks, shm
//   /tmp         tmpfs 16 MiB
//   /etc/hosts   the task's hosts file, read-only
//   <run dir>    the container's run directory (the same path as on the host)
//   tmpfs[]      linuxParameters.tmpfs
//
// Every mount point is resolved beneath the root (openat2 RESOLVE_IN_ROOT, no magic links), so a
// symlink in the image stays inside it; a mount point that is missing is created in the writable
// layer, and a FIFO, socket or symlink where a file is mounted is unlinked there first (the image is
// never changed, nothing is opened for reading or writing). After fork only system calls run: the
// parent prepares everything (AppRootfs) and the child calls enterAppRootfs().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "inject/launcher.h"

namespace sc::inject {

// The first step number of enterAppRootfs(); the launcher's own steps are below it.
inline constexpr int kRootfsStepBase = 100;
// "mount the image layer", … for a step enterAppRootfs() returned; nullptr for another number.
const char* rootfsStepName(int step);

struct RootfsPlan;

// Owns what the child needs: validated paths, the layer directories (created 0700), and plain
// C strings for the child. Move it to its final place before calling plan().
class AppRootfs {
 public:
  static Result<AppRootfs> prepare(const ContainerSpec& spec);
  AppRootfs(AppRootfs&&) noexcept;
  AppRootfs& operator=(AppRootfs&&) noexcept;
  ~AppRootfs();
  // Pointers into this object: valid while it lives and is not moved.
  const RootfsPlan* plan();

 private:
  AppRootfs();
  struct Data;
  std::unique_ptr<Data> d_;
};

// Builds the root and pivots into it. 0 on success; otherwise the failed step (errno says why).
int enterAppRootfs(const RootfsPlan* plan);

}  // namespace sc::inject
