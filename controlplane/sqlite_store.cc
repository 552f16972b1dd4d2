#include "controlplane/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include "common/failpoint.h"

namespace sc::controlplane {
namespace {

// A prepared statement, finalized on every path.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }
  void bindText(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bindInt(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  std::string text(int i) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    int n = sqlite3_column_bytes(s_, i);
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
  }
  int64_t integer(int i) { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

// The range [prefix, prefixEnd) covers every key starting with prefix.
std::optional<std::string> prefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto c = static_cast<unsigned char>(prefix.back());
    if (c < 0xff) {
      prefix.back() = static_cast<char>(c + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::nullopt;
}

}  // namespace

Error SqliteStore::sqlError(std::string_view verb) const {
  return makeError(ErrorCode::kInternal, verb, path_, sqlite3_errmsg(db_));
}

Result<void> SqliteStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string cause = msg != nullptr ? msg : "unknown error";
    sqlite3_free(msg);
    return makeError(ErrorCode::kInternal, "execute statement on", path_, cause);
  }
  return {};
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  mode_t old = ::umask(077);
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  ::umask(old);
  if (rc != SQLITE_OK) {
    std::string cause = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return makeError(ErrorCode::kUnavailable, "open store", path, cause);
  }
  std::unique_ptr<SqliteStore> s(new SqliteStore(db, path, 0));
  sqlite3_busy_timeout(db, 5000);
  SC_TRY_CTX(s->exec("PRAGMA journal_mode=WAL"), "open store", path);
  SC_TRY_CTX(s->exec("PRAGMA synchronous=FULL"), "open store", path);
  SC_TRY_CTX(s->exec("CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL, "
                     "create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;"
                     "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                     "INSERT OR IGNORE INTO meta VALUES ('revision', 0);"),
             "open store", path);
  Stmt q(db, "SELECT value FROM meta WHERE name='revision'");
  if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return s->sqlError("read the revision of store");
  s->revision_ = q.integer(0);
  return s;
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

Result<std::optional<KeyValue>> SqliteStore::get(const std::string& key) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT value, create_rev, mod_rev FROM kv WHERE key = ?1");
  if (!q.ok()) return sqlError("read store");
  q.bindText(1, key);
  int rc = sqlite3_step(q.get());
  if (rc == SQLITE_DONE) return std::optional<KeyValue>();
  if (rc != SQLITE_ROW) return sqlError("read store");
  return std::optional<KeyValue>(KeyValue{key, q.text(0), q.integer(1), q.integer(2)});
}

Result<RangeResult> SqliteStore::list(const std::string& prefix) {
  std::lock_guard lock(mu_);
  auto end = prefixEnd(prefix);
  Stmt q(db_, end ? "SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"
                  : "SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ?1 ORDER BY key");
  if (!q.ok()) return sqlError("list store");
  q.bindText(1, prefix);
  if (end) q.bindText(2, *end);
  RangeResult r;
  r.revision = revision_;
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    r.kvs.push_back(KeyValue{q.text(0), q.text(1), q.integer(2), q.integer(3)});
  }
  if (rc != SQLITE_DONE) return sqlError("list store");
  return r;
}

Result<TxnResult> SqliteStore::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& ops) {
  std::unique_lock lock(mu_);
  SC_TRY(exec("BEGIN IMMEDIATE"));
  auto rollback = [&](Error e) -> Result<TxnResult> {
    (void)exec("ROLLBACK");
    return e;
  };
  for (const Compare& c : compares) {
    Stmt q(db_, "SELECT mod_rev FROM kv WHERE key = ?1");
    if (!q.ok()) return rollback(sqlError("compare in store"));
    q.bindText(1, c.key);
    int rc = sqlite3_step(q.get());
    int64_t mod = 0;
    if (rc == SQLITE_ROW) {
      mod = q.integer(0);
    } else if (rc != SQLITE_DONE) {
      return rollback(sqlError("compare in store"));
    }
    if (mod != c.mod_revision) {
      (void)exec("ROLLBACK");
      return TxnResult{false, revision_};
    }
  }
  if (ops.empty()) {
    SC_TRY(exec("COMMIT"));
    return TxnResult{true, revision_};
  }
  int64_t rev = revision_ + 1;
  for (const TxnOp& op : ops) {
    if (op.kind == TxnOp::Kind::kDelete) {
      Stmt d(db_, "DELETE FROM kv WHERE key = ?1");
      if (!d.ok()) return rollback(sqlError("delete from store"));
      d.bindText(1, op.key);
      if (sqlite3_step(d.get()) != SQLITE_DONE) return rollback(sqlError("delete from store"));
      continue;
    }
    Stmt u(db_,
           "INSERT INTO kv (key, value, create_rev, mod_rev) VALUES (?1, ?2, ?3, ?3) "
           "ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev");
    if (!u.ok()) return rollback(sqlError("write to store"));
    u.bindText(1, op.key);
    sqlite3_bind_blob(u.get(), 2, op.value.data(), static_cast<int>(op.value.size()), SQLITE_TRANSIENT);
    u.bindInt(3, rev);
    if (sqlite3_step(u.get()) != SQLITE_DONE) return rollback(sqlError("write to store"));
  }
  Stmt m(db_, "UPDATE meta SET value = ?1 WHERE name = 'revision'");
  if (!m.ok()) return rollback(sqlError("write to store"));
  m.bindInt(1, rev);
  if (sqlite3_step(m.get()) != SQLITE_DONE) return rollback(sqlError("write to store"));
  if (auto fp = failpoint::check("store.commit"); !fp.ok()) return rollback(std::move(fp).error());
  if (auto c = exec("COMMIT"); !c.ok()) return rollback(std::move(c).error());
  revision_ = rev;
  lock.unlock();
  cv_.notify_all();
  return TxnResult{true, rev};
}

Result<int64_t> SqliteStore::revision() {
  std::lock_guard lock(mu_);
  return revision_;
}

Result<int64_t> SqliteStore::waitForRevision(int64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return revision_ > after; });
  return revision_;
}

}  // namespace sc::controlplane
