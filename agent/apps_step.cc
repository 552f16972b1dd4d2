#include "agent/apps_step.h"

#include <linux/mount.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "common/file.h"
#include "common/log.h"
#include "common/strings.h"
#include "inject/cgroups.h"
#include "model/capabilities.h"
#include "model/parse.h"

namespace sc::agent {
namespace {

std::string findInRootfs(const std::string& rootfs, const std::string& program) {
  if (program.starts_with("/")) return program;
  for (const char* dir : {"/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/", "/usr/local/bin/"}) {
    struct stat st {};
    if (::lstat((rootfs + dir + program).c_str(), &st) == 0) return std::string(dir) + program;
  }
  return "";
}

// linuxParameters.tmpfs[] as the launcher mounts it. Options outside the list below are refused;
// nosuid and nodev always apply.
Result<inject::TmpfsSpec> tmpfsSpec(const model::TmpfsMount& t) {
  auto refuse = [&](const std::string& why) {
    return makeError(ErrorCode::kInvalidArgument, "mount tmpfs", t.container_path, why);
  };
  const std::string& p = t.container_path;
  if (p.size() < 2 || p[0] != '/' || p.size() > 255 || p.find("..") != std::string::npos ||
      p.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") != std::string::npos)
    return refuse("containerPath must be an absolute path of letters, digits, '.', '_', '-' and '/'");
  for (const char* reserved : {"/proc", "/dev", "/sys", "/etc/hosts"}) {
    if (p == reserved || p.starts_with(std::string(reserved) + "/"))
      return refuse(std::string(reserved) + " is the agent's");
  }
  if (t.size_mib < 1 || t.size_mib > 65536) return refuse("size must be 1-65536 MiB");
  inject::TmpfsSpec spec;
  spec.path = p;
  spec.options.emplace_back("size", std::to_string(t.size_mib) + "m");
  for (const std::string& o : t.mount_options) {
    const size_t eq = o.find('=');
    const std::string key = o.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : o.substr(eq + 1);
    if (o == "ro") {
      spec.attrs |= MOUNT_ATTR_RDONLY;
    } else if (o == "noexec") {
      spec.attrs |= MOUNT_ATTR_NOEXEC;
    } else if (o == "noatime") {
      spec.attrs |= MOUNT_ATTR_NOATIME;
    } else if (o == "rw" || o == "nosuid" || o == "nodev" || o == "exec" || o == "defaults" || o == "relatime") {
      // the defaults
    } else if ((key == "mode" || key == "uid" || key == "gid" || key == "nr_inodes") && !value.empty() &&
               value.find_first_not_of("0123456789") == std::string::npos && value.size() <= 10) {
      spec.options.emplace_back(key, value);
    } else {
      return refuse("mount option \"" + o +
                    "\" is not supported (ro, rw, nosuid, nodev, noexec, exec, noatime, "
                    "relatime, defaults, mode=, uid=, gid=, nr_inodes=)");
    }
  }
  return spec;
}

}  // namespace

Result<std::string> resolveImage(const std::string& image, const std::string& image_dir) {
  auto refuse = [&](const std::string& why) {
    return makeError(ErrorCode::kInvalidArgument, "resolve image", image, why);
  };
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::canonical(image_dir, ec);
  if (ec)
    return makeError(ErrorCode::kNotFound, "resolve image", image,
                     "the image directory " + image_dir + ": " + ec.message());
  std::string path;
  if (image.starts_with("file://")) {
    path = image.substr(7);
    if (path.empty() || path[0] != '/') return refuse("a file:// image needs an absolute path");
  } else if (image.empty() || image == "." || image == ".." ||
             image.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                 std::string::npos) {
    return refuse("expected the name of a directory in " + image_dir +
                  " (letters, digits, '.', '_', '-'; registries are not supported)");
  } else {
    path = image_dir + "/" + image;
  }
  // Beneath the image directory once every symlink is resolved: nothing else on the host is an image.
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  if (ec) return makeError(ErrorCode::kNotFound, "resolve image", image, path + ": " + ec.message());
  auto [r, p] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
  if (r != root.end() || p == real.end())
    return refuse(path + " is not a directory beneath the image directory " + image_dir);
  if (!std::filesystem::is_directory(real, ec))
    return makeError(ErrorCode::kNotFound, "resolve image", image, path + " is not a directory");
  return real.string();
}

namespace {

// What the task definition asks of the container's security settings, checked against what scagent
// honours: refused with an error naming the member, never ignored.
Result<void> securitySettings(const model::ContainerDefinition& c, inject::ContainerSpec& s) {
  auto refuse = [&](const std::string& member, const std::string& why) {
    return makeError(ErrorCode::kFailedPrecondition, "start container", c.name, member + ": " + why);
  };
  if (c.privileged) return refuse("privileged", "privileged containers are not supported on scagent hosts");
  const model::LinuxParameters& lp = c.linux_parameters;
  if (!lp.unsupported.empty()) return refuse("linuxParameters." + lp.unsupported.front(), "not supported by scagent");
  auto caps = model::containerCapabilities(lp.cap_add, lp.cap_drop, 0);
  if (!caps.ok()) return refuse("linuxParameters.capabilities", caps.error().message);
  s.capabilities = *caps;
  s.readonly_rootfs = c.readonly_root_filesystem;
  if (lp.shared_memory_size_mib) {
    if (*lp.shared_memory_size_mib < 1 || *lp.shared_memory_size_mib > 65536)
      return refuse("linuxParameters.sharedMemorySize", "expected 1-65536 MiB");
    s.shm_bytes = static_cast<int64_t>(*lp.shared_memory_size_mib) << 20;
  }
  for (const model::TmpfsMount& t : lp.tmpfs) {
    SC_ASSIGN_OR_RETURN(inject::TmpfsSpec spec, tmpfsSpec(t));
    s.tmpfs.push_back(std::move(spec));
  }
  return ok();
}

}  // namespace

Result<inject::ContainerSpec> appContainerSpec(const model::ContainerDefinition& c, const TaskRecord& task,
                                               const AppSettings& settings) {
  SC_ASSIGN_OR_RETURN(std::string rootfs, resolveImage(c.image, settings.image_dir));
  std::vector<std::string> argv = c.entry_point;
  argv.insert(argv.end(), c.command.begin(), c.command.end());
  if (argv.empty()) {
    return makeError(ErrorCode::kInvalidArgument, "start container", c.name,
                     "it has no command or entryPoint (images carry no default command here)");
  }
  const std::string binary = findInRootfs(rootfs, argv[0]);
  if (binary.empty()) {
    return makeError(ErrorCode::kNotFound, "start container", c.name, "'" + argv[0] + "' is not in the image");
  }
  inject::ContainerSpec s;
  s.name = c.name;
  auto fact = [&](const char* k) {
    auto it = task.facts.find(k);
    return it == task.facts.end() ? std::string() : it->second;
  };
  s.netns_path = fact("netns_path");
  s.hosts_file = fact("hosts_path");
  s.hostname = task.plan.hostname.empty() ? task.task_id : task.plan.hostname;
  s.rootfs = rootfs;
  s.run_dir = settings.run_root + "/apps/" + task.task_id + "/" + c.name;
  s.log_file = settings.run_root + "/apps/" + task.task_id + "/" + c.name + ".log";
  s.binary = binary;
  s.args.assign(argv.begin() + 1, argv.end());
  s.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + s.hostname,
           "SC_TASK_ID=" + task.task_id, "SC_SERVICE=" + task.plan.service_name,
           "SC_NAMESPACE=" + task.plan.namespace_name};
  for (const auto& [k, v] : c.environment) s.env.push_back(k + "=" + v);
  // user: "uid" or "uid:gid"; names need the image's passwd and are not supported.
  s.uid = 0;
  s.gid = 0;
  if (!c.user.empty()) {
    std::vector<std::string> parts = split(c.user, ':');
    auto uid = parseUint(parts[0], 65534);
    auto gid = parts.size() > 1 ? parseUint(parts[1], 65534) : uid;
    if (!uid || !gid || parts.size() > 2) {
      return makeError(ErrorCode::kInvalidArgument, "start container", c.name,
                       "user must be numeric (\"uid\" or \"uid:gid\"), got \"" + c.user + "\"");
    }
    s.uid = static_cast<uid_t>(*uid);
    s.gid = static_cast<gid_t>(*gid);
  }
  SC_TRY(securitySettings(c, s));
  s.seccomp = true;
  s.cgroup = "scagent-" + task.task_id;
  return s;
}

Result<void> AppsStep::up(TaskRecord& task) {
  SC_ASSIGN_OR_RETURN(model::TaskDefinition td, model::parseTaskDefinition(task.task_definition_json));
  SC_TRY(makeDirs(appDir(task.task_id), 0700));
  for (const auto& c : td.containers) {
    SC_ASSIGN_OR_RETURN(inject::ContainerSpec spec, appContainerSpec(c, task, settings_));
    const int64_t memory = static_cast<int64_t>(c.memory.value_or(0)) << 20;
    auto place = [&](pid_t pid) -> Result<void> {
      SC_ASSIGN_OR_RETURN(auto cg, inject::TaskCgroup::open(spec.cgroup));
      return cg->attachApp(c.name, pid, memory);
    };
    SC_ASSIGN_OR_RETURN(inject::Container container, inject::Container::launch(spec, place));
    const auto& rec = container.record();
    for (auto& cr : task.containers) {
      if (cr.name == c.name) cr.process = ProcessRecord{rec.pid, rec.start_time, rec.cgroup};
    }
    std::lock_guard lock(mu_);
    running_[task.task_id][c.name] = std::make_shared<inject::Container>(std::move(container));
  }
  return ok();
}

Result<void> AppsStep::down(TaskRecord& task) {
  std::map<std::string, std::shared_ptr<inject::Container>> mine;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(task.task_id); it != running_.end()) {
      mine = std::move(it->second);
      running_.erase(it);
    }
  }
  auto td = model::parseTaskDefinition(task.task_definition_json);
  std::vector<std::string> errors;
  // Reverse order of the task definition, as containers came up in order.
  for (auto cr = task.containers.rbegin(); cr != task.containers.rend(); ++cr) {
    std::shared_ptr<inject::Container> c;
    if (auto it = mine.find(cr->name); it != mine.end()) c = it->second;
    if (!c && cr->process) {
      inject::ContainerRecord rec{cr->process->pid, cr->process->start_time, 0, cr->process->cgroup};
      if (auto adopted = inject::Container::adopt(rec); adopted.ok())
        c = std::make_shared<inject::Container>(std::move(*adopted));
    }
    if (c) {
      std::chrono::seconds timeout = settings_.default_stop_timeout;
      if (td.ok()) {
        for (const auto& def : td->containers)
          if (def.name == cr->name && def.stop_timeout) timeout = std::chrono::seconds(*def.stop_timeout);
      }
      if (c->running()) {
        (void)c->signal(SIGTERM);
        if (!c->waitExit(timeout)) {
          (void)c->signal(SIGKILL);
          if (!c->waitExit(std::chrono::seconds(5)))
            errors.push_back("container " + cr->name + " did not exit after SIGKILL");
        }
      }
      c->reap(std::chrono::milliseconds(500));
      if (c->exitCode()) cr->exit_code = c->exitCode();
    }
    cr->process.reset();
  }
  std::error_code ec;
  std::filesystem::remove_all(appDir(task.task_id), ec);
  if (ec) errors.push_back("failed to remove '" + appDir(task.task_id) + "': " + ec.message());
  if (!errors.empty())
    return makeError(ErrorCode::kInternal, "stop the containers of task", task.task_id, join(errors, "; "));
  return ok();
}

