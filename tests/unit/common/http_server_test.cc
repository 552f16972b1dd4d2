#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>

#include "common/http_client.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

HttpRoutes metricsRoute() {
  return {{"/metrics", [] { return HttpPage{200, "text/plain; version=0.0.4", "scagent_up 1\n"}; }}};
}

// Connects to `address` ("127.0.0.1:port" or "unix:/path").
UniqueFd dial(const std::string& address) {
  if (address.starts_with("unix:")) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const std::string path = address.substr(5);
    std::memcpy(sa.sun_path, path.data(), path.size());
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return UniqueFd();
    return fd;
  }
  const size_t colon = address.rfind(':');
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return UniqueFd();
  return fd;
}

// Sends `request` as is and returns everything the server writes until it closes.
std::string roundTrip(const std::string& address, const std::string& request) {
  UniqueFd fd = dial(address);
  if (!fd.valid()) return "<connect failed: " + std::string(std::strerror(errno)) + ">";
  (void)!::write(fd.get(), request.data(), request.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

uint16_t portOf(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

TEST(HttpServerTest, ServesTheRouteOverTcpWithTheKernelsPort) {
  auto server = HttpServer::start("127.0.0.1:0", metricsRoute());
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string addr = (*server)->address();
  ASSERT_TRUE(addr.starts_with("127.0.0.1:")) << addr;
  EXPECT_NE(portOf(addr), 0);
  auto resp = httpRequest({.url = "http://" + addr + "/metrics"});
  ASSERT_TRUE(resp.ok()) << resp.error().message;
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "scagent_up 1\n");
  // The whole answer, headers included; a query string does not change the route.
  EXPECT_EQ(roundTrip(addr, "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 13\r\n"
            "Connection: close\r\n\r\nscagent_up 1\n");
}

TEST(HttpServerTest, UnknownPathsAre404AndOtherMethods405) {
  auto server = HttpServer::start("127.0.0.1:0", metricsRoute());
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string addr = (*server)->address();
  EXPECT_TRUE(roundTrip(addr, "GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_TRUE(roundTrip(addr, "GET /metrics/x HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404 Not Found\r\n"));
  const std::string post = roundTrip(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << post;
  EXPECT_NE(post.find("\r\nAllow: GET\r\n"), std::string::npos) << post;
  EXPECT_TRUE(roundTrip(addr, "garbage\r\n\r\n").starts_with("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_TRUE(roundTrip(addr, "GET metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

TEST(HttpServerTest, AnOversizedRequestIsRefusedAndASilentPeerIsDropped) {
  HttpServerOptions opts;
  opts.max_request_bytes = 256;
  opts.io_timeout = std::chrono::milliseconds(200);
  auto server = HttpServer::start("127.0.0.1:0", metricsRoute(), opts);
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string addr = (*server)->address();
  const std::string big = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(400, 'a') + "\r\n\r\n";
  EXPECT_TRUE(roundTrip(addr, big).starts_with("HTTP/1.1 431 ")) << roundTrip(addr, big);
  // A peer that never finishes its head is closed after the timeout, without an answer ...
  EXPECT_EQ(roundTrip(addr, "GET /metrics HTTP/1.1\r\n"), "");
  // ... and the server still answers the next one.
  EXPECT_TRUE(roundTrip(addr, "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST(HttpServerTest, ABusyPortIsAClearError) {
  auto first = HttpServer::start("127.0.0.1:0", metricsRoute());
  ASSERT_TRUE(first.ok()) << first.error().message;
  const std::string taken = (*first)->address();
  auto second = HttpServer::start(taken, metricsRoute());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message, "failed to bind '" + taken + "': Address already in use");
  EXPECT_EQ(second.error().sys_errno, EADDRINUSE);
}

TEST(HttpServerTest, BadAddressesAreRefusedBeforeBinding) {
  for (const char* bad : {"9464", ":9464", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http", "unix:", "unix:rel/x"}) {
    auto s = HttpServer::start(bad, metricsRoute());
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_TRUE(s.error().message.starts_with("failed to bind '" + std::string(bad) + "': ")) << s.error().message;
  }
  auto s = HttpServer::start("unix:/" + std::string(200, 'x'), metricsRoute());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("longer than 107 bytes"), std::string::npos) << s.error().message;
}

TEST(HttpServerTest, UnixSocketIsServedWithItsModeAndRemovedAtStop) {
  testing::TempDir dir;
  const std::string path = dir.file("metrics.sock");
  testing::writeTestFile(dir.file("plain"), "x");
  // A stale socket file (left by a killed agent) is replaced.
  {
    UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
  }
  auto server = HttpServer::start("unix:" + path, metricsRoute());
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ((*server)->address(), "unix:" + path);
  struct stat st{};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  auto resp = httpRequest({.url = "http://localhost/metrics", .unix_socket = path});
  ASSERT_TRUE(resp.ok()) << resp.error().message;
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "scagent_up 1\n");

  // A live socket belongs to someone else: it is not taken over.
  auto twin = HttpServer::start("unix:" + path, metricsRoute());
  ASSERT_FALSE(twin.ok());
  EXPECT_EQ(twin.error().message, "failed to bind 'unix:" + path + "': Address already in use");
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);

  (*server)->stop();
  EXPECT_NE(::lstat(path.c_str(), &st), 0);
  EXPECT_FALSE(dial("unix:" + path).valid());
  (*server)->stop();  // idempotent

  // Any other kind of file at the path is left alone.
  auto onto_file = HttpServer::start("unix:" + dir.file("plain"), metricsRoute());
  ASSERT_FALSE(onto_file.ok());
  EXPECT_EQ(onto_file.error().message,
            "failed to bind 'unix:" + dir.file("plain") + "': the path exists and is not a socket");
}

TEST(HttpServerTest, StopClosesTheTcpListenerEvenWithAPeerMidRequest) {
  HttpServerOptions opts;
  opts.io_timeout = std::chrono::seconds(120);
  auto server = HttpServer::start("127.0.0.1:0", metricsRoute(), opts);
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string addr = (*server)->address();
  UniqueFd idle = dial(addr);  // connected, says nothing: the server waits in handle()
  ASSERT_TRUE(idle.valid());
  (void)!::write(idle.get(), "GET /met", 8);
  const auto t0 = std::chrono::steady_clock::now();
  (*server)->stop();
  // stop() ended the wait for the rest of the request instead of sitting out its 120 s timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(60));
  EXPECT_FALSE(dial(addr).valid());
}

}  // namespace
}  // namespace sc
