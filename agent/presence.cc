#include "agent/presence.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "common/file.h"
#include "common/strings.h"
#include "model/json_input.h"

namespace sc::agent {
namespace {

std::string lockPath(const std::string& state_dir) { return state_dir + "/agent.lock"; }

// The pid written in a lock file, 0 when unreadable.
pid_t lockHolderPid(const std::string& state_dir) {
  auto text = readRegularFile(lockPath(state_dir), 64);
  if (!text.ok()) return 0;
  auto pid = parseUint(trim(*text), 4194304);
  return pid ? static_cast<pid_t>(*pid) : 0;
}

}  // namespace

Result<AgentPresence> AgentPresence::claim(const AgentConfig& cfg, const std::string& config_path, bool config_given) {
  SC_TRY(makeDirs(cfg.state_dir, 0700));
  const std::string lock = lockPath(cfg.state_dir);
  UniqueFd fd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600));
  if (!fd.valid()) return errnoError(errno, "open", lock);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return errnoError(errno, "lock", lock);
    return makeError(ErrorCode::kFailedPrecondition, "lock", lock,
                     "another scagent (pid " + std::to_string(lockHolderPid(cfg.state_dir)) +
                         ") runs with state directory " + cfg.state_dir);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    return errnoError(errno, "write", lock);
  model::Json doc = {{"pid", ::getpid()},
                     {"config", config_given ? config_path : std::string()},
                     {"stateDir", cfg.state_dir},
                     {"runDir", cfg.run_dir}};
  const std::string published = cfg.run_dir + "/agent.json";
  SC_TRY(makeDirs(cfg.run_dir, 0755));
  SC_TRY(writeFileAtomic(published, doc.dump() + "\n", 0644));
  return AgentPresence(std::move(fd), published);
}

AgentPresence::~AgentPresence() {
  if (published_.empty()) return;
  if (auto found = findRunningAgent(published_); found && found->pid == ::getpid()) ::unlink(published_.c_str());
}

std::optional<pid_t> stateOwner(const std::string& state_dir) {
  const std::string lock = lockPath(state_dir);
  UniqueFd fd(::open(lock.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return std::nullopt;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;  // nobody holds it
  if (errno != EWOULDBLOCK) return std::nullopt;
  return lockHolderPid(state_dir);
}

std::optional<RunningAgent> findRunningAgent(const std::string& path) {
  auto text = readRegularFile(path, 64u << 10);
  if (!text.ok()) return std::nullopt;
  auto j = model::Json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer() || !j.contains("stateDir") ||
      !j["stateDir"].is_string() || !j.value("config", model::Json("")).is_string())
    return std::nullopt;
  RunningAgent a{j["pid"].get<pid_t>(), j.value("config", ""), j["stateDir"].get<std::string>(), j.value("runDir", "")};
  // Only an agent that still holds its state directory counts (a killed one left the file).
  auto owner = stateOwner(a.state_dir);
  if (!owner || (*owner != 0 && *owner != a.pid)) return std::nullopt;
  return a;
}

}  // namespace sc::agent
