#include "controlplane/control_plane.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/log.h"
#include "common/strings.h"
#include "controlplane/batch.h"
#include "controlplane/json_fields.h"
#include "controlplane/secure_random.h"
#include "controlplane/service_deployments.h"
#include "controlplane/service_members.h"
#include "controlplane/sigv4.h"
#include "controlplane/tags.h"
#include "model/api_model.h"
#include "model/parse.h"
#include "model/plan.h"
#include "model/validate.h"

namespace sc::controlplane {

using model::ApiModel;

namespace {

const ApiModel& modelOf(Api api) {
  return ApiModel::get(api == Api::kEcs ? ApiModel::Service::kEcs : ApiModel::Service::kServiceDiscovery);
}

// Keeps only the members the output shape declares, recursively; timestamps become epoch seconds.
Json filterToShape(const ApiModel& m, const Json& v, const std::string& shape_name) {
  if (!m.hasShape(shape_name)) return v;
  const Json& shape = m.shape(shape_name);
  const std::string type = shape.value("type", "");
  if (type == "structure") {
    if (!v.is_object()) return v;
    Json out = Json::object();
    const Json& members = shape["members"];
    for (auto it = v.begin(); it != v.end(); ++it) {
      auto mem = members.find(it.key());
      if (mem == members.end() || it->is_null()) continue;
      out[it.key()] = filterToShape(m, *it, (*mem)["shape"].get<std::string>());
    }
    return out;
  }
  if (type == "list") {
    if (!v.is_array()) return v;
    Json out = Json::array();
    for (const Json& e : v) out.push_back(filterToShape(m, e, shape["member"]["shape"].get<std::string>()));
    return out;
  }
  if (type == "map") {
    if (!v.is_object()) return v;
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it)
      out[it.key()] = filterToShape(m, *it, shape["value"]["shape"].get<std::string>());
    return out;
  }
  return v;
}

std::string pad8(int64_t n) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08lld", static_cast<long long>(n));
  return buf;
}

ApiError invalid(std::string message) { return {"InvalidParameterException", std::move(message)}; }
ApiError clientError(std::string message) { return {"ClientException", std::move(message)}; }
ApiError clusterNotFound() { return {"ClusterNotFoundException", "Cluster not found."}; }

// An operation of the models that sccontrol does not implement, refused with an error the
// operation's model lists, so SDKs raise one of its declared exceptions: ECS's
// UnsupportedFeatureException where the operation lists it, else ClientException (every ECS
// operation lists it: "an action ... that isn't valid"); Cloud Map's InvalidInput (every Cloud Map
// operation lists it).
ApiError unsupportedOperation(const ApiModel& m, Api api, std::string_view op) {
  std::string type = api == Api::kEcs ? "ClientException" : "InvalidInput";
  if (api == Api::kEcs) {
    for (const Json& e : m.operations()[std::string(op)].value("errors", Json::array()))
      if (e.value("shape", "") == "UnsupportedFeatureException") type = "UnsupportedFeatureException";
  }
  return {type, std::string(op) + " is not supported by sccontrol; see docs/api.md"};
}

}  // namespace

// The cluster name from a name or ARN ("" -> "default").
static std::string clusterName(const Json& in) {
  std::string ref = str(in, "cluster", "default");
  if (ref.empty()) ref = "default";
  if (startsWith(ref, "arn:")) {
    auto p = ref.find(":cluster/");
    if (p != std::string::npos) return ref.substr(p + 9);
  }
  return ref;
}

ControlPlane::ControlPlane(Store& store, Clock& clock, ControlPlaneOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

Result<std::unique_ptr<ControlPlane>> ControlPlane::create(Store& store, Clock& clock, ControlPlaneOptions options) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane(store, clock, std::move(options)));
  cp->bootstrap_tokens_ = cp->options_.bootstrap_tokens;
  if (!cp->options_.bootstrap_token.empty()) {
    cp->bootstrap_tokens_.insert(cp->bootstrap_tokens_.begin(),
                                 BootstrapToken{kDefaultBootstrapTokenId, sha256Hex(cp->options_.bootstrap_token)});
  }
  SC_ASSIGN_OR_RETURN(RangeResult all, store.list(""));
  cp->revision_ = all.revision;
  for (const KeyValue& kv : all.kvs) {
    Json v = Json::parse(kv.value, nullptr, false);
    if (v.is_discarded()) return makeError(ErrorCode::kInternal, "load", kv.key, "the stored document is not JSON");
    if (startsWith(kv.key, "instance/")) {
      cp->last_seen_[kv.key] = clock.now();
      std::string h = str(v, "_tokenHash");
      if (!h.empty()) cp->tokens_[h] = kv.key;
    }
    if (startsWith(kv.key, "task/")) cp->indexTask(kv.key, nullptr, &v);
    cp->docs_.emplace(kv.key, Doc{std::move(v), kv.mod_revision});
  }
  return cp;
}

void ControlPlane::setChangeListener(std::function<void()> listener) {
  std::lock_guard lock(listener_mu_);
  listener_ = std::move(listener);
}

int64_t ControlPlane::revision() {
  std::lock_guard lock(mu_);
  return revision_;
}

std::string ControlPlane::ecsArn(const std::string& rest) const {
  return "arn:aws:ecs:" + options_.region + ":" + options_.account + ":" + rest;
}
std::string ControlPlane::cmArn(const std::string& rest) const {
  return "arn:aws:servicediscovery:" + options_.region + ":" + options_.account + ":" + rest;
}

[[noreturn]] static void noRandomness(const Error& e) {
  log::error("cannot draw random bytes; stopping rather than hand out a guessable identifier", {{"error", e.message}});
  std::abort();
}

std::string ControlPlane::newId(size_t n) {
  Result<std::string> id = randomHex(n);
  if (!id.ok()) noRandomness(id.error());
  return std::move(id).value();
}

std::string ControlPlane::newDeploymentId() {
  Result<uint64_t> r = randomU64();
  if (!r.ok()) noRandomness(r.error());
  return "ecs-svc/" + std::to_string(*r % 9000000000000000000ULL + 1000000000000000000ULL);
}

double ControlPlane::nowSeconds() const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wallNow().time_since_epoch()).count();
  return static_cast<double>(ms) / 1000.0;
}

Result<void> ControlPlane::commitLocked(Batch& b) {
  if (b.empty()) return {};
  std::vector<Compare> compares;
  std::vector<TxnOp> ops;
  for (const auto& [key, value] : b.changes()) {
    auto it = docs_.find(key);
    compares.push_back({key, it == docs_.end() ? 0 : it->second.mod_revision});
    if (value) {
      ops.push_back(TxnOp::put(key, value->dump()));
    } else {
      ops.push_back(TxnOp::del(key));
    }
  }
  SC_ASSIGN_OR_RETURN(TxnResult r, store_.txn(compares, ops));
  if (!r.succeeded) {
    return makeError(ErrorCode::kFailedPrecondition, "commit", "state",
                     "the store changed under this control plane (is another sccontrol writing to it?)");
  }
  for (const auto& [key, value] : b.changes()) {
    if (startsWith(key, "task/")) {
      auto old = docs_.find(key);
      indexTask(key, old == docs_.end() ? nullptr : &old->second.value, value ? &*value : nullptr);
    }
    if (value) {
      docs_[key] = Doc{*value, r.revision};
    } else {
      docs_.erase(key);
    }
  }
  revision_ = r.revision;
  b.clear();
  return {};
}

