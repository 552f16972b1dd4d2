#include "netns/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/failpoint.h"
#include "common/file.h"
#include "common/strings.h"
#include "netns/host_drift.h"
#include "netns/hosts_file.h"
#include "netns/names.h"

namespace sc::netns {

using nlohmann::ordered_json;

namespace {

// Holds the state directory's flock for one public call.
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~FileLock() { ::flock(fd_, LOCK_UN); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

// Undo steps of a half-done apply, run newest first; every step runs, errors are collected.
class UndoStack {
 public:
  void push(std::string what, std::function<Result<void>()> fn) { steps_.push_back({std::move(what), std::move(fn)}); }
  void dismiss() { steps_.clear(); }
  std::string run() {
    std::string errors;
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      Result<void> r = it->second();
      if (!r.ok()) errors += (errors.empty() ? "" : "; ") + it->first + ": " + r.error().message;
    }
    steps_.clear();
    return errors;
  }
  ~UndoStack() { run(); }

 private:
  std::vector<std::pair<std::string, std::function<Result<void>()>>> steps_;
};

ordered_json mappingsToJson(const std::vector<PortMapping>& ms) {
  ordered_json a = ordered_json::array();
  for (const PortMapping& m : ms) {
    a.push_back(
        {{"name", m.name}, {"protocol", protoName(m.proto)}, {"hostPort", m.host_port}, {"taskPort", m.task_port}});
  }
  return a;
}

Result<std::vector<PortMapping>> mappingsFromJson(const ordered_json& a) {
  std::vector<PortMapping> out;
  if (!a.is_array()) return plainError(ErrorCode::kInvalidArgument, "portMappings must be an array");
  for (const auto& m : a) {
    PortMapping p;
    p.name = m.value("name", "");
    std::string proto = m.value("protocol", "tcp");
    if (proto != "tcp" && proto != "udp") return plainError(ErrorCode::kInvalidArgument, "protocol must be tcp or udp");
    p.proto = proto == "tcp" ? Proto::kTcp : Proto::kUdp;
    p.host_port = m.value("hostPort", 0);
    p.task_port = m.value("taskPort", 0);
    out.push_back(p);
  }
  return out;
}

ordered_json specJson(const SandboxSpec& s) {
  ordered_json j;
  j["taskId"] = s.task_id;
  j["hostname"] = s.hostname;
  j["networkMode"] = netModeName(s.mode);
  j["intercepts"] = ordered_json::array();
  for (const Intercept& i : s.intercepts) {
    j["intercepts"].push_back({{"containerPort", i.container_port}, {"listenerPort", i.listener_port}});
  }
  if (s.vip_range) j["vipRange"] = s.vip_range->toString();
  j["egress"] = ordered_json::array();
  for (const EgressRedirect& e : s.egress) {
    j["egress"].push_back({{"vip", e.vip.toString()}, {"port", e.port}, {"listenerPort", e.listener_port}});
  }
  j["portMappings"] = mappingsToJson(s.port_mappings);
  j["hosts"] = ordered_json::array();
  for (const HostEntry& h : s.hosts) j["hosts"].push_back({{"address", h.address}, {"name", h.name}});
  return j;
}

Result<SandboxSpec> specFromJsonValue(const ordered_json& j) {
  if (!j.is_object()) return plainError(ErrorCode::kInvalidArgument, "a spec must be a JSON object");
  try {
    SandboxSpec s;
    s.task_id = j.value("taskId", "");
    s.hostname = j.value("hostname", "");
    std::string mode = j.value("networkMode", "awsvpc");
    if (mode != "awsvpc" && mode != "bridge")
      return plainError(ErrorCode::kInvalidArgument, "networkMode must be awsvpc or bridge");
    s.mode = mode == "awsvpc" ? NetMode::kAwsvpc : NetMode::kBridge;
    for (const auto& i : j.value("intercepts", ordered_json::array())) {
      s.intercepts.push_back({i.value("containerPort", 0), i.value("listenerPort", 0)});
    }
    if (j.contains("vipRange")) {
      SC_ASSIGN_OR_RETURN(Cidr range, Cidr::parse(j["vipRange"].get<std::string>()));
      s.vip_range = range;
    }
    // Specs written before per-alias redirects had one "egress" object; those tasks bind VIPs directly.
    if (const auto it = j.find("egress"); it != j.end() && it->is_array()) {
      for (const auto& e : *it) {
        SC_ASSIGN_OR_RETURN(IpAddress vip, IpAddress::parse(e.value("vip", "")));
        s.egress.push_back({vip, e.value("port", 0), e.value("listenerPort", 0)});
      }
    }
    SC_ASSIGN_OR_RETURN(s.port_mappings, mappingsFromJson(j.value("portMappings", ordered_json::array())));
    for (const auto& h : j.value("hosts", ordered_json::array())) {
      s.hosts.push_back({h.value("address", ""), h.value("name", "")});
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return plainError(ErrorCode::kInvalidArgument, std::string("bad spec: ") + e.what());
  }
}

std::string joinErrors(const std::vector<std::string>& errs) { return join(errs, "; "); }

// Write-then-rename without fsync: readers never see a partial file, but the content need not
// survive a power cut. For the hosts file, whose namespace does not survive a reboot either; an
// fsync costs up to milliseconds per task on a busy disk.
Result<void> writeFileReplacing(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return errnoError(errno, "create", tmp);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::unlink(tmp.c_str());
      return errnoError(e, "write", tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return errnoError(e, "rename", tmp);
  }
  return ok();
}

}  // namespace

std::string specToJson(const SandboxSpec& spec) { return specJson(spec).dump(2) + "\n"; }

Result<SandboxSpec> specFromJson(const std::string& text) {
  auto j = ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) return plainError(ErrorCode::kInvalidArgument, "spec is not JSON");
  return specFromJsonValue(j);
}

struct SandboxManager::HostState {
  bool bridge_created = false;
  std::string ip_forward_previous;  // "" when the agent did not change it
  bool base_rules = false;          // the agent installed the shared chains and jumps
};

SandboxManager::SandboxManager(NetConfig config, Deps deps, Cidr cidr, Ipam ipam, UniqueFd lock)
    : config_(std::move(config)),
      deps_(deps),
      cidr_(cidr),
      chains_(ChainNames::of(config_.chain_prefix)),
      ipam_(std::move(ipam)),
      lock_fd_(std::move(lock)) {}

SandboxManager::~SandboxManager() = default;

Result<std::unique_ptr<SandboxManager>> SandboxManager::create(NetConfig config, Deps deps) {
  SC_TRY(validateConfig(config));
  SC_ASSIGN_OR_RETURN(Cidr cidr, Cidr::parse(config.task_cidr));
  SC_TRY(makeDirs(config.state_dir + "/tasks", 0700));
  const std::string lock_path = config.state_dir + "/lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) return errnoError(errno, "open", lock_path);
  Result<Ipam> ipam = makeError(ErrorCode::kInternal, "open", "ipam", "not opened");
  {
    FileLock held(lock.get());
    ipam = Ipam::open(config.state_dir + "/ipam.json", cidr, config.host_port_min, config.host_port_max);
  }
  if (!ipam.ok()) return std::move(ipam).error();
  return std::unique_ptr<SandboxManager>(
      new SandboxManager(std::move(config), deps, cidr, std::move(ipam).value(), std::move(lock)));
}

std::string SandboxManager::recordPath(const std::string& task_id) const {
  return config_.state_dir + "/tasks/" + task_id + ".json";
}
std::string SandboxManager::hostStatePath() const { return config_.state_dir + "/host.json"; }

std::string SandboxManager::vethName(const IpAddress& address) const {
  const int digits = (32 - cidr_.prefix + 3) / 4;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, address.v4() - cidr_.base.v4());
  return config_.veth_prefix + buf;
}