Result<bool> AppsStep::adopt(TaskRecord& task) {
  std::map<std::string, std::shared_ptr<inject::Container>> found;
  for (const auto& cr : task.containers) {
    if (!cr.process) continue;
    inject::ContainerRecord rec{cr.process->pid, cr.process->start_time, 0, cr.process->cgroup};
    auto adopted = inject::Container::adopt(rec);
    if (!adopted.ok()) {
      if (cr.essential) return false;
      continue;
    }
    found[cr.name] = std::make_shared<inject::Container>(std::move(*adopted));
  }
  std::lock_guard lock(mu_);
  running_[task.task_id] = std::move(found);
  return true;
}

std::optional<std::string> AppsStep::check(TaskRecord& task) {
  std::map<std::string, std::shared_ptr<inject::Container>> mine;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(task.task_id); it != running_.end()) mine = it->second;
  }
  for (auto& cr : task.containers) {
    auto it = mine.find(cr.name);
    if (it == mine.end() || it->second->running()) continue;
    it->second->reap(std::chrono::milliseconds(100));
    cr.exit_code = it->second->exitCode();
    if (cr.essential) {
      return "Essential container in task exited: " + cr.name +
             (cr.exit_code ? " (exit code " + std::to_string(*cr.exit_code) + ")" : std::string());
    }
  }
  return std::nullopt;
}

}  // namespace sc::agent
