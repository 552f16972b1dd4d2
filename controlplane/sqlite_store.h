// SqliteStore: the Store in one SQLite file (WAL journal, synchronous=FULL), the embedded default.
//
// Layout: table `kv(key PRIMARY KEY, value, create_rev, mod_rev)` and table `meta(name, value)`
// holding `revision`. A transaction is one SQLite IMMEDIATE transaction, so after a crash (kill -9
// included) the file holds every transaction txn() acknowledged and none of a half-done one.
// One connection, serialized by a mutex: SQLite's single writer is the bottleneck anyway and the
// control plane serves reads from its own cache.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "controlplane/store.h"

struct sqlite3;

namespace sc::controlplane {

class SqliteStore final : public Store {
 public:
  // Opens or creates `path` (mode 0600). Fails when the file is not a store or is locked.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Store
  Result<std::optional<KeyValue>> get(const std::string& key) override;
  Result<RangeResult> list(const std::string& prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& ops) override;
  Result<int64_t> revision() override;
  Result<int64_t> waitForRevision(int64_t after, std::chrono::milliseconds timeout) override;

 private:
  SqliteStore(sqlite3* db, std::string path, int64_t revision) : db_(db), path_(std::move(path)), revision_(revision) {}
  Result<void> exec(const char* sql);
  Error sqlError(std::string_view verb) const;

  std::mutex mu_;
  std::condition_variable cv_;
  sqlite3* db_;
  std::string path_;
  int64_t revision_;
};

}  // namespace sc::controlplane
