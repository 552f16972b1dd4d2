// Maps a TaskPlan onto the network sandbox's own input (netns::SandboxSpec).
#pragma once

#include <string>

#include "common/result.h"
#include "model/plan.h"
#include "netns/spec.h"

namespace sc::agent {

// `task_id` names the sandbox (the plan's own id when empty). awsvpc: intercepted listeners
// become REDIRECT rules; bridge: published listeners and the task's port mappings become host
// port mappings. Each egress alias with a listener becomes a redirect of vip:port to it (aliases
// of records written before the redirect have none: their proxy binds vip:port).
Result<netns::SandboxSpec> sandboxSpecFromPlan(const model::TaskPlan& plan, const std::string& task_id = "");

}  // namespace sc::agent
