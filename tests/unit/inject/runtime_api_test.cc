#include "inject/runtime_api.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/unique_fd.h"
#include "inject/proxy_driver.h"
#include "tests/support/temp_dir.h"

namespace sc::inject {
namespace {

const char* kState =
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
    "3 b1 1 s1 10.0.0.1 2 0 1 1 4 8 2 0 6 0 0 0 - 80 - 0 0 - - 0\n"
    "3 b1 2 s2 0.0.0.0 0 5 1 1 0 1 0 1 6 0 0 0 - 0 - 0 0 - - 0\n"
    "\n";

// A "proxy" that answers every request with `reply_bytes` bytes, then closes.
class FloodingSocket {
 public:
  FloodingSocket(const std::string& path, size_t reply_bytes) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_.get(), 1), 0);
    thread_ = std::thread([this, reply_bytes] {
      UniqueFd c(::accept(fd_.get(), nullptr, nullptr));
      char request[256];
      (void)::recv(c.get(), request, sizeof request, 0);  // closing with it unread would reset
      const std::string chunk(65536, 'x');
      for (size_t sent = 0; sent < reply_bytes;) {
        ssize_t n = ::send(c.get(), chunk.data(), std::min(chunk.size(), reply_bytes - sent), MSG_NOSIGNAL);
        if (n <= 0) break;  // the client hung up
        sent += static_cast<size_t>(n);
        sent_ = sent;
      }
    });
  }
  ~FloodingSocket() { thread_.join(); }
  size_t sent() const { return sent_; }

 private:
  UniqueFd fd_;
  std::atomic<size_t> sent_{0};
  std::thread thread_;
};

TEST(RuntimeApiTest, AnAnswerOverTheCapIsRefusedAndNotKept) {
  testing::TempDir dir;
  const std::string path = dir.file("admin.sock");
  {
    FloodingSocket proxy(path, 1u << 20);
    auto r = unixSocketRoundTrip(path, "show info\n", std::chrono::seconds(30), 256u << 10);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("the answer is longer than 262144 bytes"), std::string::npos) << r.error().message;
  }
  ::unlink(path.c_str());
  FloodingSocket proxy(path, 200u << 10);
  auto r = unixSocketRoundTrip(path, "show info\n", std::chrono::seconds(30), 256u << 10);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size(), 200u << 10);
}

// The admin socket sits in a directory the proxy writes: a symlink there to another task's socket
// must not make the agent drive that proxy. With the expected uid, a listener of another uid is
// refused before anything is sent.
TEST(RuntimeApiTest, APeerOfAnotherUidIsRefusedBeforeAnythingIsSent) {
  testing::TempDir dir;
  const std::string path = dir.file("admin.sock");
  {
    FloodingSocket proxy(path, 16);
    auto r = unixSocketRoundTrip(path, "show info\n", std::chrono::seconds(30), 256u << 10, ::getuid() + 1);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kPermission);
    EXPECT_NE(r.error().message.find("the peer runs as uid " + std::to_string(::getuid()) + ", not"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(proxy.sent(), 0u);  // refused before the request: the listener never saw one
  }
  ::unlink(path.c_str());
  FloodingSocket proxy(path, 16);
  auto r = unixSocketRoundTrip(path, "show info\n", std::chrono::seconds(30), 256u << 10, ::getuid());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size(), 16u);
}

TEST(RuntimeApiTest, ParsesServersState) {
  auto s = parseServersState(kState);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].name, "s1");
  EXPECT_EQ((*s)[0].addr, "10.0.0.1");
  EXPECT_EQ((*s)[0].port, 80);
  EXPECT_FALSE((*s)[0].inMaintenance());
  EXPECT_TRUE((*s)[1].inMaintenance());
  EXPECT_FALSE(parseServersState("3 b1 1 s1\n").ok());
}

TEST(RuntimeApiTest, PlansAddsRemovesAndNothingWhenApplied) {
  auto s = *parseServersState(kState);
  MembershipPlan same = planMembership("b1", s, {{"10.0.0.1", 80}});
  EXPECT_TRUE(same.commands.empty());
  EXPECT_FALSE(same.needs_reload);

  MembershipPlan add = planMembership("b1", s, {{"10.0.0.1", 80}, {"10.0.0.2", 80}});
  EXPECT_EQ(add.commands,
            (std::vector<std::string>{"set server b1/s2 addr 10.0.0.2 port 80", "set server b1/s2 state ready"}));
  MembershipPlan swap = planMembership("b1", s, {{"10.0.0.3", 81}});
  EXPECT_EQ(swap.commands,
            (std::vector<std::string>{"set server b1/s1 state maint", "set server b1/s1 addr 10.0.0.3 port 81",
                                      "set server b1/s1 state ready"}));
  MembershipPlan unhealthy = planMembership("b1", s, {{"10.0.0.1", 80, "t", false}});
  EXPECT_EQ(unhealthy.commands, (std::vector<std::string>{"set server b1/s1 state maint"}));
  MembershipPlan full = planMembership("b1", s, {{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}});
  EXPECT_TRUE(full.needs_reload);
}

