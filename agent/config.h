// The agent's configuration file (/etc/scagent/config.json). Every member is optional; unknown
// members are errors, so a typo never silently falls back to a default.
#pragma once

#include <string>

#include "agent/host_check.h"
#include "common/log.h"
#include "common/result.h"

namespace sc::agent {

struct AgentConfig {
  HostPolicy host_policy;
  log::Level log_level = log::Level::kInfo;
};

inline constexpr const char* kDefaultConfigPath = "/etc/scagent/config.json";

Result<AgentConfig> parseAgentConfig(std::string_view text);
// Reads `path`; a missing file at the default path gives the defaults, elsewhere it is an error.
Result<AgentConfig> loadAgentConfig(const std::string& path, bool path_was_given);

}  // namespace sc::agent
