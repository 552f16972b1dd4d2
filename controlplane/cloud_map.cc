// The Cloud Map (servicediscovery) subset: HTTP namespaces, their services and instances.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "common/strings.h"
#include "controlplane/batch.h"
#include "controlplane/control_plane.h"
#include "controlplane/json_fields.h"
#include "controlplane/tags.h"
#include "model/parse.h"
#include "model/validate.h"

namespace sc::controlplane {
namespace {

ApiError namespaceNotFound(const std::string& id) { return {"NamespaceNotFound", "Namespace not found: " + id}; }

// A task's Cloud Map instance exists while it is RUNNING, HEALTHY and wanted.
bool registered(const Json& t) {
  return t.value("lastStatus", "") == "RUNNING" && t.value("healthStatus", "") == "HEALTHY" &&
         t.value("desiredStatus", "") == "RUNNING";
}

ApiError serviceNotFound(const std::string& ref) { return {"ServiceNotFound", "Service not found: " + ref}; }

// The operation IDs, instance IDs and page tokens sccontrol hands out: 32 lowercase hex digits.
bool isOurId(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::optional<std::string> ControlPlane::namespaceIdByRef(Batch& b, const std::string& ref) {
  for (const auto& [k, ns] : b.list("namespace/")) {
    if (ns["Name"] == ref || ns["Arn"] == ref || ns["Id"] == ref) return ns["Id"].get<std::string>();
  }
  return std::nullopt;
}

Json ControlPlane::createNamespaceLocked(Batch& b, const std::string& name, const std::string& description,
                                         const std::string& creator_request_id) {
  double now = nowSeconds();
  std::string id = "ns-" + newId(16);
  Json ns = {{"Id", id},
             {"Arn", cmArn("namespace/" + id)},
             {"Name", name},
             {"Type", "HTTP"},
             {"Description", description},
             {"ServiceCount", 0},
             {"Properties", {{"DnsProperties", Json::object()}, {"HttpProperties", {{"HttpName", name}}}}},
             {"CreateDate", now},
             {"_vipCidr", options_.vip_cidr}};
  if (!creator_request_id.empty()) ns["CreatorRequestId"] = creator_request_id;
  b.put("namespace/" + id, ns);
  std::string op_id = newId(32);
  b.put("operation/" + op_id, Json{{"Id", op_id},
                                   {"Type", "CREATE_NAMESPACE"},
                                   {"Status", "SUCCESS"},
                                   {"CreateDate", now},
                                   {"UpdateDate", now},
                                   {"Targets", {{"NAMESPACE", id}}}});
  ns["_operationId"] = op_id;
  return ns;
}

ApiResult ControlPlane::createHttpNamespace(const Json& in) {
  Batch b(docs_);
  std::string name = str(in, "Name");
  if (!model::isValidNamespaceName(name)) {
    return std::unexpected(ApiError{
        "InvalidInput", "Name: a namespace name has 1-1024 characters and none of < > \" /, got " + jsonQuote(name)});
  }
  if (auto id = namespaceIdByRef(b, name)) {
    Json existing = *b.get("namespace/" + *id);
    std::string req = str(in, "CreatorRequestId");
    if (!req.empty() && existing.value("CreatorRequestId", "") == req) {
      return std::unexpected(
          ApiError{"DuplicateRequest", "The operation is already in progress or done for CreatorRequestId " + req});
    }
    return std::unexpected(ApiError{"NamespaceAlreadyExists", "Namespace " + name + " already exists (" + *id + ")"});
  }
  if (auto e = tagsProblem(in.value("Tags", Json::array()), kCloudMapTags, "Tags")) return std::unexpected(*e);
  const Json tags = mergeTags(Json::array(), in.value("Tags", Json::array()), kCloudMapTags);
  if (tags.size() > kMaxTagsPerResource) {
    return std::unexpected(ApiError{"TooManyTagsException", "Tags: a resource has at most " +
                                                                std::to_string(kMaxTagsPerResource) + " tags, got " +
                                                                std::to_string(tags.size())});
  }
  Json ns = createNamespaceLocked(b, name, str(in, "Description"), str(in, "CreatorRequestId"));
  Json stored = *b.get("namespace/" + ns["Id"].get<std::string>());
  stored["_tags"] = tags;
  b.put("namespace/" + ns["Id"].get<std::string>(), stored);
  return finish(b, Json{{"OperationId", ns["_operationId"]}});
}

ApiResult ControlPlane::getOperation(const Json& in) {
  Batch b(docs_);
  auto op = b.get("operation/" + str(in, "OperationId"));
  if (!op) return std::unexpected(ApiError{"OperationNotFound", "Operation not found: " + str(in, "OperationId")});
  return Json{{"Operation", *op}};
}

static Json namespaceView(const Json& ns, size_t services) {
  Json v = ns;
  v["ServiceCount"] = services;
  return v;
}

ApiResult ControlPlane::listNamespaces(const Json& in) {
  Batch b(docs_);
  Json out = Json::array();
  for (const auto& [k, ns] : b.list("namespace/")) {
    bool keep = true;
    for (const Json& f : in.value("Filters", Json::array())) {
      std::string name = str(f, "Name"), cond = str(f, "Condition", "EQ");
      std::vector<std::string> values = f.value("Values", std::vector<std::string>{});
      std::string have = name == "TYPE"   ? ns["Type"].get<std::string>()
                         : name == "NAME" ? ns["Name"].get<std::string>()
                                          : ns["Properties"]["HttpProperties"]["HttpName"].get<std::string>();
      bool match = std::any_of(values.begin(), values.end(), [&](const std::string& v) {
        return cond == "BEGINS_WITH" ? startsWith(have, v) : have == v;
      });
      keep = keep && match;
    }
    if (keep) out.push_back(namespaceView(ns, b.list("cmservice/" + ns["Id"].get<std::string>() + "/").size()));
  }
  return Json{{"Namespaces", out}};
}

ApiResult ControlPlane::getNamespace(const Json& in) {
  Batch b(docs_);
  std::string id = str(in, "Id");
  auto ns = b.get("namespace/" + id);
  if (!ns) return std::unexpected(namespaceNotFound(id));
  return Json{{"Namespace", namespaceView(*ns, b.list("cmservice/" + id + "/").size())}};
}

ApiResult ControlPlane::deleteNamespace(const Json& in) {
  Batch b(docs_);
  std::string id = str(in, "Id");
  auto ns = b.get("namespace/" + id);
  if (!ns) return std::unexpected(namespaceNotFound(id));
  auto services = b.list("cmservice/" + id + "/");
  if (!services.empty()) {
    return std::unexpected(
        ApiError{"ResourceInUse", "Namespace " + id + " has " + std::to_string(services.size()) +
                                      " service(s) (first: " + services[0].second["Name"].get<std::string>() +
                                      "); delete the ECS services that use it first"});
  }
  for (const auto& [k, c] : b.list("cluster/")) {
    if (c.contains("serviceConnectDefaults") && c["serviceConnectDefaults"]["namespace"] == (*ns)["Arn"]) {
      return std::unexpected(ApiError{
          "ResourceInUse",
          "Namespace " + id + " is the Service Connect default of cluster " + c["clusterName"].get<std::string>()});
    }
  }
  for (const auto& [k, v] : b.list("vip/" + id + "/")) b.del(k);
  b.del("namespace/" + id);
  double now = nowSeconds();
  std::string op_id = newId(32);
  b.put("operation/" + op_id, Json{{"Id", op_id},
                                   {"Type", "DELETE_NAMESPACE"},
                                   {"Status", "SUCCESS"},
                                   {"CreateDate", now},
                                   {"UpdateDate", now},
                                   {"Targets", {{"NAMESPACE", id}}}});
  return finish(b, Json{{"OperationId", op_id}});
}

// The registered instances of Cloud Map service `cm`, by instance ID (the task's ID).
static std::map<std::string, Json> instancesOf(ControlPlane::Batch& b, const Json& cm) {
  std::map<std::string, Json> out;
  for (const auto& [k, t] : b.list("task/")) {
    if (!registered(t) || t.value("_ns", "") != cm["NamespaceId"]) continue;
    for (const Json& e : t.value("_endpoints", Json::array())) {
      if (e.value("discoveryName", "") != cm["Name"]) continue;
      out[t["_id"].get<std::string>()] = {{"Id", t["_id"]},
                                          {"Attributes",
                                           {{"AWS_INSTANCE_IPV4", e.value("ip", "")},
                                            {"AWS_INSTANCE_PORT", std::to_string(e.value("port", 0))},
                                            {"ECS_CLUSTER_NAME", t.value("_cluster", "")},
                                            {"ECS_SERVICE_NAME", t.value("group", "").substr(8)},
                                            {"ECS_TASK_DEFINITION_FAMILY", t.value("_family", "")},
                                            {"ECS_TASK_ARN", t.value("taskArn", "")},
                                            {"AVAILABILITY_ZONE", "local"}}}};
    }
  }
  return out;
}

std::optional<std::string> ControlPlane::cmServiceKeyByRef(Batch& b, const std::string& ref) {
  for (const auto& [k, cm] : b.list("cmservice/")) {
    if (cm["Id"] == ref || cm.value("Arn", "") == ref) return k;
  }
  return std::nullopt;
}

ApiResult ControlPlane::cmListServices(const Json& in) {
  Batch b(docs_);
  std::string ns_filter;
  for (const Json& f : in.value("Filters", Json::array())) {
    if (str(f, "Name") == "NAMESPACE_ID" && !f["Values"].empty()) ns_filter = f["Values"][0].get<std::string>();
  }
  Json out = Json::array();
  for (const auto& [k, cm] : b.list(ns_filter.empty() ? "cmservice/" : "cmservice/" + ns_filter + "/")) {
    Json v = cm;
    v["InstanceCount"] = instancesOf(b, cm).size();
    out.push_back(v);
  }
  return Json{{"Services", out}};
}

ApiResult ControlPlane::cmGetService(const Json& in) {
  Batch b(docs_);
  auto key = cmServiceKeyByRef(b, str(in, "Id"));
  if (!key) return std::unexpected(serviceNotFound(str(in, "Id")));
  Json v = *b.get(*key);
  v["InstanceCount"] = instancesOf(b, v).size();
  return Json{{"Service", v}};
}

ApiResult ControlPlane::listInstances(const Json& in) {
  Batch b(docs_);
  auto key = cmServiceKeyByRef(b, str(in, "ServiceId"));
  if (!key) return std::unexpected(serviceNotFound(str(in, "ServiceId")));
  Json out = Json::array();
  for (auto& [id, i] : instancesOf(b, *b.get(*key))) out.push_back(std::move(i));
  return Json{{"Instances", out}};
}

ApiResult ControlPlane::getInstance(const Json& in) {
  Batch b(docs_);
  auto key = cmServiceKeyByRef(b, str(in, "ServiceId"));
  if (!key) return std::unexpected(serviceNotFound(str(in, "ServiceId")));
  const std::string id = str(in, "InstanceId");
  auto instances = instancesOf(b, *b.get(*key));
  auto it = instances.find(id);
  if (it == instances.end()) {
    return std::unexpected(ApiError{"InstanceNotFound", "Instance not found: " + id +
                                                            " (sccontrol registers a task's "
                                                            "endpoint while the task is RUNNING and HEALTHY)"});
  }
  it->second["CreatedByAccount"] = options_.account;
  return Json{{"ResourceOwner", options_.account}, {"Instance", it->second}};
}

// Every instance sccontrol registers is HEALTHY: an endpoint is registered while its task is
// RUNNING and HEALTHY and deregistered when it is not (so UNHEALTHY and UNKNOWN are never answered).
ApiResult ControlPlane::getInstancesHealthStatus(const Json& in) {
  Batch b(docs_);
  auto key = cmServiceKeyByRef(b, str(in, "ServiceId"));
  if (!key) return std::unexpected(serviceNotFound(str(in, "ServiceId")));
  const std::string token = str(in, "NextToken");
  if (in.contains("NextToken") && !isOurId(token))
    return std::unexpected(ApiError{"InvalidInput", "NextToken: not a token GetInstancesHealthStatus returned"});
  auto instances = instancesOf(b, *b.get(*key));
  std::vector<std::string> ids;
  if (in.contains("Instances")) {
    for (const Json& i : in["Instances"]) {
      const std::string id = i.get<std::string>();
      if (!instances.contains(id)) return std::unexpected(ApiError{"InstanceNotFound", "Instance not found: " + id});
      ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  } else {
    for (const auto& [id, i] : instances) ids.push_back(id);
  }
  const size_t max = in.value("MaxResults", size_t{100});
  Json status = Json::object();
  std::string last;
  for (const std::string& id : ids) {
    if (id <= token) continue;
    if (status.size() == max) return Json{{"Status", status}, {"NextToken", last}};
    status[id] = "HEALTHY";
    last = id;
  }
  return Json{{"Status", status}};
}

// The revision of a Cloud Map service's instance list: the store revision at which this control
// plane first saw the list as it is now. It increases whenever an instance is registered or
// deregistered (a health change cannot change it: only HEALTHY tasks are instances), survives a
// restart (the store revision only grows), and names one list: the list at a store revision is
// fixed, so replicas over one etcd may answer different revisions for a list, never one revision
// for two lists.
int64_t ControlPlane::instancesRevisionLocked(Batch& b, const std::string& cm_key) {
  std::string content;
  for (const auto& [id, i] : instancesOf(b, *b.get(cm_key))) content += i.dump() + "\n";
  for (auto it = instances_revision_cache_.begin(); it != instances_revision_cache_.end();) {
    it = docs_.contains(it->first) ? std::next(it) : instances_revision_cache_.erase(it);
  }
  auto [it, fresh] = instances_revision_cache_.try_emplace(cm_key, InstancesRevision{revision_, content});
  if (!fresh && it->second.content != content) it->second = {revision_, std::move(content)};
  return it->second.revision;
}

std::expected<std::string, ApiError> ControlPlane::discoveredServiceKey(Batch& b, const Json& in) {
  auto ns_id = namespaceIdByRef(b, str(in, "NamespaceName"));
  if (!ns_id) return std::unexpected(namespaceNotFound(str(in, "NamespaceName")));
  const std::string key = "cmservice/" + *ns_id + "/" + str(in, "ServiceName");
  if (!b.find(key)) return std::unexpected(serviceNotFound(str(in, "ServiceName")));
  return key;
}

ApiResult ControlPlane::discoverInstances(const Json& in) {
  Batch b(docs_);
  auto key = discoveredServiceKey(b, in);
  if (!key) return std::unexpected(key.error());
  const Json cm = *b.get(*key);
  const Json ns = *b.get("namespace/" + cm["NamespaceId"].get<std::string>());
  // Only healthy tasks are registered, so UNHEALTHY finds none; HEALTHY_OR_ELSE_ALL and ALL find all.
  const bool none = str(in, "HealthStatus", "ALL") == "UNHEALTHY";
  const size_t max = in.value("MaxResults", size_t{100});
  Json out = Json::array();
  for (auto& [id, i] : instancesOf(b, cm)) {
    if (none || out.size() >= max) break;
    out.push_back({{"InstanceId", id},
                   {"NamespaceName", ns["Name"]},
                   {"ServiceName", cm["Name"]},
                   {"HealthStatus", "HEALTHY"},
                   {"Attributes", std::move(i["Attributes"])}});
  }
  return Json{{"Instances", out}, {"InstancesRevision", instancesRevisionLocked(b, *key)}};
}

ApiResult ControlPlane::discoverInstancesRevision(const Json& in) {
  Batch b(docs_);
  auto key = discoveredServiceKey(b, in);
  if (!key) return std::unexpected(key.error());
  return Json{{"InstancesRevision", instancesRevisionLocked(b, *key)}};
}

ApiResult ControlPlane::updateHttpNamespace(const Json& in) {
  Batch b(docs_);
  // An ID or an ARN (the model's Arn shape), not a name.
  const std::string ref = str(in, "Id");
  auto id = namespaceIdByRef(b, ref);
  if (!id || (ref != *id && ref != cmArn("namespace/" + *id))) return std::unexpected(namespaceNotFound(ref));
  const std::string description = in["Namespace"].value("Description", "");
  const std::string request = str(in, "UpdaterRequestId");
  if (!request.empty()) {
    // The same request again (a retry): the operation it made. Another change under that ID is refused.
    for (const auto& [k, op] : b.list("operation/")) {
      if (op.value("_requestId", "") != request || op["Type"] != "UPDATE_NAMESPACE") continue;
      if (op["Targets"]["NAMESPACE"] == *id && op.value("_description", "") == description)
        return Json{{"OperationId", op["Id"]}};
      return std::unexpected(ApiError{"DuplicateRequest", "UpdaterRequestId " + request +
                                                              " was already used for another update (operation " +
                                                              op["Id"].get<std::string>() + ")"});
    }
  }
  Json ns = *b.get("namespace/" + *id);
  ns["Description"] = description;
  b.put("namespace/" + *id, ns);
  const double now = nowSeconds();
  const std::string op_id = newId(32);
  Json op = {{"Id", op_id},       {"Type", "UPDATE_NAMESPACE"},      {"Status", "SUCCESS"},        {"CreateDate", now},
             {"UpdateDate", now}, {"Targets", {{"NAMESPACE", *id}}}, {"_description", description}};
  if (!request.empty()) op["_requestId"] = request;
  b.put("operation/" + op_id, op);
  return finish(b, Json{{"OperationId", op_id}});
}

// Service Connect creates and removes its Cloud Map services with the ECS services that use them;
// a user may delete only one that no ECS service uses and that has no instances (which, short of
// an edited store, sccontrol has already removed).
ApiResult ControlPlane::cmDeleteService(const Json& in) {
  Batch b(docs_);
  auto key = cmServiceKeyByRef(b, str(in, "Id"));
  if (!key) return std::unexpected(serviceNotFound(str(in, "Id")));
  const Json cm = *b.get(*key);
  const std::string owner = cm.value("_owner", "");
  if (auto svc = b.find(owner); svc != nullptr && svc->value("status", "") != "INACTIVE") {
    return std::unexpected(ApiError{"ResourceInUse", "Service " + cm["Id"].get<std::string>() +
                                                         " is the Service Connect endpoint " +
                                                         jsonQuote(cm["Name"].get<std::string>()) + " of ECS service " +
                                                         svc->value("serviceArn", owner) +
                                                         "; delete the ECS service or update its "
                                                         "serviceConnectConfiguration instead"});
  }
  if (size_t n = instancesOf(b, cm).size(); n > 0) {
    return std::unexpected(ApiError{"ResourceInUse", "Service " + cm["Id"].get<std::string>() + " has " +
                                                         std::to_string(n) + " registered instance(s)"});
  }
  releaseCloudMapServiceLocked(b, *key, cm);
  return finish(b, Json::object());
}

void ControlPlane::releaseCloudMapServiceLocked(Batch& b, const std::string& key, const Json& cm) {
  const std::string ns_id = cm["NamespaceId"].get<std::string>();
  const std::string vkey = "vip/" + ns_id + "/" + cm["_dnsName"].get<std::string>();
  bool still_used = false;
  for (const auto& [k2, other] : b.list("cmservice/" + ns_id + "/")) {
    if (k2 != key && other.value("_dnsName", "") == cm["_dnsName"]) still_used = true;
  }
  if (auto v = b.get(vkey); v && !still_used) {
    (*v)["releasedAt"] = revision_ + 1;
    b.put(vkey, *v);
  }
  b.del(key);
}

namespace {

const std::set<std::string> kOperationStatuses = {"SUBMITTED", "PENDING", "SUCCESS", "FAIL"};
const std::set<std::string> kOperationTypes = {"CREATE_NAMESPACE", "DELETE_NAMESPACE",  "UPDATE_NAMESPACE",
                                               "UPDATE_SERVICE",   "REGISTER_INSTANCE", "DEREGISTER_INSTANCE"};

// A ListOperations filter as a predicate, or the InvalidInput that refuses it. The conditions each
// filter takes are the model's: EQ (one value) for NAMESPACE_ID, SERVICE_ID, STATUS and TYPE; IN
// for STATUS and TYPE; BETWEEN (a start and an end, Unix seconds) for UPDATE_DATE.
std::expected<std::function<bool(const Json&)>, ApiError> operationFilter(const Json& f, size_t i) {
  const std::string at = "Filters[" + std::to_string(i) + "]";
  const std::string name = str(f, "Name"), cond = str(f, "Condition", "EQ");
  const std::vector<std::string> values = f["Values"].get<std::vector<std::string>>();
  auto bad = [&](const std::string& why) { return std::unexpected(ApiError{"InvalidInput", at + ": " + why}); };
  const bool set_filter = name == "STATUS" || name == "TYPE";
  if (name == "UPDATE_DATE") {
    if (cond != "BETWEEN") return bad("UPDATE_DATE takes the condition BETWEEN, got " + cond);
    if (values.size() != 2) return bad("BETWEEN takes two values, a start and an end date in Unix seconds");
    double range[2];
    for (size_t k = 0; k < 2; ++k) {
      char* end = nullptr;
      range[k] = std::strtod(values[k].c_str(), &end);
      if (values[k].empty() || *end != '\0' || !std::isfinite(range[k]))
        return bad("Values[" + std::to_string(k) + "]: expected a date in Unix seconds, got " + jsonQuote(values[k]));
    }
    if (range[0] > range[1]) return bad("the start date must come first");
    return [lo = range[0], hi = range[1]](const Json& op) {
      const double t = op.value("UpdateDate", 0.0);
      return t >= lo && t <= hi;
    };
  }
  if (cond == "BETWEEN" || cond == "BEGINS_WITH" || (cond == "IN" && !set_filter))
    return bad(name + " does not take the condition " + cond);
  if (cond == "EQ" && values.size() != 1) return bad("EQ takes one value, got " + std::to_string(values.size()));
  const std::set<std::string> wanted(values.begin(), values.end());
  if (set_filter) {
    const auto& known = name == "STATUS" ? kOperationStatuses : kOperationTypes;
    for (const std::string& v : values)
      if (!known.contains(v)) return bad(name + " value " + jsonQuote(v) + " is none of the model's values");
    const char* member = name == "STATUS" ? "Status" : "Type";
    return [wanted, member](const Json& op) { return wanted.contains(op.value(member, "")); };
  }
  const char* target = name == "NAMESPACE_ID" ? "NAMESPACE" : "SERVICE";
  return [wanted, target](const Json& op) {
    return wanted.contains(op.value("Targets", Json::object()).value(target, ""));
  };
}

}  // namespace

// Operations sccontrol records: CREATE_NAMESPACE, UPDATE_NAMESPACE and DELETE_NAMESPACE, all
// SUCCESS at once. Pages of MaxResults (default 100) in ID order, filtered before paging.
ApiResult ControlPlane::listOperations(const Json& in) {
  Batch b(docs_);
  std::vector<std::function<bool(const Json&)>> filters;
  const Json none = Json::array();
  const Json& given = in.contains("Filters") ? in["Filters"] : none;
  for (size_t i = 0; i < given.size(); ++i) {
    auto f = operationFilter(given[i], i);
    if (!f) return std::unexpected(f.error());
    filters.push_back(std::move(*f));
  }
  const std::string token = str(in, "NextToken");
  if (in.contains("NextToken") && !isOurId(token))
    return std::unexpected(ApiError{"InvalidInput", "NextToken: not a token ListOperations returned"});
  const size_t max = in.value("MaxResults", size_t{100});
  Json out = Json::array();
  for (const auto& [k, op] : b.list("operation/")) {
    if (op["Id"].get<std::string>() <= token) continue;
    if (!std::all_of(filters.begin(), filters.end(), [&](const auto& f) { return f(op); })) continue;
    if (out.size() == max) return Json{{"Operations", out}, {"NextToken", out.back()["Id"]}};
    out.push_back({{"Id", op["Id"]}, {"Status", op["Status"]}});
  }
  return Json{{"Operations", out}};
}

Json ControlPlane::namespaceSnapshotLocked(Batch& b, const std::string& ns_id) {
  auto ns = b.get("namespace/" + ns_id);
  if (!ns) return Json::object();
  Json snap = {{"name", (*ns)["Name"]}, {"vipCidr", ns->value("_vipCidr", options_.vip_cidr)}};
  int64_t rev = 0;
  auto bump = [&](const std::string& key) {
    if (auto it = docs_.find(key); it != docs_.end()) rev = std::max(rev, it->second.mod_revision);
  };
  bump("namespace/" + ns_id);
  std::map<std::string, Json> addresses;
  int64_t total = 0;
  for (const auto& [tk, t] : b.list("task/")) {
    if (t.value("_ns", "") != ns_id) continue;
    if (t.value("lastStatus", "") != "STOPPED") ++total;
    if (!registered(t)) continue;
    bump(tk);
    for (const Json& e : t.value("_endpoints", Json::array())) {
      addresses[e.value("discoveryName", "")].push_back(
          {{"ip", e.value("ip", "")}, {"port", e.value("port", 0)}, {"taskId", t["_id"]}, {"healthy", true}});
    }
  }
  Json services = Json::array();
  for (const auto& [k, cm] : b.list("cmservice/" + ns_id + "/")) {
    bump(k);
    Json s = {{"discoveryName", cm["Name"]},
              {"dnsName", cm["_dnsName"]},
              {"port", cm["_port"]},
              {"vip", cm["_vip"]},
              {"ownerService", cm["_owner"]},
              {"taskDefinitionFamily", cm["_family"]},
              {"portName", cm["_portName"]},
              {"discoveryNameDefaulted", cm["_defaulted"]},
              {"appProtocol", cm["_appProtocol"]},
              {"timeout", cm["_timeout"]},
              {"addresses", addresses.contains(cm["Name"]) ? addresses[cm["Name"]] : Json::array()}};
    services.push_back(s);
  }
  snap["revision"] = rev;
  snap["totalTasks"] = total;
  snap["services"] = services;
  return snap;
}

std::optional<Json> ControlPlane::namespaceSnapshotForTest(const std::string& name) {
  std::lock_guard lock(mu_);
  Batch b(docs_);
  auto id = namespaceIdByRef(b, name);
  if (!id) return std::nullopt;
  return namespaceSnapshotLocked(b, *id);
}

}  // namespace sc::controlplane
