// The Cloud Map (servicediscovery) subset: HTTP namespaces, their services and instances.
#include <algorithm>

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

static size_t instanceCount(ControlPlane::Batch& b, const Json& cm) {
  size_t n = 0;
  for (const auto& [k, t] : b.list("task/")) {
    if (!registered(t) || t.value("_ns", "") != cm["NamespaceId"]) continue;
    for (const Json& e : t.value("_endpoints", Json::array()))
      if (e.value("discoveryName", "") == cm["Name"]) ++n;
  }
  return n;
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
    v["InstanceCount"] = instanceCount(b, cm);
    out.push_back(v);
  }
  return Json{{"Services", out}};
}

ApiResult ControlPlane::cmGetService(const Json& in) {
  Batch b(docs_);
  std::string id = str(in, "Id");
  for (const auto& [k, cm] : b.list("cmservice/")) {
    if (cm["Id"] == id) {
      Json v = cm;
      v["InstanceCount"] = instanceCount(b, cm);
      return Json{{"Service", v}};
    }
  }
  return std::unexpected(ApiError{"ServiceNotFound", "Service not found: " + id});
}

static Json instanceAttributes(const Json& t, const Json& e) {
  return {{"AWS_INSTANCE_IPV4", e.value("ip", "")},
          {"AWS_INSTANCE_PORT", std::to_string(e.value("port", 0))},
          {"ECS_CLUSTER_NAME", t.value("_cluster", "")},
          {"ECS_SERVICE_NAME", t.value("group", "").substr(8)},
          {"ECS_TASK_DEFINITION_FAMILY", t.value("_family", "")},
          {"ECS_TASK_ARN", t.value("taskArn", "")},
          {"AVAILABILITY_ZONE", "local"}};
}

ApiResult ControlPlane::listInstances(const Json& in) {
  Batch b(docs_);
  std::string id = str(in, "ServiceId");
  for (const auto& [k, cm] : b.list("cmservice/")) {
    if (cm["Id"] != id) continue;
    Json out = Json::array();
    for (const auto& [tk, t] : b.list("task/")) {
      if (!registered(t) || t.value("_ns", "") != cm["NamespaceId"]) continue;
      for (const Json& e : t.value("_endpoints", Json::array())) {
        if (e.value("discoveryName", "") == cm["Name"])
          out.push_back({{"Id", t["_id"]}, {"Attributes", instanceAttributes(t, e)}});
      }
    }
    return Json{{"Instances", out}};
  }
  return std::unexpected(ApiError{"ServiceNotFound", "Service not found: " + id});
}

ApiResult ControlPlane::discoverInstances(const Json& in) {
  Batch b(docs_);
  auto ns_id = namespaceIdByRef(b, str(in, "NamespaceName"));
  if (!ns_id) return std::unexpected(namespaceNotFound(str(in, "NamespaceName")));
  auto cm = b.get("cmservice/" + *ns_id + "/" + str(in, "ServiceName"));
  if (!cm) return std::unexpected(ApiError{"ServiceNotFound", "Service not found: " + str(in, "ServiceName")});
  std::string health = str(in, "HealthStatus", "ALL");
  int max = in.value("MaxResults", 100);
  Json out = Json::array();
  int64_t rev = (*cm).value("_rev", int64_t{0});
  for (const auto& [tk, t] : b.list("task/")) {
    if (!registered(t) || t.value("_ns", "") != *ns_id) continue;
    if (health == "UNHEALTHY") continue;  // only healthy tasks are registered
    for (const Json& e : t.value("_endpoints", Json::array())) {
      if (e.value("discoveryName", "") != (*cm)["Name"] || static_cast<int>(out.size()) >= max) continue;
      out.push_back({{"InstanceId", t["_id"]},
                     {"NamespaceName", (*b.get("namespace/" + *ns_id))["Name"]},
                     {"ServiceName", (*cm)["Name"]},
                     {"HealthStatus", "HEALTHY"},
                     {"Attributes", instanceAttributes(t, e)}});
      auto it = docs_.find(tk);
      if (it != docs_.end()) rev = std::max(rev, it->second.mod_revision);
    }
  }
  return Json{{"Instances", out}, {"InstancesRevision", rev}};
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
