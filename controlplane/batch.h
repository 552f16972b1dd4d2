// ControlPlane::Batch: the changes one operation makes, read back through an overlay on the
// control plane's documents, committed as one Store transaction.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
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
  // A view of one document: references into the control plane's documents or this batch's changes.
  // Valid until the batch deletes that key, is cleared, or is committed.
  struct Entry {
    const std::string& first;
    const Json& second;
  };
  // The document at `key` (overlay applied) without copying it; nullptr when absent.
  const Json* find(const std::string& key) const {
    if (auto it = changes_.find(key); it != changes_.end()) return it->second ? &*it->second : nullptr;
    if (auto it = docs_.find(key); it != docs_.end()) return &it->second.value;
    return nullptr;
  }
  // Every (key, doc) under `prefix`, the overlay applied, sorted by key; nothing is copied.
  std::vector<Entry> list(const std::string& prefix) const {
    std::map<std::string_view, std::pair<const std::string*, const Json*>> m;
    for (auto it = docs_.lower_bound(prefix); it != docs_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
         ++it) {
      m[it->first] = {&it->first, &it->second.value};
    }
    for (auto it = changes_.lower_bound(prefix);
         it != changes_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (it->second) {
        m[it->first] = {&it->first, &*it->second};
      } else {
        m.erase(it->first);
      }
    }
    std::vector<Entry> out;
    out.reserve(m.size());
    for (const auto& [k, v] : m) out.push_back(Entry{*v.first, *v.second});
    return out;
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
