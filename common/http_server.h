// A tiny blocking HTTP/1.1 server for local pages (the agent's Prometheus /metrics): one thread,
// one request per connection, GET only, `Connection: close`. Not a general web server: no
// keep-alive, no request bodies, no chunked encoding; a request head over the size cap or slower
// than the I/O timeout is dropped. Never runs a shell or another program.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sc {

struct HttpPage {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpServerOptions {
  // Reading one request head and writing one answer each get this long; then the peer is dropped.
  std::chrono::milliseconds io_timeout{5000};
  size_t max_request_bytes = 8192;
  unsigned unix_mode = 0660;  // of a unix socket file
};

// Path (without the query string) -> page. Handlers run on the server thread, one at a time.
using HttpRoutes = std::map<std::string, std::function<HttpPage()>>;

class HttpServer {
 public:
  // Binds `listen` and starts serving on its own thread:
  //   "host:port"   an IPv4 or IPv6 literal ("[::1]:9464") or a name ("localhost"); port 0 picks one
  //   "unix:/path"  a unix stream socket; a stale socket file at the path is replaced (any other
  //                 kind of file is an error), the new one gets `unix_mode`, stop() removes it.
  // Errors read `failed to bind '<listen>': <cause>`; nothing is left behind on failure.
  static Result<std::unique_ptr<HttpServer>> start(const std::string& listen, HttpRoutes routes,
                                                   HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting, ends the request in flight at its next wait, joins the thread, closes the
  // socket and removes a unix socket file. Idempotent.
  void stop();

  // Where it listens: "127.0.0.1:41234" (the port the kernel picked for port 0) or "unix:/path".
  const std::string& address() const { return address_; }

 private:
  HttpServer(UniqueFd listener, UniqueFd stop_fd, std::string address, std::string unix_path, HttpRoutes routes,
             HttpServerOptions options);
  void serve();
  void handle(UniqueFd conn);

  UniqueFd listener_;
  UniqueFd stop_fd_;  // eventfd; readable once stop() was called
  std::string address_;
  std::string unix_path_;  // empty for TCP
  HttpRoutes routes_;
  HttpServerOptions options_;
  std::thread thread_;
};

// The status line's reason phrase ("OK", "Not Found", ...) for the codes this server and
// sccontrol send; "Unknown" for others.
const char* httpReason(int status);

}  // namespace sc