void ControlPlane::indexTask(const std::string& key, const Json* before, const Json* after) {
  if (before != nullptr) {
    auto it = tasks_by_instance_.find(before->value("containerInstanceArn", ""));
    if (it != tasks_by_instance_.end()) it->second.erase(key);
  }
  if (after != nullptr) tasks_by_instance_[after->value("containerInstanceArn", "")].insert(key);
}

ApiResult ControlPlane::finish(Batch& b, Json out) {
  if (auto c = commitLocked(b); !c.ok()) return std::unexpected(ApiError{"ServerException", c.error().message, 500});
  reconcileLocked(b);
  if (auto c = commitLocked(b); !c.ok()) return std::unexpected(ApiError{"ServerException", c.error().message, 500});
  return out;
}

ApiResult ControlPlane::call(Api api, std::string_view op, const Json& input) {
  const ApiModel& m = modelOf(api);
  auto in_shape = m.inputShape(op);
  if (!in_shape) return std::unexpected(ApiError{"UnknownOperationException", "Unknown operation " + std::string(op)});
  auto issues = m.validate(input, *in_shape);
  if (!issues.empty()) {
    std::vector<std::string> lines;
    for (const auto& i : issues) lines.push_back(i.text());
    return std::unexpected(
        ApiError{api == Api::kEcs ? "InvalidParameterException" : "InvalidInput", join(lines, "; ")});
  }
  using Fn = ApiResult (ControlPlane::*)(const Json&);
  static const std::map<std::string, Fn, std::less<>> kEcs = {
      {"CreateCluster", &ControlPlane::createCluster},
      {"DescribeClusters", &ControlPlane::describeClusters},
      {"ListClusters", &ControlPlane::listClusters},
      {"DeleteCluster", &ControlPlane::deleteCluster},
      {"UpdateCluster", &ControlPlane::updateCluster},
      {"UpdateClusterSettings", &ControlPlane::updateClusterSettings},
      {"PutClusterCapacityProviders", &ControlPlane::putClusterCapacityProviders},
      {"RegisterTaskDefinition", &ControlPlane::registerTaskDefinition},
      {"DescribeTaskDefinition", &ControlPlane::describeTaskDefinition},
      {"ListTaskDefinitions", &ControlPlane::listTaskDefinitions},
      {"ListTaskDefinitionFamilies", &ControlPlane::listTaskDefinitionFamilies},
      {"DeleteTaskDefinitions", &ControlPlane::deleteTaskDefinitions},
      {"DeregisterTaskDefinition", &ControlPlane::deregisterTaskDefinition},
      {"CreateService", &ControlPlane::createService},
      {"UpdateService", &ControlPlane::updateService},
      {"DeleteService", &ControlPlane::deleteService},
      {"DescribeServices", &ControlPlane::describeServices},
      {"ListServices", &ControlPlane::listServices},
      {"ListServicesByNamespace", &ControlPlane::listServicesByNamespace},
      {"DescribeServiceDeployments", &ControlPlane::describeServiceDeployments},
      {"ListServiceDeployments", &ControlPlane::listServiceDeployments},
      {"TagResource", &ControlPlane::tagResource},
      {"UntagResource", &ControlPlane::untagResource},
      {"ListTagsForResource", &ControlPlane::listTagsForResource},
      {"ListTasks", &ControlPlane::listTasks},
      {"DescribeTasks", &ControlPlane::describeTasks},
      {"StopTask", &ControlPlane::stopTask},
      {"ListContainerInstances", &ControlPlane::listContainerInstances},
      {"DescribeContainerInstances", &ControlPlane::describeContainerInstances},
      {"UpdateContainerInstancesState", &ControlPlane::updateContainerInstancesState},
      {"DeregisterContainerInstance", &ControlPlane::deregisterContainerInstance},
  };
  static const std::map<std::string, Fn, std::less<>> kCloudMap = {
      {"CreateHttpNamespace", &ControlPlane::createHttpNamespace},
      {"GetOperation", &ControlPlane::getOperation},
      {"ListNamespaces", &ControlPlane::listNamespaces},
      {"GetNamespace", &ControlPlane::getNamespace},
      {"DeleteNamespace", &ControlPlane::deleteNamespace},
      {"ListServices", &ControlPlane::cmListServices},
      {"GetService", &ControlPlane::cmGetService},
      {"ListInstances", &ControlPlane::listInstances},
      {"DiscoverInstances", &ControlPlane::discoverInstances},
      {"DiscoverInstancesRevision", &ControlPlane::discoverInstancesRevision},
      {"GetInstance", &ControlPlane::getInstance},
      {"GetInstancesHealthStatus", &ControlPlane::getInstancesHealthStatus},
      {"UpdateHttpNamespace", &ControlPlane::updateHttpNamespace},
      {"DeleteService", &ControlPlane::cmDeleteService},
      {"ListOperations", &ControlPlane::listOperations},
      {"TagResource", &ControlPlane::cmTagResource},
      {"UntagResource", &ControlPlane::cmUntagResource},
      {"ListTagsForResource", &ControlPlane::cmListTagsForResource},
  };
  const auto& table = api == Api::kEcs ? kEcs : kCloudMap;
  auto fn = table.find(op);
  if (fn == table.end()) return std::unexpected(unsupportedOperation(m, api, op));
  ApiResult r;
  bool changed;
  {
    std::lock_guard lock(mu_);
    int64_t before = revision_;
    r = (this->*(fn->second))(input);
    changed = revision_ != before;
  }
  if (changed) {
    std::lock_guard lock(listener_mu_);
    if (listener_) listener_();
  }
  if (!r) return r;
  auto out_shape = m.outputShape(op);
  return out_shape ? filterToShape(m, *r, *out_shape) : Json::object();
}

// ---------------------------------------------------------------------------------------------
// Clusters

// containerInsights (the only ClusterSettingName) is stored and returned; sccontrol collects no
// Container Insights metrics.
static std::optional<ApiError> applyClusterSettings(Json& cluster, const Json& settings) {
  for (size_t i = 0; i < settings.size(); ++i) {
    const std::string at = "settings[" + std::to_string(i) + "]";
    const std::string name = str(settings[i], "name"), value = str(settings[i], "value");
    if (name.empty()) return invalid(at + ".name: required");
    if (value != "enabled" && value != "disabled" && value != "enhanced") {
      return invalid(at + ".value: " + name + " is enabled, disabled or enhanced, got " + jsonQuote(value));
    }
    Json& have = cluster["settings"];
    auto same = std::find_if(have.begin(), have.end(), [&](const Json& s) { return s["name"] == name; });
    if (same != have.end()) {
      (*same)["value"] = value;
    } else {
      have.push_back({{"name", name}, {"value", value}});
    }
  }
  return std::nullopt;
}

// The members CreateCluster and UpdateCluster share: settings, configuration (stored) and the
// default namespace. Checked whole before `cluster` changes.
std::optional<ApiError> ControlPlane::applyClusterMembers(Batch& b, Json& cluster, const Json& in, bool updating) {
  Json next = cluster;
  if (in.contains("settings")) {
    if (auto e = applyClusterSettings(next, in["settings"])) return e;
  }
  if (in.contains("configuration")) next["configuration"] = in["configuration"];
  if (in.contains("serviceConnectDefaults")) {
    std::string ns_ref = str(in["serviceConnectDefaults"], "namespace");
    if (updating && ns_ref.empty()) {
      next.erase("serviceConnectDefaults");  // as ECS: "" removes the default, the namespace stays
      next["attachments"] = Json::array();
    } else if (auto e = setDefaultNamespaceLocked(b, next, ns_ref)) {
      return e;
    }
    next["attachmentsStatus"] = "UPDATE_COMPLETE";
  }
  cluster = std::move(next);
  return std::nullopt;
}

