// A static program the sandbox root tests copy into an image (no libraries needed there). It tries
// what a task must not do and prints one line each: "<what>: allowed" or "<what>: <errno>", then
// "probe done". The tests run it with and without the seccomp filter.
//   clone(CLONE_NEWUSER), clone(CLONE_NEWNET), clone3(CLONE_NEWUSER), unshare(CLONE_NEWUSER),
//   io_uring_setup, bpf, keyctl, get_mempolicy (in neither of the filter's lists: its default
//   action answers it), and a plain clone (a fork), which must work.
// `clone_probe paths <socket or directory>...` instead tries, for each path, connect(2) to it as a
// unix socket ("connect <path>: ...") and opendir(3) on it, listing what it holds ("ls <path>: a b").
#include <dirent.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

void report(const char* what, long rc) {
  if (rc >= 0) {
    std::printf("%s: allowed\n", what);
  } else {
    std::printf("%s: %s\n", what, strerrorname_np(errno));
  }
}

void tryClone(const char* what, unsigned long flag) {
  long pid = syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  report(what, pid);
}

// unshare(2) in a child, so that the probe itself stays in its namespaces.
void tryUnshare(const char* what, int flag) {
  int fds[2];
  if (pipe(fds) != 0) return report(what, -1);
  pid_t pid = fork();
  if (pid == 0) {
    long rc = syscall(SYS_unshare, flag);
    int err = rc < 0 ? errno : 0;
    _exit(write(fds[1], &err, sizeof err) == sizeof err ? 0 : 1);
  }
  close(fds[1]);
  int err = EIO;
  if (pid < 0 || read(fds[0], &err, sizeof err) != sizeof err) err = pid < 0 ? errno : EIO;
  if (pid > 0) waitpid(pid, nullptr, 0);
  close(fds[0]);
  errno = err;
  report(what, err == 0 ? 0 : -1);
}

void tryPaths(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    const char* path = argv[i];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    const std::string what = std::string("connect ") + path;
    report(what.c_str(), connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a));
    close(fd);
    DIR* d = opendir(path);
    if (!d) {
      std::printf("ls %s: %s\n", path, strerrorname_np(errno));
      continue;
    }
    std::printf("ls %s:", path);
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) std::printf(" %s", e->d_name);
    }
    std::printf("\n");
    closedir(d);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "paths") == 0) {
    tryPaths(argc, argv);
    std::printf("probe done\n");
    std::fflush(stdout);
    return 0;
  }
  tryClone("clone NEWUSER", CLONE_NEWUSER);
  tryClone("clone NEWNET", CLONE_NEWNET);
  tryClone("clone plain", 0);
  clone_args args{};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  report("clone3 NEWUSER", pid);
  tryUnshare("unshare NEWUSER", CLONE_NEWUSER);
  io_uring_params params{};
  long fd = syscall(SYS_io_uring_setup, 1, &params);
  if (fd >= 0) close(static_cast<int>(fd));
  report("io_uring_setup", fd);
  // BPF_MAP_CREATE without attributes: EINVAL from the kernel, whatever the capabilities.
  report("bpf", syscall(SYS_bpf, 0, nullptr, 0));
  report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1, 0, 0));
  report("get_mempolicy", syscall(SYS_get_mempolicy, nullptr, nullptr, 0, nullptr, 0));
  std::printf("probe done\n");
  std::fflush(stdout);
  return 0;
}
