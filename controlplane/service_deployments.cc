#include "controlplane/service_deployments.h"

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "common/strings.h"
#include "controlplane/batch.h"
#include "controlplane/json_fields.h"

namespace sc::controlplane {
namespace {

ApiError invalid(std::string message) { return {"InvalidParameterException", std::move(message)}; }

const Json* deploymentOf(const Json& svc, const std::string& id) {
  auto list = svc.find("deployments");
  if (list == svc.end()) return nullptr;
  for (const Json& d : *list)
    if (d.value("id", "") == id) return &d;
  return nullptr;
}

// The task counts of deployment `id` now; a deployment the service no longer lists has drained.
Json countsOf(const Json& svc, const std::string& id) {
  const Json* d = deploymentOf(svc, id);
  if (d == nullptr) return {{"requestedTaskCount", 0}, {"runningTaskCount", 0}, {"pendingTaskCount", 0}};
  return {{"requestedTaskCount", d->value("desiredCount", 0)},
          {"runningTaskCount", d->value("runningCount", 0)},
          {"pendingTaskCount", d->value("pendingCount", 0)}};
}

// What an open record's deployment says now: status, reason, and when it finished (0: not yet).
struct LiveState {
  std::string status, reason;
  double finished_at = 0, updated_at = 0;
};

LiveState liveState(const Json& svc, const Json& record) {
  const Json* d = deploymentOf(svc, record["id"].get<std::string>());
  if (d == nullptr) return {"STOPPED", "the service no longer has this deployment", 0, record.value("createdAt", 0.0)};
  const double updated = d->value("updatedAt", record.value("createdAt", 0.0));
  const std::string rollout = d->value("rolloutState", "IN_PROGRESS");
  if (rollout == "COMPLETED") return {"SUCCESSFUL", d->value("rolloutStateReason", ""), updated, updated};
  // sccontrol has no circuit breaker or alarms, so a rollout does not fail on its own; were one
  // FAILED, without rollback ECS calls the deployment STOPPED.
  if (rollout == "FAILED") return {"STOPPED", d->value("rolloutStateReason", ""), 0, updated};
  return {"IN_PROGRESS", d->value("rolloutStateReason", ""), 0, updated};
}

}  // namespace

std::string serviceDeploymentId(const std::string& deployment_id) { return afterSlash(deployment_id); }

void recordServiceDeployment(Json& svc, const Json& deployment) {
  Json sources = Json::array();
  for (const Json& d : svc.value("deployments", Json::array())) sources.push_back(d["id"]);
  Json& history = svc["_serviceDeployments"];
  if (!history.is_array()) history = Json::array();
  history.push_back({{"id", deployment["id"]},
                     {"createdAt", deployment["createdAt"]},
                     {"deploymentConfiguration", svc["deploymentConfiguration"]},
                     {"sources", sources}});
  while (history.size() > kServiceDeploymentHistory) history.erase(history.begin());
}

void closeServiceDeployments(Json& svc, double now, const std::string& reason) {
  if (!svc.contains("_serviceDeployments")) return;
  for (Json& r : svc["_serviceDeployments"]) {
    if (r.contains("status")) continue;
    LiveState s = liveState(svc, r);
    r["status"] = s.status;
    if (s.status == "SUCCESSFUL") {
      r["finishedAt"] = s.finished_at;
      r["statusReason"] = s.reason;
      r["updatedAt"] = s.updated_at;
    } else {
      r["status"] = "STOPPED";
      r["stoppedAt"] = now;
      r["statusReason"] = reason;
      r["updatedAt"] = now;
    }
    Json counts = {{r["id"].get<std::string>(), countsOf(svc, r["id"].get<std::string>())}};
    for (const Json& src : r["sources"]) counts[src.get<std::string>()] = countsOf(svc, src.get<std::string>());
    r["counts"] = counts;
  }
}

namespace {

struct ServiceNames {
  std::string cluster, service;
};

// The ServiceDeployment shape of record `r` of service `svc` (the brief form keeps fewer members:
// the output filter drops the rest). `arn` makes an ECS ARN from its resource part.
template <typename ArnFn>
Json deploymentView(const Json& svc, const Json& r, const ServiceNames& n, ArnFn arn) {
  const std::string id = r["id"].get<std::string>();
  auto revision = [&](const std::string& dep_id) {
    Json counts = r.contains("counts") && r["counts"].contains(dep_id) ? r["counts"][dep_id] : countsOf(svc, dep_id);
    counts["arn"] = arn("service-revision/" + n.cluster + "/" + n.service + "/" + serviceDeploymentId(dep_id));
    return counts;
  };
  Json v = {{"serviceDeploymentArn",
             arn("service-deployment/" + n.cluster + "/" + n.service + "/" + serviceDeploymentId(id))},
            {"serviceArn", svc["serviceArn"]},
            {"clusterArn", svc["clusterArn"]},
            {"createdAt", r["createdAt"]},
            {"startedAt", r["createdAt"]},
            {"deploymentConfiguration", r.value("deploymentConfiguration", Json::object())},
            {"deploymentCircuitBreaker", {{"status", "DISABLED"}}},
            {"alarms", {{"status", "DISABLED"}}},
            {"sourceServiceRevisions", Json::array()},
            {"targetServiceRevision", revision(id)}};
  v["targetServiceRevisionArn"] = v["targetServiceRevision"]["arn"];
  for (const Json& src : r["sources"]) v["sourceServiceRevisions"].push_back(revision(src.get<std::string>()));
  if (r.contains("status")) {
    for (const char* k : {"status", "statusReason", "finishedAt", "stoppedAt", "updatedAt"})
      if (r.contains(k)) v[k] = r[k];
  } else {
    LiveState s = liveState(svc, r);
    v["status"] = s.status;
    v["statusReason"] = s.reason;
    v["updatedAt"] = s.updated_at;
    if (s.finished_at > 0) v["finishedAt"] = s.finished_at;
  }
  return v;
}

std::optional<double> timestamp(const Json& v) {
  if (v.is_number()) return v.get<double>();
  return std::nullopt;
}

}  // namespace

ApiResult ControlPlane::describeServiceDeployments(const Json& in) {
  Batch b(docs_);
  const Json& arns = in["serviceDeploymentArns"];
  if (arns.size() > 20)
    return std::unexpected(invalid("serviceDeploymentArns: at most 20 ARNs, got " + std::to_string(arns.size())));
  const std::string prefix = ecsArn("service-deployment/");
  Json out = {{"serviceDeployments", Json::array()}, {"failures", Json::array()}};
  for (const Json& a : arns) {
    const std::string arn = a.get<std::string>();
    const std::vector<std::string> parts =
        startsWith(arn, prefix) ? split(arn.substr(prefix.size()), '/') : std::vector<std::string>{};
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
      return std::unexpected(
          invalid("serviceDeploymentArns: expected " + prefix + "<cluster>/<service>/<id>, got " + jsonQuote(arn)));
    }
    const Json* svc = b.find("service/" + parts[0] + "/" + parts[1]);
    const Json* found = nullptr;
    if (svc != nullptr && svc->contains("_serviceDeployments")) {
      for (const Json& r : (*svc)["_serviceDeployments"])
        if (serviceDeploymentId(r["id"].get<std::string>()) == parts[2]) found = &r;
    }
    if (found == nullptr) {
      out["failures"].push_back({{"arn", arn}, {"reason", "MISSING"}});
      continue;
    }
    out["serviceDeployments"].push_back(
        deploymentView(*svc, *found, {parts[0], parts[1]}, [&](const std::string& rest) { return ecsArn(rest); }));
  }
  return out;
}