std::optional<ApiError> ControlPlane::setDefaultNamespaceLocked(Batch& b, Json& cluster, const std::string& ns_ref) {
  if (!model::isValidNamespaceName(ns_ref) && !startsWith(ns_ref, "arn:")) {
    return invalid(
        "serviceConnectDefaults.namespace: a namespace name has 1-1024 characters and none of < > \" /, got " +
        jsonQuote(ns_ref));
  }
  auto ns_id = namespaceIdByRef(b, ns_ref);
  if (!ns_id) {
    if (startsWith(ns_ref, "arn:")) return ApiError{"NamespaceNotFoundException", "Namespace not found: " + ns_ref};
    // The seed's cluster rule: a default namespace that does not exist is created (HTTP).
    Json ns = createNamespaceLocked(
        b, ns_ref, "created by sccontrol for cluster " + cluster["clusterName"].get<std::string>(), "");
    ns_id = ns["Id"].get<std::string>();
  }
  const Json arn = (*b.get("namespace/" + *ns_id))["Arn"];
  cluster["serviceConnectDefaults"] = {{"namespace", arn}};
  // The seed: "an attachment in the status of the cluster that shows the status of the namespace".
  // The namespace is made within the call, so the attachment is CREATED and the cluster ACTIVE.
  const std::string h = newId(32);
  const std::string id =
      h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20, 12);
  cluster["attachments"] = Json::array({{{"id", id},
                                         {"type", "sc"},
                                         {"status", "CREATED"},
                                         {"details", Json::array({{{"name", "namespace"}, {"value", arn}}})}}});
  return std::nullopt;
}

ApiResult ControlPlane::createCluster(const Json& in) {
  std::string name = str(in, "clusterName", "default");
  if (name.empty() || name.size() > 255 || !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      })) {
    return std::unexpected(
        invalid("Cluster name can have up to 255 letters, numbers, hyphens and underscores; got " + jsonQuote(name)));
  }
  if (auto e = tagsProblem(in.value("tags", Json::array()), kEcsTags, "tags")) return std::unexpected(*e);
  Batch b(docs_);
  std::string key = "cluster/" + name;
  Json cluster;
  if (auto existing = b.get(key)) {
    cluster = *existing;  // CreateCluster is idempotent in ECS
  } else {
    cluster = {{"clusterArn", ecsArn("cluster/" + name)},
               {"clusterName", name},
               {"status", "ACTIVE"},
               {"statistics", Json::array()},
               {"tags", mergeTags(Json::array(), in.value("tags", Json::array()), kEcsTags)},
               {"settings", Json::array({{{"name", "containerInsights"}, {"value", "disabled"}}})},
               {"capacityProviders", Json::array()},
               {"defaultCapacityProviderStrategy", Json::array()}};
  }
  if (auto e = applyClusterMembers(b, cluster, in, false)) return std::unexpected(*e);
  b.put(key, cluster);
  return finish(b, Json{{"cluster", cluster}});
}

static Json clusterView(const Json& cluster, const std::vector<ControlPlane::Batch::Entry>& services,
                        const std::vector<ControlPlane::Batch::Entry>& tasks, size_t instances) {
  Json c = cluster;
  int active = 0, running = 0, pending = 0;
  for (const auto& [k, s] : services) active += s.value("status", "") == "ACTIVE" ? 1 : 0;
  for (const auto& [k, t] : tasks) {
    std::string st = t.value("lastStatus", "");
    if (st == "RUNNING")
      ++running;
    else if (st != "STOPPED" && t.value("desiredStatus", "") == "RUNNING")
      ++pending;
  }
  c["activeServicesCount"] = active;
  c["runningTasksCount"] = running;
  c["pendingTasksCount"] = pending;
  c["registeredContainerInstancesCount"] = instances;
  int draining = 0;
  for (const auto& [k, s] : services) draining += s.value("status", "") == "DRAINING" ? 1 : 0;
  Json stats = Json::array();
  for (const auto& [n, v] : std::vector<std::pair<const char*, int>>{{"runningEC2TasksCount", running},
                                                                     {"runningFargateTasksCount", 0},
                                                                     {"pendingEC2TasksCount", pending},
                                                                     {"pendingFargateTasksCount", 0},
                                                                     {"activeEC2ServiceCount", active},
                                                                     {"activeFargateServiceCount", 0},
                                                                     {"drainingEC2ServiceCount", draining},
                                                                     {"drainingFargateServiceCount", 0}}) {
    stats.push_back({{"name", n}, {"value", std::to_string(v)}});
  }
  c["statistics"] = stats;
  return c;
}

// DescribeClusters' `include` (its values are checked against the model's enum before this): without
// it, attachments, settings, configuration, statistics and tags are left out, as in ECS.
static Json clusterIncluded(Json view, const Json& in) {
  std::set<std::string> asked;
  for (const Json& f : in.value("include", Json::array())) {
    if (f.is_string()) asked.insert(f.get<std::string>());
  }
  if (!asked.contains("ATTACHMENTS")) {
    view.erase("attachments");
    view.erase("attachmentsStatus");
  }
  if (!asked.contains("SETTINGS")) view.erase("settings");
  if (!asked.contains("CONFIGURATIONS")) view.erase("configuration");
  if (!asked.contains("STATISTICS")) view["statistics"] = Json::array();
  return tagsIfIncluded(std::move(view), in);
}

ApiResult ControlPlane::describeClusters(const Json& in) {
  Batch b(docs_);
  Json refs = in.value("clusters", Json::array({"default"}));
  Json out = {{"clusters", Json::array()}, {"failures", Json::array()}};
  for (const Json& r : refs) {
    std::string name = clusterName(Json{{"cluster", r}});
    auto c = b.get("cluster/" + name);
    if (!c) {
      out["failures"].push_back(
          {{"arn", startsWith(r.get<std::string>(), "arn:") ? r.get<std::string>() : ecsArn("cluster/" + name)},
           {"reason", "MISSING"}});
      continue;
    }
    out["clusters"].push_back(
        clusterIncluded(clusterView(*c, b.list("service/" + name + "/"), b.list("task/" + name + "/"),
                                    b.list("instance/" + name + "/").size()),
                        in));
  }
  return out;
}

ApiResult ControlPlane::listClusters(const Json&) {
  Batch b(docs_);
  Json arns = Json::array();
  for (const auto& [k, c] : b.list("cluster/")) arns.push_back(c["clusterArn"]);
  return Json{{"clusterArns", arns}};
}

ApiResult ControlPlane::deleteCluster(const Json& in) {
  Batch b(docs_);
  std::string name = clusterName(in);
  auto c = b.get("cluster/" + name);
  if (!c) return std::unexpected(clusterNotFound());
  for (const auto& [k, s] : b.list("service/" + name + "/")) {
    if (s.value("status", "") != "INACTIVE") {
      return std::unexpected(
          ApiError{"ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active."});
    }
  }
  for (const auto& [k, i] : b.list("instance/" + name + "/")) {
    if (i["status"] != "INACTIVE") {
      return std::unexpected(
          ApiError{"ClusterContainsContainerInstancesException",
                   "The Cluster cannot be deleted while Container Instances are active or draining."});
    }
  }
  for (const auto& [k, t] : b.list("task/" + name + "/")) {
    if (t.value("lastStatus", "") != "STOPPED") {
      return std::unexpected(
          ApiError{"ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active."});
    }
    b.del(k);
  }
  for (const auto& [k, s] : b.list("service/" + name + "/")) b.del(k);
  for (const auto& [k, i] : b.list("instance/" + name + "/")) b.del(k);  // deregistered ones
  Json out = *c;
  out["status"] = "INACTIVE";
  b.del("cluster/" + name);
  return finish(b, Json{{"cluster", out}});
}

