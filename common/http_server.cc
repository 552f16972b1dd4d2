#include "common/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "common/strings.h"

namespace sc {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const { ::freeaddrinfo(a); }
};

Error bindError(const std::string& listen, std::string_view cause) {
  return makeError(ErrorCode::kInvalidArgument, "bind", listen, cause);
}

std::string describeSockaddr(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on "[" + std::string(...)
  // (GCC PR 105651), which -Werror turns into a failed release build.
  std::string out = "[";
  out += host;
  out += "]:";
  out += std::to_string(ntohs(in6->sin6_port));
  return out;
}

Result<UniqueFd> bindTcp(const std::string& listen, std::string* address) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return bindError(listen, "expected host:port or unix:/path");
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!parseUint(port, 65535)) return bindError(listen, "port '" + port + "' is not a number from 0 to 65535");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return bindError(listen, ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, AddrInfoDeleter> list(found);
  // The first address the name resolves to ("localhost" may give ::1 and 127.0.0.1; one is enough
  // for a local page).
  const addrinfo* ai = list.get();
  UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd.valid()) return errnoError(errno, "bind", listen);
  const int one = 1;
  // A restarted agent must not wait for TIME_WAIT connections of its predecessor; a live listener
  // on the port still gives EADDRINUSE.
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) return errnoError(errno, "bind", listen);
  if (::listen(fd.get(), 16) != 0) return errnoError(errno, "bind", listen);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errnoError(errno, "bind", listen);
  *address = describeSockaddr(ss);
  return fd;
}

Result<UniqueFd> bindUnix(const std::string& listen, const std::string& path, unsigned mode) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.front() != '/') return bindError(listen, "a unix socket path must be absolute");
  if (path.size() >= sizeof sa.sun_path) {
    return bindError(listen, "the path is longer than " + std::to_string(sizeof sa.sun_path - 1) + " bytes");
  }
  std::memcpy(sa.sun_path, path.data(), path.size());
  const auto sa_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errnoError(errno, "bind", listen);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return makeError(ErrorCode::kAlreadyExists, "bind", listen, "the path exists and is not a socket");
    }
    // A socket file is stale unless someone still accepts on it (a second agent): never steal it.
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.valid() && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sa), sa_len) == 0) {
      return errnoError(EADDRINUSE, "bind", listen);
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errnoError(errno, "bind", listen);
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sa_len) != 0) return errnoError(errno, "bind", listen);
  // The mode is set before listen(): until then every connect() is refused, so no peer gets in
  // through the umask's looser mode.
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0 || ::listen(fd.get(), 16) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return errnoError(err, "bind", listen);
  }
  return fd;
}

using Clock = std::chrono::steady_clock;

// Waits for `events` on `fd` until `deadline`; false on timeout, error or stop.
bool waitFor(int fd, short events, int stop_fd, Clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 60'000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents != 0) return false;
    if (n > 0) return true;
  }
}

}  // namespace

const char* httpReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen, HttpRoutes routes,
                                                      HttpServerOptions options) {
  UniqueFd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) return errnoError(errno, "create an eventfd for", listen);
  std::string address;
  std::string unix_path;
  UniqueFd listener;
  if (listen.starts_with(kUnixPrefix)) {
    unix_path = listen.substr(kUnixPrefix.size());
    SC_ASSIGN_OR_RETURN(listener, bindUnix(listen, unix_path, options.unix_mode));
    address = listen;
  } else {
    SC_ASSIGN_OR_RETURN(listener, bindTcp(listen, &address));
  }
  std::unique_ptr<HttpServer> s(new HttpServer(std::move(listener), std::move(stop_fd), std::move(address),
                                               std::move(unix_path), std::move(routes), options));
  s->thread_ = std::thread([raw = s.get()] { raw->serve(); });
  return s;
}

HttpServer::HttpServer(UniqueFd listener, UniqueFd stop_fd, std::string address, std::string unix_path,
                       HttpRoutes routes, HttpServerOptions options)
    : listener_(std::move(listener)),
      stop_fd_(std::move(stop_fd)),
      address_(std::move(address)),
      unix_path_(std::move(unix_path)),
      routes_(std::move(routes)),
      options_(options) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
  }
  listener_.reset();
  if (!unix_path_.empty()) {
    ::unlink(unix_path_.c_str());
    unix_path_.clear();
  }
}

void HttpServer::serve() {
  while (true) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    const int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn.valid()) {
      // Out of descriptors: back off instead of spinning on a listener that stays readable.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pollfd stop_only{stop_fd_.get(), POLLIN, 0};
        ::poll(&stop_only, 1, 100);
      }
      continue;
    }
    handle(std::move(conn));
  }
}

void HttpServer::handle(UniqueFd conn) {
  const auto deadline = Clock::now() + options_.io_timeout;
  std::string head;
  size_t end = std::string::npos;
  HttpPage page;
  std::string extra_headers;
  while ((end = head.find("\r\n\r\n")) == std::string::npos && (end = head.find("\n\n")) == std::string::npos) {
    if (head.size() >= options_.max_request_bytes) break;
    if (!waitFor(conn.get(), POLLIN, stop_fd_.get(), deadline)) return;  // slow or silent peer: drop it
    char buf[2048];
    const size_t want = std::min(sizeof buf, options_.max_request_bytes - head.size());
    const ssize_t got = ::recv(conn.get(), buf, want, 0);
    if (got == 0) return;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    head.append(buf, static_cast<size_t>(got));
  }
  if (end == std::string::npos) {
    page = {431, "text/plain; charset=utf-8", "request too large\n"};
  } else {
    std::string_view line(head.data(), std::min(head.find('\n'), end));
    if (line.ends_with('\r')) line.remove_suffix(1);
    const std::vector<std::string> parts = split(line, ' ');
    if (parts.size() != 3 || !parts[2].starts_with("HTTP/1.") || parts[1].empty() || parts[1].front() != '/') {
      page = {400, "text/plain; charset=utf-8", "bad request\n"};
    } else if (parts[0] != "GET") {
      page = {405, "text/plain; charset=utf-8", "method not allowed\n"};
      extra_headers = "Allow: GET\r\n";
    } else {
      const std::string path = parts[1].substr(0, parts[1].find('?'));
      if (auto it = routes_.find(path); it != routes_.end()) {
        page = it->second();
      } else {
        page = {404, "text/plain; charset=utf-8", "not found\n"};
      }
    }
  }
  std::string out = "HTTP/1.1 " + std::to_string(page.status) + " " + httpReason(page.status) + "\r\n" +
                    "Content-Type: " + page.content_type + "\r\n" +
                    "Content-Length: " + std::to_string(page.body.size()) + "\r\n" + extra_headers +
                    "Connection: close\r\n\r\n" + page.body;
  const auto write_deadline = Clock::now() + options_.io_timeout;
  size_t off = 0;
  while (off < out.size()) {
    const ssize_t sent = ::send(conn.get(), out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (sent > 0) {
      off += static_cast<size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && errno == EAGAIN && waitFor(conn.get(), POLLOUT, stop_fd_.get(), write_deadline)) {
      continue;
    }
    return;
  }
  ::shutdown(conn.get(), SHUT_WR);
}

}  // namespace sc