Result<void> SandboxManager::writeRecord(const SandboxInfo& info) const {
  ordered_json j;
  j["taskId"] = info.task_id;
  j["state"] = info.state;
  j["netns"] = info.netns_name;
  j["hostVeth"] = info.host_veth;
  j["bridge"] = info.bridge;
  j["address"] = info.address.toString();
  j["prefix"] = info.prefix;
  j["gateway"] = info.gateway.toString();
  j["hostsFile"] = info.hosts_path;
  j["portMappings"] = mappingsToJson(info.port_mappings);
  j["spec"] = specJson(info.spec);
  return writeFileAtomic(recordPath(info.task_id), j.dump(2) + "\n", 0600);
}

Result<std::optional<SandboxInfo>> SandboxManager::loadRecord(const std::string& task_id) const {
  const std::string path = recordPath(task_id);
  auto text = readFile(path);
  if (!text.ok()) {
    if (text.error().sys_errno == ENOENT) return std::optional<SandboxInfo>();
    return std::move(text).error();
  }
  auto j = ordered_json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return makeError(ErrorCode::kFailedPrecondition, "parse", path, "not a JSON object");
  SandboxInfo info;
  info.task_id = j.value("taskId", "");
  info.state = j.value("state", "");
  info.netns_name = j.value("netns", "");
  info.netns_path = deps_.kernel.netnsPath(info.netns_name);
  info.host_veth = j.value("hostVeth", "");
  info.bridge = j.value("bridge", "");
  info.hosts_path = j.value("hostsFile", "");
  info.prefix = j.value("prefix", 0);
  auto addr = IpAddress::parse(j.value("address", ""));
  auto gw = IpAddress::parse(j.value("gateway", ""));
  if (!addr.ok() || !gw.ok() || info.task_id != task_id) {
    return makeError(ErrorCode::kFailedPrecondition, "parse", path, "bad task record");
  }
  info.address = *addr;
  info.gateway = *gw;
  auto maps = mappingsFromJson(j.value("portMappings", ordered_json::array()));
  if (!maps.ok()) return std::move(maps).error().context("parse", path);
  info.port_mappings = std::move(maps).value();
  auto spec = specFromJsonValue(j.value("spec", ordered_json::object()));
  if (!spec.ok()) return std::move(spec).error().context("parse", path);
  info.spec = std::move(spec).value();
  info.mode = info.spec.mode;
  return std::optional<SandboxInfo>(std::move(info));
}