// settings and configuration are stored; serviceConnectDefaults sets, changes or ("") removes the
// default namespace, creating it as CreateCluster does. Services keep the namespace they resolved.
// UpdateClusterSettings is UpdateCluster with settings only; the answer is the same.
ApiResult ControlPlane::updateClusterSettings(const Json& in) {
  return updateCluster(Json{{"cluster", in.value("cluster", "")}, {"settings", in.value("settings", Json::array())}});
}

// Capacity providers need Auto Scaling groups or Fargate; instances register with scagent instead.
// The empty lists (no capacity providers, the EC2 default) are accepted; anything else is refused.
ApiResult ControlPlane::putClusterCapacityProviders(const Json& in) {
  if (!in.value("capacityProviders", Json::array()).empty() ||
      !in.value("defaultCapacityProviderStrategy", Json::array()).empty()) {
    return std::unexpected(
        invalid("capacity providers are not supported by sccontrol; container instances "
                "register with scagent. Give empty capacityProviders and "
                "defaultCapacityProviderStrategy"));
  }
  return updateCluster(Json{{"cluster", in.value("cluster", "")}});  // ClusterNotFoundException there
}

ApiResult ControlPlane::updateCluster(const Json& in) {
  Batch b(docs_);
  const std::string name = clusterName(in);
  const std::string key = "cluster/" + name;
  auto cluster = b.get(key);
  if (!cluster) return std::unexpected(clusterNotFound());
  if (auto e = applyClusterMembers(b, *cluster, in, true)) return std::unexpected(*e);
  b.put(key, *cluster);
  if (auto done = finish(b, Json()); !done) return done;
  Json view = clusterView(*b.get(key), b.list("service/" + name + "/"), b.list("task/" + name + "/"),
                          b.list("instance/" + name + "/").size());
  view.erase("tags");
  return Json{{"cluster", view}};
}

// ---------------------------------------------------------------------------------------------
// Task definitions

ApiResult ControlPlane::registerTaskDefinition(const Json& in) {
  auto td = model::taskDefinitionFromJson(in);
  if (!td.ok()) return std::unexpected(clientError(td.error().message));
  if (auto honoured = model::checkHonouredMembers(in); !honoured.ok())
    return std::unexpected(clientError(honoured.error().message));
  if (auto e = tagsProblem(in.value("tags", Json::array()), kEcsTags, "tags")) return std::unexpected(*e);
  Batch b(docs_);
  auto existing = b.list("taskdef/" + td->family + "/");
  int64_t rev = 1;
  if (!existing.empty()) rev = existing.back().second.value("revision", 0) + 1;
  Json doc = in;
  doc["tags"] = mergeTags(Json::array(), in.value("tags", Json::array()), kEcsTags);
  doc["family"] = td->family;
  doc["revision"] = rev;
  doc["taskDefinitionArn"] = ecsArn("task-definition/" + td->family + ":" + std::to_string(rev));
  doc["status"] = "ACTIVE";
  doc["compatibilities"] = Json::array({"EC2"});
  doc["registeredAt"] = nowSeconds();
  if (!doc.contains("networkMode")) doc["networkMode"] = "bridge";
  b.put("taskdef/" + td->family + "/" + pad8(rev), doc);
  return finish(b, Json{{"taskDefinition", doc}, {"tags", doc["tags"]}});
}

std::optional<Json> ControlPlane::findTaskDefinition(Batch& b, const std::string& ref_in) {
  std::string ref = ref_in;
  if (startsWith(ref, "arn:")) ref = afterSlash(ref);
  auto colon = ref.find(':');
  if (colon == std::string::npos) {
    auto all = b.list("taskdef/" + ref + "/");
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->second.value("status", "") == "ACTIVE") return it->second;
    }
    return std::nullopt;
  }
  auto rev = parseUint(ref.substr(colon + 1), 99999999);
  if (!rev) return std::nullopt;
  return b.get("taskdef/" + ref.substr(0, colon) + "/" + pad8(static_cast<int64_t>(*rev)));
}

ApiResult ControlPlane::describeTaskDefinition(const Json& in) {
  Batch b(docs_);
  auto td = findTaskDefinition(b, str(in, "taskDefinition"));
  if (!td) return std::unexpected(clientError("Unable to describe task definition."));
  Json out = tagsIfIncluded(Json{{"taskDefinition", *td}, {"tags", td->value("tags", Json::array())}}, in);
  out["taskDefinition"].erase("tags");  // the TaskDefinition shape has none; they are beside it
  return out;
}

ApiResult ControlPlane::listTaskDefinitions(const Json& in) {
  Batch b(docs_);
  std::string prefix = str(in, "familyPrefix");
  std::string status = str(in, "status", "ACTIVE");
  Json arns = Json::array();
  for (const auto& [k, td] : b.list("taskdef/" + prefix)) {
    if (status != "ALL" && td.value("status", "") != status) continue;
    arns.push_back(td["taskDefinitionArn"]);
  }
  if (str(in, "sort") == "DESC") std::reverse(arns.begin(), arns.end());
  return Json{{"taskDefinitionArns", arns}};
}

// Families with an ACTIVE revision (status ACTIVE, the default), with none (INACTIVE), or all;
// sorted, paged by maxResults (1-100, default 100) and nextToken (the last family of the page).
ApiResult ControlPlane::listTaskDefinitionFamilies(const Json& in) {
  Batch b(docs_);
  const std::string status = str(in, "status", "ACTIVE"), after = str(in, "nextToken");
  std::map<std::string, bool> active;  // family -> has an ACTIVE revision
  for (const auto& [k, td] : b.list("taskdef/" + str(in, "familyPrefix"))) {
    active[td["family"].get<std::string>()] |= td.value("status", "") == "ACTIVE";
  }
  const size_t max = static_cast<size_t>(std::clamp(in.value("maxResults", 100), 1, 100));
  Json out = {{"families", Json::array()}};
  for (const auto& [family, has_active] : active) {
    if (!after.empty() && family <= after) continue;
    if ((status == "ACTIVE" && !has_active) || (status == "INACTIVE" && has_active)) continue;
    if (out["families"].size() == max) {
      out["nextToken"] = out["families"].back();
      break;
    }
    out["families"].push_back(family);
  }
  return out;
}

