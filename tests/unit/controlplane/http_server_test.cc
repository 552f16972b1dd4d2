#include "controlplane/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/http_client.h"

namespace sc::controlplane {
namespace {

std::string url(const HttpServer& s, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(s.port()) + path;
}

TEST(HttpServerTest, AnswersWithTheHandlersResponse) {
  auto s = HttpServer::start({}, [](const HttpRequest& r) -> HandlerOutcome {
    return HttpResponse{200, "text/plain", r.method + " " + r.path + " " + r.query.at("a") + " " + r.body, {}};
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_NE((*s)->port(), 0);
  auto r = httpRequest({.method = "POST", .url = url(**s, "/x%20y?a=b%2Fc"), .body = "hi"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /x y b/c hi");
}

TEST(HttpServerTest, ParkedRequestAnswersAfterWake) {
  std::atomic<bool> ready{false};
  auto s = HttpServer::start({}, [&](const HttpRequest&) -> HandlerOutcome {
    return Park{[&]() -> std::optional<HttpResponse> {
                  if (!ready) return std::nullopt;
                  return HttpResponse{200, "text/plain", "changed", {}};
                },
                std::chrono::steady_clock::now() + std::chrono::seconds(60),
                [] {
                  return HttpResponse{200, "text/plain", "timeout", {}};
                }};
  });
  ASSERT_TRUE(s.ok());
  std::thread waker([&] {
    while ((*s)->parkedCount() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ready = true;
    (*s)->wake();
  });
  auto r = httpRequest({.url = url(**s, "/poll"), .timeout = std::chrono::milliseconds(30000)});
  waker.join();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "changed");
  EXPECT_EQ((*s)->parkedCount(), 0u);
}

TEST(HttpServerTest, ParkedRequestGetsTheTimeoutAnswerAtItsDeadline) {
  auto s = HttpServer::start({}, [](const HttpRequest&) -> HandlerOutcome {
    return Park{[]() -> std::optional<HttpResponse> { return std::nullopt; },
                std::chrono::steady_clock::now() + std::chrono::milliseconds(50),
                [] {
                  return HttpResponse{200, "text/plain", "timeout", {}};
                }};
  });
  ASSERT_TRUE(s.ok());
  auto r = httpRequest({.url = url(**s, "/poll"), .timeout = std::chrono::milliseconds(30000)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "timeout");
}

TEST(HttpServerTest, ClientGoneWhileParkedIsForgotten) {
  auto s = HttpServer::start({}, [](const HttpRequest&) -> HandlerOutcome {
    return Park{[]() -> std::optional<HttpResponse> { return std::nullopt; },
                std::chrono::steady_clock::now() + std::chrono::milliseconds(300),
                [] {
                  return HttpResponse{200, "text/plain", "late", {}};
                }};
  });
  ASSERT_TRUE(s.ok());
  auto r = httpRequest({.url = url(**s, "/poll"), .timeout = std::chrono::milliseconds(50)});
  EXPECT_FALSE(r.ok());
  // The server keeps serving; the dropped request's timeout answer goes nowhere.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  (*s)->wake();
  EXPECT_EQ((*s)->parkedCount(), 0u);
}

// Issue 13 item 2 (header size): a client that sends one header line without end is cut off
// after the limit instead of growing the server's memory, and other clients are still answered.
TEST(HttpServerTest, EndlessHeaderLineIsCutOffAndOthersAreServed) {
  auto s = HttpServer::start({}, [](const HttpRequest&) -> HandlerOutcome {
    return HttpResponse{200, "text/plain", "ok", {}};
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons((*s)->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const std::string start = "GET / HTTP/1.1\r\nHost: x\r\nX-Long: ";
  ASSERT_EQ(::send(fd, start.data(), start.size(), MSG_NOSIGNAL), static_cast<ssize_t>(start.size()));
  // Up to 64 MiB of one header line; the server must close long before that.
  const std::string chunk(64u << 10, 'a');
  size_t sent = 0;
  bool cut = false;
  while (sent < (64u << 20)) {
    ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      cut = true;
      break;
    }
    sent += static_cast<size_t>(n);
  }
  ::close(fd);
  EXPECT_TRUE(cut) << "the server took " << sent << " bytes of one header line";
  EXPECT_LT(sent, 16u << 20);
  auto r = httpRequest({.url = url(**s, "/")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

// Issue 13 item 2 (header count): more header fields than max_headers are answered 431 and never
// reach the handler; a request at the cap is served.
TEST(HttpServerTest, TooManyHeaderFieldsAre431) {
  std::atomic<int> handled{0};
  auto s = HttpServer::start({.max_headers = 20}, [&](const HttpRequest&) -> HandlerOutcome {
    ++handled;
    return HttpResponse{200, "text/plain", "ok", {}};
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto withHeaders = [&](int n) {
    std::vector<std::string> h;
    for (int i = 0; i < n; ++i) h.push_back("X-H" + std::to_string(i) + ": v");
    return httpRequest({.url = url(**s, "/"), .headers = h});
  };
  auto many = withHeaders(40);
  ASSERT_TRUE(many.ok()) << many.error().message;
  EXPECT_EQ(many->status, 431);
  EXPECT_EQ(handled.load(), 0);
  auto few = withHeaders(10);
  ASSERT_TRUE(few.ok()) << few.error().message;
  EXPECT_EQ(few->status, 200);
  EXPECT_EQ(handled.load(), 1);
}

// Issue 13 item 2 (long-poll budget): past max_parked a new poll is answered 503 at once, the
// parked ones stay parked and are answered by the next wake(), and ordinary calls are served.
TEST(HttpServerTest, ParkedPollsPastTheirCapAre503AndTheRestAreServed) {
  std::atomic<bool> ready{false};
  auto s = HttpServer::start({.max_parked = 2}, [&](const HttpRequest& r) -> HandlerOutcome {
    if (r.path != "/poll") return HttpResponse{200, "text/plain", "ok", {}};
    return Park{[&]() -> std::optional<HttpResponse> {
                  if (!ready) return std::nullopt;
                  return HttpResponse{200, "text/plain", "changed", {}};
                },
                std::chrono::steady_clock::now() + std::chrono::seconds(60),
                [] {
                  return HttpResponse{200, "text/plain", "timeout", {}};
                }};
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::vector<std::thread> pollers;
  std::atomic<int> changed{0};
  for (int i = 0; i < 2; ++i) {
    pollers.emplace_back([&] {
      auto r = httpRequest({.url = url(**s, "/poll"), .timeout = std::chrono::milliseconds(30000)});
      if (r.ok() && r->body == "changed") ++changed;
    });
  }
  while ((*s)->parkedCount() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto surplus = httpRequest({.url = url(**s, "/poll")});
  ASSERT_TRUE(surplus.ok()) << surplus.error().message;
  EXPECT_EQ(surplus->status, 503);
  auto plain = httpRequest({.url = url(**s, "/")});
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ((*s)->parkedCount(), 2u);
  ready = true;
  (*s)->wake();
  for (auto& t : pollers) t.join();
  EXPECT_EQ(changed.load(), 2);
  // Answered polls free their places in the budget.
  ready = false;
  std::thread again([&] {
    auto r = httpRequest({.url = url(**s, "/poll"), .timeout = std::chrono::milliseconds(30000)});
    if (r.ok() && r->body == "changed") ++changed;
  });
  while ((*s)->parkedCount() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ready = true;
  (*s)->wake();
  again.join();
  EXPECT_EQ(changed.load(), 3);
}

TEST(HttpServerTest, BusyPortIsAnError) {
  auto a = HttpServer::start({}, [](const HttpRequest&) -> HandlerOutcome { return HttpResponse{}; });
  ASSERT_TRUE(a.ok());
  auto b =
      HttpServer::start({.port = (*a)->port()}, [](const HttpRequest&) -> HandlerOutcome { return HttpResponse{}; });
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("failed to listen on '127.0.0.1:"), std::string::npos) << b.error().message;
}

}  // namespace
}  // namespace sc::controlplane