Result<std::vector<std::string>> SandboxManager::recordedTasks() const {
  std::vector<std::string> out;
  const std::string dir = config_.state_dir + "/tasks";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errnoError(errno, "list", dir);
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.ends_with(".json") && n.find(".tmp.") == std::string::npos)
      out.push_back(n.substr(0, n.size() - 5));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- apply ----------------------------------------------------------------------------------

Result<ApplyResult> SandboxManager::apply(const SandboxSpec& spec) {
  std::lock_guard guard(mu_);
  FileLock held(lock_fd_.get());
  return applyLocked(spec);
}

Result<ApplyResult> SandboxManager::applyLocked(const SandboxSpec& spec) {
  SC_TRY(validateSpec(spec));
  const std::string& task = spec.task_id;
  SC_ASSIGN_OR_RETURN(std::optional<SandboxInfo> existing, loadRecord(task));
  if (existing) {
    const bool same = specJson(existing->spec) == specJson(spec);
    if (existing->state == "applied" && same && deps_.kernel.netnsExists(existing->netns_name)) {
      SC_ASSIGN_OR_RETURN(bool link, deps_.kernel.linkExists(existing->host_veth));
      if (link) return ApplyResult{std::move(*existing), Outcome::kAlreadyPresent};
    }
    if (existing->state == "applied" && !same) {
      return makeError(ErrorCode::kAlreadyExists, "apply network of task", task,
                       "it runs with a different spec; remove it first");
    }
  }
  if (existing || ipam_.addressOf(task) || deps_.kernel.netnsExists(netnsName(task))) {
    // Leftovers of a crash or of a sandbox whose kernel objects went away: start clean.
    SC_TRY_CTX(removeLocked(task), "clean up before applying network of task", task);
  }

  const auto t0 = std::chrono::steady_clock::now();
  UndoStack undo;
  auto fail = [&](Error e) -> Error {
    std::string rollback = undo.run();
    if (!rollback.empty()) e.message += " (rollback left errors: " + rollback + ")";
    return e;
  };
#define SC_STEP(expr)                                                 \
  do {                                                                \
    auto&& sc_step_r_ = (expr);                                       \
    if (!sc_step_r_.ok()) return fail(std::move(sc_step_r_).error()); \
  } while (false)

  // 1. Lease the address and host ports (one atomic write).
  SC_STEP(failpoint::check("netns.lease"));
  std::vector<PortRequest> requests;
  for (const PortMapping& m : spec.port_mappings) requests.push_back({m.proto, m.host_port});
  auto lease = ipam_.allocate(task, requests, [this](Proto p, int port) { return deps_.system.portInUse(p, port); });
  if (!lease.ok()) return fail(std::move(lease).error());
  undo.push("release lease", [this, task] { return ipam_.release(task); });

  SandboxInfo info;
  info.task_id = task;
  info.state = "applying";
  info.mode = spec.mode;
  info.spec = spec;
  info.netns_name = netnsName(task);
  info.netns_path = deps_.kernel.netnsPath(info.netns_name);
  info.host_veth = vethName(lease->address);
  info.bridge = config_.bridge;
  info.hosts_path = config_.etc_netns_dir + "/" + info.netns_name + "/hosts";
  info.address = lease->address;
  info.gateway = ipam_.gateway();
  info.prefix = cidr_.prefix;
  info.port_mappings = spec.port_mappings;
  for (size_t i = 0; i < info.port_mappings.size(); ++i) info.port_mappings[i].host_port = lease->ports[i].second;

  // 2. The host's shared pieces, with the first task: bridge, ip_forward, chains and jumps; for
  //    every later task, checked and repaired.
  std::vector<std::string> host_repairs;
  SC_STEP(failpoint::check("netns.host_setup"));
  if (::access(hostStatePath().c_str(), F_OK) != 0) {
    undo.push("tear down host", [this] { return teardownHostIfIdle(); });
    SC_STEP(setupHost());
  } else {
    SC_STEP(failpoint::check("netns.bridge"));
    auto br = deps_.kernel.ensureBridge(config_.bridge, ipam_.gateway(), cidr_.prefix);
    if (!br.ok()) return fail(std::move(br).error());
    if (*br == Outcome::kCreated) {
      // Someone deleted the bridge under running tasks; it is the agent's now, to delete with the
      // last task.
      auto text = readFile(hostStatePath());
      auto j = ordered_json::parse(text.ok() ? *text : std::string("{}"), nullptr, false);
      if (j.is_discarded() || !j.is_object()) j = ordered_json::object();
      j["bridgeCreated"] = true;
      SC_STEP(writeFileAtomic(hostStatePath(), j.dump(2) + "\n", 0600));
    }
    auto repaired = verifyHostLocked();
    if (!repaired.ok()) return fail(std::move(repaired).error());
    host_repairs = std::move(*repaired);
  }

  // The record is written once, when everything is in place. A crash before that leaves a lease
  // without a record and kernel objects under the task's names; the next apply() of the task, or
  // recover(), finds them by lease, name and rule comment and removes them. The lease above is the
  // only durable write before the kernel work.
  undo.push("delete task record", [this, task]() -> Result<void> {
    if (::unlink(recordPath(task).c_str()) != 0 && errno != ENOENT)
      return errnoError(errno, "remove", recordPath(task));
    return ok();
  });

  // 4. The namespace.
  SC_STEP(failpoint::check("netns.create_netns"));
  auto ns = deps_.kernel.createNetns(info.netns_name);
  if (!ns.ok()) return fail(std::move(ns).error());
  undo.push("delete namespace", [this, n = info.netns_name]() -> Result<void> {
    SC_TRY(deps_.kernel.deleteNetns(n));
    return ok();
  });

  // 5. The veth pair, eth0 born in the namespace.
  SC_STEP(failpoint::check("netns.create_veth"));
  SC_STEP(deps_.kernel.createVeth({info.host_veth, info.netns_name, "eth0", config_.bridge}));
  undo.push("delete veth", [this, v = info.host_veth]() -> Result<void> {
    SC_TRY(deps_.kernel.deleteLink(v));
    return ok();
  });

  // 6. lo, the address, the default route.
  SC_STEP(failpoint::check("netns.configure_task"));
  SC_STEP(deps_.kernel.configureTask({info.netns_name, "eth0", info.address, info.prefix, info.gateway}));

  // 7. The hosts file, once.
  SC_STEP(failpoint::check("netns.hosts_file"));
  const std::string hosts_dir = config_.etc_netns_dir + "/" + info.netns_name;
  SC_STEP(makeDirs(hosts_dir, 0755));
  undo.push("delete hosts file", [hosts_dir, path = info.hosts_path]() -> Result<void> {
    ::unlink(path.c_str());
    if (::rmdir(hosts_dir.c_str()) != 0 && errno != ENOENT) return errnoError(errno, "remove", hosts_dir);
    return ok();
  });
  SC_STEP(writeFileReplacing(info.hosts_path, renderHostsFile(spec, info.address)));

  const auto t1 = std::chrono::steady_clock::now();
  // 8. Rules in the task namespace (they die with it).
  SC_STEP(failpoint::check("netns.task_rules"));
  const RuleDocument task_doc = taskNamespaceRules(spec, chains_);
  for (Table t : tablesOf(task_doc)) {
    auto text = renderInstall(task_doc, t);
    if (!text.ok()) return fail(std::move(text).error());
    SC_STEP(deps_.rules.restore(info.netns_path, task_doc.family, *text));
  }

  // 9. The task's rules on the host, one transaction per table; a later table's failure removes
  //    the earlier ones.
  const RuleDocument host_doc = hostTaskRules(spec, {info.address, cidr_, info.port_mappings}, chains_);
  for (Table t : tablesOf(host_doc)) {
    SC_STEP(failpoint::check("netns.host_rules"));
    auto text = renderInstall(host_doc, t);
    if (!text.ok()) return fail(std::move(text).error());
    auto del = renderRemove(host_doc, t, false);
    if (!del.ok()) return fail(std::move(del).error());
    SC_STEP(deps_.rules.restore("", host_doc.family, *text));
    undo.push(std::string("delete host ") + tableName(t) + " rules",
              [this, d = *del] { return deps_.rules.restore("", 4, d); });
  }

  // 10. Done.
  SC_STEP(failpoint::check("netns.commit"));
  info.state = "applied";
  SC_STEP(writeRecord(info));
#undef SC_STEP
  undo.dismiss();
  const auto t2 = std::chrono::steady_clock::now();
  return ApplyResult{std::move(info), Outcome::kCreated, {t1 - t0, t2 - t1}, std::move(host_repairs)};
}

