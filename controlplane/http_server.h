// HttpServer: one libevent (evhttp) event-loop thread for every connection, plus a small fixed
// pool of worker threads for handlers. A handler either answers, or parks the request (a
// long-poll): a parked request holds no thread, only its connection and a closure. wake() re-runs
// every parked closure on the workers; a closure that now has an answer sends it, the others stay
// parked until their deadline, when their timeout answer goes out.
//
// Why libevent: Debian's libevent 2.1 is maintained, has evhttp (HTTP/1.1, keep-alive, body
// limits) on an epoll loop, and thousands of idle connections cost a few KiB each. Only the loop
// thread touches evhttp objects; workers hand answers back through a queue and one event.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace sc::controlplane {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string uri;                             // as sent: path and query
  std::string path;                            // decoded path
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // names lower-cased; repeated headers joined by ","
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A parked request: `check` is re-run after every wake(); it returns the answer once there is one.
struct Park {
  std::function<std::optional<HttpResponse>()> check;
  std::chrono::steady_clock::time_point deadline;
  std::function<HttpResponse()> on_timeout;
};

using HandlerOutcome = std::variant<HttpResponse, Park>;
using Handler = std::function<HandlerOutcome(const HttpRequest&)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port; see port()
  int workers = 4;
  size_t max_body_bytes = 1u << 20;
  // The request line and headers together (libevent 2.1 has no limit by default: one endless
  // header line grows memory until the process is killed). Past it the connection is closed.
  size_t max_header_bytes = 64u << 10;
  // Header fields per request; past it the request is answered 431 and not handled.
  size_t max_headers = 100;
  // Long-polls parked at once (their own budget, apart from the workers); past it a new poll is
  // answered 503 with Retry-After at once instead of being parked.
  size_t max_parked = 10000;
  int connection_timeout_s = 300;  // idle keep-alive and stalled reads (every byte resets it)
  // From accept to the first request fully read, a deadline that bytes do not reset (slowloris);
  // each later request on a keep-alive connection must be read within connection_timeout_s of
  // the previous answer. Past it the connection is shut down.
  std::chrono::milliseconds header_timeout{10000};
  // From a request read to its answer, for a handler that answers (a parked long-poll counts
  // against its own deadline instead). Past it the client gets a 503; the late answer is dropped.
  std::chrono::milliseconds request_timeout{60000};
  // Open connections, in total and per peer address. A connection past either cap is answered
  // 503 with Connection: close and shut down, and never reaches the handler.
  size_t max_connections = 10000;
  size_t max_connections_per_peer = 1000;
};

class HttpServer {
 public:
  // Binds and starts the loop and the workers. `handler` runs on worker threads, concurrently.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options, Handler handler);
  ~HttpServer();  // stops: parked requests are dropped with their connections
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // Re-checks every parked request (thread-safe, cheap to call after every change).
  void wake();
  size_t parkedCount() const;
  size_t connectionCount() const;  // open connections counted against max_connections
  void stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sc::controlplane
