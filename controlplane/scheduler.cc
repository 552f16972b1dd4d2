// Scheduling (placement, rolling deployments, replacement, draining), TTL loss and the agent API.
#include <arpa/inet.h>

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "common/strings.h"
#include "controlplane/batch.h"
#include "controlplane/control_plane.h"
#include "controlplane/json_fields.h"
#include "controlplane/placement.h"
#include "controlplane/secure_random.h"
#include "controlplane/service_members.h"
#include "controlplane/sigv4.h"
#include "model/parse.h"

namespace sc::controlplane {
namespace {

bool live(const Json& t) { return t.value("desiredStatus", "") == "RUNNING" && t.value("lastStatus", "") != "STOPPED"; }
bool healthyTask(const Json& t) {
  return live(t) && t.value("lastStatus", "") == "RUNNING" && t.value("healthStatus", "") != "UNHEALTHY";
}

// Task memory in MiB: the task-level limit, else the sum of container limits.
int64_t taskMemory(const Json& td) {
  if (td.contains("memory")) {
    if (auto m = model::parseTaskMemory(td["memory"].get<std::string>())) return *m;
  }
  int64_t sum = 0;
  for (const Json& c : td.value("containerDefinitions", Json::array()))
    sum += c.value("memory", c.value("memoryReservation", 0));
  return sum;
}

int64_t taskCpu(const Json& td) {
  if (td.contains("cpu")) {
    if (auto c = model::parseTaskCpu(td["cpu"].get<std::string>())) return *c;
  }
  int64_t sum = 0;
  for (const Json& c : td.value("containerDefinitions", Json::array())) sum += c.value("cpu", 0);
  return sum;
}

// ---- What an agent may report (docs/control-plane.md, "What agents may report") ----

constexpr size_t kMaxReasonBytes = 1024;  // ECS: Container.reason is "a short (1024 max characters)" string

// A unicast IPv4 address a task can be reached at: not unspecified (0/8), loopback, link-local
// (169.254/16, the metadata range), multicast or reserved (224/3); see security.md 8.4.
std::optional<uint32_t> endpointIpv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  const uint32_t v = ntohl(a.s_addr);
  const uint32_t first = v >> 24;
  if (first == 0 || first == 127 || first >= 224 || (v >> 16) == 0xA9FEu) return std::nullopt;
  return v;
}

constexpr size_t kMaxServiceEvents = 100;

// A service event, newest first, as ECS keeps them: the same message twice in a row is one event,
// and only the newest 100 are kept.
void addServiceEvent(Json& svc, const std::string& message, std::string id, double now) {
  Json& events = svc["events"];
  if (!events.is_array()) events = Json::array();
  if (!events.empty() && events[0].value("message", "") == message) return;
  events.insert(events.begin(), Json{{"id", std::move(id)}, {"createdAt", now}, {"message", message}});
  if (events.size() > kMaxServiceEvents) events.erase(events.size() - 1);
}

// "(service web) has started 2 tasks: (task 1a2b...) (task 3c4d...)." and "... has stopped 1
// running tasks: (task ...)." in ECS's words.
std::string tasksEvent(const std::string& service, const std::string& verb, const std::string& noun,
                       const std::vector<std::string>& ids) {
  std::string m = "(service " + service + ") has " + verb + " " + std::to_string(ids.size()) + " " + noun + ":";
  for (const std::string& id : ids) m += " (task " + id + ")";
  return m + ".";
}

struct Cidr4 {
  uint32_t base = 0;
  int prefix = 0;
  bool contains(uint32_t ip) const { return prefix == 0 || (ip >> (32 - prefix)) == (base >> (32 - prefix)); }
};

std::optional<Cidr4> parseCidr4(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  in_addr a{};
  if (inet_pton(AF_INET, s.substr(0, slash).c_str(), &a) != 1) return std::nullopt;
  const std::string bits = s.substr(slash + 1);
  if (bits.empty() || bits.size() > 2 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) return std::nullopt;
  const int prefix = std::stoi(bits);
  if (prefix < 8 || prefix > 30) return std::nullopt;
  return Cidr4{ntohl(a.s_addr), prefix};
}

std::string ipv4Text(uint32_t v) {
  in_addr a{htonl(v)};
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

// The port an endpoint of `port_name` listens on inside an awsvpc task (model/plan.cc: the
// ingressPortOverride, else the containerPort), 0 if the task definition has no such port.
int awsvpcTargetPort(const Json& td, const std::string& port_name, const Json& sc_service) {
  if (sc_service.contains("ingressPortOverride") && sc_service["ingressPortOverride"].is_number_integer())
    return sc_service["ingressPortOverride"].get<int>();
  for (const Json& c : td.value("containerDefinitions", Json::array())) {
    for (const Json& pm : c.value("portMappings", Json::array())) {
      if (pm.value("name", "") == port_name && pm.contains("containerPort")) return pm["containerPort"].get<int>();
    }
  }
  return 0;
}

// The Service Connect services of the deployment that started `task`: discovery name -> entry.
std::map<std::string, Json> ownServices(const Json& task, const std::optional<Json>& svc) {
  std::map<std::string, Json> out;
  if (!svc) return out;
  for (const Json& d : (*svc)["deployments"]) {
    if (d["id"] != task["startedBy"] || !d.contains("serviceConnectConfiguration")) continue;
    for (const Json& s : d["serviceConnectConfiguration"].value("services", Json::array())) {
      std::string port_name = s.value("portName", "");
      out[s.value("discoveryName", port_name)] = s;
    }
  }
  return out;
}

struct ReportContext {
  const Json& task;
  const Json& inst;
  const std::optional<Json>& td;
  const std::optional<Json>& svc;
};

std::optional<std::string> checkEndpoint(const Json& e, const ReportContext& ctx,
                                         const std::map<std::string, Json>& own) {
  if (!e.is_object() || !e.contains("discoveryName") || !e["discoveryName"].is_string() || !e.contains("ip") ||
      !e["ip"].is_string() || !e.contains("port") || !e["port"].is_number_integer()) {
    return "expected {discoveryName: string, ip: string, port: integer}, got " + e.dump().substr(0, 200);
  }
  const std::string name = e["discoveryName"].get<std::string>();
  auto it = own.find(name);
  if (it == own.end()) {
    std::vector<std::string> names;
    for (const auto& [n, s] : own) names.push_back(n);
    return "discoveryName " + jsonQuote(name) + " is not a Service Connect discovery name of this task (" +
           (names.empty() ? std::string("it has none") : "it has " + join(names, ", ")) + ")";
  }
  const int64_t port = e["port"].get<int64_t>();
  if (port < 1 || port > 65535) return "port: expected 1-65535, got " + std::to_string(port);
  const std::string ip_text = e["ip"].get<std::string>();
  auto ip = endpointIpv4(ip_text);
  if (!ip) return "ip: " + jsonQuote(ip_text) + " is not a unicast IPv4 address a task can be reached at";
  const bool awsvpc = ctx.td && ctx.td->value("networkMode", "") == "awsvpc";
  auto cidr = parseCidr4(ctx.inst.value("_taskCidr", ""));
  if (awsvpc) {
    const int want = ctx.td ? awsvpcTargetPort(*ctx.td, it->second.value("portName", ""), it->second) : 0;
    if (port != want)
      return "port: the task listens for " + name + " on " + std::to_string(want) + ", not " + std::to_string(port);
    if (cidr && !cidr->contains(*ip)) {
      return "ip: " + ip_text + " is outside the instance's task CIDR " + ctx.inst["_taskCidr"].get<std::string>();
    }
    return std::nullopt;
  }
  // bridge/host: published on the instance's address, at a host port the agent chose.
  std::string host = ctx.inst.value("_hostAddress", "");
  if (host.empty() && cidr) host = ipv4Text(cidr->base + 1);  // the agent's default: the bridge's gateway
  if (!host.empty() && ip_text != host) return "ip: " + ip_text + " is not the instance's address " + host;
  return std::nullopt;
}

std::optional<std::string> checkContainer(const Json& rc, const Json& task) {
  static const std::set<std::string> kContainerStatuses = {"PENDING", "RUNNING", "STOPPED"};
  if (!rc.is_object() || !rc.contains("name") || !rc["name"].is_string()) return "expected an object with a name";
  const std::string name = rc["name"].get<std::string>();
  bool known = false;
  for (const Json& c : task["containers"]) known = known || c["name"] == name;
  if (!known) return "name: the task has no container " + jsonQuote(name);
  for (auto it = rc.begin(); it != rc.end(); ++it) {
    const std::string& k = it.key();
    if (k == "name") continue;
    if (k == "lastStatus") {
      if (!it->is_string() || !kContainerStatuses.contains(it->get<std::string>()))
        return "lastStatus: expected PENDING, RUNNING or STOPPED, got " + it->dump().substr(0, 100);
    } else if (k == "healthStatus") {
      if (!it->is_string() || (*it != "HEALTHY" && *it != "UNHEALTHY" && *it != "UNKNOWN"))
        return "healthStatus: expected HEALTHY, UNHEALTHY or UNKNOWN, got " + it->dump().substr(0, 100);
    } else if (k == "exitCode") {
      if (!it->is_null() &&
          (!it->is_number_integer() || it->get<int64_t>() < INT32_MIN || it->get<int64_t>() > INT32_MAX))
        return "exitCode: expected a 32-bit integer, got " + it->dump().substr(0, 100);
    } else if (k == "reason") {
      if (!it->is_string() || it->get<std::string>().size() > kMaxReasonBytes)
        return "reason: expected a string of at most " + std::to_string(kMaxReasonBytes) + " bytes";
    } else {
      return "unknown member " + jsonQuote(k);
    }
  }
  return std::nullopt;
}

// Everything one task's report says, checked before anything is stored; the message names the
// member at fault.
std::optional<std::string> checkTaskReport(const Json& r, const ReportContext& ctx) {
  for (const char* k : {"lastStatus", "healthStatus", "reason"}) {
    if (r.contains(k) && !r[k].is_string()) return std::string(k) + ": expected a string";
  }
  if (r.contains("reason") && r["reason"].get<std::string>().size() > kMaxReasonBytes)
    return "reason: expected at most " + std::to_string(kMaxReasonBytes) + " bytes";
  if (r.contains("containers")) {
    if (!r["containers"].is_array()) return "containers: expected an array";
    for (const Json& rc : r["containers"]) {
      if (auto why = checkContainer(rc, ctx.task)) return "containers[]." + *why;
    }
  }
  if (r.contains("endpoints")) {
    if (!r["endpoints"].is_array()) return "endpoints: expected an array";
    const std::map<std::string, Json> own = ownServices(ctx.task, ctx.svc);
    std::set<std::string> seen;
    for (const Json& e : r["endpoints"]) {
      if (auto why = checkEndpoint(e, ctx, own)) return "endpoints[]: " + *why;
      if (!seen.insert(e["discoveryName"].get<std::string>()).second)
        return "endpoints[]: discoveryName " + e["discoveryName"].dump() + " reported twice";
    }
  }
  return std::nullopt;
}

}  // namespace

void ControlPlane::stopTaskLocked(Batch& b, const std::string& key, Json t, const std::string& reason,
                                  bool now_stopped) {
  if (t["lastStatus"] == "STOPPED") return;
  double now = nowSeconds();
  t["desiredStatus"] = "STOPPED";
  if (!t.contains("stoppedReason")) t["stoppedReason"] = reason;
  if (!t.contains("stoppingAt")) t["stoppingAt"] = now;
  if (now_stopped) {
    t["lastStatus"] = "STOPPED";
    t["stoppedAt"] = now;
    t["_endpoints"] = Json::array();
    for (Json& c : t["containers"]) c["lastStatus"] = "STOPPED";
  }
  b.put(key, t);
}

void ControlPlane::releaseServiceConnectLocked(Batch& b, const std::string& service_key,
                                               const std::set<std::string>& keep) {
  for (const auto& [k, cm] : b.list("cmservice/")) {
    if (cm.value("_owner", "") != service_key || keep.contains(k)) continue;
    releaseCloudMapServiceLocked(b, k, cm);
  }
}

void ControlPlane::reconcileLocked(Batch& b) {
  for (const auto& [ckey, cluster] : b.list("cluster/")) {
    std::string cname = cluster["clusterName"].get<std::string>();
    for (const auto& [skey, svc] : b.list("service/" + cname + "/")) {
      if (svc["status"] != "INACTIVE") reconcileService(b, skey, cluster);
    }
  }
  // Stopped tasks are kept for a while for DescribeTasks, as ECS does.
  double cutoff = nowSeconds() - static_cast<double>(options_.stopped_task_retention.count());
  for (const auto& [k, t] : b.list("task/")) {
    if (t["lastStatus"] == "STOPPED" && t.value("stoppedAt", 0.0) < cutoff) b.del(k);
  }
}

void ControlPlane::reconcileService(Batch& b, const std::string& skey, const Json& cluster) {
  Json svc = *b.get(skey);
  const std::string cname = cluster["clusterName"].get<std::string>();
  const std::string name = svc["serviceName"].get<std::string>();
  const bool draining_service = svc["status"] == "DRAINING";
  const int desired = draining_service ? 0 : svc["desiredCount"].get<int>();
  const int max_pct = svc["deploymentConfiguration"]["maximumPercent"].get<int>();
  const int min_pct = svc["deploymentConfiguration"]["minimumHealthyPercent"].get<int>();
  const int max_total = std::max(desired, desired * max_pct / 100);
  const int min_healthy = (desired * min_pct + 99) / 100;

  auto instances = b.list("instance/" + cname + "/");
  std::map<std::string, Json> inst_by_arn;
  for (const auto& [k, i] : instances) inst_by_arn[i["containerInstanceArn"].get<std::string>()] = i;
  auto onDrainingInstance = [&](const Json& t) {
    auto it = inst_by_arn.find(t.value("containerInstanceArn", ""));
    if (it == inst_by_arn.end()) return !withinOrphanGraceLocked(t.value("containerInstanceArn", ""));
    return it->second["status"] != "ACTIVE";
  };

  Json& deployments = svc["deployments"];
  const std::string primary_id = deployments[0]["id"].get<std::string>();
  std::vector<Batch::Entry> tasks;
  for (const Batch::Entry& kv : b.list("task/" + cname + "/")) {
    if (kv.second.value("group", "") == "service:" + name && kv.second["lastStatus"] != "STOPPED") tasks.push_back(kv);
  }

  // 1. Start primary tasks up to desired, within maximumPercent.
  int primary_live = 0, total_live = 0;
  for (const auto& [k, t] : tasks) {
    if (!live(t) || onDrainingInstance(t)) continue;
    ++total_live;
    if (t["startedBy"] == primary_id) ++primary_live;
  }
  int to_start = std::min(desired - primary_live, max_total - total_live);
  if (to_start > 0) {
    auto td = findTaskDefinition(b, deployments[0]["taskDefinition"].get<std::string>());
    if (td) {
      int64_t mem = taskMemory(*td), cpu = taskCpu(*td);
      bool needs_sc = deployments[0].contains("serviceConnectConfiguration");
      std::map<std::string, PlacementCandidate> usage;  // instance ARN -> what its tasks take
      for (const auto& [tk, t] : b.list("task/" + cname + "/")) {
        if (t["lastStatus"] == "STOPPED") continue;
        PlacementCandidate& u = usage[t.value("containerInstanceArn", "")];
        u.free_memory_mib -= t.value("_memory", int64_t{0});
        ++u.tasks_total;
        if (t.value("group", "") == "service:" + name) ++u.tasks_of_service;
      }
      std::vector<PlacementCandidate> candidates;
      for (const auto& [ik, i] : instances) {
        if (i["status"] != "ACTIVE" || !i.value("agentConnected", false)) continue;
        bool capable = false;
        for (const Json& a : i.value("attributes", Json::array()))
          capable = capable || a["name"] == kServiceConnectCapability;
        if (needs_sc && !capable) continue;
        PlacementCandidate c = usage[i["containerInstanceArn"].get<std::string>()];
        c.id = i["containerInstanceArn"].get<std::string>();
        c.free_memory_mib += i.value("_memoryMiB", int64_t{0});
        candidates.push_back(c);
      }
      std::vector<std::string> placed = placeTasks(candidates, mem, to_start);
      double now = nowSeconds();
      std::vector<std::string> started;
      for (const std::string& inst_arn : placed) {
        std::string id = newId(32);
        Json containers = Json::array();
        for (const Json& c : td->value("containerDefinitions", Json::array())) {
          containers.push_back({{"containerArn", ecsArn("container/" + cname + "/" + id + "/" + newId(32))},
                                {"taskArn", ecsArn("task/" + cname + "/" + id)},
                                {"name", c["name"]},
                                {"image", c.value("image", "")},
                                {"lastStatus", "PENDING"},
                                {"healthStatus", "UNKNOWN"}});
        }
        Json t = {{"taskArn", ecsArn("task/" + cname + "/" + id)},
                  {"clusterArn", cluster["clusterArn"]},
                  {"taskDefinitionArn", (*td)["taskDefinitionArn"]},
                  {"containerInstanceArn", inst_arn},
                  {"lastStatus", "PROVISIONING"},
                  {"desiredStatus", "RUNNING"},
                  {"healthStatus", "UNKNOWN"},
                  {"containers", containers},
                  {"group", "service:" + name},
                  {"startedBy", primary_id},
                  {"launchType", "EC2"},
                  {"createdAt", now},
                  {"version", 1},
                  {"connectivity", "CONNECTED"},
                  {"memory", std::to_string(mem)},
                  {"cpu", std::to_string(cpu)},
                  {"_id", id},
                  {"_cluster", cname},
                  {"_service", skey},
                  {"_family", (*td)["family"]},
                  {"_memory", mem},
                  {"_cpu", cpu},
                  {"_createdRevision", revision_ + 1},
                  {"_endpoints", Json::array()}};
        if (svc.contains("_sc")) t["_ns"] = svc["_sc"]["namespaceId"];
        if (Json tags = newTaskTags(svc, *td, cname); !tags.empty()) t["tags"] = std::move(tags);
        std::string tkey = "task/" + cname + "/" + id;
        b.put(tkey, t);
        tasks.push_back(b.list(tkey).front());
        started.push_back(id);
      }
      if (!started.empty()) addServiceEvent(svc, tasksEvent(name, "started", "tasks", started), newId(32), now);
      if (static_cast<int>(placed.size()) < to_start) {
        std::string msg = "(service " + name +
                          ") was unable to place a task because no container instance met all of its "
                          "requirements (ACTIVE, connected, " +
                          (needs_sc ? std::string(kServiceConnectCapability) + ", " : "") + std::to_string(mem) +
                          " MiB of memory free).";
        addServiceEvent(svc, msg, newId(32), now);
      }
    }
  }

  // 2. Stop what is no longer wanted (old deployments, draining instances, excess), keeping
  //    minimumHealthyPercent of desired healthy.
  int healthy = 0;
  for (const auto& [k, t] : tasks) healthy += healthyTask(t) ? 1 : 0;
  std::vector<std::pair<std::string, Json>> stop_candidates;
  int primary_keep = 0;
  for (const auto& [k, t] : tasks) {
    if (!live(t)) continue;
    bool primary = t["startedBy"] == primary_id && !onDrainingInstance(t);
    if (primary && primary_keep < desired) {
      ++primary_keep;
      continue;
    }
    stop_candidates.emplace_back(k, t);
  }
  // Tasks that are not healthy first: stopping them costs no healthy capacity.
  std::stable_sort(stop_candidates.begin(), stop_candidates.end(),
                   [](const auto& a, const auto& b2) { return !healthyTask(a.second) && healthyTask(b2.second); });
  std::vector<std::string> stopped;
  for (const auto& [k, t] : stop_candidates) {
    bool was_healthy = healthyTask(t);
    if (was_healthy && healthy - 1 < min_healthy && desired > 0) continue;
    if (was_healthy) --healthy;
    std::string reason = onDrainingInstance(t) ? "Container instance is draining"
                         : draining_service
                             ? "Service is being deleted"
                             : "Scaling activity initiated by (deployment " + t["startedBy"].get<std::string>() + ")";
    auto inst = inst_by_arn.find(t.value("containerInstanceArn", ""));
    bool disconnected = inst == inst_by_arn.end() || !inst->second.value("agentConnected", false);
    stopTaskLocked(b, k, t, reason, disconnected);
    stopped.push_back(t.value("_id", afterSlash(k)));
  }
  if (!stopped.empty())
    addServiceEvent(svc, tasksEvent(name, "stopped", "running tasks", stopped), newId(32), nowSeconds());

  // 3. Deployment and service counters; finished deployments leave.
  std::set<std::string> with_tasks;
  int running_all = 0, pending_all = 0;
  std::map<std::string, std::pair<int, int>> counts;  // deployment -> (running, pending)
  for (const auto& [k, t0] : tasks) {
    const Json& t = *b.find(k);
    if (t["lastStatus"] == "STOPPED") continue;
    with_tasks.insert(t["startedBy"].get<std::string>());
    if (t["desiredStatus"] != "RUNNING") continue;
    if (t["lastStatus"] == "RUNNING") {
      ++counts[t["startedBy"].get<std::string>()].first;
      ++running_all;
    } else {
      ++counts[t["startedBy"].get<std::string>()].second;
      ++pending_all;
    }
  }
  Json kept = Json::array();
  for (size_t i = 0; i < deployments.size(); ++i) {
    Json d = deployments[i];
    std::string id = d["id"].get<std::string>();
    if (i > 0 && !with_tasks.contains(id)) continue;  // drained: ECS drops it from the list
    d["runningCount"] = counts[id].first;
    d["pendingCount"] = counts[id].second;
    d["desiredCount"] = i == 0 ? desired : counts[id].first + counts[id].second;
    kept.push_back(d);
  }
  if (kept.size() == 1 && kept[0]["runningCount"] == desired && kept[0]["pendingCount"] == 0 &&
      kept[0]["rolloutState"] != "COMPLETED") {
    kept[0]["rolloutState"] = "COMPLETED";
    kept[0]["rolloutStateReason"] = "ECS deployment " + primary_id + " completed.";
    kept[0]["updatedAt"] = nowSeconds();
    addServiceEvent(svc, "(service " + name + ") has reached a steady state.", newId(32), nowSeconds());
  }
  if (kept.size() < deployments.size()) {
    // Cloud Map services only the drained deployments used go away with them (all of them when
    // the service turned Service Connect off).
    std::set<std::string> keep;
    if (svc.contains("_sc")) {
      for (const Json& r : svc["_sc"]["resources"]) {
        keep.insert("cmservice/" + svc["_sc"]["namespaceId"].get<std::string>() + "/" +
                    r["discoveryName"].get<std::string>());
      }
    }
    releaseServiceConnectLocked(b, skey, keep);
  }
  svc["deployments"] = kept;
  svc["runningCount"] = running_all;
  svc["pendingCount"] = pending_all;
  if (draining_service && with_tasks.empty()) {
    svc["status"] = "INACTIVE";
    releaseServiceConnectLocked(b, skey, {});
  }
  b.put(skey, svc);
}

// A task whose instance sccontrol does not know (an edited or restored store) is left alone for one
// instance TTL from when sccontrol first sees it so: its agent, refused, registers again and adopts
// it (adoptTasksLocked). After that it counts as on a draining instance and is replaced.
bool ControlPlane::withinOrphanGraceLocked(const std::string& instance_arn) {
  const auto since = orphaned_since_.try_emplace(instance_arn, clock_.now()).first->second;
  return clock_.now() - since < options_.instance_ttl;
}

void ControlPlane::noteHeardLocked(const std::string& key) {
  const auto now = clock_.now();
  if (deaf_) {
    // Every instance went silent at once: sccontrol was the one cut off (or stalled). The instances
    // could not report meanwhile, so each gets a full TTL from now to be heard again.
    for (auto& [k, seen] : last_seen_) seen = now;
    deaf_ = false;
    log::info("container instances heard again after all were silent; every instance's TTL starts again");
  }
  last_seen_[key] = now;
}

bool ControlPlane::everyInstanceSilentLocked(Batch& b, Clock::MonoTime now) {
  size_t connected = 0;
  for (const auto& [k, i] : b.list("instance/")) {
    if (!i.value("agentConnected", false)) continue;
    ++connected;
    auto seen = last_seen_.find(k);
    if (seen != last_seen_.end() && now - seen->second <= options_.instance_ttl / 2) return false;
  }
  return connected >= 2;
}

std::vector<InstanceLoss> ControlPlane::tick() {
  bool changed = false;
  std::vector<InstanceLoss> lost;
  {
    std::lock_guard lock(mu_);
    int64_t before = revision_;
    Batch b(docs_);
    auto now = clock_.now();
    if (!deaf_ && everyInstanceSilentLocked(b, now)) {
      deaf_ = true;
      log::warn(
          "no container instance heard for half the TTL; declaring none lost until one is heard (sccontrol "
          "may be the one cut off)",
          {{"ttlSeconds", std::to_string(options_.instance_ttl.count())}});
    }
    const std::vector<Batch::Entry> instances = deaf_ ? std::vector<Batch::Entry>{} : b.list("instance/");
    for (const auto& [k, i] : instances) {
      auto seen = last_seen_.find(k);
      bool silent = seen == last_seen_.end() || now - seen->second > options_.instance_ttl;
      if (!silent || !i.value("agentConnected", false)) continue;
      Json inst = i;
      inst["agentConnected"] = false;
      inst["_lostAt"] = nowSeconds();
      b.put(k, inst);
      InstanceLoss loss;
      loss.container_instance_arn = inst["containerInstanceArn"].get<std::string>();
      loss.instance_id = loss.container_instance_arn.substr(loss.container_instance_arn.rfind('/') + 1);
      loss.hostname = inst.value("ec2InstanceId", "");
      loss.cluster = afterSlash(inst["clusterArn"].get<std::string>());
      if (seen != last_seen_.end()) loss.last_heartbeat = clock_.wallNow() - (now - seen->second);
      std::string reason = "Container instance " + loss.instance_id + " lost: no heartbeat for " +
                           std::to_string(options_.instance_ttl.count()) + " s";
      for (const auto& [tk, t] : b.list("task/" + loss.cluster + "/")) {
        if (t.value("containerInstanceArn", "") != loss.container_instance_arn || t["lastStatus"] == "STOPPED")
          continue;
        loss.tasks_stopped.push_back(afterSlash(t.value("taskArn", tk)));
        stopTaskLocked(b, tk, t, reason, true);
      }
      lost.push_back(std::move(loss));
    }
    removeGoneInstancesLocked(b);
    if (commitLocked(b).ok()) {
      reconcileLocked(b);
      (void)commitLocked(b);
    }
    changed = revision_ != before;
    pruneCachesLocked();
    pruneTokensLocked();
  }
  if (changed) {
    std::lock_guard lock(listener_mu_);
    if (listener_) listener_();
  }
  return lost;
}

void ControlPlane::pruneCachesLocked() {
  // The caches of desired-state text follow the documents: a stopped task's view, a gone
  // instance's body and a gone namespace's snapshot are dropped, so they do not grow with every
  // task ever run.
  std::erase_if(task_view_cache_, [&](const auto& e) {
    auto d = docs_.find(e.first);
    return d == docs_.end() || d->second.value["lastStatus"] == "STOPPED";
  });
  std::erase_if(desired_cache_, [&](const auto& e) { return !docs_.contains(e.first); });
  std::erase_if(snapshot_cache_, [&](const auto& e) { return !docs_.contains("namespace/" + e.first); });
}

size_t ControlPlane::cachedTextCount() const {
  std::lock_guard lock(mu_);
  return task_view_cache_.size() + desired_cache_.size() + snapshot_cache_.size();
}

// ---------------------------------------------------------------------------------------------
// Agent API

static Json attributeList(const Json& body) {
  Json attrs = Json::array();
  const Json given = body.value("attributes", Json::object());
  for (auto it = given.begin(); it != given.end(); ++it) {
    if (it->is_string()) attrs.push_back({{"name", it.key()}, {"value", it->get<std::string>()}});
  }
  for (const Json& c : body.value("capabilities", Json::array())) {
    if (c.is_string()) attrs.push_back({{"name", c.get<std::string>()}});
  }
  return attrs;
}

ApiResult ControlPlane::agentRegister(const Json& body) {
  Json out;
  {
    std::lock_guard lock(mu_);
    Batch b(docs_);
    auto boot = acceptBootstrapLocked(b, str(body, "bootstrapToken"));
    if (!boot) {
      log::warn("refused an agent registration",
                {{"hostname", str(body, "hostname").substr(0, 255)}, {"error", boot.error().message}});
      return std::unexpected(boot.error());
    }
    if (auto problem = registrationProblem(body)) return std::unexpected(*problem);
    std::string cname = str(body, "cluster", "default");
    auto cluster = b.get("cluster/" + cname);
    if (!cluster) return std::unexpected(ApiError{"ClusterNotFoundException", "Cluster not found.", 404});
    // Where this instance's tasks are reached: status reports may name only these addresses.
    if (body.contains("taskCidr") &&
        (!body["taskCidr"].is_string() || !parseCidr4(body["taskCidr"].get<std::string>())))
      return std::unexpected(invalidAgent("taskCidr: expected an IPv4 CIDR with a prefix of 8-30"));
    if (body.contains("hostAddress") &&
        (!body["hostAddress"].is_string() ||
         (!body["hostAddress"].get<std::string>().empty() && !endpointIpv4(body["hostAddress"].get<std::string>())))) {
      return std::unexpected(invalidAgent("hostAddress: expected a unicast IPv4 address or \"\""));
    }
    std::string id = newId(32);
    Result<std::string> drawn = randomHex(64);
    if (!drawn.ok()) return std::unexpected(ApiError{"ServerException", drawn.error().message, 500});
    const std::string token = std::move(drawn).value();
    std::string key = "instance/" + cname + "/" + id;
    Json inst = {{"containerInstanceArn", ecsArn("container-instance/" + cname + "/" + id)},
                 {"clusterArn", (*cluster)["clusterArn"]},
                 {"ec2InstanceId", str(body, "hostname", id)},
                 {"status", "ACTIVE"},
                 {"agentConnected", true},
                 {"version", 1},
                 {"versionInfo", {{"agentVersion", str(body, "agentVersion", "unknown")}}},
                 {"registeredAt", nowSeconds()},
                 {"attributes", attributeList(body)},
                 {"_memoryMiB", body["memoryMiB"]},
                 {"_cpuUnits", body.value("cpuUnits", int64_t{1024})},
                 {"_tokenHash", sha256Hex(token)},
                 {"_bootstrapTokenId", boot->id}};
    if (body.contains("taskCidr")) inst["_taskCidr"] = body["taskCidr"];
    if (body.contains("hostAddress")) inst["_hostAddress"] = body["hostAddress"];
    b.put(key, inst);
    const Json adopted = adoptTasksLocked(b, body, cname, inst["containerInstanceArn"].get<std::string>());
    if (auto c = commitLocked(b); !c.ok()) return std::unexpected(ApiError{"ServerException", c.error().message, 500});
    tokens_[sha256Hex(token)] = key;
    noteHeardLocked(key);
    log::info("container instance registered", {{"instance", id},
                                                {"cluster", cname},
                                                {"hostname", inst["ec2InstanceId"].get<std::string>()},
                                                {"bootstrapToken", boot->id}});
    if (body.contains("previousInstanceArn")) {
      log::info("container instance registered again",
                {{"instance", id},
                 {"previousInstance", afterSlash(str(body, "previousInstanceArn"))},
                 {"adoptedTasks", std::to_string(adopted.size())},
                 {"namedTasks", std::to_string(body.value("adoptTasks", Json::array()).size())}});
    }
    reconcileLocked(b);
    (void)commitLocked(b);
    out = {{"containerInstanceArn", inst["containerInstanceArn"]},
           {"instanceId", id},
           {"token", token},
           {"heartbeatIntervalSeconds", options_.heartbeat_interval.count()},
           {"ttlSeconds", options_.instance_ttl.count()},
           {"adoptedTasks", adopted}};
  }
  std::lock_guard lock(listener_mu_);
  if (listener_) listener_();
  return out;
}

ApiError ControlPlane::invalidAgent(std::string message) {
  return {"InvalidParameterException", std::move(message), 400};
}

ApiResult ControlPlane::agentHeartbeat(const std::string& token, const Json& body) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    auto key = instanceForToken(token);
    if (!key) return std::unexpected(key.error());
    if (auto problem = heartbeatProblem(body)) return std::unexpected(*problem);
    noteHeardLocked(*key);
    Batch b(docs_);
    Json inst = *b.get(*key);
    bool dirty = false;
    if (!inst.value("agentConnected", false)) {
      inst["agentConnected"] = true;
      inst.erase("_lostAt");
      dirty = true;
    }
    if (body.contains("attributes") || body.contains("capabilities")) {
      Json attrs = attributeList(body);
      if (attrs != inst["attributes"]) {
        inst["attributes"] = attrs;
        dirty = true;
      }
    }
    if (dirty) {
      int64_t before = revision_;
      b.put(*key, inst);
      if (auto c = commitLocked(b); !c.ok())
        return std::unexpected(ApiError{"ServerException", c.error().message, 500});
      reconcileLocked(b);
      (void)commitLocked(b);
      changed = revision_ != before;
    }
  }
  if (changed) {
    std::lock_guard lock(listener_mu_);
    if (listener_) listener_();
  }
  return Json{{"ok", true}};
}