Result<void> SandboxManager::setupHost() {
  HostState hs;
  SC_ASSIGN_OR_RETURN(bool bridge_exists, deps_.kernel.linkExists(config_.bridge));
  hs.bridge_created = !bridge_exists;
  SC_ASSIGN_OR_RETURN(std::string fwd, deps_.system.sysctlGet(SysNet::kIpv4Forward));
  if (fwd != "1") hs.ip_forward_previous = fwd;
  // Chains left by a crashed agent are reused, never redeclared (that would flush them).
  SC_ASSIGN_OR_RETURN(std::string nat_text, deps_.rules.save("", 4, Table::kNat));
  SavedTable nat = parseIptablesSave(nat_text, Table::kNat);
  bool have_chains = std::find(nat.chains.begin(), nat.chains.end(), chains_.portmap) != nat.chains.end();
  hs.base_rules = true;
  ordered_json j;
  j["bridgeCreated"] = hs.bridge_created;
  j["ipForwardPrevious"] = hs.ip_forward_previous;
  j["baseRules"] = hs.base_rules;
  // Written before acting, so a crash in between still knows what to undo.
  SC_TRY(writeFileAtomic(hostStatePath(), j.dump(2) + "\n", 0600));

  SC_TRY(failpoint::check("netns.bridge"));
  SC_TRY(deps_.kernel.ensureBridge(config_.bridge, ipam_.gateway(), cidr_.prefix));
  SC_TRY(failpoint::check("netns.ip_forward"));
  if (!hs.ip_forward_previous.empty()) SC_TRY(deps_.system.sysctlSet(SysNet::kIpv4Forward, "1"));
  SC_TRY(failpoint::check("netns.host_base"));
  if (!have_chains) {
    const RuleDocument base = hostBaseRules(chains_, {cidr_, config_.bridge, !hs.ip_forward_previous.empty()});
    for (Table t : tablesOf(base)) {
      SC_ASSIGN_OR_RETURN(std::string text, renderInstall(base, t));
      SC_TRY(deps_.rules.restore("", base.family, text));
    }
  }
  // A peer that cannot be routed does not fail the task; setPeers() and verifyHost() name it.
  if (!peers_.empty()) (void)syncPeersLocked();
  return ok();
}

