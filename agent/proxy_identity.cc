#include "agent/proxy_identity.h"

#include <dirent.h>

#include <cerrno>

#include "agent/proxy_mapping.h"
#include "common/file.h"
#include "common/strings.h"
#include "inject/launcher.h"

namespace sc::agent {

Result<uid_t> proxyUidFor(const ProxyIdentityConfig& ids, const Cidr& task_cidr, const std::string& task_ip) {
  SC_ASSIGN_OR_RETURN(IpAddress ip, IpAddress::parse(task_ip));
  if (!task_cidr.contains(ip)) {
    return makeError(ErrorCode::kFailedPrecondition, "choose the proxy uid for", task_ip,
                     "not in the task CIDR " + task_cidr.toString());
  }
  const uint64_t offset = static_cast<uint64_t>(ip.v4() - task_cidr.base.v4());
  if (offset == 0 || offset >= ids.uid_count) {
    return makeError(ErrorCode::kFailedPrecondition, "choose the proxy uid for", task_ip,
                     "offset " + std::to_string(offset) + " is outside the proxy uid range (uidCount " +
                         std::to_string(ids.uid_count) + ")");
  }
  return static_cast<uid_t>(ids.uid_base + offset);
}

Result<ProxyLayout> proxyLayoutFor(const TaskRecord& task, const std::string& run_root) {
  ProxyLayout l;
  const std::string task_dir = taskRunDir(run_root, task.task_id);
  auto it = task.facts.find(kProxyUidFact);
  if (it == task.facts.end()) {
    l.uid = inject::kProxyUid;
    l.gid = inject::kProxyGid;
    l.run_dir = task_dir;
    return l;
  }
  auto uid = parseUint(it->second, INT32_MAX - 1);
  if (!uid || *uid == 0) {
    return makeError(ErrorCode::kInvalidArgument, "read the proxy uid of task", task.task_id,
                     "bad value '" + it->second + "'");
  }
  l.uid = static_cast<uid_t>(*uid);
  l.gid = static_cast<gid_t>(*uid);
  l.state_dir = task_dir;
  l.run_dir = task_dir + "/proxy";
  return l;
}

Result<bool> uidInUse(uid_t uid, const std::string& proc_root) {
  DIR* d = ::opendir(proc_root.c_str());
  if (!d) return errnoError(errno, "list", proc_root);
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    auto text = readFile(proc_root + "/" + e->d_name + "/status", 64u << 10);
    if (!text.ok()) continue;  // exited meanwhile
    for (const std::string& line : split(*text, '\n')) {
      if (!line.starts_with("Uid:")) continue;
      // Real, effective, saved, filesystem.
      for (const std::string& f : split(std::string(trim(std::string_view(line).substr(4))), '\t')) {
        if (parseUint(f, UINT32_MAX) == uid) found = true;
      }
      break;
    }
    if (found) break;
  }
  ::closedir(d);
  return found;
}

}  // namespace sc::agent
