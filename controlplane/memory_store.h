// MemoryStore: the Store contract held in memory. For tests and for runs that need no durability.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>

#include "controlplane/store.h"

namespace sc::controlplane {

class MemoryStore final : public Store {
 public:
  // Store
  Result<std::optional<KeyValue>> get(const std::string& key) override;
  Result<RangeResult> list(const std::string& prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& ops) override;
  Result<int64_t> revision() override;
  Result<int64_t> waitForRevision(int64_t after, std::chrono::milliseconds timeout) override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, KeyValue> kvs_;
  int64_t revision_ = 0;
};

}  // namespace sc::controlplane
