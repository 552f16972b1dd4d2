#include "netns/netns_thread.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <thread>

namespace sc::netns {

Result<void> runInNetns(const std::string& netns_path, const std::function<Result<void>()>& fn) {
  UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return errnoError(errno, "open network namespace", netns_path);
  Result<void> result = makeError(ErrorCode::kInternal, "run in", netns_path, "thread did not run");
  std::thread t([&] {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      result = errnoError(errno, "enter network namespace", netns_path);
      return;
    }
    result = fn();
    // The thread ends here, still in the namespace: nothing on it can see the host again.
  });
  t.join();
  return result;
}

Result<UniqueFd> socketInNetns(const std::string& netns_path, int domain, int type) {
  UniqueFd out;
  SC_TRY(runInNetns(netns_path, [&]() -> Result<void> {
    out.reset(::socket(domain, type | SOCK_CLOEXEC, 0));
    if (!out.valid()) return errnoError(errno, "create socket in", netns_path);
    return ok();
  }));
  return out;
}

}  // namespace sc::netns
