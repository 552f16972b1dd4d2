// Frontend: HTTP requests to ControlPlane calls.
//
//   POST /  with X-Amz-Target  -> AWS JSON 1.1 (SigV4 verified), ECS or Cloud Map
//   /v1/agent/...              -> the agent API (docs/api.md), bearer tokens
//   GET /healthz               -> "ok"
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "controlplane/control_plane.h"
#include "controlplane/http_server.h"
#include "controlplane/sigv4.h"

namespace sc::controlplane {

struct FrontendOptions {
  std::map<std::string, std::string> access_keys;  // access key id -> secret
  std::chrono::seconds max_poll_wait{60};
  std::string region = "us-east-1";  // the only region a SigV4 credential scope may name
  size_t replay_cache_entries = kDefaultReplayCacheEntries;
};

class Frontend {
 public:
  Frontend(ControlPlane& cp, Clock& clock, FrontendOptions options);
  HandlerOutcome handle(const HttpRequest& request);
  // Replaces the access keys (sccontrol's SIGHUP reload); requests in flight finish with the old set.
  void setAccessKeys(std::map<std::string, std::string> keys);

 private:
  HandlerOutcome route(const HttpRequest& request);
  HttpResponse aws(const HttpRequest& request);
  HttpResponse callApi(const HttpRequest& request, Api api, const std::string& op);
  HandlerOutcome agent(const HttpRequest& request);
  ControlPlane& cp_;
  Clock& clock_;
  FrontendOptions options_;  // access_keys unused after construction: see keys_
  std::mutex keys_mu_;
  std::shared_ptr<const std::map<std::string, std::string>> keys_;
  ReplayCache replay_;
};

// {"__type": type, "message": message} with the error's status.
HttpResponse awsError(const ApiError& e);

}  // namespace sc::controlplane