HostBase SandboxManager::hostBase() const {
  auto text = readFile(hostStatePath());
  auto j = ordered_json::parse(text.ok() ? *text : std::string("{}"), nullptr, false);
  const bool ours = j.is_object() && j.contains("ipForwardPrevious") && j["ipForwardPrevious"].is_string() &&
                    !j["ipForwardPrevious"].get<std::string>().empty();
  HostBase base{cidr_, config_.bridge, ours, {}};
  for (const PeerSubnet& p : recordedPeers()) base.peer_subnets.push_back(p.subnet);
  return base;
}

Result<std::vector<std::string>> SandboxManager::verifyHost() {
  std::lock_guard lock(mu_);
  return verifyHostLocked();
}

Result<std::vector<std::string>> SandboxManager::setPeers(std::vector<PeerSubnet> peers) {
  std::lock_guard guard(mu_);
  FileLock held(lock_fd_.get());
  return setPeersLocked(std::move(peers));
}

Result<std::vector<std::string>> SandboxManager::verifyHostLocked() {
  if (::access(hostStatePath().c_str(), F_OK) != 0) return std::vector<std::string>{};  // nothing shared yet
  RuleDocument expected = hostBaseRules(chains_, hostBase());
  SC_ASSIGN_OR_RETURN(std::vector<std::string> tasks, recordedTasks());
  for (const std::string& id : tasks) {
    SC_ASSIGN_OR_RETURN(std::optional<SandboxInfo> info, loadRecord(id));
    if (!info || info->state != "applied") continue;
    RuleDocument mine = hostTaskRules(info->spec, {info->address, cidr_, info->port_mappings}, chains_);
    expected.rules.insert(expected.rules.end(), mine.rules.begin(), mine.rules.end());
  }
  std::map<Table, SavedTable> saved;
  for (Table t : tablesOf(expected)) {
    SC_ASSIGN_OR_RETURN(std::string text, deps_.rules.save("", expected.family, t));
    saved[t] = parseIptablesSave(text, t);
  }
  SC_ASSIGN_OR_RETURN(HostRepair repair, planHostRepair(expected, saved));
  if (!repair.restore.empty()) SC_TRY(deps_.rules.restore("", expected.family, repair.restore));
  std::vector<std::string> routes = verifyRoutesLocked();
  repair.findings.insert(repair.findings.end(), routes.begin(), routes.end());
  return std::move(repair.findings);
}

