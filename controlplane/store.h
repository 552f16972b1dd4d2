// Store: the control plane's state as a revisioned key-value space.
//
// Every committed transaction moves one global revision forward by one. Each key remembers the
// revision that created it and the one that last changed it, so a writer can make a change
// conditional on what it read (compare-and-set). Readers can wait for the revision to pass a value.
// This is etcd's model in miniature, so an etcd implementation can follow without changing callers.
//
// Thread rules: every method may be called from any thread; a transaction is atomic and durable
// when txn() returns success (for SqliteStore: committed and synced to the WAL).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace sc::controlplane {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // sorted by key
  int64_t revision = 0;       // the store's revision the read saw
};

// A condition of a transaction: `key`'s mod_revision equals `mod_revision` (0: the key is absent).
struct Compare {
  std::string key;
  int64_t mod_revision = 0;
};

struct TxnOp {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  static TxnOp put(std::string k, std::string v) { return {Kind::kPut, std::move(k), std::move(v)}; }
  static TxnOp del(std::string k) { return {Kind::kDelete, std::move(k), {}}; }
};

struct TxnResult {
  bool succeeded = false;  // false: a compare failed and nothing was written
  int64_t revision = 0;    // the revision after the transaction (unchanged when it failed)
};

class Store {
 public:
  virtual ~Store() = default;
  virtual Result<std::optional<KeyValue>> get(const std::string& key) = 0;
  // Every key starting with `prefix` ("" lists everything), sorted by key.
  virtual Result<RangeResult> list(const std::string& prefix) = 0;
  // All compares hold -> every op applies, the revision moves by one; else nothing changes.
  // A transaction without ops that succeeds does not move the revision.
  virtual Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& ops) = 0;
  virtual Result<int64_t> revision() = 0;
  // Blocks until the revision is greater than `after` or `timeout` passes; returns the revision.
  virtual Result<int64_t> waitForRevision(int64_t after, std::chrono::milliseconds timeout) = 0;
};

}  // namespace sc::controlplane
