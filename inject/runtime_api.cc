#include "inject/runtime_api.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/strings.h"
#include "common/unique_fd.h"

namespace sc::inject {

Result<std::string> unixSocketRoundTrip(const std::string& path, std::string_view payload,
                                        std::chrono::milliseconds timeout, size_t max_reply_bytes,
                                        std::optional<uid_t> peer_uid) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    return makeError(ErrorCode::kInvalidArgument, "connect", path, "socket path too long");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return errnoError(errno, "create", "unix socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto remainingMs = [&]() -> int {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) return errnoError(errno, "connect", path);
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, remainingMs()) <= 0) return makeError(ErrorCode::kTimeout, "connect", path, "timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return errnoError(err, "connect", path);
  }
  if (peer_uid) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return errnoError(errno, "check", path);
    if (cred.uid != *peer_uid) {
      return makeError(ErrorCode::kPermission, "connect", path,
                       "the peer runs as uid " + std::to_string(cred.uid) + ", not " + std::to_string(*peer_uid));
    }
  }
  size_t sent = 0;
  while (sent < payload.size()) {
    ssize_t n = ::send(fd.get(), payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, remainingMs()) <= 0) return makeError(ErrorCode::kTimeout, "write", path, "timed out");
        continue;
      }
      return errnoError(errno, "write", path);
    }
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[16384];
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    int pr = ::poll(&p, 1, remainingMs());
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return makeError(ErrorCode::kTimeout, "read", path, "timed out");
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errnoError(errno, "read", path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_reply_bytes) {
      return makeError(ErrorCode::kInternal, "read", path,
                       "the answer is longer than " + std::to_string(max_reply_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> UnixRuntimeApi::execute(const std::vector<std::string>& commands) {
  return unixSocketRoundTrip(path_, join(commands, ";") + "\n", timeout_, kMaxRuntimeReplyBytes, peer_uid_);
}

Result<std::vector<ServerSlot>> parseServersState(std::string_view text) {
  std::vector<ServerSlot> out;
  for (const std::string& raw : split(text, '\n')) {
    std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    for (const std::string& w : split(line, ' ')) {
      if (!w.empty()) f.push_back(w);
    }
    if (f.size() == 1) continue;  // the format version line
    if (f.size() < 19) {
      return makeError(ErrorCode::kInternal, "parse", "show servers state", "short line '" + std::string(line) + "'");
    }
    auto port = parseUint(f[18], 65535);
    auto op = parseUint(f[5], 255);
    auto adm = parseUint(f[6], 255);
    if (!port || !op || !adm) {
      return makeError(ErrorCode::kInternal, "parse", "show servers state", "bad field in '" + std::string(line) + "'");
    }
    out.push_back({f[1], f[3], f[4], static_cast<int>(*port), static_cast<int>(*op), static_cast<int>(*adm)});
  }
  return out;
}

std::map<std::string, std::string> parseShowInfo(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const std::string& line : split(text, '\n')) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[std::string(trim(std::string_view(line).substr(0, colon)))] =
        std::string(trim(std::string_view(line).substr(colon + 1)));
  }
  return out;
}

std::vector<std::map<std::string, std::string>> parseShowStat(std::string_view text) {
  std::vector<std::map<std::string, std::string>> rows;
  std::vector<std::string> header;
  for (const std::string& line : split(text, '\n')) {
    if (line.empty()) continue;
    if (line.starts_with("# ")) {
      header = split(std::string_view(line).substr(2), ',');
      continue;
    }
    if (header.empty()) continue;
    std::vector<std::string> f = split(line, ',');
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < f.size(); ++i) row[header[i]] = f[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

std::set<std::pair<std::string, int>> parseProcNetTcpListeners(std::string_view text) {
  std::set<std::pair<std::string, int>> out;
  for (const std::string& raw : split(text, '\n')) {
    std::vector<std::string> f;
    for (const std::string& w : split(trim(raw), ' ')) {
      if (!w.empty()) f.push_back(w);
    }
    if (f.size() < 4 || f[3] != "0A") continue;  // 0A: TCP_LISTEN
    size_t colon = f[1].find(':');
    if (colon == std::string::npos) continue;
    std::string hex = f[1].substr(0, colon);
    int port = static_cast<int>(std::strtol(f[1].c_str() + colon + 1, nullptr, 16));
    std::string addr;
    if (hex.size() == 8) {
      uint32_t v = static_cast<uint32_t>(std::strtoul(hex.c_str(), nullptr, 16));  // host order of a LE read
      addr = std::to_string(v & 0xff) + "." + std::to_string((v >> 8) & 0xff) + "." + std::to_string((v >> 16) & 0xff) +
             "." + std::to_string((v >> 24) & 0xff);
    } else {
      addr = hex == "00000000000000000000000000000000" ? "::" : hex;
    }
    out.insert({addr, port});
  }
  return out;
}

MembershipPlan planMembership(const std::string& backend, const std::vector<ServerSlot>& slots,
                              const std::vector<Upstream>& desired_all) {
  MembershipPlan plan;
  std::vector<Upstream> desired;
  for (const Upstream& u : desired_all) {
    if (u.healthy && std::find(desired.begin(), desired.end(), u) == desired.end()) desired.push_back(u);
  }
  std::vector<bool> wanted_placed(desired.size(), false);
  std::vector<const ServerSlot*> free;
  auto srv = [&](const ServerSlot& s) { return backend + "/" + s.name; };
  for (const ServerSlot& s : slots) {
    if (s.backend != backend) continue;
    auto it = std::find_if(desired.begin(), desired.end(),
                           [&](const Upstream& u) { return u.ip == s.addr && u.port == s.port; });
    size_t idx = static_cast<size_t>(it - desired.begin());
    if (it != desired.end() && !wanted_placed[idx]) {
      wanted_placed[idx] = true;
      if (s.inMaintenance()) plan.commands.push_back("set server " + srv(s) + " state ready");
      continue;
    }
    // Not wanted (or a duplicate): out of rotation; existing connections finish.
    if (!s.inMaintenance()) plan.commands.push_back("set server " + srv(s) + " state maint");
    free.push_back(&s);
  }
  size_t next_free = 0;
  for (size_t i = 0; i < desired.size(); ++i) {
    if (wanted_placed[i]) continue;
    if (next_free >= free.size()) {
      plan.needs_reload = true;
      return plan;
    }
    const ServerSlot& s = *free[next_free++];
    plan.commands.push_back("set server " + srv(s) + " addr " + desired[i].ip + " port " +
                            std::to_string(desired[i].port));
    plan.commands.push_back("set server " + srv(s) + " state ready");
  }
  return plan;
}

bool runtimeAnswerOk(std::string_view answer, std::string* first_error) {
  static const char* kMarkers[] = {"No such", "Unknown command", "Require ",    "invalid",          "Invalid",
                                   "can't",   "cannot",          "not allowed", "Permission denied"};
  for (const std::string& line : split(answer, '\n')) {
    for (const char* m : kMarkers) {
      if (line.find(m) != std::string::npos) {
        if (first_error) *first_error = line;
        return false;
      }
    }
  }
  return true;
}

}  // namespace sc::inject
