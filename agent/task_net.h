// Maps a TaskPlan onto the network sandbox's own input (netns::SandboxSpec).
#pragma once

#include <string>

#include "common/result.h"
#include "model/plan.h"
#include "netns/spec.h"

namespace sc::agent {

// `task_id` names the sandbox (the plan's own id when empty). awsvpc: intercepted listeners
// become REDIRECT rules; bridge: published listeners and the task's port mappings become host
// port mappings. A non-loopback VIP range with an egress listener becomes the egress redirect;
// the loopback range needs nothing (the proxy binds each VIP:port).
Result<netns::SandboxSpec> sandboxSpecFromPlan(const model::TaskPlan& plan, const std::string& task_id = "");

}  // namespace sc::agent