// Only INACTIVE revisions, and none a live task or a service's deployment still runs: the desired
// state agents read carries the task definition. A deleted revision is gone at once (ECS answers
// DELETE_IN_PROGRESS and removes it later).
ApiResult ControlPlane::deleteTaskDefinitions(const Json& in) {
  Batch b(docs_);
  std::set<std::string> in_use;
  for (const auto& [k, t] : b.list("task/")) {
    if (t.value("lastStatus", "") != "STOPPED") in_use.insert(t.value("taskDefinitionArn", ""));
  }
  for (const auto& [k, s] : b.list("service/")) {
    for (const Json& d : s.value("deployments", Json::array())) in_use.insert(d.value("taskDefinition", ""));
  }
  Json out = {{"taskDefinitions", Json::array()}, {"failures", Json::array()}};
  for (const Json& ref : in.value("taskDefinitions", Json::array())) {
    auto td = findTaskDefinition(b, ref.get<std::string>());
    const std::string arn = td ? (*td)["taskDefinitionArn"].get<std::string>() : ref.get<std::string>();
    const char* why = !td                           ? "The specified task definition does not exist."
                      : (*td)["status"] == "ACTIVE" ? "The specified task definition is ACTIVE; deregister it first."
                      : in_use.contains(arn)        ? "The specified task definition is in use by a task or service."
                                                    : nullptr;
    if (why) {
      out["failures"].push_back({{"arn", arn}, {"reason", why}});
      continue;
    }
    (*td)["status"] = "DELETE_IN_PROGRESS";
    out["taskDefinitions"].push_back(*td);
    b.del("taskdef/" + (*td)["family"].get<std::string>() + "/" + pad8((*td)["revision"].get<int64_t>()));
  }
  return finish(b, out);
}

ApiResult ControlPlane::deregisterTaskDefinition(const Json& in) {
  Batch b(docs_);
  std::string ref = str(in, "taskDefinition");
  std::string plain = startsWith(ref, "arn:") ? afterSlash(ref) : ref;
  if (plain.find(':') == std::string::npos) {
    return std::unexpected(
        clientError("The specified task definition identifier is invalid. Specify a valid name or ARN and revision."));
  }
  auto td = findTaskDefinition(b, ref);
  if (!td) return std::unexpected(clientError("The specified task definition does not exist."));
  (*td)["status"] = "INACTIVE";
  (*td)["deregisteredAt"] = nowSeconds();
  b.put("taskdef/" + (*td)["family"].get<std::string>() + "/" + pad8((*td)["revision"].get<int64_t>()), *td);
  return finish(b, Json{{"taskDefinition", *td}});
}

// ---------------------------------------------------------------------------------------------
// Services

// Validates the service's Service Connect configuration against the namespace as it stands,
// allocates VIPs and creates the Cloud Map services. On success sets service["_sc"] (resolved).
ApiResult ControlPlane::applyServiceConnect(Batch& b, const Json& cluster, Json& service, const Json& td_doc,
                                            const Json& sc_input, const std::string& service_key) {
  Json def = {
      {"serviceName", service["serviceName"]},
      {"cluster", cluster["clusterName"]},
      {"taskDefinition", td_doc["family"].get<std::string>() + ":" + std::to_string(td_doc["revision"].get<int64_t>())},
      {"deploymentController", service.value("deploymentController", Json{{"type", "ECS"}})},
      {"serviceConnectConfiguration", sc_input}};
  auto svc = model::serviceDefinitionFromJson(def, "CreateServiceRequest");
  if (!svc.ok()) return std::unexpected(invalid(svc.error().message));
  Json td_in = td_doc;
  for (const char* k : {"taskDefinitionArn", "revision", "status", "compatibilities", "registeredAt", "deregisteredAt",
                        "requiresAttributes", "registeredBy"}) {
    td_in.erase(k);
  }
  auto td = model::taskDefinitionFromJson(td_in);
  if (!td.ok()) return std::unexpected(invalid(td.error().message));
  model::ClusterDefinition cdef;
  cdef.name = cluster["clusterName"].get<std::string>();
  std::string ns_id;
  if (cluster.contains("serviceConnectDefaults")) {
    if (auto id = namespaceIdByRef(b, cluster["serviceConnectDefaults"]["namespace"].get<std::string>())) {
      cdef.default_namespace = (*b.get("namespace/" + *id))["Name"].get<std::string>();
    }
  }
  if (!svc->service_connect || !svc->service_connect->enabled) {
    service.erase("_sc");
    return Json::object();
  }
  auto ns_name = model::resolveNamespace(*svc, &cdef);
  if (!ns_name) {
    return std::unexpected(
        invalid("Service Connect is enabled but no namespace is set here or as the cluster's default "
                "(serviceConnectDefaults.namespace)"));
  }
  auto id = namespaceIdByRef(b, *ns_name);
  if (!id) return std::unexpected(ApiError{"NamespaceNotFoundException", "Namespace not found: " + *ns_name});
  ns_id = *id;
  Json ns_doc = *b.get("namespace/" + ns_id);
  svc->service_connect->ns = ns_doc["Name"].get<std::string>();
  auto snap = model::namespaceSnapshotFromJson(namespaceSnapshotLocked(b, ns_id));
  if (!snap.ok()) return std::unexpected(ApiError{"ServerException", snap.error().message, 500});
  const std::string owner = service["serviceName"].get<std::string>();
  for (auto& s : snap->services) {
    // The snapshot names owners by service key; the model compares service names.
    if (s.owner_service == service_key) {
      s.owner_service = owner;
    } else if (s.owner_service.substr(s.owner_service.rfind('/') + 1) != owner) {
      s.owner_service = s.owner_service.substr(s.owner_service.rfind('/') + 1);  // "service/<cluster>/<name>"
    }
  }
  model::PlanOutcome plan = model::buildTaskPlan({*td, *svc, &cdef, &*snap}, {.task_id = "validate", .port_seed = 1});
  if (!plan.plan) {
    std::vector<std::string> lines;
    for (const auto& d : plan.errors) lines.push_back(d.text());
    return std::unexpected(invalid(join(lines, "; ")));
  }
  // VIPs: stable per namespace + dnsName; a released one is reused only when no task may hold it.
  Json endpoints = Json::array();
  std::set<std::string> keep;
  for (const model::ServedEndpoint& e : plan.plan->endpoints) {
    std::string vkey = "vip/" + ns_id + "/" + e.dns_name;
    std::string vip;
    if (auto v = b.get(vkey)) {
      vip = (*v)["vip"].get<std::string>();
      Json nv = *v;
      nv.erase("releasedAt");
      b.put(vkey, nv);
    } else {
      // A released VIP of another name may be taken once every task that could hold it is gone.
      int64_t oldest_live = INT64_MAX;
      for (const auto& [tk, t] : b.list("task/")) {
        if (t.value("lastStatus", "") != "STOPPED" && t.value("_ns", "") == ns_id) {
          oldest_live = std::min<int64_t>(oldest_live, t.value("_createdRevision", int64_t{0}));
        }
      }
      std::vector<std::string> busy;
      std::optional<std::pair<std::string, std::string>> reusable;
      for (const auto& [rk, rv] : b.list("vip/" + ns_id + "/")) {
        if (rv.contains("releasedAt") && rv["releasedAt"].get<int64_t>() < oldest_live && !reusable) {
          reusable = {rk, rv["vip"].get<std::string>()};
        } else {
          busy.push_back(rv["vip"].get<std::string>());
        }
      }
      auto a = model::allocateVip(ns_doc.value("_vipCidr", options_.vip_cidr), busy);
      if (!a.ok() && !reusable) return std::unexpected(invalid(a.error().message + " [vip-range-exhausted]"));
      if (a.ok()) {
        vip = *a;
        if (reusable && *a == reusable->second) b.del(reusable->first);
      } else {
        vip = reusable->second;
        b.del(reusable->first);
      }
      b.put(vkey, Json{{"vip", vip}, {"dnsName", e.dns_name}});
    }
    const model::IngressListener* l = nullptr;
    for (const auto& il : plan.plan->ingress)
      if (il.name == e.listener) l = &il;
    std::string port_name;
    bool defaulted = false;
    for (const auto& s : svc->service_connect->services) {
      if (s.discovery_name.value_or(s.port_name) == e.discovery_name) {
        port_name = s.port_name;
        defaulted = !s.discovery_name.has_value();
      }
    }
    Json timeout = Json::object();
    if (l != nullptr) {
      timeout["idleTimeoutSeconds"] = l->timeouts.idle_s;
      if (l->timeouts.per_request_s) timeout["perRequestTimeoutSeconds"] = *l->timeouts.per_request_s;
    }
    std::string cm_key = "cmservice/" + ns_id + "/" + e.discovery_name;
    Json cm = b.get(cm_key).value_or(Json{{"Id", "srv-" + newId(16)},
                                          {"Name", e.discovery_name},
                                          {"NamespaceId", ns_id},
                                          {"Type", "HTTP"},
                                          {"CreateDate", nowSeconds()},
                                          {"Description", "Service Connect endpoint of ECS service " + owner}});
    cm["Arn"] = cmArn("service/" + cm["Id"].get<std::string>());
    cm["_owner"] = service_key;
    cm["_dnsName"] = e.dns_name;
    cm["_port"] = e.port;
    cm["_vip"] = vip;
    cm["_family"] = td->family;
    cm["_portName"] = port_name;
    cm["_defaulted"] = defaulted;
    cm["_appProtocol"] = l != nullptr ? model::appProtocolName(l->app_protocol) : "tcp";
    cm["_timeout"] = timeout;
    b.put(cm_key, cm);
    keep.insert(cm_key);
    endpoints.push_back({{"discoveryName", e.discovery_name}, {"discoveryArn", cm["Arn"]}});
  }
  Json resolved = sc_input;
  resolved["namespace"] = ns_doc["Name"];
  service["_sc"] = {{"namespaceId", ns_id}, {"config", resolved}, {"resources", endpoints}};
  return Json{{"keep", Json(std::vector<std::string>(keep.begin(), keep.end()))}};
}

