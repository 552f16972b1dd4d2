#include "netns/iptables_restore_applier.h"

#include <unistd.h>

#include "common/strings.h"

namespace sc::netns {
namespace {

std::string pick(const char* specific, const char* generic) {
  return ::access(specific, X_OK) == 0 ? specific : generic;
}

size_t countRules(const std::string& save_text) {
  size_t n = 0;
  for (const std::string& line : split(save_text, '\n')) {
    if (line.starts_with("-A ")) ++n;
  }
  return n;
}

std::string where(const std::string& netns_path) { return netns_path.empty() ? "host" : netns_path; }

}  // namespace

IptablesPaths iptablesPaths(Backend b) {
  if (b == Backend::kLegacy) {
    return {pick("/usr/sbin/iptables-legacy-restore", "/usr/sbin/iptables-restore"),
            pick("/usr/sbin/iptables-legacy-save", "/usr/sbin/iptables-save"),
            pick("/usr/sbin/ip6tables-legacy-restore", "/usr/sbin/ip6tables-restore"),
            pick("/usr/sbin/ip6tables-legacy-save", "/usr/sbin/ip6tables-save")};
  }
  return {pick("/usr/sbin/iptables-nft-restore", "/usr/sbin/iptables-restore"),
          pick("/usr/sbin/iptables-nft-save", "/usr/sbin/iptables-save"),
          pick("/usr/sbin/ip6tables-nft-restore", "/usr/sbin/ip6tables-restore"),
          pick("/usr/sbin/ip6tables-nft-save", "/usr/sbin/ip6tables-save")};
}

Result<Backend> detectBackend(ProcessRunner& runner, const std::string& forced) {
  if (forced == "nft") return Backend::kNft;
  if (forced == "legacy") return Backend::kLegacy;
  if (!forced.empty() && forced != "auto") {
    return makeError(ErrorCode::kInvalidArgument, "choose iptables backend", forced, "expected auto, nft or legacy");
  }
  auto v = runner.run({.path = "/usr/sbin/iptables", .args = {"-V"}});
  if (!v.ok()) return std::move(v).error().context("detect", "iptables backend");
  if (!v->success()) {
    return makeError(ErrorCode::kFailedPrecondition, "detect", "iptables backend", v->describe());
  }
  size_t nft = 0, legacy = 0;
  // Only ask a backend whose save program exists; a missing one holds no rules.
  if (::access("/usr/sbin/iptables-nft-save", X_OK) == 0) {
    auto s = runner.run({.path = "/usr/sbin/iptables-nft-save"});
    if (s.ok() && s->success()) nft = countRules(s->out);
  }
  if (::access("/usr/sbin/iptables-legacy-save", X_OK) == 0 && v->out.find("legacy") == std::string::npos) {
    // Reading legacy tables loads no module when none is loaded: skip the probe unless the
    // legacy tables are already there.
    if (::access("/proc/net/ip_tables_names", R_OK) == 0) {
      auto s = runner.run({.path = "/usr/sbin/iptables-legacy-save"});
      if (s.ok() && s->success()) legacy = countRules(s->out);
    }
  }
  return chooseBackend(v->out, nft, legacy);
}

Result<void> IptablesRestoreApplier::restore(const std::string& netns_path, int family, const std::string& text) {
  const std::string& path = family == 6 ? paths_.restore6 : paths_.restore4;
  auto r = runner_.run({.path = path, .args = {"--noflush", "--wait"}, .stdin_data = text, .netns_path = netns_path});
  if (!r.ok()) return std::move(r).error().context("apply rules in", where(netns_path));
  if (!r->success()) {
    return makeError(ErrorCode::kFailedPrecondition, "apply rules in", where(netns_path), path + ": " + r->describe());
  }
  return ok();
}

Result<std::string> IptablesRestoreApplier::save(const std::string& netns_path, int family, Table table) {
  const std::string& path = family == 6 ? paths_.save6 : paths_.save4;
  auto r = runner_.run({.path = path, .args = {"-t", tableName(table)}, .netns_path = netns_path});
  if (!r.ok()) return std::move(r).error().context("read rules in", where(netns_path));
  if (!r->success()) {
    return makeError(ErrorCode::kFailedPrecondition, "read rules in", where(netns_path), path + ": " + r->describe());
  }
  return std::move(r->out);
}

}  // namespace sc::netns