const ControlPlane::SnapshotCache& ControlPlane::snapshotTextLocked(const std::string& ns_id) {
  SnapshotCache& c = snapshot_cache_[ns_id];
  if (c.computed_at == revision_) return c;
  Batch b(docs_);
  Json snap = namespaceSnapshotLocked(b, ns_id);
  for (Json& s : snap["services"]) s["ownerService"] = afterSlash(s["ownerService"].get<std::string>());
  snap.erase("revision");
  std::string hash = sha256Hex(snap.dump());
  if (hash != c.content_hash) {
    c.content_hash = hash;
    c.content_revision = revision_;
  }
  snap["revision"] = c.content_revision;
  c.text = snap.dump();
  c.computed_at = revision_;
  return c;
}

const ControlPlane::SnapshotCache& ControlPlane::peersTextLocked() {
  SnapshotCache& c = peers_cache_;
  if (c.computed_at == revision_) return c;
  Json peers = Json::array();
  for (auto it = docs_.lower_bound("instance/"); it != docs_.end() && it->first.starts_with("instance/"); ++it) {
    const Json& i = it->second.value;
    const std::string status = i.value("status", "");
    const std::string cidr = i.value("_taskCidr", ""), host = i.value("_hostAddress", "");
    if ((status != "ACTIVE" && status != "DRAINING") || cidr.empty() || host.empty()) continue;
    peers.push_back({{"containerInstanceArn", i["containerInstanceArn"]}, {"hostAddress", host}, {"taskCidr", cidr}});
  }
  std::string text = peers.dump();
  std::string hash = sha256Hex(text);
  if (hash != c.content_hash) {
    c.content_hash = std::move(hash);
    c.content_revision = revision_;
  }
  c.text = std::move(text);
  c.computed_at = revision_;
  return c;
}

