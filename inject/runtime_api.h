// HAProxy's runtime API (the "stats socket" and the master CLI), and pure parsers of its answers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "inject/haproxy_config.h"

namespace sc::inject {

// The most one answer of the runtime API may hold: `show servers state` of a proxy with 1000
// backends of 64 slots is about 13 MB; a proxy that sends more is broken or hostile.
inline constexpr size_t kMaxRuntimeReplyBytes = 32u << 20;

// One request over a unix stream socket: writes `payload`, reads until the peer closes; an answer
// longer than `max_reply_bytes` is an error (the connection is dropped, nothing is kept). With
// `peer_uid`, the listening process must run as that uid (SO_PEERCRED) or nothing is sent: the
// socket sits in a directory the proxy can write, and a symlink planted there must not make the
// root agent drive another task's proxy.
Result<std::string> unixSocketRoundTrip(const std::string& path, std::string_view payload,
                                        std::chrono::milliseconds timeout,
                                        size_t max_reply_bytes = kMaxRuntimeReplyBytes,
                                        std::optional<uid_t> peer_uid = std::nullopt);

// The seam: executes a batch of runtime API commands in one connection and returns the output.
class RuntimeApi {
 public:
  virtual ~RuntimeApi() = default;
  virtual Result<std::string> execute(const std::vector<std::string>& commands) = 0;
};

class UnixRuntimeApi final : public RuntimeApi {
 public:
  // `peer_uid`: the uid the proxy runs as (see unixSocketRoundTrip); nullopt: not checked.
  explicit UnixRuntimeApi(std::string socket_path, std::optional<uid_t> peer_uid = std::nullopt,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(2000))
      : path_(std::move(socket_path)), peer_uid_(peer_uid), timeout_(timeout) {}
  // RuntimeApi
  Result<std::string> execute(const std::vector<std::string>& commands) override;

 private:
  std::string path_;
  std::optional<uid_t> peer_uid_;
  std::chrono::milliseconds timeout_;
};

// One server line of `show servers state`.
struct ServerSlot {
  std::string backend;
  std::string name;
  std::string addr;
  int port = 0;
  int op_state = 0;                                                 // 0 stopped, 1 starting, 2 running, 3 stopping
  int admin_state = 0;                                              // bit field; see inMaintenance()
  bool inMaintenance() const { return (admin_state & 0x63) != 0; }  // FMAINT|IMAINT|RMAINT|HMAINT
};

Result<std::vector<ServerSlot>> parseServersState(std::string_view text);

// Lines of `show info` as key -> value.
std::map<std::string, std::string> parseShowInfo(std::string_view text);

// `show stat` CSV: one map per row, keyed by the header's column names.
std::vector<std::map<std::string, std::string>> parseShowStat(std::string_view text);

// TCP listeners of /proc/<pid>/net/tcp (or tcp6) text: (address in dotted form, port).
std::set<std::pair<std::string, int>> parseProcNetTcpListeners(std::string_view text);

// What it takes to make `slots` of `backend` serve exactly `desired` (healthy ones only):
// commands for the runtime API, or needs_reload when the slots are too few.
struct MembershipPlan {
  std::vector<std::string> commands;
  bool needs_reload = false;
};
MembershipPlan planMembership(const std::string& backend, const std::vector<ServerSlot>& slots,
                              const std::vector<Upstream>& desired);

// True when every error marker is absent from a runtime API answer.
bool runtimeAnswerOk(std::string_view answer, std::string* first_error);

}  // namespace sc::inject