Result<void> SandboxManager::removeBase() {
  const RuleDocument base = hostBaseRules(chains_, hostBase());
  std::vector<std::string> errors;
  for (Table t : {Table::kFilter, Table::kNat}) {
    auto text = renderRemove(base, t, true);
    if (!text.ok()) return std::move(text).error();
    if (deps_.rules.restore("", base.family, *text).ok()) continue;
    // Not as rendered (partly there, or changed by hand): remove what is there.
    auto saved = deps_.rules.save("", 4, t);
    if (!saved.ok()) {
      errors.push_back(saved.error().message);
      continue;
    }
    SavedTable st = parseIptablesSave(*saved, t);
    std::set<std::string> ours;
    for (const ChainRef& c : base.chains) {
      if (c.table == t) ours.insert(c.name);
    }
    std::vector<SavedRule> jumps;
    for (const SavedRule& r : st.rules) {
      for (const std::string& c : ours) {
        if (r.comment == kAgentComment && r.spec.ends_with("-j " + c)) jumps.push_back(r);
      }
    }
    std::vector<std::string> drop;
    for (const std::string& c : st.chains) {
      if (ours.count(c)) drop.push_back(c);
    }
    std::string del = renderDeleteSaved(jumps, t, drop);
    if (del.empty()) continue;
    if (auto r = deps_.rules.restore("", 4, del); !r.ok()) errors.push_back(r.error().message);
  }
  if (!errors.empty()) {
    return makeError(ErrorCode::kFailedPrecondition, "remove", "shared chains", joinErrors(errors));
  }
  return ok();
}

Result<void> SandboxManager::teardownHostIfIdle() {
  SC_ASSIGN_OR_RETURN(std::vector<std::string> tasks, recordedTasks());
  if (!tasks.empty()) return ok();
  auto text = readFile(hostStatePath());
  if (!text.ok()) {
    if (text.error().sys_errno == ENOENT) return ok();
    return std::move(text).error();
  }
  auto j = ordered_json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) j = ordered_json::object();
  std::vector<std::string> errors;
  if (j.value("baseRules", false)) {
    if (auto r = removeBase(); !r.ok()) errors.push_back(r.error().message);
  }
  const std::string prev = j.value("ipForwardPrevious", "");
  if (!prev.empty()) {
    if (auto r = deps_.system.sysctlSet(SysNet::kIpv4Forward, prev); !r.ok()) errors.push_back(r.error().message);
  }
  for (std::string& e : removeRoutes()) errors.push_back(std::move(e));
  if (j.value("bridgeCreated", false)) {
    if (auto r = deps_.kernel.deleteLink(config_.bridge); !r.ok()) errors.push_back(r.error().message);
  }
  if (!errors.empty())
    return makeError(ErrorCode::kFailedPrecondition, "tear down", "host network", joinErrors(errors));
  if (::unlink(hostStatePath().c_str()) != 0 && errno != ENOENT) return errnoError(errno, "remove", hostStatePath());
  return ok();
}

// ---- remove ---------------------------------------------------------------------------------

Result<void> SandboxManager::removeTaskHostRulesByTag(const std::string& task_id) {
  const std::string tag = ruleComment(task_id);
  std::vector<std::string> errors;
  for (Table t : {Table::kFilter, Table::kNat}) {
    auto saved = deps_.rules.save("", 4, t);
    if (!saved.ok()) {
      errors.push_back(saved.error().message);
      continue;
    }
    std::vector<SavedRule> mine;
    for (const SavedRule& r : parseIptablesSave(*saved, t).rules) {
      const bool our_chain = r.chain == chains_.portmap || r.chain == chains_.postrouting || r.chain == chains_.forward;
      if (our_chain && r.comment == tag) mine.push_back(r);
    }
    std::string del = renderDeleteSaved(mine, t, {});
    if (del.empty()) continue;
    if (auto r = deps_.rules.restore("", 4, del); !r.ok()) errors.push_back(r.error().message);
  }
  if (!errors.empty())
    return makeError(ErrorCode::kFailedPrecondition, "remove host rules of task", task_id, joinErrors(errors));
  return ok();
}

Result<Outcome> SandboxManager::remove(const std::string& task_id) {
  SC_TRY(checkTaskId(task_id));
  std::lock_guard guard(mu_);
  FileLock held(lock_fd_.get());
  return removeLocked(task_id);
}

