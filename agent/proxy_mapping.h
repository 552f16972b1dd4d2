// Maps a TaskPlan onto the proxy's own input structs (inject/ and health/ do not know model/).
#pragma once

#include <string>

#include "inject/haproxy_config.h"
#include "model/plan.h"

namespace sc::agent {

// The per-task directory shared with the proxy for its sockets and configuration.
std::string taskRunDir(const std::string& run_root, const std::string& task_id);

inject::ProxyProtocol toProxyProtocol(model::AppProtocol p);
inject::ProxyConfig proxyConfigFromPlan(const model::TaskPlan& plan, const std::string& run_dir);

}  // namespace sc::agent
