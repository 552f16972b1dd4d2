#include "controlplane/frontend.h"

#include "common/strings.h"
#include "controlplane/sigv4.h"
#include "model/json_input.h"

namespace sc::controlplane {
namespace {

constexpr std::string_view kEcsPrefix = "AmazonEC2ContainerServiceV20141113.";
constexpr std::string_view kCloudMapPrefix = "Route53AutoNaming_v20170314.";
constexpr const char* kAmzJson = "application/x-amz-json-1.1";

// Reads are not put in the replay cache: a replayed read changes nothing, and the aws CLI signs two
// identical reads issued within one second identically (botocore adds amz-sdk-invocation-id after
// signing), so a polling loop would be refused.
bool isReadOnly(std::string_view op) {
  return startsWith(op, "Describe") || startsWith(op, "List") || startsWith(op, "Get") || startsWith(op, "Discover");
}

// The errors botocore retries (5xx, throttling): its retry may carry the same signature.
bool isRetryable(const HttpResponse& r) {
  return r.status >= 500 || r.body.find("\"ThrottlingException\"") != std::string::npos;
}

HttpResponse json(int status, const Json& body) { return HttpResponse{status, "application/json", body.dump(), {}}; }

HttpResponse agentError(const ApiError& e) { return json(e.status, Json{{"error", e.type}, {"message", e.message}}); }

std::string bearer(const HttpRequest& r) {
  auto it = r.headers.find("authorization");
  if (it == r.headers.end() || !startsWith(it->second, "Bearer ")) return {};
  return it->second.substr(7);
}

}  // namespace

HttpResponse awsError(const ApiError& e) {
  HttpResponse r{e.status, kAmzJson, Json{{"__type", e.type}, {"message", e.message}}.dump(), {}};
  r.headers.emplace_back("x-amzn-ErrorType", e.type);
  return r;
}

HandlerOutcome Frontend::handle(const HttpRequest& r) {
  // A JSON type error deep in an operation is a bug, not a reason to take the server down.
  try {
    return route(r);
  } catch (const std::exception& e) {
    return awsError({"ServerException", std::string("internal error: ") + e.what(), 500});
  }
}

HandlerOutcome Frontend::route(const HttpRequest& r) {
  if (r.headers.contains("x-amz-target")) return aws(r);
  if (startsWith(r.path, "/v1/agent/")) return agent(r);
  if (r.path == "/healthz") return HttpResponse{200, "text/plain", "ok\n", {}};
  return json(404, Json{{"error", "NotFound"}, {"message", "no route for " + r.method + " " + r.path}});
}

Frontend::Frontend(ControlPlane& cp, Clock& clock, FrontendOptions options)
    : cp_(cp),
      clock_(clock),
      options_(std::move(options)),
      keys_(std::make_shared<const std::map<std::string, std::string>>(std::move(options_.access_keys))),
      replay_(options_.replay_cache_entries) {}

void Frontend::setAccessKeys(std::map<std::string, std::string> keys) {
  auto fresh = std::make_shared<const std::map<std::string, std::string>>(std::move(keys));
  std::lock_guard lock(keys_mu_);
  keys_ = std::move(fresh);
}

HttpResponse Frontend::aws(const HttpRequest& r) {
  if (r.method != "POST" || r.path != "/") {
    return awsError({"UnknownOperationException", "AWS JSON requests are POST /", 404});
  }
  const std::string& target = r.headers.at("x-amz-target");
  Api api;
  std::string op;
  if (startsWith(target, kEcsPrefix)) {
    api = Api::kEcs;
    op = target.substr(kEcsPrefix.size());
  } else if (startsWith(target, kCloudMapPrefix)) {
    api = Api::kCloudMap;
    op = target.substr(kCloudMapPrefix.size());
  } else {
    return awsError({"UnknownOperationException", "unknown X-Amz-Target " + jsonQuote(target)});
  }
  std::shared_ptr<const std::map<std::string, std::string>> keys;
  {
    std::lock_guard lock(keys_mu_);
    keys = keys_;
  }
  SigV4Policy policy{*keys, options_.region, api == Api::kEcs ? "ecs" : "servicediscovery",
                     isReadOnly(op) ? nullptr : &replay_};
  SigV4Identity who;
  if (auto f = verifySigV4(r, policy, clock_.wallNow(), &who)) return awsError({f->type, f->message, f->status});
  HttpResponse out;
  try {
    out = callApi(r, api, op);
  } catch (const std::exception& e) {
    out = awsError({"ServerException", std::string("internal error: ") + e.what(), 500});
  }
  if (policy.replay != nullptr && isRetryable(out)) replay_.forget(who.signature);
  return out;
}

HttpResponse Frontend::callApi(const HttpRequest& r, Api api, const std::string& op) {
  Json input = Json::object();
  if (!trim(r.body).empty()) {
    auto parsed = model::parseJsonStrict(r.body, "request body");
    if (!parsed.ok()) return awsError({"SerializationException", parsed.error().message});
    if (!parsed->is_object()) return awsError({"SerializationException", "the request body is not a JSON object"});
    input = std::move(*parsed);
  }
  ApiResult out = cp_.call(api, op, input);
  if (!out) return awsError(out.error());
  return HttpResponse{200, kAmzJson, out->dump(), {}};
}

HandlerOutcome Frontend::agent(const HttpRequest& r) {
  Json body = Json::object();
  if (!trim(r.body).empty()) {
    auto parsed = model::parseJsonStrict(r.body, "request body");
    if (!parsed.ok() || !parsed->is_object()) {
      return agentError(
          {"SerializationException", parsed.ok() ? "the body is not a JSON object" : parsed.error().message});
    }
    body = std::move(*parsed);
  }
  if (r.path == "/v1/agent/register" && r.method == "POST") {
    auto out = cp_.agentRegister(body);
    return out ? json(200, *out) : agentError(out.error());
  }
  std::string token = bearer(r);
  if (token.empty())
    return agentError(
        {"MissingAuthenticationTokenException", "Authorization: Bearer <instance token> is required", 401});
  if (r.path == "/v1/agent/heartbeat" && r.method == "POST") {
    auto out = cp_.agentHeartbeat(token, body);
    return out ? json(200, *out) : agentError(out.error());
  }
  if (r.path == "/v1/agent/status" && r.method == "POST") {
    auto out = cp_.agentStatus(token, body);
    return out ? json(200, *out) : agentError(out.error());
  }
  if (r.path == "/v1/agent/desired" && r.method == "GET") {
    std::string etag = r.query.contains("etag") ? r.query.at("etag") : "";
    uint64_t wait = 0;
    if (r.query.contains("waitSeconds")) {
      auto w = parseUint(r.query.at("waitSeconds"), static_cast<uint64_t>(options_.max_poll_wait.count()));
      if (!w)
        return agentError({"InvalidParameterException",
                           "waitSeconds: expected 0-" + std::to_string(options_.max_poll_wait.count()), 400});
      wait = *w;
    }
    auto first = cp_.agentDesiredText(token, etag);
    if (!first) return agentError(first.error());
    if (*first) return HttpResponse{200, "application/json", std::move(**first), {}};
    if (wait == 0) return HttpResponse{304, "application/json", "", {}};
    // Long-poll: parked until the instance's view changes or the wait ends.
    ControlPlane* cp = &cp_;
    return Park{[cp, token, etag]() -> std::optional<HttpResponse> {
                  std::expected<std::optional<std::string>, ApiError> now;
                  try {
                    now = cp->agentDesiredText(token, etag);
                  } catch (const std::exception& e) {
                    return awsError({"ServerException", std::string("internal error: ") + e.what(), 500});
                  }
                  if (!now) return agentError(now.error());
                  if (!*now) return std::nullopt;
                  return HttpResponse{200, "application/json", std::move(**now), {}};
                },
                std::chrono::steady_clock::now() + std::chrono::seconds(wait),
                [] {
                  return HttpResponse{304, "application/json", "", {}};
                }};
  }
  return json(404, Json{{"error", "NotFound"}, {"message", "no route for " + r.method + " " + r.path}});
}

}  // namespace sc::controlplane
