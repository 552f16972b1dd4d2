// Running code inside a network namespace without moving a shared thread: each call starts a
// short-lived thread, moves only that thread into the namespace, runs `fn` and lets the thread
// end (it never returns to the host namespace, so it cannot fail to). Sockets created by `fn`
// stay in the namespace after the thread is gone (Mesos ns::NamespaceRunner, systemd
// namespace_fork()).
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sc::netns {

// Runs `fn` on a fresh thread inside the namespace bound at `netns_path`; returns its result.
Result<void> runInNetns(const std::string& netns_path, const std::function<Result<void>()>& fn);

// A socket(domain, type) created inside the namespace (close-on-exec).
Result<UniqueFd> socketInNetns(const std::string& netns_path, int domain, int type);

}  // namespace sc::netns