ApiResult ControlPlane::createService(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  auto cluster = b.get("cluster/" + cname);
  if (!cluster) return std::unexpected(clusterNotFound());
  std::string name = str(in, "serviceName");
  std::string key = "service/" + cname + "/" + name;
  if (auto s = b.get(key); s && (*s)["status"] != "INACTIVE") {
    // The same clientToken again (a client retrying its create): the service it made.
    const std::string token = str(in, "clientToken");
    if (!token.empty() && s->value("_clientToken", "") == token) return Json{{"service", *s}};
    return std::unexpected(invalid("Creation of service was not idempotent."));
  }
  if (str(in, "launchType", "EC2") != "EC2") {
    return std::unexpected(
        invalid("sccontrol places tasks on registered container instances only; launchType must be EC2"));
  }
  if (in.contains("capacityProviderStrategy"))
    return std::unexpected(invalid("capacityProviderStrategy is not supported; omit it"));
  if (str(in, "schedulingStrategy", "REPLICA") != "REPLICA")
    return std::unexpected(invalid("only the REPLICA scheduling strategy is supported"));
  if (auto e = unsupportedServiceMember(in)) return std::unexpected(*e);
  if (auto e = tagsProblem(in.value("tags", Json::array()), kEcsTags, "tags")) return std::unexpected(*e);
  std::string td_ref = str(in, "taskDefinition");
  if (td_ref.empty()) return std::unexpected(invalid("TaskDefinition must be specified."));
  auto td = findTaskDefinition(b, td_ref);
  if (!td || (*td)["status"] != "ACTIVE") return std::unexpected(invalid("TaskDefinition not found."));
  Json dc = in.value("deploymentConfiguration", Json::object());
  int max_pct = dc.value("maximumPercent", 200), min_pct = dc.value("minimumHealthyPercent", 100);
  if (max_pct < 100)
    return std::unexpected(
        invalid("deploymentConfiguration.maximumPercent must be at least 100, got " + std::to_string(max_pct)));
  if (min_pct > 100 || min_pct < 0)
    return std::unexpected(
        invalid("deploymentConfiguration.minimumHealthyPercent must be 0-100, got " + std::to_string(min_pct)));
  std::string controller = in.value("deploymentController", Json::object()).value("type", "ECS");
  if (controller != "ECS")
    return std::unexpected(
        invalid("only the ECS (rolling) deployment controller is supported, got " + jsonQuote(controller)));
  double now = nowSeconds();
  Json svc = {{"serviceArn", ecsArn("service/" + cname + "/" + name)},
              {"serviceName", name},
              {"clusterArn", (*cluster)["clusterArn"]},
              {"status", "ACTIVE"},
              {"desiredCount", in.value("desiredCount", 0)},
              {"runningCount", 0},
              {"pendingCount", 0},
              {"launchType", "EC2"},
              {"taskDefinition", (*td)["taskDefinitionArn"]},
              {"deploymentConfiguration", {{"maximumPercent", max_pct}, {"minimumHealthyPercent", min_pct}}},
              {"events", Json::array()},
              {"createdAt", now},
              {"placementConstraints", Json::array()},
              {"placementStrategy", Json::array()},
              {"schedulingStrategy", "REPLICA"},
              {"deploymentController", {{"type", "ECS"}}},
              {"createdBy", ecsArn("user/sccontrol")},
              {"enableECSManagedTags", false},
              {"propagateTags", "NONE"},
              {"enableExecuteCommand", false},
              {"healthCheckGracePeriodSeconds", in.value("healthCheckGracePeriodSeconds", 0)},
              {"tags", mergeTags(Json::array(), in.value("tags", Json::array()), kEcsTags)}};
  applyServiceMembers(svc, in);
  if (in.contains("clientToken")) svc["_clientToken"] = in["clientToken"];
  Json deployment = {{"id", newDeploymentId()},
                     {"status", "PRIMARY"},
                     {"taskDefinition", (*td)["taskDefinitionArn"]},
                     {"desiredCount", svc["desiredCount"]},
                     {"pendingCount", 0},
                     {"runningCount", 0},
                     {"failedTasks", 0},
                     {"createdAt", now},
                     {"updatedAt", now},
                     {"launchType", "EC2"},
                     {"rolloutState", "IN_PROGRESS"},
                     {"rolloutStateReason",
                      "ECS deployment "
                      "in progress."}};
  if (in.contains("serviceConnectConfiguration")) {
    auto r = applyServiceConnect(b, *cluster, svc, *td, in["serviceConnectConfiguration"], key);
    if (!r) return std::unexpected(r.error());
    if (svc.contains("_sc")) {
      deployment["serviceConnectConfiguration"] = svc["_sc"]["config"];
      deployment["serviceConnectResources"] = svc["_sc"]["resources"];
    }
  }
  recordServiceDeployment(svc, deployment);
  svc["deployments"] = Json::array({deployment});
  svc["events"].push_back(
      {{"id", newId(32)}, {"createdAt", now}, {"message", "(service " + name + ") has been created."}});
  b.put(key, svc);
  // Commit, reconcile, commit; the answer shows the state after reconciliation.
  if (auto done = finish(b, Json()); !done) return done;
  return Json{{"service", *b.get(key)}};
}