Result<Outcome> SandboxManager::removeLocked(const std::string& task) {
  std::vector<std::string> errors;
  bool found = false;
  auto note = [&](const Result<void>& r) {
    if (!r.ok()) errors.push_back(r.error().message);
  };
  std::optional<SandboxInfo> rec;
  if (auto r = loadRecord(task); r.ok()) {
    rec = std::move(r).value();
  } else {
    errors.push_back(r.error().message);
  }
  found |= rec.has_value();
  const bool host_base = ::access(hostStatePath().c_str(), F_OK) == 0;

  // Host rules: exactly as applied when the record says so; else whatever carries the tag. They
  // are removed on a helper thread while this one removes the veth and the namespace: both wait
  // mostly for RCU grace periods in the kernel, so the wait is the longer of the two, not the sum.
  // (The helper only runs iptables-restore through the thread-safe RuleApplier.)
  std::vector<std::string> rule_errors;
  std::chrono::nanoseconds rules_time{0};
  std::thread rules_thread;
  const bool applied = rec && rec->state == "applied";
  RuleDocument doc;
  if (applied) doc = hostTaskRules(rec->spec, {rec->address, cidr_, rec->port_mappings}, chains_);
  if (host_base && (!applied || !doc.empty())) {
    rules_thread = std::thread([&] {
      const auto start = std::chrono::steady_clock::now();
      bool done = applied;
      for (Table t : {Table::kFilter, Table::kNat}) {
        if (!done) break;
        auto text = renderRemove(doc, t, false);
        if (!text.ok() || (!text->empty() && !deps_.rules.restore("", 4, *text).ok())) done = false;
      }
      if (!done) {
        if (auto r = removeTaskHostRulesByTag(task); !r.ok()) rule_errors.push_back(r.error().message);
      }
      rules_time = std::chrono::steady_clock::now() - start;
    });
  }

  const auto t1 = std::chrono::steady_clock::now();
  // The veth (its eth0 end goes with it), then the namespace (its rules go with it).
  std::string veth;
  if (rec) {
    veth = rec->host_veth;
  } else if (auto a = ipam_.addressOf(task)) {
    veth = vethName(*a);
  }
  if (!veth.empty()) {
    auto r = deps_.kernel.deleteLink(veth);
    if (!r.ok())
      errors.push_back(r.error().message);
    else
      found |= *r == Outcome::kRemoved;
  }
  const std::string ns = netnsName(task);
  {
    auto r = deps_.kernel.deleteNetns(ns);
    if (!r.ok())
      errors.push_back(r.error().message);
    else
      found |= *r == Outcome::kRemoved;
  }
  const auto kernel_time = std::chrono::steady_clock::now() - t1;
  if (rules_thread.joinable()) rules_thread.join();
  errors.insert(errors.end(), rule_errors.begin(), rule_errors.end());
  const auto t2 = std::chrono::steady_clock::now();
  const std::string hosts_dir = config_.etc_netns_dir + "/" + ns;
  if (::unlink((hosts_dir + "/hosts").c_str()) == 0) found = true;
  if (::rmdir(hosts_dir.c_str()) != 0 && errno != ENOENT)
    errors.push_back("failed to remove '" + hosts_dir + "': " + std::strerror(errno));

  // Free the lease and forget the task only when its kernel objects are gone.
  if (errors.empty()) {
    found |= ipam_.addressOf(task).has_value();
    note(ipam_.release(task));
  }
  if (errors.empty() && rec) {
    if (::unlink(recordPath(task).c_str()) != 0 && errno != ENOENT) {
      errors.push_back("failed to remove '" + recordPath(task) + "': " + std::strerror(errno));
    }
  }
  if (errors.empty()) note(teardownHostIfIdle());
  last_remove_ = {rules_time, kernel_time, std::chrono::steady_clock::now() - t2};
  if (!errors.empty()) {
    return makeError(ErrorCode::kFailedPrecondition, "remove network of task", task, joinErrors(errors));
  }
  return found ? Outcome::kRemoved : Outcome::kAbsent;
}

// ---- show / list / recover ------------------------------------------------------------------

Result<std::optional<SandboxInfo>> SandboxManager::show(const std::string& task_id) {
  SC_TRY(checkTaskId(task_id));
  std::lock_guard guard(mu_);
  FileLock held(lock_fd_.get());
  return loadRecord(task_id);
}

Result<std::vector<SandboxInfo>> SandboxManager::list() {
  std::lock_guard guard(mu_);
  FileLock held(lock_fd_.get());
  std::vector<SandboxInfo> out;
  SC_ASSIGN_OR_RETURN(std::vector<std::string> tasks, recordedTasks());
  for (const std::string& t : tasks) {
    SC_ASSIGN_OR_RETURN(std::optional<SandboxInfo> rec, loadRecord(t));
    if (rec) out.push_back(std::move(*rec));
  }
  return out;
}

Result<std::string> SandboxManager::renderRules(const SandboxInfo& info) const {
  return renderAllRules(info.spec, {info.address, cidr_, info.port_mappings}, hostBase(), chains_, info.netns_name);
}

