// ProxyDriver: what the agent asks of a task's proxy, independent of the proxy software.
// HaproxyDriver renders haproxy.cfg, changes membership through the runtime API and reloads
// (hitlessly, through the master CLI) only when a backend's server slots run out.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "inject/haproxy_config.h"
#include "inject/runtime_api.h"

namespace sc::inject {

struct MembershipUpdate {
  std::string dns_name;  // which egress alias
  int port = 0;
  std::vector<Upstream> upstreams;  // the full desired set (not a delta): updates are idempotent
};

struct ApplyOutcome {
  size_t commands = 0;  // runtime API commands sent
  bool reloaded = false;
};

class ProxyDriver {
 public:
  virtual ~ProxyDriver() = default;
  // The binary and argv that run the proxy in the foreground (master-worker).
  virtual std::string binary() const = 0;
  virtual std::vector<std::string> args() const = 0;
  // Writes the configuration for `config` into its run directory.
  virtual Result<void> writeConfig(const ProxyConfig& config) = 0;
  // Applies every update in one batch; reloads when slots run out.
  virtual Result<ApplyOutcome> applyMembership(const std::vector<MembershipUpdate>& updates) = 0;
  // True when the running proxy serves exactly the membership of the current config.
  virtual Result<bool> membershipApplied() = 0;
  virtual Result<void> reload() = 0;
  // Stops accepting on every ingress listener (egress stays open for the app).
  virtual Result<void> disableIngress() = 0;
  // Connections currently open on ingress frontends.
  virtual Result<int64_t> ingressSessions() = 0;
  virtual const ProxyConfig& config() const = 0;
};

class HaproxyDriver final : public ProxyDriver {
 public:
  // `api` talks to admin.sock, `master` to master.sock of config.run_dir.
  HaproxyDriver(ProxyConfig config, std::unique_ptr<RuntimeApi> api, std::unique_ptr<RuntimeApi> master);
  // `peer_uid`: the proxy's uid, checked on every connection (nullopt: not checked).
  static std::unique_ptr<HaproxyDriver> create(ProxyConfig config, std::optional<uid_t> peer_uid = std::nullopt);

  // ProxyDriver
  std::string binary() const override { return "/usr/sbin/haproxy"; }
  std::vector<std::string> args() const override;
  Result<void> writeConfig(const ProxyConfig& config) override;
  Result<ApplyOutcome> applyMembership(const std::vector<MembershipUpdate>& updates) override;
  Result<bool> membershipApplied() override;
  Result<void> reload() override;
  Result<void> disableIngress() override;
  Result<int64_t> ingressSessions() override;
  const ProxyConfig& config() const override { return config_; }

 private:
  Result<std::vector<ServerSlot>> slots(const std::string& backend);
  ProxyConfig config_;
  std::unique_ptr<RuntimeApi> api_;
  std::unique_ptr<RuntimeApi> master_;
};

}  // namespace sc::inject
