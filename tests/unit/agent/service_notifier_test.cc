#include "agent/service_notifier.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>

#include "tests/support/temp_dir.h"

namespace sc::agent {
namespace {

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::close(fd_);
  }
  std::string next() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  std::string path_;
  int fd_;
};

TEST(ServiceNotifierTest, SendsTheProtocolMessages) {
  testing::TempDir d;
  NotifySocket sock(d.file("notify"));
  SystemdNotifier n;
  n.ready("2 tasks running");
  EXPECT_EQ(sock.next(), "READY=1\nSTATUS=2 tasks running");
  n.status("control plane unreachable\nretrying");
  EXPECT_EQ(sock.next(), "STATUS=control plane unreachable retrying");
  n.watchdog();
  EXPECT_EQ(sock.next(), "WATCHDOG=1");
  n.stopping();
  EXPECT_EQ(sock.next(), "STOPPING=1");
}

TEST(ServiceNotifierTest, WatchdogIntervalIsHalfOfWatchdogSec) {
  testing::TempDir d;
  NotifySocket sock(d.file("notify"));
  SystemdNotifier n;
  EXPECT_FALSE(n.watchdogInterval());
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  ASSERT_TRUE(n.watchdogInterval());
  EXPECT_EQ(*n.watchdogInterval(), std::chrono::seconds(15));
}

TEST(ServiceNotifierTest, NoSocketMeansNoOp) {
  ::unsetenv("NOTIFY_SOCKET");
  SystemdNotifier n;
  n.ready("x");  // must neither fail nor block
  EXPECT_FALSE(n.watchdogInterval());
}

}  // namespace
}  // namespace sc::agent
