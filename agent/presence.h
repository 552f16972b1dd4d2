// Where a running agent lives, for the operator commands on the same host.
//
// `scagent run` holds an exclusive flock on `<stateDir>/agent.lock` for as long as it runs (the
// kernel drops it when the process dies, kill -9 included) and publishes `<runDir>/agent.json`:
// its pid, its config file, its state and run directories. `scagent status` and `scagent net`
// read that file when they are not told which agent to read, say which state directory they read,
// and `net down` / `net recover --remove-orphans` refuse while a live agent holds the lock.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "agent/config.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace sc::agent {

// The default run directory's published file: where operator commands look first.
inline constexpr const char* kDefaultPresencePath = "/run/scagent/agent.json";

class AgentPresence {
 public:
  // Takes the state directory's lock (an error naming the holder's pid when another agent has it)
  // and publishes `<runDir>/agent.json`.
  static Result<AgentPresence> claim(const AgentConfig& cfg, const std::string& config_path, bool config_given);
  AgentPresence(AgentPresence&&) noexcept = default;
  AgentPresence& operator=(AgentPresence&&) noexcept = default;
  // Removes agent.json when it still names this process; the lock goes with the fd.
  ~AgentPresence();

 private:
  AgentPresence(UniqueFd lock, std::string published) : lock_(std::move(lock)), published_(std::move(published)) {}
  UniqueFd lock_;
  std::string published_;
};

struct RunningAgent {
  pid_t pid = 0;
  std::string config_path;  // empty: the agent ran on its defaults
  std::string state_dir;
  std::string run_dir;
};

// The agent published at `path`, when that agent still holds its state directory's lock.
std::optional<RunningAgent> findRunningAgent(const std::string& path = kDefaultPresencePath);

// The pid of a live agent holding `<state_dir>/agent.lock`, if any (0 when it did not write one).
std::optional<pid_t> stateOwner(const std::string& state_dir);

}  // namespace sc::agent
