// Frontend: HTTP requests to ControlPlane calls.
//
//   POST /  with X-Amz-Target  -> AWS JSON 1.1 (SigV4 verified), ECS or Cloud Map
//   /v1/agent/...              -> the agent API (docs/api.md), bearer tokens
//   GET /healthz               -> "ok"
#pragma once

#include <map>
#include <string>

#include "common/clock.h"
#include "controlplane/control_plane.h"
#include "controlplane/http_server.h"

namespace sc::controlplane {

struct FrontendOptions {
  std::map<std::string, std::string> access_keys;  // access key id -> secret
  std::chrono::seconds max_poll_wait{60};
};

class Frontend {
 public:
  Frontend(ControlPlane& cp, Clock& clock, FrontendOptions options)
      : cp_(cp), clock_(clock), options_(std::move(options)) {}
  HandlerOutcome handle(const HttpRequest& request);

 private:
  HandlerOutcome route(const HttpRequest& request);
  HttpResponse aws(const HttpRequest& request);
  HandlerOutcome agent(const HttpRequest& request);
  ControlPlane& cp_;
  Clock& clock_;
  FrontendOptions options_;
};

// {"__type": type, "message": message} with the error's status.
HttpResponse awsError(const ApiError& e);

}  // namespace sc::controlplane