// Newest first; `status` and `createdAt` filter; pages of `maxResults` (1-100, default 20, as
// ECS), the nextToken being the last ID of the page.
ApiResult ControlPlane::listServiceDeployments(const Json& in) {
  Batch b(docs_);
  std::string cname = str(in, "cluster", "default");
  if (cname.empty()) cname = "default";
  if (startsWith(cname, "arn:")) cname = afterSlash(cname);
  if (!b.find("cluster/" + cname)) return std::unexpected(ApiError{"ClusterNotFoundException", "Cluster not found."});
  const std::string name = afterSlash(str(in, "service"));
  const Json* svc = b.find("service/" + cname + "/" + name);
  if (svc == nullptr) return std::unexpected(ApiError{"ServiceNotFoundException", "Service not found."});
  const int max = in.value("maxResults", 20);
  if (max < 1 || max > 100) return std::unexpected(invalid("maxResults: expected 1-100, got " + std::to_string(max)));
  const Json none = Json::array();
  const Json& history = svc->contains("_serviceDeployments") ? (*svc)["_serviceDeployments"] : none;
  const std::string token = str(in, "nextToken");
  size_t start = history.size();  // index past the next record to answer, going backwards
  if (in.contains("nextToken")) {
    auto it = std::find_if(history.begin(), history.end(),
                           [&](const Json& r) { return serviceDeploymentId(r["id"].get<std::string>()) == token; });
    if (it == history.end()) return std::unexpected(invalid("nextToken: not a token ListServiceDeployments returned"));
    start = static_cast<size_t>(it - history.begin());
  }
  std::set<std::string> statuses;
  for (const Json& s : in.value("status", Json::array())) statuses.insert(s.get<std::string>());
  const Json created = in.value("createdAt", Json::object());
  std::optional<double> before, after;
  for (const char* k : {"before", "after"}) {
    if (!created.contains(k)) continue;
    auto t = timestamp(created[k]);
    if (!t) return std::unexpected(invalid(std::string("createdAt.") + k + ": expected a timestamp in epoch seconds"));
    (std::string(k) == "before" ? before : after) = t;
  }
  const ServiceNames names{cname, name};
  Json out = Json::array();
  size_t last = 0;  // the index of the last record answered
  for (size_t i = start; i-- > 0;) {
    Json v = deploymentView(*svc, history[i], names, [&](const std::string& rest) { return ecsArn(rest); });
    const double at = v["createdAt"].get<double>();
    if (!statuses.empty() && !statuses.contains(v["status"].get<std::string>())) continue;
    if ((before && at >= *before) || (after && at <= *after)) continue;
    if (static_cast<int>(out.size()) == max) {
      return Json{{"serviceDeployments", out},
                  {"nextToken", serviceDeploymentId(history[last]["id"].get<std::string>())}};
    }
    out.push_back(std::move(v));
    last = i;
  }
  return Json{{"serviceDeployments", out}};
}

}  // namespace sc::controlplane