Result<RecoveryReport> SandboxManager::recover(bool remove_orphans) {
  std::lock_guard guard(mu_);
  FileLock held(lock_fd_.get());
  RecoveryReport report;
  std::vector<std::string> errors;
  auto act = [&](const std::string& finding, const std::string& task) {
    if (!remove_orphans) {
      report.findings.push_back(finding + " (kept)");
      return;
    }
    auto r = removeLocked(task);
    if (r.ok()) {
      report.findings.push_back(finding + " (removed)");
      ++report.removed;
    } else {
      report.findings.push_back(finding + " (removal failed: " + r.error().message + ")");
      errors.push_back(r.error().message);
    }
  };

  // Records: partial applies and sandboxes whose namespace is gone.
  SC_ASSIGN_OR_RETURN(std::vector<std::string> tasks, recordedTasks());
  std::set<std::string> live;
  for (const std::string& t : tasks) {
    auto rec = loadRecord(t);
    if (!rec.ok() || !*rec) {
      report.findings.push_back("task " + t + ": unreadable record");
      continue;
    }
    if ((*rec)->state != "applied") {
      act("task " + t + ": apply did not finish", t);
    } else if (!deps_.kernel.netnsExists((*rec)->netns_name)) {
      act("task " + t + ": namespace " + (*rec)->netns_name + " is gone", t);
    } else {
      live.insert(t);
    }
  }
  if (!remove_orphans) {
    for (const std::string& t : tasks) live.insert(t);
  }
  // Namespaces and links by name.
  SC_ASSIGN_OR_RETURN(std::vector<std::string> namespaces, deps_.kernel.listNetns(config_.netns_prefix));
  for (const std::string& n : namespaces) {
    const std::string t = n.substr(config_.netns_prefix.size());
    if (live.count(t) || !isValidTaskId(t)) continue;
    std::string addrs;
    if (auto a = deps_.kernel.taskAddresses(n, "eth0"); a.ok() && !a->empty()) addrs = " with " + join(*a, ",");
    act("namespace " + n + addrs + ": no task record", t);
  }
  std::set<std::string> live_veths;
  for (const std::string& t : live) {
    if (auto rec = loadRecord(t); rec.ok() && *rec) live_veths.insert((*rec)->host_veth);
  }
  SC_ASSIGN_OR_RETURN(std::vector<std::string> links, deps_.kernel.listLinks(config_.veth_prefix));
  for (const std::string& l : links) {
    // The bridge may share the veth prefix (bridge "sce2e0", prefix "sce"); it is never an orphan.
    if (live_veths.count(l) || l == config_.bridge) continue;
    if (!remove_orphans) {
      report.findings.push_back("link " + l + ": no task record (kept)");
      continue;
    }
    auto r = deps_.kernel.deleteLink(l);
    report.findings.push_back("link " + l + ": no task record (" + (r.ok() ? "removed" : r.error().message) + ")");
    if (r.ok()) ++report.removed;
  }
  // Leases without a task.
  for (const std::string& t : ipam_.tasks()) {
    if (live.count(t)) continue;
    if (!remove_orphans) {
      report.findings.push_back("lease of " + t + ": no task record (kept)");
      continue;
    }
    auto r = ipam_.release(t);
    report.findings.push_back("lease of " + t + ": no task record (" + (r.ok() ? "released" : r.error().message) + ")");
    if (r.ok()) ++report.removed;
  }
  // Host rules tagged for a task that is not live.
  for (Table t : {Table::kNat, Table::kFilter}) {
    auto saved = deps_.rules.save("", 4, t);
    if (!saved.ok()) {
      errors.push_back(saved.error().message);
      continue;
    }
    std::set<std::string> stale;
    for (const SavedRule& r : parseIptablesSave(*saved, t).rules) {
      const bool our_chain = r.chain == chains_.portmap || r.chain == chains_.postrouting || r.chain == chains_.forward;
      if (our_chain && r.comment.starts_with("sc:") && r.comment != kAgentComment && !live.count(r.comment.substr(3))) {
        stale.insert(r.comment.substr(3));
      }
    }
    for (const std::string& task : stale) {
      if (!remove_orphans) {
        report.findings.push_back(std::string("host ") + tableName(t) + " rules of " + task +
                                  ": no task record (kept)");
        continue;
      }
      auto r = removeTaskHostRulesByTag(task);
      report.findings.push_back(std::string("host ") + tableName(t) + " rules of " + task + ": no task record (" +
                                (r.ok() ? "removed" : r.error().message) + ")");
      if (r.ok()) ++report.removed;
    }
  }
  // Addresses in use without a lease.
  for (const std::string& t : live) {
    auto rec = loadRecord(t);
    if (!rec.ok() || !*rec) continue;
    auto holder = ipam_.holderOf((*rec)->address);
    if (!holder || *holder != t) {
      report.findings.push_back("task " + t + ": address " + (*rec)->address.toString() + " in use without its lease");
    }
  }
  if (remove_orphans) {
    if (auto r = teardownHostIfIdle(); !r.ok()) errors.push_back(r.error().message);
  }
  if (!errors.empty()) return makeError(ErrorCode::kFailedPrecondition, "recover", "task networks", joinErrors(errors));
  return report;
}

}  // namespace sc::netns
