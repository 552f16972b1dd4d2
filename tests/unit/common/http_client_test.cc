#include "common/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "common/http_server.h"
#include "common/unique_fd.h"

namespace sc {
namespace {

// A listening socket that never answers: connections complete in the backlog and then hang.
struct SilentServer {
  SilentServer() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd.get(), 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  UniqueFd fd;
  uint16_t port = 0;
};

TEST(HttpClientTest, CancelAbandonsARequestInFlight) {
  SilentServer server;
  std::atomic<bool> cancel{false};
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(server.port) + "/v1/agent/desired?waitSeconds=60";
  req.timeout = std::chrono::seconds(60);
  req.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  auto r = httpRequest(req);
  canceller.join();
  ASSERT_FALSE(r.ok());
  // Cancelled, not timed out (the timeout is a minute away).
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("request cancelled"), std::string::npos) << r.error().message;
}

TEST(HttpClientTest, WithoutCancelTheTimeoutApplies) {
  SilentServer server;
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(server.port) + "/";
  req.timeout = std::chrono::milliseconds(300);
  auto r = httpRequest(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout) << r.error().message;
}

TEST(HttpClientTest, AnAnswerOverTheCapIsAClearError) {
  auto server = HttpServer::start("127.0.0.1:0", {{"/big", [] {
                                                     return HttpPage{200, "text/plain", std::string(1u << 20, 'x')};
                                                   }}});
  ASSERT_TRUE(server.ok()) << server.error().message;
  HttpRequest req;
  req.url = "http://" + (*server)->address() + "/big";
  req.max_response_bytes = 256u << 10;
  auto r = httpRequest(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("the answer is longer than 262144 bytes"), std::string::npos) << r.error().message;
  req.max_response_bytes = 2u << 20;
  auto whole = httpRequest(req);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole->body.size(), 1u << 20);
}

}  // namespace
}  // namespace sc
