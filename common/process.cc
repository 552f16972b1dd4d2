#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace sc {
namespace {

Result<void> makePipe(UniqueFd& r, UniqueFd& w) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errnoError(errno, "create", "pipe");
  r.reset(fds[0]);
  w.reset(fds[1]);
  return ok();
}

// Runs in the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void childFail(int report_fd) {
  int e = errno;
  [[maybe_unused]] ssize_t n = write(report_fd, &e, sizeof e);
  _exit(127);
}

[[noreturn]] void childExec(const char* path, char* const* argv, char* const* envp, int in_fd, int out_fd, int err_fd,
                            int report_fd, int netns_fd, bool new_netns) {
  if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) childFail(report_fd);
  if (new_netns && unshare(CLONE_NEWNET) != 0) childFail(report_fd);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) childFail(report_fd);
  // Keep 0-2 and the report pipe (close-on-exec); close everything else.
  if (report_fd > 3) close_range(3, static_cast<unsigned>(report_fd) - 1, 0);
  close_range(static_cast<unsigned>(report_fd) + 1, ~0u, 0);
  execve(path, argv, envp);
  childFail(report_fd);
}

// A write to a pipe whose reader is gone must give EPIPE, not kill the agent: block SIGPIPE on
// this thread for the write and swallow the one it raised.
ssize_t writeNoSigpipe(int fd, const char* data, size_t len) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t w = ::write(fd, data, len);
  int saved = errno;
  if (w < 0 && errno == EPIPE) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return w;
}

}  // namespace

std::string ProcessResult::describe() const {
  std::string d =
      term_signal ? "killed by signal " + std::to_string(term_signal) : "exit status " + std::to_string(exit_code);
  std::string_view e = err;
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.remove_suffix(1);
  if (!e.empty()) {
    size_t nl = e.find('\n');
    d += ": ";
    d += e.substr(0, nl == std::string_view::npos ? e.size() : nl);
  }
  return d;
}

Result<ProcessResult> runProcess(const ProcessOptions& o) {
  if (o.path.empty() || o.path[0] != '/') {
    return makeError(ErrorCode::kInvalidArgument, "run", o.path, "the program path must be absolute");
  }
  // Build argv/envp before fork: the child may not allocate.
  std::vector<std::string> env = o.env;
  if (env.empty()) env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(o.path.c_str()));
  for (const auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  UniqueFd in_r, in_w, out_r, out_w, err_r, err_w, rep_r, rep_w;
  SC_TRY_CTX(makePipe(in_r, in_w), "run", o.path);
  SC_TRY_CTX(makePipe(out_r, out_w), "run", o.path);
  SC_TRY_CTX(makePipe(err_r, err_w), "run", o.path);
  SC_TRY_CTX(makePipe(rep_r, rep_w), "run", o.path);

  UniqueFd netns_fd;
  if (!o.netns_path.empty()) {
    netns_fd.reset(::open(o.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns_fd.valid()) return errnoError(errno, "open network namespace", o.netns_path);
  }

  pid_t pid = ::fork();
  if (pid < 0) return errnoError(errno, "fork for", o.path);
  if (pid == 0) {
    childExec(o.path.c_str(), argv.data(), envp.data(), in_r.get(), out_w.get(), err_w.get(), rep_w.get(),
              netns_fd.get(), o.new_netns);
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();
  rep_w.reset();

  // Did exec succeed? The report pipe closes on exec (EOF) or carries errno.
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(rep_r.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return errnoError(child_errno, "run", o.path);
  }

  for (UniqueFd* fd : {&in_w, &out_r, &err_r}) ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
  if (o.stdin_data.empty()) in_w.reset();

  ProcessResult res;
  size_t written = 0;
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  bool timed_out = false;
  char buf[16384];
  while (out_r.valid() || err_r.valid() || in_w.valid()) {
    pollfd pfds[3];
    int nfds = 0;
    UniqueFd* owners[3];
    if (out_r.valid()) {
      pfds[nfds] = {out_r.get(), POLLIN, 0};
      owners[nfds++] = &out_r;
    }
    if (err_r.valid()) {
      pfds[nfds] = {err_r.get(), POLLIN, 0};
      owners[nfds++] = &err_r;
    }
    if (in_w.valid()) {
      pfds[nfds] = {in_w.get(), POLLOUT, 0};
      owners[nfds++] = &in_w;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int r = ::poll(pfds, static_cast<nfds_t>(nfds), static_cast<int>(left.count()));
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < nfds; ++i) {
      if (pfds[i].revents == 0) continue;
      UniqueFd* fd = owners[i];
      if (fd == &in_w) {
        ssize_t w = writeNoSigpipe(in_w.get(), o.stdin_data.data() + written, o.stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == o.stdin_data.size()) in_w.reset();
        continue;
      }
      std::string& sink = fd == &out_r ? res.out : res.err;
      ssize_t got = ::read(fd->get(), buf, sizeof buf);
      if (got > 0) {
        size_t room = o.max_output > sink.size() ? o.max_output - sink.size() : 0;
        sink.append(buf, std::min(room, static_cast<size_t>(got)));
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        fd->reset();
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errnoError(errno, "wait for", o.path);
  }
  if (timed_out) {
    return makeError(ErrorCode::kTimeout, "run", o.path,
                     "no exit within " + std::to_string(o.timeout.count()) + " ms; killed");
  }
  if (WIFEXITED(status)) {
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.term_signal = WTERMSIG(status);
  }
  return res;
}

}  // namespace sc