ApiResult ControlPlane::updateService(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  auto cluster = b.get("cluster/" + cname);
  if (!cluster) return std::unexpected(clusterNotFound());
  std::string key = "service/" + cname + "/" + afterSlash(str(in, "service"));
  auto cur = b.get(key);
  if (!cur) return std::unexpected(ApiError{"ServiceNotFoundException", "Service not found."});
  if ((*cur)["status"] != "ACTIVE")
    return std::unexpected(ApiError{"ServiceNotActiveException", "Service was not ACTIVE."});
  if (auto e = unsupportedServiceMember(in)) return std::unexpected(*e);
  Json svc = *cur;
  applyServiceMembers(svc, in);
  if (in.contains("desiredCount")) svc["desiredCount"] = in["desiredCount"];
  if (in.contains("deploymentConfiguration")) {
    const Json& dc = in["deploymentConfiguration"];
    int max_pct = dc.value("maximumPercent", svc["deploymentConfiguration"]["maximumPercent"].get<int>());
    int min_pct = dc.value("minimumHealthyPercent", svc["deploymentConfiguration"]["minimumHealthyPercent"].get<int>());
    if (max_pct < 100)
      return std::unexpected(
          invalid("deploymentConfiguration.maximumPercent must be at least 100, got " + std::to_string(max_pct)));
    if (min_pct > 100 || min_pct < 0)
      return std::unexpected(
          invalid("deploymentConfiguration.minimumHealthyPercent must be 0-100, got " + std::to_string(min_pct)));
    svc["deploymentConfiguration"] = {{"maximumPercent", max_pct}, {"minimumHealthyPercent", min_pct}};
  }
  Json td = *findTaskDefinition(b, svc["taskDefinition"].get<std::string>());
  bool new_deployment = in.value("forceNewDeployment", false);
  if (in.contains("taskDefinition")) {
    auto t = findTaskDefinition(b, in["taskDefinition"].get<std::string>());
    if (!t || (*t)["status"] != "ACTIVE") return std::unexpected(invalid("TaskDefinition not found."));
    if ((*t)["taskDefinitionArn"] != svc["taskDefinition"]) new_deployment = true;
    td = *t;
  }
  Json sc_cfg = svc.contains("_sc") ? svc["_sc"]["config"] : Json();
  if (in.contains("serviceConnectConfiguration")) {
    sc_cfg = in["serviceConnectConfiguration"];
    new_deployment = true;
  }
  Json keep = Json::array();
  if (new_deployment && !sc_cfg.is_null()) {
    auto r = applyServiceConnect(b, *cluster, svc, td, sc_cfg, key);
    if (!r) return std::unexpected(r.error());
    keep = r->value("keep", Json::array());
  }
  double now = nowSeconds();
  if (new_deployment) {
    const std::string id = newDeploymentId();
    closeServiceDeployments(svc, now, "ECS deployment " + id + " replaced it.");
    svc["taskDefinition"] = td["taskDefinitionArn"];
    for (Json& d : svc["deployments"]) {
      d["status"] = "ACTIVE";
      d["updatedAt"] = now;
    }
    Json deployment = {{"id", id},
                       {"status", "PRIMARY"},
                       {"taskDefinition", td["taskDefinitionArn"]},
                       {"desiredCount", svc["desiredCount"]},
                       {"pendingCount", 0},
                       {"runningCount", 0},
                       {"failedTasks", 0},
                       {"createdAt", now},
                       {"updatedAt", now},
                       {"launchType", "EC2"},
                       {"rolloutState", "IN_PROGRESS"},
                       {"rolloutStateReason", "ECS deployment in progress."}};
    if (svc.contains("_sc")) {
      deployment["serviceConnectConfiguration"] = svc["_sc"]["config"];
      deployment["serviceConnectResources"] = svc["_sc"]["resources"];
    }
    recordServiceDeployment(svc, deployment);
    svc["deployments"].insert(svc["deployments"].begin(), deployment);
  }
  b.put(key, svc);
  // Commit, reconcile, commit; the answer shows the state after reconciliation.
  if (auto done = finish(b, Json()); !done) return done;
  return Json{{"service", *b.get(key)}};
}

ApiResult ControlPlane::deleteService(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  std::string key = "service/" + cname + "/" + afterSlash(str(in, "service"));
  auto cur = b.get(key);
  if (!cur || (*cur)["status"] == "INACTIVE")
    return std::unexpected(ApiError{"ServiceNotFoundException", "Service not found."});
  Json svc = *cur;
  if (svc["desiredCount"].get<int>() > 0 && !in.value("force", false)) {
    return std::unexpected(invalid("The service cannot be stopped while it is scaled above 0."));
  }
  closeServiceDeployments(svc, nowSeconds(), "The service was deleted.");
  svc["status"] = "DRAINING";
  svc["desiredCount"] = 0;
  b.put(key, svc);
  // Commit, reconcile, commit; the answer shows the state after reconciliation.
  if (auto done = finish(b, Json()); !done) return done;
  return Json{{"service", *b.get(key)}};
}

ApiResult ControlPlane::describeServices(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  Json out = {{"services", Json::array()}, {"failures", Json::array()}};
  for (const Json& r : in["services"]) {
    std::string name = afterSlash(r.get<std::string>());
    auto s = b.get("service/" + cname + "/" + name);
    if (!s) {
      out["failures"].push_back({{"arn", ecsArn("service/" + cname + "/" + name)}, {"reason", "MISSING"}});
      continue;
    }
    out["services"].push_back(tagsIfIncluded(*s, in));
  }
  return out;
}

ApiResult ControlPlane::listServices(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  Json arns = Json::array();
  for (const auto& [k, s] : b.list("service/" + cname + "/")) {
    if (s["status"] != "INACTIVE") arns.push_back(s["serviceArn"]);
  }
  return Json{{"serviceArns", arns}};
}

// Every service, in any cluster, whose Service Connect configuration uses the namespace (name, ID
// or ARN); pages of `maxResults` (1-100, default 10) sorted by cluster and name, the nextToken
// being the last ARN of the page.
ApiResult ControlPlane::listServicesByNamespace(const Json& in) {
  Batch b(docs_);
  auto ns_id = namespaceIdByRef(b, str(in, "namespace"));
  if (!ns_id)
    return std::unexpected(ApiError{"NamespaceNotFoundException", "Namespace not found: " + str(in, "namespace")});
  const int max = in.value("maxResults", 10);
  if (max < 1 || max > 100) return std::unexpected(invalid("maxResults: expected 1-100, got " + std::to_string(max)));
  const std::string token = str(in, "nextToken"), token_prefix = ecsArn("service/");
  if (in.contains("nextToken") && !startsWith(token, token_prefix))
    return std::unexpected(invalid("nextToken: not a token ListServicesByNamespace returned"));
  const std::string after = token.empty() ? "" : "service/" + token.substr(token_prefix.size());
  Json arns = Json::array();
  for (const auto& [k, s] : b.list("service/")) {
    if (k <= after || s.value("status", "") == "INACTIVE" || !s.contains("_sc")) continue;
    if (s["_sc"].value("namespaceId", "") != *ns_id) continue;
    if (static_cast<int>(arns.size()) == max) return Json{{"serviceArns", arns}, {"nextToken", arns.back()}};
    arns.push_back(s["serviceArn"]);
  }
  return Json{{"serviceArns", arns}};
}

// ---------------------------------------------------------------------------------------------
// Tasks and container instances

Json ControlPlane::taskView(const Json& task) { return task; }

