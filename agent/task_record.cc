#include "agent/task_record.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/failpoint.h"
#include "common/file.h"
#include "common/strings.h"
#include "model/json_input.h"

namespace sc::agent {
namespace {

using model::Json;
using model::OrderedJson;

constexpr TaskStatus kAllStatuses[] = {TaskStatus::kProvisioning,   TaskStatus::kPending,      TaskStatus::kActivating,
                                       TaskStatus::kRunning,        TaskStatus::kDeactivating, TaskStatus::kStopping,
                                       TaskStatus::kDeprovisioning, TaskStatus::kStopped};

OrderedJson processJson(const ProcessRecord& p) {
  return {{"pid", p.pid}, {"startTime", p.start_time}, {"cgroup", p.cgroup}};
}

ProcessRecord processFromJson(const Json& j) {
  return {j.at("pid").get<int>(), j.at("startTime").get<uint64_t>(), j.at("cgroup").get<std::string>()};
}

}  // namespace

std::string taskStatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kProvisioning:
      return "PROVISIONING";
    case TaskStatus::kPending:
      return "PENDING";
    case TaskStatus::kActivating:
      return "ACTIVATING";
    case TaskStatus::kRunning:
      return "RUNNING";
    case TaskStatus::kDeactivating:
      return "DEACTIVATING";
    case TaskStatus::kStopping:
      return "STOPPING";
    case TaskStatus::kDeprovisioning:
      return "DEPROVISIONING";
    case TaskStatus::kStopped:
      return "STOPPED";
  }
  return "STOPPED";
}

std::optional<TaskStatus> parseTaskStatus(std::string_view s) {
  for (TaskStatus t : kAllStatuses)
    if (taskStatusName(t) == s) return t;
  return std::nullopt;
}

bool isValidTaskId(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.front() == '-') return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::string taskRecordToJson(const TaskRecord& r) {
  OrderedJson j;
  j["taskId"] = r.task_id;
  j["status"] = taskStatusName(r.status);
  j["desiredRunning"] = r.desired_running;
  j["plan"] = model::taskPlanToJson(r.plan);
  j["taskDefinition"] = r.task_definition_json;
  j["stepsUp"] = r.steps_up;
  j["facts"] = r.facts;
  if (r.proxy) j["proxy"] = processJson(*r.proxy);
  j["containers"] = OrderedJson::array();
  for (const auto& c : r.containers) {
    OrderedJson o{{"name", c.name}, {"essential", c.essential}};
    if (c.process) o["process"] = processJson(*c.process);
    if (c.exit_code) o["exitCode"] = *c.exit_code;
    j["containers"].push_back(o);
  }
  j["health"] = r.health;
  j["stoppedReason"] = r.stopped_reason;
  j["updatedAtMs"] = r.updated_at_ms;
  return j.dump(1) + "\n";
}

Result<TaskRecord> taskRecordFromJson(std::string_view text) {
  SC_ASSIGN_OR_RETURN(Json j, model::parseJsonStrict(text, "task record"));
  TaskRecord r;
  try {
    r.task_id = j.at("taskId").get<std::string>();
    if (!isValidTaskId(r.task_id)) return plainError(ErrorCode::kInvalidArgument, "taskId: not a valid task id");
    auto status = parseTaskStatus(j.at("status").get<std::string>());
    if (!status) return plainError(ErrorCode::kInvalidArgument, "status: not a task status");
    r.status = *status;
    r.desired_running = j.at("desiredRunning").get<bool>();
    SC_ASSIGN_OR_RETURN(r.plan, model::taskPlanFromJson(j.at("plan")));
    r.task_definition_json = j.at("taskDefinition").get<std::string>();
    r.steps_up = j.at("stepsUp").get<std::vector<std::string>>();
    r.facts = j.at("facts").get<std::map<std::string, std::string>>();
    if (j.contains("proxy")) r.proxy = processFromJson(j["proxy"]);
    for (const Json& c : j.at("containers")) {
      ContainerRecord cr;
      cr.name = c.at("name").get<std::string>();
      cr.essential = c.at("essential").get<bool>();
      if (c.contains("process")) cr.process = processFromJson(c["process"]);
      if (c.contains("exitCode")) cr.exit_code = c["exitCode"].get<int>();
      r.containers.push_back(std::move(cr));
    }
    r.health = j.at("health").get<std::string>();
    r.stopped_reason = j.at("stoppedReason").get<std::string>();
    r.updated_at_ms = j.at("updatedAtMs").get<int64_t>();
  } catch (const Json::exception& e) {
    return plainError(ErrorCode::kInvalidArgument, std::string("task record: ") + e.what());
  }
  return r;
}

Result<std::unique_ptr<FileTaskStore>> FileTaskStore::create(std::string dir) {
  SC_TRY(makeDirs(dir, 0700));
  return std::unique_ptr<FileTaskStore>(new FileTaskStore(std::move(dir)));
}

Result<void> FileTaskStore::save(const TaskRecord& r) {
  if (!isValidTaskId(r.task_id)) {
    return makeError(ErrorCode::kInvalidArgument, "save task record", r.task_id, "not a valid task id");
  }
  SC_FAILPOINT("agent.save_task");
  return writeFileAtomic(pathOf(r.task_id), taskRecordToJson(r), 0600);
}

Result<void> FileTaskStore::remove(const std::string& task_id) {
  if (!isValidTaskId(task_id)) {
    return makeError(ErrorCode::kInvalidArgument, "remove task record", task_id, "not a valid task id");
  }
  if (::unlink(pathOf(task_id).c_str()) != 0 && errno != ENOENT) return errnoError(errno, "remove", pathOf(task_id));
  return ok();
}

Result<std::vector<TaskRecord>> FileTaskStore::loadAll(std::vector<std::string>* problems) {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return errnoError(errno, "list", dir_);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.ends_with(".json")) names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<TaskRecord> out;
  for (const auto& n : names) {
    const std::string path = dir_ + "/" + n;
    auto text = readFile(path, 8u << 20);
    Result<TaskRecord> r = text.ok() ? taskRecordFromJson(*text) : Result<TaskRecord>(std::move(text).error());
    if (!r.ok()) {
      if (problems) problems->push_back(path + ": " + r.error().message);
      continue;
    }
    out.push_back(std::move(r).value());
  }
  return out;
}

std::string renderStatusTable(const std::vector<TaskRecord>& tasks) {
  std::vector<std::vector<std::string>> rows = {{"TASK", "SERVICE", "STATE", "HEALTH", "ADDRESS", "ALIASES", "REASON"}};
  for (const TaskRecord& t : tasks) {
    std::vector<std::string> aliases;
    for (const auto& e : t.plan.endpoints) aliases.push_back(e.dns_name + ":" + std::to_string(e.port));
    auto ip = t.facts.find("task_ip");
    rows.push_back({t.task_id, t.plan.namespace_name + "/" + t.plan.service_name, taskStatusName(t.status), t.health,
                    ip == t.facts.end() ? "-" : ip->second, aliases.empty() ? "-" : join(aliases, ","),
                    t.stopped_reason.empty() ? "-" : t.stopped_reason});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  if (tasks.empty()) out += "(no tasks)\n";
  return out;
}

}  // namespace sc::agent
