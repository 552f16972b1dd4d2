#include "agent/control_plane_client.h"

#include "common/http_client.h"
#include "common/log.h"

namespace sc::agent {
namespace {

using model::Json;

// The agent API takes attributes as an object and capabilities (attributes without a value, the
// way ECS advertises ecs.capability.*) as a list: "<name>" -> "true" in `attrs` is a capability.
void putAttributes(Json& body, const std::map<std::string, std::string>& attrs) {
  Json a = Json::object();
  Json caps = Json::array();
  for (const auto& [k, v] : attrs) {
    if (k.find(".capability.") != std::string::npos && v == "true")
      caps.push_back(k);
    else
      a[k] = v;
  }
  body["attributes"] = a;
  body["capabilities"] = caps;
}

// Turns a non-2xx answer of `endpoint` into the error its body names.
Error httpError(const std::string& what, const std::string& endpoint, const HttpResponse& resp) {
  std::string message = "HTTP " + std::to_string(resp.status);
  auto j = Json::parse(resp.body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    std::string type = j.value("__type", j.value("error", ""));
    std::string msg = j.value("message", "");
    if (!type.empty() || !msg.empty()) message += " " + type + ": " + msg;
  }
  // 410: the instance was deregistered (its token will not work again, nor should it register again).
  ErrorCode code = resp.status == 401 || resp.status == 403 ? ErrorCode::kPermission
                   : resp.status == 410                     ? ErrorCode::kNotFound
                   : resp.status >= 500                     ? ErrorCode::kUnavailable
                                                            : ErrorCode::kInvalidArgument;
  return makeError(code, what, endpoint, message);
}

Result<Json> call(const std::string& endpoint, const std::string& method, const std::string& path,
                  const std::string& token, const Json* body, std::chrono::milliseconds timeout, long* status,
                  const std::string& what, const std::atomic<bool>* cancel, size_t max_bytes = 1u << 20) {
  HttpRequest req;
  req.cancel = cancel;
  req.max_response_bytes = max_bytes;
  req.method = method;
  req.url = endpoint + path;
  req.timeout = timeout;
  req.connect_timeout = std::chrono::milliseconds(2000);
  if (body) req.body = body->dump();
  if (!token.empty()) req.headers.push_back("Authorization: Bearer " + token);
  req.headers.push_back("Content-Type: application/json");
  auto resp = httpRequest(req);
  if (!resp.ok()) return std::move(resp).error().context(what, endpoint);
  *status = resp->status;
  if (resp->status == 304) return Json();
  if (resp->status < 200 || resp->status >= 300) return httpError(what, endpoint, *resp);
  auto j = Json::parse(resp->body, nullptr, false);
  if (j.is_discarded()) return makeError(ErrorCode::kUnavailable, what, endpoint, "the answer is not JSON");
  return j;
}

std::string str(const Json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// sccontrol refuses reasons over 1024 bytes (ECS's limit); cut at a UTF-8 character boundary.
std::string reasonText(const std::string& s) {
  constexpr size_t kMax = 1024;
  if (s.size() <= kMax) return s;
  size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

Json registerRequestToJson(const RegisterRequest& r) {
  Json body = {{"bootstrapToken", r.bootstrap_token}, {"cluster", r.cluster},      {"hostname", r.hostname},
               {"agentVersion", r.agent_version},     {"memoryMiB", r.memory_mib}, {"cpuUnits", r.cpu_units}};
  putAttributes(body, r.attributes);
  if (!r.task_cidr.empty()) body["taskCidr"] = r.task_cidr;
  if (!r.task_cidr.empty()) body["hostAddress"] = r.host_address;
  if (!r.previous_instance_arn.empty()) {
    body["previousInstanceArn"] = r.previous_instance_arn;
    body["adoptTasks"] = r.adopt_task_arns;
  }
  return body;
}

Result<Registration> registrationFromJson(const Json& j) {
  Registration r;
  r.container_instance_arn = str(j, "containerInstanceArn");
  r.instance_id = str(j, "instanceId");
  r.token = str(j, "token");
  if (r.token.empty() || r.container_instance_arn.empty()) {
    return makeError(ErrorCode::kUnavailable, "register with", "sccontrol", "the answer has no token or instance ARN");
  }
  if (j.contains("heartbeatIntervalSeconds") && j["heartbeatIntervalSeconds"].is_number_integer()) {
    r.heartbeat_interval_s = std::max(1, j["heartbeatIntervalSeconds"].get<int>());
  }
  if (j.contains("ttlSeconds") && j["ttlSeconds"].is_number_integer()) r.ttl_s = j["ttlSeconds"].get<int>();
  for (const Json& a : j.value("adoptedTasks", Json::array())) {
    if (a.is_string()) r.adopted_task_arns.push_back(a.get<std::string>());
  }
  return r;
}

Result<DesiredState> desiredStateFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("tasks") || !j["tasks"].is_array()) {
    return makeError(ErrorCode::kUnavailable, "read desired tasks from", "sccontrol", "no tasks array in the answer");
  }
  DesiredState d;
  d.etag = str(j, "etag");
  d.revision = j.value("revision", int64_t{0});
  d.instance_status = str(j, "status");
  // Each namespace snapshot comes once ("namespaces", by ID) and tasks name theirs
  // ("namespaceRef"); an older sccontrol sends a copy in each task ("namespace").
  std::map<std::string, std::shared_ptr<const Json>> namespaces;
  if (auto ns = j.find("namespaces"); ns != j.end() && ns->is_object()) {
    for (auto it = ns->begin(); it != ns->end(); ++it) namespaces[it.key()] = std::make_shared<const Json>(*it);
  }
  for (const Json& t : j["tasks"]) {
    DesiredTaskPayload p;
    p.task_arn = str(t, "taskArn");
    p.task_id = str(t, "taskId");
    p.desired_status = str(t, "desiredStatus");
    if (p.task_id.empty() || (p.desired_status != "RUNNING" && p.desired_status != "STOPPED")) {
      return makeError(ErrorCode::kUnavailable, "read desired tasks from", "sccontrol",
                       "a task without taskId or with desiredStatus " + p.desired_status);
    }
    if (t.contains("taskDefinition")) p.task_definition = t["taskDefinition"];
    if (t.contains("service")) p.service = t["service"];
    if (auto ref = str(t, "namespaceRef"); !ref.empty()) {
      auto it = namespaces.find(ref);
      if (it == namespaces.end()) {
        return makeError(ErrorCode::kUnavailable, "read desired tasks from", "sccontrol",
                         "task " + p.task_id + " names namespace " + ref + ", which the answer does not carry");
      }
      p.ns = it->second;
    } else if (t.contains("namespace")) {
      p.ns = std::make_shared<const Json>(t["namespace"]);
    }
    d.tasks.push_back(std::move(p));
  }
  if (auto peers = j.find("peers"); peers != j.end()) {
    if (!peers->is_array())
      return makeError(ErrorCode::kUnavailable, "read desired tasks from", "sccontrol", "peers is not an array");
    d.peers.emplace();
    for (const Json& p : *peers) {
      if (!p.is_object()) continue;
      d.peers->push_back({str(p, "containerInstanceArn"), str(p, "hostAddress"), str(p, "taskCidr")});
    }
  }
  return d;
}

Json taskReportsToJson(const std::vector<TaskReport>& tasks) {
  Json arr = Json::array();
  for (const TaskReport& t : tasks) {
    Json o = {{"taskArn", t.task_arn}, {"lastStatus", t.last_status}, {"healthStatus", t.health_status}};
    if (!t.reason.empty()) o["reason"] = reasonText(t.reason);
    Json cs = Json::array();
    for (const auto& c : t.containers) {
      Json co = {{"name", c.name}, {"lastStatus", c.last_status}};
      if (c.exit_code) co["exitCode"] = *c.exit_code;
      if (!c.reason.empty()) co["reason"] = reasonText(c.reason);
      cs.push_back(co);
    }
    o["containers"] = cs;
    Json es = Json::array();
    for (const auto& e : t.endpoints)
      es.push_back({{"discoveryName", e.discovery_name}, {"ip", e.ip}, {"port", e.port}});
    o["endpoints"] = es;
    arr.push_back(o);
  }
  return {{"tasks", arr}};
}

struct HttpControlPlaneClient::Call {
  std::string method;
  std::string path;
  std::string token;
  const Json* body = nullptr;
  std::chrono::milliseconds timeout;
  std::string what;
  const std::atomic<bool>* cancel = nullptr;
  size_t max_bytes = 1u << 20;
};

// Errors that may be one replica's own: it is down, slow, failing (5xx), or has not yet seen the
// instance (401 from a replica behind the others).
static bool tryAnother(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kTimeout || e.code == ErrorCode::kPermission;
}

Result<Json> HttpControlPlaneClient::callAny(const Call& c, long* status) {
  const size_t first = current_.load() % endpoints_.size();
  std::optional<Error> last;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const size_t at = (first + i) % endpoints_.size();
    auto r = call(endpoints_[at], c.method, c.path, c.token, c.body, c.timeout, status, c.what, c.cancel, c.max_bytes);
    const bool cancelled = c.cancel != nullptr && c.cancel->load();
    if (r.ok() || cancelled || !tryAnother(r.error())) {
      if (at != first) {
        log::warn("control plane endpoint switched",
                  {{"from", endpoints_[first]}, {"to", endpoints_[at]}, {"error", last ? last->message : ""}});
      }
      current_.store(at);
      return r;
    }
    log::debug("control plane endpoint failed", {{"endpoint", endpoints_[at]}, {"error", r.error().message}});
    last = std::move(r).error();
  }
  current_.store((first + 1) % endpoints_.size());  // the next round starts elsewhere
  return std::move(*last);
}

Result<Registration> HttpControlPlaneClient::registerInstance(const RegisterRequest& request) {
  long status = 0;
  Json body = registerRequestToJson(request);
  SC_ASSIGN_OR_RETURN(
      Json j, callAny({"POST", "/v1/agent/register", "", &body, std::chrono::seconds(10), "register with"}, &status));
  return registrationFromJson(j);
}

Result<void> HttpControlPlaneClient::heartbeat(const std::string& token,
                                               const std::map<std::string, std::string>& attributes) {
  long status = 0;
  Json body = Json::object();
  putAttributes(body, attributes);
  SC_ASSIGN_OR_RETURN(
      Json j,
      callAny({"POST", "/v1/agent/heartbeat", token, &body, std::chrono::seconds(10), "send a heartbeat to"}, &status));
  (void)j;
  return ok();
}

Result<std::optional<DesiredState>> HttpControlPlaneClient::desired(const std::string& token, const std::string& etag,
                                                                    int wait_s) {
  long status = 0;
  const std::string path =
      "/v1/agent/desired?waitSeconds=" + std::to_string(wait_s) + (etag.empty() ? "" : "&etag=" + etag);
  SC_ASSIGN_OR_RETURN(Json j, callAny({"GET", path, token, nullptr, std::chrono::seconds(wait_s + 10),
                                       "poll desired tasks from", cancel_, kMaxDesiredStateBytes},
                                      &status));
  if (status == 304) return std::optional<DesiredState>();
  SC_ASSIGN_OR_RETURN(DesiredState d, desiredStateFromJson(j));
  return std::optional<DesiredState>(std::move(d));
}

Result<void> HttpControlPlaneClient::report(const std::string& token, const std::vector<TaskReport>& tasks) {
  long status = 0;
  Json body = taskReportsToJson(tasks);
  SC_ASSIGN_OR_RETURN(
      Json j,
      callAny({"POST", "/v1/agent/status", token, &body, std::chrono::seconds(10), "report task status to"}, &status));
  (void)j;
  return ok();
}

}  // namespace sc::agent
