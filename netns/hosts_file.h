// The task's hosts file, /etc/netns/<namespace>/hosts: `ip netns exec` and the container
// launcher bind it over /etc/hosts. Written once, atomically, at task start: a task resolves only
// the endpoints that existed when it started.
#pragma once

#include <string>

#include "common/net_addr.h"
#include "netns/spec.h"

namespace sc::netns {

// Pure: localhost lines, the task's own name, then every alias -> VIP in the spec's order.
std::string renderHostsFile(const SandboxSpec& spec, const IpAddress& task_address);

}  // namespace sc::netns