TEST(RuntimeApiTest, ParsesListenersInfoAndStat) {
  const char* tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 0300FF7F:0051 00000000:0000 0A 00000000:00000000 00:00000000 00000000 20000 0 1 1\n"
      "   1: 00000000:8EC3 00000000:0000 0A 00000000:00000000 00:00000000 00000000 20000 0 1 1\n"
      "   2: 0100007F:0050 0100007F:A000 01 00000000:00000000 00:00000000 00000000 0 0 1 1\n";
  auto l = parseProcNetTcpListeners(tcp);
  EXPECT_EQ(l.size(), 2u);
  EXPECT_TRUE(l.count({"127.255.0.3", 81}));
  EXPECT_TRUE(l.count({"0.0.0.0", 36547}));
  auto info = parseShowInfo("Name: HAProxy\nPid: 7\nUptime_sec: 3\n");
  EXPECT_EQ(info["Pid"], "7");
  auto rows = parseShowStat("# pxname,svname,scur\ningress_a,FRONTEND,3\nb,s1,1\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["scur"], "3");
}

// Records batches; answers `show servers state` from a table the test controls.
class FakeApi final : public RuntimeApi {
 public:
  std::vector<std::vector<std::string>> batches;
  std::string state = kState;
  Result<std::string> execute(const std::vector<std::string>& commands) override {
    batches.push_back(commands);
    if (commands.size() == 1 && commands[0].starts_with("show servers state")) return state;
    if (commands.size() == 1 && commands[0] == "show stat")
      return std::string("# pxname,svname,scur\ningress_x,FRONTEND,2\n");
    return std::string("\n");
  }
};

TEST(HaproxyDriverTest, AppliesBatchedAndIdempotentReloadsOnlyWhenFull) {
  testing::TempDir dir;
  auto api = std::make_unique<FakeApi>();
  auto master = std::make_unique<FakeApi>();
  FakeApi* a = api.get();
  FakeApi* m = master.get();
  ProxyConfig c;
  c.task_id = "t";
  c.run_dir = dir.path();
  c.ingress.push_back({.name = "x", .listener_port = 40000, .container_port = 80});
  c.egress.push_back({.dns_name = "db",
                      .vip = "127.255.0.3",
                      .port = 81,
                      .discovery_name = "db",
                      .upstreams = {{"10.0.0.1", 80}},
                      .slots = 2});
  // Use the fixture's backend name.
  HaproxyDriver d(c, std::move(api), std::move(master));
  ASSERT_TRUE(d.writeConfig(c).ok());
  std::string be = egressName(c.egress[0]);
  a->state = std::string(kState);
  for (size_t pos; (pos = a->state.find(" b1 ")) != std::string::npos;) a->state.replace(pos, 4, " " + be + " ");

  auto r = d.applyMembership({{"db", 81, {{"10.0.0.1", 80}, {"10.0.0.2", 80}}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->commands, 2u);
  EXPECT_FALSE(r->reloaded);
  EXPECT_EQ(a->batches.back().size(), 2u);  // one batch, one connection

  // The same membership again, once the proxy shows it: nothing sent.
  a->state.replace(a->state.find("0.0.0.0 0 5"), 11, "10.0.0.2 2 4");
  a->state.replace(a->state.find(" - 0 - 0 0"), 10, " - 80 - 0 0");
  size_t before = a->batches.size();
  r = d.applyMembership({{"db", 81, {{"10.0.0.1", 80}, {"10.0.0.2", 80}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->commands, 0u);
  EXPECT_EQ(a->batches.size(), before + 1);  // only the state read
  auto applied = d.membershipApplied();
  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(*applied);

  // A third upstream does not fit in two slots: one hitless reload through the master CLI.
  r = d.applyMembership({{"db", 81, {{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->reloaded);
  ASSERT_EQ(m->batches.size(), 1u);
  EXPECT_EQ(m->batches[0], std::vector<std::string>{"reload"});
  EXPECT_EQ(d.config().egress[0].slots, 8);

  EXPECT_FALSE(d.applyMembership({{"nope", 1, {}}}).ok());
  auto sessions = d.ingressSessions();
  ASSERT_TRUE(sessions.ok());
  EXPECT_EQ(*sessions, 2);
  ASSERT_TRUE(d.disableIngress().ok());
  EXPECT_EQ(a->batches.back(), std::vector<std::string>{"disable frontend ingress_x"});
}

}  // namespace
}  // namespace sc::inject
