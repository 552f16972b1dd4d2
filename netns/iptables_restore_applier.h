// The real RuleApplier: the only code that runs iptables-restore and iptables-save.
#pragma once

#include <memory>

#include "common/process.h"
#include "netns/rule_applier.h"

namespace sc::netns {

struct IptablesPaths {
  std::string restore4, save4, restore6, save6;
};
IptablesPaths iptablesPaths(Backend backend);

// Runs `/usr/sbin/iptables -V` and the two save programs once and picks the backend
// (chooseBackend()). `forced` ("nft" or "legacy") skips the probe.
Result<Backend> detectBackend(ProcessRunner& runner, const std::string& forced = "");

class IptablesRestoreApplier final : public RuleApplier {
 public:
  IptablesRestoreApplier(ProcessRunner& runner, Backend backend) : runner_(runner), paths_(iptablesPaths(backend)) {}

  // RuleApplier
  Result<void> restore(const std::string& netns_path, int family, const std::string& text) override;
  Result<std::string> save(const std::string& netns_path, int family, Table table) override;

 private:
  ProcessRunner& runner_;
  IptablesPaths paths_;
};

}  // namespace sc::netns
