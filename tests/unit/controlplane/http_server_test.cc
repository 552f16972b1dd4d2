#include "controlplane/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "common/http_client.h"

namespace sc::controlplane {
namespace {

std::string url(const HttpServer& s, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(s.port()) + path;
}

// A raw client socket to `s`, bound to the source address `from` (any 127.0.0.x is local).
int connectFrom(const HttpServer& s, const char* from = "127.0.0.1") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, from, &src.sin_addr);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(s.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends one GET and returns the status line's code, or 0 when the server closed (or reset) first.
int getOn(int fd) {
  const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return 0;
  std::string got;
  char buf[512];
  while (got.find("\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    got.append(buf, static_cast<size_t>(n));
  }
  return got.size() > 12 ? std::atoi(got.c_str() + 9) : 0;
}

void waitFor(const std::function<bool()>& cond) {
  for (int i = 0; i < 2000 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// This process's resident set in KiB (/proc/self/status VmRSS), 0 if unreadable.
size_t rssKiB() {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return 0;
  char line[256];
  size_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmRSS: %zu kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
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
  size_t rss_before = rssKiB();
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
  // The server (in this process) did not keep what it was sent: RSS grew by far less than 64 MiB.
  EXPECT_LT(rssKiB(), rss_before + (16u << 10)) << "VmRSS before " << rss_before << " KiB";
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

// Issue 13 item 2 (connection cap): connections up to max_connections are served, the surplus is
// refused (503 or closed, never handled), and a freed place is taken by the next client.
TEST(HttpServerTest, ConnectionsPastTheCapAreRefusedAndTheRestServed) {
  auto s = HttpServer::start({.max_connections = 3}, [](const HttpRequest&) -> HandlerOutcome {
    return HttpResponse{200, "text/plain", "ok", {}};
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(connectFrom(**s));
  for (int fd : held) ASSERT_GE(fd, 0);
  waitFor([&] { return (*s)->connectionCount() == 3; });
  ASSERT_EQ((*s)->connectionCount(), 3u);
  int surplus = connectFrom(**s);
  ASSERT_GE(surplus, 0);
  int refused = getOn(surplus);
  EXPECT_TRUE(refused == 503 || refused == 0) << refused;
  ::close(surplus);
  for (int fd : held) EXPECT_EQ(getOn(fd), 200);
  ::close(held.back());
  held.pop_back();
  waitFor([&] { return (*s)->connectionCount() == 2; });
  int next = connectFrom(**s);
  EXPECT_EQ(getOn(next), 200);
  ::close(next);
  for (int fd : held) ::close(fd);
}

// Issue 13 item 2 (per-peer cap): one source address past max_connections_per_peer is refused
// while another source address is still served.
TEST(HttpServerTest, ConnectionsPastThePerPeerCapAreRefused) {
  auto s = HttpServer::start({.max_connections_per_peer = 2}, [](const HttpRequest&) -> HandlerOutcome {
    return HttpResponse{200, "text/plain", "ok", {}};
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  int a1 = connectFrom(**s, "127.0.0.2");
  int a2 = connectFrom(**s, "127.0.0.2");
  ASSERT_GE(a1, 0);
  ASSERT_GE(a2, 0);
  waitFor([&] { return (*s)->connectionCount() == 2; });
  int a3 = connectFrom(**s, "127.0.0.2");
  int b1 = connectFrom(**s, "127.0.0.3");
  int refused = getOn(a3);
  EXPECT_TRUE(refused == 503 || refused == 0) << refused;
  EXPECT_EQ(getOn(b1), 200);
  EXPECT_EQ(getOn(a1), 200);
  EXPECT_EQ(getOn(a2), 200);
  for (int fd : {a1, a2, a3, b1}) ::close(fd);
}

// Issue 13 item 2 (header-read deadline): a client sending its head a byte at a time is cut off
// at header_timeout although every byte would reset the idle timeout, while other clients' calls
// and a parked long-poll are answered.
TEST(HttpServerTest, ByteAtATimeClientIsCutOffWhileOthersAreServed) {
  std::atomic<bool> ready{false};
  auto s = HttpServer::start({.header_timeout = std::chrono::milliseconds(300)},
                             [&](const HttpRequest& r) -> HandlerOutcome {
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
  std::string poll_body;
  std::thread poller([&] {
    auto r = httpRequest({.url = url(**s, "/poll"), .timeout = std::chrono::milliseconds(30000)});
    if (r.ok()) poll_body = r->body;
  });
  waitFor([&] { return (*s)->parkedCount() == 1; });
  int slow = connectFrom(**s);
  ASSERT_GE(slow, 0);
  // 2000 bytes at 20 ms would take 40 s; the server must close long before the head is done.
  const std::string head = "GET / HTTP/1.1\r\nX-Slow: " + std::string(2000, 'a');
  size_t sent = 0;
  int served = 0;
  for (; sent < head.size(); ++sent) {
    if (::send(slow, head.data() + sent, 1, MSG_NOSIGNAL) != 1) break;
    char c;
    if (::recv(slow, &c, 1, MSG_DONTWAIT) == 0) break;  // the server's end
    if (sent % 10 == 0 && httpRequest({.url = url(**s, "/")}).ok()) ++served;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::close(slow);
  EXPECT_LT(sent, head.size()) << "the slow client was never cut off";
  EXPECT_GT(served, 0);
  ready = true;
  (*s)->wake();
  poller.join();
  EXPECT_EQ(poll_body, "changed");
}

// Issue 13 item 2 (per-request deadline): a handler slower than request_timeout gets its client a
// 503, while a parked long-poll outlives that deadline (its own budget) and is answered.
TEST(HttpServerTest, SlowHandlerIs503AtTheRequestDeadlineButParkedPollsAreNot) {
  std::atomic<bool> release{false};
  auto s = HttpServer::start({.request_timeout = std::chrono::milliseconds(200)},
                             [&](const HttpRequest& r) -> HandlerOutcome {
                               if (r.path == "/slow") {
                                 while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                 return HttpResponse{200, "text/plain", "late", {}};
                               }
                               return Park{[&]() -> std::optional<HttpResponse> {
                                             if (!release) return std::nullopt;
                                             return HttpResponse{200, "text/plain", "changed", {}};
                                           },
                                           std::chrono::steady_clock::now() + std::chrono::seconds(60),
                                           [] {
                                             return HttpResponse{200, "text/plain", "timeout", {}};
                                           }};
                             });
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::string poll_body;
  std::thread poller([&] {
    auto r = httpRequest({.url = url(**s, "/poll"), .timeout = std::chrono::milliseconds(30000)});
    if (r.ok()) poll_body = r->body;
  });
  waitFor([&] { return (*s)->parkedCount() == 1; });
  auto slow = httpRequest({.url = url(**s, "/slow"), .timeout = std::chrono::milliseconds(30000)});
  EXPECT_TRUE(slow.ok() && slow->status == 503) << (slow.ok() ? std::to_string(slow->status) : slow.error().message);
  // The poll has been parked past the request deadline by now and is still waiting.
  EXPECT_EQ((*s)->parkedCount(), 1u);
  release = true;
  (*s)->wake();
  poller.join();
  EXPECT_EQ(poll_body, "changed");
}

// A client that leaves in the middle of its request (head, body, or while handled) leaves nothing
// behind: LSan (the sanitizer build) reports any request or connection not freed.
TEST(HttpServerTest, ClientLeavingMidRequestLeaksNothing) {
  std::atomic<int> handled{0};
  auto s = HttpServer::start({}, [&](const HttpRequest&) -> HandlerOutcome {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ++handled;
    return HttpResponse{200, "text/plain", "ok", {}};
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  const std::vector<std::string> partial = {"GET / HT", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
                                            "GET / HTTP/1.1\r\nHost: x\r\n\r\n"};
  for (const auto& p : partial) {
    int fd = connectFrom(**s);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, p.data(), p.size(), MSG_NOSIGNAL), static_cast<ssize_t>(p.size()));
    ::close(fd);
  }
  waitFor([&] { return handled == 1 && (*s)->connectionCount() == 0; });
  EXPECT_EQ((*s)->connectionCount(), 0u);
  auto r = httpRequest({.url = url(**s, "/")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
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
