// RuleApplier: installs rendered rule text in one network namespace.
#pragma once

#include <string>

#include "common/result.h"
#include "netns/rules.h"

namespace sc::netns {

class RuleApplier {
 public:
  virtual ~RuleApplier() = default;
  // Runs one `iptables-restore --noflush --wait` (ip6tables-restore for family 6) with `text` as
  // input, inside the namespace at `netns_path` ("" = the agent's own namespace). `text` is one
  // table's section (`*nat ... COMMIT`); the kernel commits it atomically or not at all.
  // Thread-safe. On failure nothing of `text` is applied.
  virtual Result<void> restore(const std::string& netns_path, int family, const std::string& text) = 0;
  // `iptables-save -t <table>` inside the namespace.
  virtual Result<std::string> save(const std::string& netns_path, int family, Table table) = 0;
};

}  // namespace sc::netns
