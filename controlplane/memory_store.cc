#include "controlplane/memory_store.h"

namespace sc::controlplane {

Result<std::optional<KeyValue>> MemoryStore::get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = kvs_.find(key);
  if (it == kvs_.end()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(it->second);
}

Result<RangeResult> MemoryStore::list(const std::string& prefix) {
  std::lock_guard lock(mu_);
  RangeResult r;
  r.revision = revision_;
  for (auto it = kvs_.lower_bound(prefix); it != kvs_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    r.kvs.push_back(it->second);
  }
  return r;
}

Result<TxnResult> MemoryStore::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& ops) {
  std::unique_lock lock(mu_);
  for (const Compare& c : compares) {
    auto it = kvs_.find(c.key);
    int64_t mod = it == kvs_.end() ? 0 : it->second.mod_revision;
    if (mod != c.mod_revision) return TxnResult{false, revision_};
  }
  if (ops.empty()) return TxnResult{true, revision_};
  int64_t rev = revision_ + 1;
  for (const TxnOp& op : ops) {
    if (op.kind == TxnOp::Kind::kDelete) {
      kvs_.erase(op.key);
      continue;
    }
    auto it = kvs_.find(op.key);
    if (it == kvs_.end()) {
      kvs_[op.key] = KeyValue{op.key, op.value, rev, rev};
    } else {
      it->second.value = op.value;
      it->second.mod_revision = rev;
    }
  }
  revision_ = rev;
  lock.unlock();
  cv_.notify_all();
  return TxnResult{true, rev};
}

Result<int64_t> MemoryStore::revision() {
  std::lock_guard lock(mu_);
  return revision_;
}

Result<int64_t> MemoryStore::waitForRevision(int64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return revision_ > after; });
  return revision_;
}

}  // namespace sc::controlplane
