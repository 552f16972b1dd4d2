// ControlPlane::Batch: the changes one operation makes, read back through an overlay on the
// control plane's documents, committed as one Store transaction.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/control_plane.h"

namespace sc::controlplane {

class ControlPlane::Batch {
 public:
  explicit Batch(const std::map<std::string, Doc>& docs) : docs_(docs) {}
  std::optional<Json> get(const std::string& key) const {
    if (auto it = changes_.find(key); it != changes_.end()) return it->second;
    if (auto it = docs_.find(key); it != docs_.end()) return it->second.value;
    return std::nullopt;
  }
  // Every (key, doc) under `prefix`, the overlay applied, sorted by key.
  std::vector<std::pair<std::string, Json>> list(const std::string& prefix) const {
    std::map<std::string, Json> out;
    for (auto it = docs_.lower_bound(prefix); it != docs_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      out.emplace(it->first, it->second.value);
    }
    for (auto it = changes_.lower_bound(prefix); it != changes_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (it->second) {
        out[it->first] = *it->second;
      } else {
        out.erase(it->first);
      }
    }
    return {out.begin(), out.end()};
  }
  void put(const std::string& key, Json value) {
    if (auto it = docs_.find(key); it != docs_.end() && it->second.value == value && !changes_.contains(key)) return;
    changes_[key] = std::move(value);
  }
  void del(const std::string& key) { changes_[key] = std::nullopt; }
  bool empty() const { return changes_.empty(); }
  const std::map<std::string, std::optional<Json>>& changes() const { return changes_; }
  void clear() { changes_.clear(); }

 private:
  const std::map<std::string, Doc>& docs_;
  std::map<std::string, std::optional<Json>> changes_;
};

}  // namespace sc::controlplane