ApiResult ControlPlane::listTasks(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  std::string desired = str(in, "desiredStatus", "RUNNING");
  std::string service = str(in, "serviceName");
  std::string family = str(in, "family");
  std::string instance = afterSlash(str(in, "containerInstance"));
  std::string started_by = str(in, "startedBy");
  Json arns = Json::array();
  for (const auto& [k, t] : b.list("task/" + cname + "/")) {
    if (t["desiredStatus"] != desired) continue;
    if (!service.empty() && t.value("group", "") != "service:" + afterSlash(service)) continue;
    if (!family.empty() && t.value("_family", "") != family) continue;
    if (!instance.empty() && afterSlash(t.value("containerInstanceArn", "")) != instance) continue;
    if (!started_by.empty() && t.value("startedBy", "") != started_by) continue;
    arns.push_back(t["taskArn"]);
  }
  return Json{{"taskArns", arns}};
}

ApiResult ControlPlane::describeTasks(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  Json out = {{"tasks", Json::array()}, {"failures", Json::array()}};
  for (const Json& r : in["tasks"]) {
    std::string id = afterSlash(r.get<std::string>());
    auto t = b.get("task/" + cname + "/" + id);
    if (!t) {
      out["failures"].push_back({{"arn", ecsArn("task/" + cname + "/" + id)}, {"reason", "MISSING"}});
      continue;
    }
    out["tasks"].push_back(tagsIfIncluded(taskView(*t), in));
  }
  return out;
}

ApiResult ControlPlane::stopTask(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  std::string key = "task/" + cname + "/" + afterSlash(str(in, "task"));
  auto t = b.get(key);
  if (!t) return std::unexpected(invalid("The referenced task was not found."));
  stopTaskLocked(b, key, *t, str(in, "reason", "Task stopped by user"), false);
  // Commit, reconcile, commit; the answer shows the state after reconciliation.
  if (auto done = finish(b, Json()); !done) return done;
  return Json{{"task", *b.get(key)}};
}

ApiResult ControlPlane::listContainerInstances(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  std::string status = str(in, "status");
  if (in.contains("filter")) return std::unexpected(invalid("the cluster query language (filter) is not supported"));
  Json arns = Json::array();
  for (const auto& [k, i] : b.list("instance/" + cname + "/")) {
    // As ECS: without a status filter, every status but INACTIVE.
    if (status.empty() ? i["status"] == "INACTIVE" : i["status"] != status) continue;
    arns.push_back(i["containerInstanceArn"]);
  }
  return Json{{"containerInstanceArns", arns}};
}

Json ControlPlane::describeInstanceLocked(Batch& b, const Json& inst) {
  Json v = inst;
  int running = 0, pending = 0;
  int64_t used_mem = 0, used_cpu = 0;
  std::string cname = afterSlash(inst["clusterArn"].get<std::string>());
  for (const auto& [k, t] : b.list("task/" + cname + "/")) {
    if (t.value("containerInstanceArn", "") != inst["containerInstanceArn"] || t["lastStatus"] == "STOPPED") continue;
    if (t["lastStatus"] == "RUNNING")
      ++running;
    else
      ++pending;
    used_mem += t.value("_memory", int64_t{0});
    used_cpu += t.value("_cpu", int64_t{0});
  }
  v["runningTasksCount"] = running;
  v["pendingTasksCount"] = pending;
  int64_t mem = inst.value("_memoryMiB", int64_t{0}), cpu = inst.value("_cpuUnits", int64_t{0});
  v["registeredResources"] = Json::array({{{"name", "MEMORY"}, {"type", "INTEGER"}, {"integerValue", mem}},
                                          {{"name", "CPU"}, {"type", "INTEGER"}, {"integerValue", cpu}}});
  v["remainingResources"] = Json::array({{{"name", "MEMORY"}, {"type", "INTEGER"}, {"integerValue", mem - used_mem}},
                                         {{"name", "CPU"}, {"type", "INTEGER"}, {"integerValue", cpu - used_cpu}}});
  return v;
}

ApiResult ControlPlane::describeContainerInstances(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  Json out = {{"containerInstances", Json::array()}, {"failures", Json::array()}};
  for (const Json& r : in["containerInstances"]) {
    std::string id = afterSlash(r.get<std::string>());
    auto i = b.get("instance/" + cname + "/" + id);
    if (!i) {
      out["failures"].push_back({{"arn", ecsArn("container-instance/" + cname + "/" + id)}, {"reason", "MISSING"}});
      continue;
    }
    out["containerInstances"].push_back(tagsIfIncluded(describeInstanceLocked(b, *i), in));
  }
  return out;
}

ApiResult ControlPlane::updateContainerInstancesState(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  std::string status = str(in, "status");
  if (status != "ACTIVE" && status != "DRAINING") {
    return std::unexpected(invalid("status: sccontrol supports ACTIVE and DRAINING, got " + jsonQuote(status)));
  }
  Json out = {{"containerInstances", Json::array()}, {"failures", Json::array()}};
  std::vector<std::string> keys;
  for (const Json& r : in["containerInstances"]) {
    std::string id = afterSlash(r.get<std::string>());
    std::string key = "instance/" + cname + "/" + id;
    auto i = b.get(key);
    if (!i || (*i)["status"] == "INACTIVE") {
      out["failures"].push_back(
          {{"arn", ecsArn("container-instance/" + cname + "/" + id)}, {"reason", i ? "INACTIVE" : "MISSING"}});
      continue;
    }
    (*i)["status"] = status;
    b.put(key, *i);
    keys.push_back(key);
  }
  // Commit, reconcile, commit; the answer shows the state after reconciliation.
  if (auto done = finish(b, Json()); !done) return done;
  for (const auto& k : keys) out["containerInstances"].push_back(describeInstanceLocked(b, *b.get(k)));
  return out;
}

// As ECS: refused while tasks are on the instance unless `force`, which stops them (services
// replace them elsewhere). The instance becomes INACTIVE: its token answers 410 from now on, it is
// described (not listed) for the stopped-task retention, then removed.
ApiResult ControlPlane::deregisterContainerInstance(const Json& in) {
  Batch b(docs_);
  std::string cname = clusterName(in);
  if (!b.get("cluster/" + cname)) return std::unexpected(clusterNotFound());
  const std::string id = afterSlash(str(in, "containerInstance"));
  const std::string key = "instance/" + cname + "/" + id;
  auto inst = b.get(key);
  if (!inst) return std::unexpected(invalid("The referenced container instance " + id + " was not found."));
  if ((*inst)["status"] == "INACTIVE") return Json{{"containerInstance", describeInstanceLocked(b, *inst)}};
  const std::string arn = (*inst)["containerInstanceArn"].get<std::string>();
  std::vector<std::pair<std::string, Json>> on_it;
  for (const auto& [k, t] : b.list("task/" + cname + "/")) {
    if (t.value("containerInstanceArn", "") == arn && t["lastStatus"] != "STOPPED") on_it.emplace_back(k, t);
  }
  if (!on_it.empty() && !in.value("force", false)) {
    return std::unexpected(invalid("Found running tasks on the instance (" + std::to_string(on_it.size()) +
                                   "); stop them first or deregister with force."));
  }
  for (const auto& [k, t] : on_it) stopTaskLocked(b, k, t, "Container instance " + id + " deregistered", true);
  (*inst)["status"] = "INACTIVE";
  (*inst)["agentConnected"] = false;
  (*inst)["_deregisteredAt"] = nowSeconds();
  b.put(key, *inst);
  log::info("container instance deregistered", {{"instance", id},
                                                {"cluster", cname},
                                                {"hostname", inst->value("ec2InstanceId", "")},
                                                {"tasksStopped", std::to_string(on_it.size())}});
  if (auto done = finish(b, Json()); !done) return done;
  return Json{{"containerInstance", describeInstanceLocked(b, *b.get(key))}};
}

}  // namespace sc::controlplane
