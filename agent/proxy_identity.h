// Each task's proxy runs as its own uid and gid (docs/security.md, "The proxy"): the uid base plus
// the offset of the task's address in the task CIDR. Addresses are leased per host by the IPAM, so
// two live tasks never share a uid, and the uid follows the task through agent restarts in its
// record (facts["proxy_uid"]). A record without it was written before per-task uids: its proxy runs
// as 20000 with the old layout (everything in the task directory), and is adopted as such.
#pragma once

#include <sys/types.h>

#include <string>

#include "agent/config.h"
#include "agent/task_record.h"
#include "common/net_addr.h"
#include "common/result.h"

namespace sc::agent {

inline constexpr const char* kProxyUidFact = "proxy_uid";

// uid_base + the offset of `task_ip` in `task_cidr`; an error when the address lies outside the
// CIDR, is its network address, or its offset is beyond uid_count.
Result<uid_t> proxyUidFor(const ProxyIdentityConfig& ids, const Cidr& task_cidr, const std::string& task_ip);

// Who a task's proxy runs as and where its files are.
struct ProxyLayout {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string state_dir;  // root's: haproxy.cfg, proxy.state, proxy.log; empty: the old layout
  std::string run_dir;    // the proxy's: its sockets
};
// From the task's record: with facts["proxy_uid"], that uid, the task directory as state_dir and
// its proxy/ as run_dir; without, uid and gid 20000 and the task directory as run_dir (the layout
// of records written before per-task uids). A malformed uid is an error.
Result<ProxyLayout> proxyLayoutFor(const TaskRecord& task, const std::string& run_root);

// Whether any process runs as `uid` (real or effective), from /proc: a uid is not given to a new
// proxy while a process of an earlier one lives.
Result<bool> uidInUse(uid_t uid, const std::string& proc_root = "/proc");

}  // namespace sc::agent
