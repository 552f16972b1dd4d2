#include "tests/support/controlplane/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "common/strings.h"
#include "common/unique_fd.h"
#include "controlplane/secure_random.h"

namespace sc::testing {

std::string renderRequest(const std::string& method, const std::string& path,
                          std::map<std::string, std::string> headers, const std::string& body, bool keep_alive) {
  std::string out = method + " " + path + " HTTP/1.1\r\n";
  headers["content-length"] = std::to_string(body.size());
  headers["connection"] = keep_alive ? "keep-alive" : "close";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  out += "\r\n" + body;
  return out;
}

size_t parseResponse(const std::string& buf, RawResponse* out) {
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  std::vector<std::string> lines = split(std::string_view(buf).substr(0, end), '\n');
  if (lines.empty() || lines[0].size() < 12) return 0;
  RawResponse r;
  r.status = std::atoi(lines[0].c_str() + 9);
  for (size_t i = 1; i < lines.size(); ++i) {
    auto c = lines[i].find(':');
    if (c == std::string::npos) continue;
    std::string k = lines[i].substr(0, c);
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char ch) { return std::tolower(ch); });
    r.headers[k] = std::string(trim(lines[i].substr(c + 1)));
  }
  size_t len = r.headers.contains("content-length") ? std::stoul(r.headers["content-length"]) : 0;
  if (buf.size() < end + 4 + len) return 0;
  r.body = buf.substr(end + 4, len);
  *out = std::move(r);
  return end + 4 + len;
}

Result<RawResponse> rawHttp(uint16_t port, const std::string& method, const std::string& path,
                            const std::map<std::string, std::string>& headers, const std::string& body,
                            std::chrono::milliseconds timeout) {
  std::string where = "127.0.0.1:" + std::to_string(port);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return errnoError(errno, "connect to", where);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return errnoError(errno, "connect to", where);
  std::map<std::string, std::string> h = headers;
  if (!h.contains("host")) h["host"] = where;
  std::string req = renderRequest(method, path, h, body, false);
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::send(fd.get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n < 0) return errnoError(errno, "send to", where);
    off += static_cast<size_t>(n);
  }
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    RawResponse r;
    if (parseResponse(buf, &r) > 0) return r;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return makeError(ErrorCode::kTimeout, "read from", where, "no complete response in time");
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[65536];
    ssize_t n = ::recv(fd.get(), chunk, sizeof(chunk), 0);
    if (n < 0) return errnoError(errno, "read from", where);
    if (n == 0) {
      if (parseResponse(buf, &r) > 0) return r;
      return makeError(ErrorCode::kUnavailable, "read from", where, "connection closed before a complete response");
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
}

Result<RawResponse> awsJson(uint16_t port, const controlplane::AccessKey& key, const std::string& target,
                            const model::Json& body) {
  controlplane::HttpRequest r;
  r.method = "POST";
  r.uri = "/";
  r.path = "/";
  r.body = body.dump();
  r.headers["host"] = "127.0.0.1:" + std::to_string(port);
  r.headers["content-type"] = "application/x-amz-json-1.1";
  r.headers["x-amz-target"] = target;
  // As botocore does: a fresh signed invocation id per call, so two identical calls in the same
  // second differ in signature (sccontrol refuses a replayed signature).
  auto id = controlplane::randomHex(32);
  if (!id.ok()) return id.error();
  r.headers["amz-sdk-invocation-id"] = *id;
  std::string service = startsWith(target, "Route53AutoNaming") ? "servicediscovery" : "ecs";
  controlplane::signSigV4(r, key, "us-east-1", service, std::chrono::system_clock::now());
  return rawHttp(port, "POST", "/", r.headers, r.body);
}

}  // namespace sc::testing
