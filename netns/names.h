// Names of the kernel objects the agent creates, and the checks every name passes before it is
// used in a path, a netlink request or a rule.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace sc::netns {

inline constexpr size_t kMaxTaskIdLength = 64;
inline constexpr size_t kMaxChainLength = 28;  // XT_EXTENSION_MAXNAMELEN - 1

// A task id: 1-64 of [A-Za-z0-9_.-], not starting with '-' or '.'. Task ids become file names,
// namespace names and rule comments, so nothing else is allowed.
bool isValidTaskId(std::string_view id);
// An interface name as the kernel accepts it (systemd's ifname_valid_full): 1-15 printable
// non-space ASCII characters, no ':', '/' or '%', not all digits, not "." or "..".
bool isValidIfName(std::string_view name);
// An iptables user chain name as the agent renders it: 1-28 of [A-Z0-9_].
bool isValidChainName(std::string_view name);
// A rule comment the agent renders: "sc:" followed by a task id (or "agent").
bool isValidRuleComment(std::string_view comment);

Result<void> checkTaskId(std::string_view id);

// "sc:<task>": the comment on every rule of one task.
std::string ruleComment(std::string_view task_id);
// The comment on the agent's shared jump rules.
inline constexpr const char* kAgentComment = "sc:agent";

}  // namespace sc::netns
