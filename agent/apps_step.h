// ACTIVATING: the task definition's app containers, through the container launcher, once the
// proxy is HEALTHY. An image is a root filesystem directory: `file:///path` or a name under the
// agent's image directory. Stop: SIGTERM, stopTimeout (default 30 s), SIGKILL, in reverse order.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/lifecycle.h"
#include "inject/launcher.h"
#include "model/types.h"

namespace sc::agent {

struct AppSettings {
  std::string image_dir = "/var/lib/scagent/images";
  std::string run_root = "/run/scagent";          // app logs and run directories: <run_root>/apps/<task>/
  std::chrono::seconds default_stop_timeout{30};  // ECS_CONTAINER_STOP_TIMEOUT's default
};

// The root filesystem an image names; an error for names that could escape the image directory.
Result<std::string> resolveImage(const std::string& image, const std::string& image_dir);

// The container spec for one app container of a task (pure, for tests).
Result<inject::ContainerSpec> appContainerSpec(const model::ContainerDefinition& c, const TaskRecord& task,
                                               const AppSettings& settings);

class AppsStep final : public TaskStep {
 public:
  explicit AppsStep(AppSettings settings) : settings_(std::move(settings)) {}
  // TaskStep
  std::string name() const override { return "apps"; }
  TaskStatus upStatus() const override { return TaskStatus::kActivating; }
  Result<void> up(TaskRecord& task) override;
  Result<void> down(TaskRecord& task) override;
  Result<bool> adopt(TaskRecord& task) override;
  std::optional<std::string> check(TaskRecord& task) override;

 private:
  std::string appDir(const std::string& task_id) const { return settings_.run_root + "/apps/" + task_id; }
  AppSettings settings_;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, std::shared_ptr<inject::Container>>> running_;  // task -> name -> c
};

}  // namespace sc::agent