std::expected<std::optional<std::string>, ApiError> ControlPlane::agentDesiredText(const std::string& token,
                                                                                   const std::string& etag) {
  // Runs for every parked long-poll after every change: reads documents in place through the
  // instance -> tasks index and rebuilds only what a revision says changed.
  std::lock_guard lock(mu_);
  auto key = instanceForToken(token);
  if (!key) return std::unexpected(key.error());
  const Doc& inst_doc = docs_.at(*key);
  const Json& inst = inst_doc.value;
  const std::string arn = inst["containerInstanceArn"].get<std::string>();
  const std::string cname = afterSlash(inst["clusterArn"].get<std::string>());
  auto idx = tasks_by_instance_.find(arn);
  const std::set<std::string> none;
  const std::set<std::string>& task_keys = idx == tasks_by_instance_.end() ? none : idx->second;

  const SnapshotCache& peers = peersTextLocked();
  std::string fingerprint = std::to_string(inst_doc.mod_revision) + "/peers@" + std::to_string(peers.content_revision);
  struct Piece {
    const std::string* view;
    std::string ns_id;  // empty: the task has no namespace
  };
  std::vector<Piece> pieces;
  std::map<std::string, const SnapshotCache*> snapshots;  // each namespace once per answer
  for (const std::string& tk : task_keys) {
    auto doc = docs_.find(tk);
    if (doc == docs_.end() || doc->second.value["lastStatus"] == "STOPPED") continue;
    const Json& t = doc->second.value;
    std::string td_ref = afterSlash(t["taskDefinitionArn"].get<std::string>());  // family:revision
    auto colon = td_ref.rfind(':');
    std::string rev = td_ref.substr(colon + 1);
    auto td = docs_.find("taskdef/" + td_ref.substr(0, colon) + "/" +
                         std::string(8 - std::min<size_t>(8, rev.size()), '0') + rev);
    auto svc = docs_.find(t.value("_service", ""));
    std::string tfp = std::to_string(doc->second.mod_revision) + "/" +
                      std::to_string(td == docs_.end() ? 0 : td->second.mod_revision) + "/" +
                      std::to_string(svc == docs_.end() ? 0 : svc->second.mod_revision);
    TextCache& tv = task_view_cache_[tk];
    if (tv.fingerprint != tfp) {
      Json view = {{"taskArn", t["taskArn"]},
                   {"taskId", t["_id"]},
                   {"desiredStatus", t["desiredStatus"]},
                   {"lastStatus", t["lastStatus"]}};
      if (td != docs_.end()) {
        Json td_in = td->second.value;
        for (const char* k :
             {"taskDefinitionArn", "status", "compatibilities", "registeredAt", "deregisteredAt", "tags"})
          td_in.erase(k);
        view["taskDefinition"] = std::move(td_in);
      }
      if (svc != docs_.end()) {
        Json def = {{"serviceName", svc->second.value["serviceName"]},
                    {"cluster", cname},
                    {"taskDefinition", t["taskDefinitionArn"]}};
        for (const Json& d : svc->second.value["deployments"]) {
          if (d["id"] == t["startedBy"] && d.contains("serviceConnectConfiguration")) {
            def["serviceConnectConfiguration"] = d["serviceConnectConfiguration"];
          }
        }
        view["service"] = std::move(def);
      }
      tv.text = view.dump();
      tv.fingerprint = tfp;
    }
    std::string ns_id = t.contains("_ns") ? t["_ns"].get<std::string>() : "";
    const SnapshotCache* snap = ns_id.empty() ? nullptr : &snapshotTextLocked(ns_id);
    if (snap != nullptr) snapshots[ns_id] = snap;
    fingerprint += "|" + tfp + "@" + (snap != nullptr ? std::to_string(snap->content_revision) : "-");
    pieces.push_back({&tv.text, std::move(ns_id)});
  }
  TextCache& dc = desired_cache_[*key];
  if (dc.fingerprint != fingerprint || dc.text.empty()) {
    std::string body =
        "{\"containerInstanceArn\":" + jsonQuote(arn) + ",\"status\":" + inst["status"].dump() + ",\"tasks\":[";
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (i > 0) body += ",";
      const std::string& v = *pieces[i].view;
      if (!pieces[i].ns_id.empty()) {
        body.append(v, 0, v.size() - 1);
        body += ",\"namespaceRef\":" + jsonQuote(pieces[i].ns_id) + "}";
      } else {
        body += v;
      }
    }
    body += "],\"peers\":" + peers.text + ",\"namespaces\":{";
    for (auto it = snapshots.begin(); it != snapshots.end(); ++it) {
      if (it != snapshots.begin()) body += ",";
      body += jsonQuote(it->first) + ":" + it->second->text;
    }
    body += "}";
    dc.fingerprint = fingerprint;
    dc.text = std::move(body);
  }
  std::string tag = sha256Hex(dc.text).substr(0, 32);
  if (tag == etag) return std::optional<std::string>();
  return std::optional<std::string>(dc.text + ",\"etag\":\"" + tag + "\",\"revision\":" + std::to_string(revision_) +
                                    "}");
}

