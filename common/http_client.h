// A small blocking HTTP client (libcurl) for local peers: the ECS agent's introspection API,
// proxy admin sockets. Every call has a deadline; unix sockets are supported.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace sc {

struct HttpRequest {
  std::string method = "GET";
  std::string url;          // with a unix socket, the host part is ignored: http://localhost/ready
  std::string unix_socket;  // empty: TCP
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds connect_timeout{500};
  // When set, the request is abandoned within about a second of *cancel turning true (a long-poll
  // must not hold up a stopping agent); the error is then "request cancelled".
  const std::atomic<bool>* cancel = nullptr;
  // TLS for https:// URLs: a CA file to verify the peer with (empty: the system's), and a client
  // certificate and key (both empty: none).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // When set, called with the body received so far after each chunk; true ends the transfer early
  // and the response is returned as received (for streams such as etcd's watch).
  std::function<bool(const std::string& body)> done;
  // A longer response body ends the transfer with kFailedPrecondition "the answer is longer than
  // N bytes" (a peer cannot grow the caller's memory without bound).
  size_t max_response_bytes = 8u << 20;
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

// An error when no HTTP response arrived (refused, timed out, malformed); any status otherwise.
Result<HttpResponse> httpRequest(const HttpRequest& request);

}  // namespace sc
