// One task as the agent knows it: its ECS lifecycle state, its plan, and every kernel object and
// process it created, so a restarted agent can adopt the task or clean up after it.
//
// Records live in <state dir>/tasks/<task id>.json, written with writeFileAtomic at each step, in
// the order of the crash windows the lifecycle names (lifecycle.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/plan.h"

namespace sc::agent {

// ECS's task states, in the only order a task moves through them.
enum class TaskStatus {
  kProvisioning,  // network sandbox being created
  kPending,       // proxy starting
  kActivating,    // proxy HEALTHY, app containers starting
  kRunning,
  kDeactivating,    // deregistered, draining
  kStopping,        // apps, then the proxy, stopping
  kDeprovisioning,  // sandbox being removed
  kStopped,
};
std::string taskStatusName(TaskStatus s);
std::optional<TaskStatus> parseTaskStatus(std::string_view s);

// A process the agent started and may re-adopt: pid plus its start time (field 22 of
// /proc/<pid>/stat) guards against pid reuse.
struct ProcessRecord {
  int pid = 0;
  uint64_t start_time = 0;
  std::string cgroup;
};

struct ContainerRecord {
  std::string name;
  bool essential = true;
  std::optional<ProcessRecord> process;
  std::optional<int> exit_code;
};

struct TaskRecord {
  std::string task_id;
  TaskStatus status = TaskStatus::kProvisioning;
  bool desired_running = true;
  model::TaskPlan plan;
  std::string task_definition_json;          // the containers' commands, environment, limits
  std::vector<std::string> steps_up;         // steps whose up() began, in order (see Lifecycle)
  std::map<std::string, std::string> facts;  // what steps created: "task_ip", "netns", host ports...
  std::optional<ProcessRecord> proxy;
  std::vector<ContainerRecord> containers;
  std::string health = "UNKNOWN";  // UNKNOWN, HEALTHY, UNHEALTHY (the proxy's, as ECS reports it)
  std::string stopped_reason;
  int64_t updated_at_ms = 0;
};

// `scagent status`: one row per task (id, service, state, health, address, aliases).
std::string renderStatusTable(const std::vector<TaskRecord>& tasks);

std::string taskRecordToJson(const TaskRecord& r);
Result<TaskRecord> taskRecordFromJson(std::string_view text);

// The task records on disk. Thread-safe for different tasks; one task is written by one thread.
class TaskStore {
 public:
  virtual ~TaskStore() = default;
  virtual Result<void> save(const TaskRecord& r) = 0;
  virtual Result<void> remove(const std::string& task_id) = 0;
  // Every readable record; unreadable files are reported in `problems` and left in place.
  virtual Result<std::vector<TaskRecord>> loadAll(std::vector<std::string>* problems) = 0;
};

class FileTaskStore final : public TaskStore {
 public:
  // `dir` is created (0700) if missing.
  static Result<std::unique_ptr<FileTaskStore>> create(std::string dir);
  // TaskStore
  Result<void> save(const TaskRecord& r) override;
  Result<void> remove(const std::string& task_id) override;
  Result<std::vector<TaskRecord>> loadAll(std::vector<std::string>* problems) override;

 private:
  explicit FileTaskStore(std::string dir) : dir_(std::move(dir)) {}
  std::string pathOf(const std::string& task_id) const { return dir_ + "/" + task_id + ".json"; }
  std::string dir_;
};

// Task ids become file and kernel object names: 1-64 of [a-z0-9-], not starting with '-'.
bool isValidTaskId(std::string_view id);

}  // namespace sc::agent
