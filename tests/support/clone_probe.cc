// A static program the sandbox root tests copy into an image (no libraries needed there). It tries
// what a task must not do and prints one line each: "<what>: allowed" or "<what>: <errno>".
//   clone(CLONE_NEWUSER), clone(CLONE_NEWNET), clone3(CLONE_NEWUSER), io_uring_setup
#include <linux/io_uring.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

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

}  // namespace

int main() {
  tryClone("clone NEWUSER", CLONE_NEWUSER);
  tryClone("clone NEWNET", CLONE_NEWNET);
  clone_args args{};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  report("clone3 NEWUSER", pid);
  io_uring_params params{};
  long fd = syscall(SYS_io_uring_setup, 1, &params);
  if (fd >= 0) close(static_cast<int>(fd));
  report("io_uring_setup", fd);
  std::fflush(stdout);
  return 0;
}
