#include "inject/proxy_driver.h"

#include <algorithm>

#include "common/file.h"
#include "common/strings.h"

namespace sc::inject {

HaproxyDriver::HaproxyDriver(ProxyConfig config, std::unique_ptr<RuntimeApi> api, std::unique_ptr<RuntimeApi> master)
    : config_(std::move(config)), api_(std::move(api)), master_(std::move(master)) {}

std::unique_ptr<HaproxyDriver> HaproxyDriver::create(ProxyConfig config, std::optional<uid_t> peer_uid) {
  auto api = std::make_unique<UnixRuntimeApi>(adminSocketPath(config.run_dir), peer_uid);
  auto master = std::make_unique<UnixRuntimeApi>(masterSocketPath(config.run_dir), peer_uid);
  return std::make_unique<HaproxyDriver>(std::move(config), std::move(api), std::move(master));
}

std::vector<std::string> HaproxyDriver::args() const {
  // -W master-worker (also set in the file), -S the master CLI, -db stay in the foreground.
  return {"-W", "-db", "-S", masterSocketPath(config_.run_dir) + ",mode,600", "-f", configPath(proxyStateDir(config_))};
}

Result<void> HaproxyDriver::writeConfig(const ProxyConfig& config) {
  config_ = config;
  // Size every backend before rendering, so the slot count is explicit and stable across renders.
  for (EgressSpec& e : config_.egress) {
    e.slots = e.slots > 0 ? std::max(e.slots, static_cast<int>(e.upstreams.size())) : slotsFor(e.upstreams.size());
  }
  return writeFileAtomic(configPath(proxyStateDir(config_)), renderHaproxyConfig(config_), 0644);
}

Result<std::vector<ServerSlot>> HaproxyDriver::slots(const std::string& backend) {
  SC_ASSIGN_OR_RETURN(std::string text, api_->execute({"show servers state " + backend}));
  return parseServersState(text);
}

Result<ApplyOutcome> HaproxyDriver::applyMembership(const std::vector<MembershipUpdate>& updates) {
  ApplyOutcome outcome;
  std::vector<std::string> batch;
  bool reload_needed = false;
  ProxyConfig next = config_;
  for (const MembershipUpdate& u : updates) {
    EgressSpec* eg = nullptr;
    for (EgressSpec& e : next.egress) {
      if (e.dns_name == u.dns_name && e.port == u.port) eg = &e;
    }
    if (!eg) {
      return makeError(ErrorCode::kNotFound, "update", u.dns_name + ":" + std::to_string(u.port),
                       "no such egress alias");
    }
    eg->upstreams = u.upstreams;
    const std::string backend = egressName(*eg);
    SC_ASSIGN_OR_RETURN(std::vector<ServerSlot> current, slots(backend));
    MembershipPlan plan = planMembership(backend, current, u.upstreams);
    if (plan.needs_reload) {
      reload_needed = true;
      eg->slots = slotsFor(u.upstreams.size());
      continue;
    }
    batch.insert(batch.end(), plan.commands.begin(), plan.commands.end());
  }
  if (reload_needed) {
    // Fresh slots for every backend: the new config places each backend's current set in order.
    SC_TRY(writeConfig(next));
    SC_TRY(reload());
    outcome.reloaded = true;
    return outcome;
  }
  config_ = next;
  if (batch.empty()) return outcome;
  SC_ASSIGN_OR_RETURN(std::string answer, api_->execute(batch));
  std::string err;
  if (!runtimeAnswerOk(answer, &err)) {
    return makeError(ErrorCode::kInternal, "apply", "membership", "runtime API: " + err);
  }
  outcome.commands = batch.size();
  // Keep the file in step, so a later reload or restart starts from the current membership.
  SC_TRY(writeFileAtomic(configPath(proxyStateDir(config_)), renderHaproxyConfig(config_), 0644));
  return outcome;
}

Result<bool> HaproxyDriver::membershipApplied() {
  for (const EgressSpec& e : config_.egress) {
    SC_ASSIGN_OR_RETURN(std::vector<ServerSlot> current, slots(egressName(e)));
    if (!planMembership(egressName(e), current, e.upstreams).commands.empty()) return false;
    if (current.empty()) return false;  // the backend is not there (yet)
  }
  return true;
}

Result<void> HaproxyDriver::reload() {
  SC_ASSIGN_OR_RETURN(std::string answer, master_->execute({"reload"}));
  (void)answer;  // the master answers after re-executing; success shows in the new worker
  return ok();
}

Result<void> HaproxyDriver::disableIngress() {
  std::vector<std::string> batch;
  for (const IngressSpec& in : config_.ingress) batch.push_back("disable frontend " + ingressName(in));
  if (batch.empty()) return ok();
  SC_ASSIGN_OR_RETURN(std::string answer, api_->execute(batch));
  std::string err;
  if (!runtimeAnswerOk(answer, &err)) return makeError(ErrorCode::kInternal, "disable", "ingress frontends", err);
  return ok();
}

Result<int64_t> HaproxyDriver::ingressSessions() {
  SC_ASSIGN_OR_RETURN(std::string text, api_->execute({"show stat"}));
  int64_t total = 0;
  for (const auto& row : parseShowStat(text)) {
    auto px = row.find("pxname");
    auto sv = row.find("svname");
    auto cur = row.find("scur");
    if (px == row.end() || sv == row.end() || cur == row.end()) continue;
    if (px->second.starts_with("ingress_") && sv->second == "FRONTEND") {
      total += static_cast<int64_t>(parseUint(cur->second, INT32_MAX).value_or(0));
    }
  }
  return total;
}

}  // namespace sc::inject