std::expected<std::optional<Json>, ApiError> ControlPlane::agentDesired(const std::string& token,
                                                                        const std::string& etag) {
  auto text = agentDesiredText(token, etag);
  if (!text) return std::unexpected(text.error());
  if (!*text) return std::optional<Json>();
  return std::optional<Json>(Json::parse(**text));
}

ApiError ControlPlane::refuseReport(const Json& inst, std::string message) {
  log::warn("refused an agent status report",
            {{"containerInstanceArn", inst["containerInstanceArn"].get<std::string>()}, {"error", message}});
  return invalidAgent(std::move(message));
}

ApiResult ControlPlane::agentStatus(const std::string& token, const Json& body) {
  bool changed = false;
  Json unknown = Json::array();
  {
    std::lock_guard lock(mu_);
    auto key = instanceForToken(token);
    if (!key) return std::unexpected(key.error());
    noteHeardLocked(*key);
    Batch b(docs_);
    Json inst = *b.get(*key);
    std::string cname = afterSlash(inst["clusterArn"].get<std::string>());
    int64_t before = revision_;
    double now = nowSeconds();
    static const std::set<std::string> kStatuses = {"PROVISIONING", "PENDING",  "ACTIVATING",     "RUNNING",
                                                    "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"};
    if (body.contains("tasks") && !body["tasks"].is_array())
      return std::unexpected(refuseReport(inst, "tasks: expected an array"));
    for (const Json& r : body.value("tasks", Json::array())) {
      if (!r.is_object() || !r.contains("taskArn") || !r["taskArn"].is_string())
        return std::unexpected(refuseReport(inst, "tasks[]: expected an object with a taskArn string"));
      std::string tkey = "task/" + cname + "/" + afterSlash(str(r, "taskArn"));
      auto cur = b.get(tkey);
      // Another instance's task is refused exactly like one that does not exist: nothing stored.
      if (!cur || (*cur)["containerInstanceArn"] != inst["containerInstanceArn"]) {
        unknown.push_back(str(r, "taskArn"));
        continue;
      }
      Json t = *cur;
      if (t["lastStatus"] == "STOPPED") continue;
      const std::optional<Json> td = findTaskDefinition(b, t["taskDefinitionArn"].get<std::string>());
      const std::optional<Json> own_svc = b.get(t.value("_service", ""));
      if (auto why = checkTaskReport(r, ReportContext{t, inst, td, own_svc}))
        return std::unexpected(refuseReport(inst, "tasks[" + t["_id"].get<std::string>() + "]." + *why));
      std::string st = str(r, "lastStatus", t["lastStatus"].get<std::string>());
      if (!kStatuses.contains(st))
        return std::unexpected(invalidAgent("tasks[].lastStatus: unknown status " + jsonQuote(st)));
      std::string health = str(r, "healthStatus", t["healthStatus"].get<std::string>());
      if (health != "HEALTHY" && health != "UNHEALTHY" && health != "UNKNOWN") {
        return std::unexpected(
            invalidAgent("tasks[].healthStatus: expected HEALTHY, UNHEALTHY or UNKNOWN, got " + jsonQuote(health)));
      }
      if (st == "RUNNING" && !t.contains("startedAt")) t["startedAt"] = now;
      t["lastStatus"] = st;
      t["healthStatus"] = health;
      if (r.contains("containers")) {
        for (const Json& rc : r["containers"]) {
          for (Json& c : t["containers"]) {
            if (c["name"] != rc.value("name", "")) continue;
            if (rc.contains("lastStatus")) c["lastStatus"] = rc["lastStatus"];
            if (rc.contains("healthStatus")) c["healthStatus"] = rc["healthStatus"];
            if (rc.contains("exitCode")) c["exitCode"] = rc["exitCode"];
            if (rc.contains("reason")) c["reason"] = rc["reason"];
          }
        }
      }
      if (r.contains("endpoints")) {
        Json eps = Json::array();
        for (const Json& e : r["endpoints"]) {
          eps.push_back({{"discoveryName", e["discoveryName"]}, {"ip", e["ip"]}, {"port", e["port"]}});
        }
        t["_endpoints"] = eps;
      }
      if (st == "STOPPED") {
        t["stoppedAt"] = now;
        t["_endpoints"] = Json::array();
        if (t["desiredStatus"] == "RUNNING") {
          t["desiredStatus"] = "STOPPED";
          t["stoppedReason"] = str(r, "reason", "Essential container in task exited");
          t["stopCode"] = "EssentialContainerExited";
          if (auto svc = b.get(t.value("_service", ""))) {
            for (Json& d : (*svc)["deployments"]) {
              if (d["id"] == t["startedBy"]) d["failedTasks"] = d["failedTasks"].get<int>() + 1;
            }
            b.put(t["_service"].get<std::string>(), *svc);
          }
        }
        for (Json& c : t["containers"]) c["lastStatus"] = "STOPPED";
      }
      b.put(tkey, t);
    }
    if (auto c = commitLocked(b); !c.ok()) return std::unexpected(ApiError{"ServerException", c.error().message, 500});
    reconcileLocked(b);
    (void)commitLocked(b);
    changed = revision_ != before;
  }
  if (changed) {
    std::lock_guard lock(listener_mu_);
    if (listener_) listener_();
  }
  return Json{{"unknownTasks", unknown}};
}

}  // namespace sc::controlplane
