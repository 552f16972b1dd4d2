// The Store contract, run against every implementation. Built twice: as part of the unit suite
// (MemoryStore, SqliteStore) and, with SC_STORE_CONTRACT_ON_ETCD, as etcd_store_test (label etcd)
// against a real etcd the test starts: one member and three members on loopback.
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "common/failpoint.h"
#include "controlplane/memory_store.h"
#include "controlplane/sqlite_store.h"
#include "tests/support/temp_dir.h"
#ifdef SC_STORE_CONTRACT_ON_ETCD
#include "controlplane/etcd_store.h"
#include "tests/support/etcd_cluster.h"
#endif

namespace sc::controlplane {
namespace {

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<Store>(const std::string& dir)> make;
};

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam().make(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  TxnResult put(const std::string& k, const std::string& v) {
    auto r = store_->txn({}, {TxnOp::put(k, v)});
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : TxnResult{};
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContractTest, StartsEmptyAtRevisionZero) {
  EXPECT_EQ(*store_->revision(), 0);
  auto g = store_->get("a");
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
  EXPECT_TRUE(store_->list("")->kvs.empty());
}

TEST_P(StoreContractTest, EachTransactionMovesTheRevisionByOne) {
  EXPECT_EQ(put("a", "1").revision, 1);
  EXPECT_EQ(put("b", "2").revision, 2);
  auto r = store_->txn({}, {TxnOp::put("c", "3"), TxnOp::put("d", "4")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->revision, 3);
  EXPECT_EQ(*store_->revision(), 3);
}

TEST_P(StoreContractTest, KeysRememberCreateAndModRevisions) {
  put("a", "1");
  put("b", "x");
  put("a", "2");
  auto g = store_->get("a");
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ((*g)->value, "2");
  EXPECT_EQ((*g)->create_revision, 1);
  EXPECT_EQ((*g)->mod_revision, 3);
}

TEST_P(StoreContractTest, PrefixListIsSortedAndBounded) {
  put("svc/b", "2");
  put("svc/a", "1");
  put("svd", "no");
  put("sva", "no");
  put(std::string("svc/\xff", 5), "hi");
  auto l = store_->list("svc/");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->kvs.size(), 3u);
  EXPECT_EQ(l->kvs[0].key, "svc/a");
  EXPECT_EQ(l->kvs[1].key, "svc/b");
  EXPECT_EQ(l->revision, 5);
  EXPECT_EQ(store_->list("")->kvs.size(), 5u);
}

TEST_P(StoreContractTest, CompareAndSetAppliesAllOrNothing) {
  put("a", "1");  // rev 1
  auto bad = store_->txn({{"a", 7}}, {TxnOp::put("a", "2"), TxnOp::put("b", "2")});
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->succeeded);
  EXPECT_EQ(bad->revision, 1);
  EXPECT_FALSE(store_->get("b")->has_value());
  auto good = store_->txn({{"a", 1}, {"b", 0}}, {TxnOp::put("a", "2"), TxnOp::put("b", "2")});
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(good->succeeded);
  EXPECT_EQ(good->revision, 2);
  auto absent = store_->txn({{"b", 0}}, {TxnOp::put("b", "3")});
  EXPECT_FALSE(absent->succeeded);
}

TEST_P(StoreContractTest, DeleteRemovesAndMovesTheRevision) {
  put("a", "1");
  auto r = store_->txn({{"a", 1}}, {TxnOp::del("a")});
  ASSERT_TRUE(r.ok() && r->succeeded);
  EXPECT_EQ(r->revision, 2);
  EXPECT_FALSE(store_->get("a")->has_value());
  // Re-creating starts a new create revision.
  put("a", "again");
  EXPECT_EQ((*store_->get("a"))->create_revision, 3);
}

TEST_P(StoreContractTest, EmptySuccessfulTransactionKeepsTheRevision) {
  put("a", "1");
  auto r = store_->txn({{"a", 1}}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(r->revision, 1);
}

TEST_P(StoreContractTest, ValuesAreBinarySafe) {
  std::string v("a\0b\xff", 4);
  put("k", v);
  EXPECT_EQ((*store_->get("k"))->value, v);
}

TEST_P(StoreContractTest, WaitForRevisionReturnsWhenAWriteLands) {
  auto timed_out = store_->waitForRevision(0, std::chrono::milliseconds(1));
  ASSERT_TRUE(timed_out.ok());
  EXPECT_EQ(*timed_out, 0);
  std::thread writer([&] { put("a", "1"); });
  auto r = store_->waitForRevision(0, std::chrono::seconds(30));
  writer.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1);
}

TEST_P(StoreContractTest, ConcurrentCompareAndSetIncrementsLoseNothing) {
  put("n", "0");
  auto worker = [&] {
    for (int done = 0; done < 50;) {
      auto cur = store_->get("n");
      ASSERT_TRUE(cur.ok());
      int v = std::stoi((*cur)->value);
      auto r = store_->txn({{"n", (*cur)->mod_revision}}, {TxnOp::put("n", std::to_string(v + 1))});
      ASSERT_TRUE(r.ok());
      if (r->succeeded) ++done;
    }
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  EXPECT_EQ((*store_->get("n"))->value, "100");
  EXPECT_EQ(*store_->revision(), 101);
}

#ifdef SC_STORE_CONTRACT_ON_ETCD
// An EtcdStore that owns the etcd it runs on, so each test gets a fresh cluster.
class StoreOnOwnEtcd final : public Store {
 public:
  StoreOnOwnEtcd(const std::string& dir, int members) : etcd_(dir, members) {}
  bool open() {
    if (!etcd_.ok()) return false;
    EtcdOptions o;
    auto parsed = parseEtcdUrl(etcd_.url(), o);
    if (!parsed.ok() || !*parsed) return false;
    auto s = EtcdStore::open(o);
    EXPECT_TRUE(s.ok()) << s.error().message;
    if (s.ok()) store_ = std::move(*s);
    return store_ != nullptr;
  }
  Result<std::optional<KeyValue>> get(const std::string& key) override { return store_->get(key); }
  Result<RangeResult> list(const std::string& prefix) override { return store_->list(prefix); }
  Result<TxnResult> txn(const std::vector<Compare>& c, const std::vector<TxnOp>& ops) override {
    return store_->txn(c, ops);
  }
  Result<int64_t> revision() override { return store_->revision(); }
  Result<int64_t> waitForRevision(int64_t after, std::chrono::milliseconds timeout) override {
    return store_->waitForRevision(after, timeout);
  }

 private:
  testing::EtcdCluster etcd_;
  std::unique_ptr<EtcdStore> store_;
};

std::unique_ptr<Store> onEtcd(const std::string& dir, int members) {
  auto s = std::make_unique<StoreOnOwnEtcd>(dir, members);
  return s->open() ? std::move(s) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Etcd, StoreContractTest,
                         ::testing::Values(StoreFactory{"etcd1", [](const std::string& d) { return onEtcd(d, 1); }},
                                           StoreFactory{"etcd3", [](const std::string& d) { return onEtcd(d, 3); }}),
                         [](const ::testing::TestParamInfo<StoreFactory>& i) { return i.param.name; });
#else
INSTANTIATE_TEST_SUITE_P(All, StoreContractTest,
                         ::testing::Values(StoreFactory{"memory",
                                                        [](const std::string&) -> std::unique_ptr<Store> {
                                                          return std::make_unique<MemoryStore>();
                                                        }},
                                           StoreFactory{"sqlite",
                                                        [](const std::string& dir) -> std::unique_ptr<Store> {
                                                          auto s = SqliteStore::open(dir + "/state.db");
                                                          EXPECT_TRUE(s.ok()) << s.error().message;
                                                          return s.ok() ? std::move(*s) : nullptr;
                                                        }}),
                         [](const ::testing::TestParamInfo<StoreFactory>& i) { return i.param.name; });

TEST(SqliteStoreTest, ReopenKeepsDataAndRevision) {
  testing::TempDir d;
  {
    auto s = SqliteStore::open(d.file("s.db"));
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->txn({}, {TxnOp::put("a", "1")}).ok());
    ASSERT_TRUE((*s)->txn({}, {TxnOp::put("b", "2")}).ok());
  }
  auto s = SqliteStore::open(d.file("s.db"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*(*s)->revision(), 2);
  EXPECT_EQ((*(*s)->get("b"))->value, "2");
}

TEST(SqliteStoreTest, FailedCommitLeavesNothing) {
  testing::TempDir d;
  auto s = SqliteStore::open(d.file("s.db"));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(failpoint::set("store.commit=error").ok());
  auto r = (*s)->txn({}, {TxnOp::put("a", "1")});
  ASSERT_TRUE(failpoint::set("").ok());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(*(*s)->revision(), 0);
  EXPECT_FALSE((*(*s)->get("a")).has_value());
}

TEST(SqliteStoreTest, NotAStoreIsAnError) {
  testing::TempDir d;
  testing::writeTestFile(d.file("junk.db"), std::string(4096, 'x'));
  auto s = SqliteStore::open(d.file("junk.db"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("failed to open store"), std::string::npos) << s.error().message;
}

#endif  // SC_STORE_CONTRACT_ON_ETCD

}  // namespace
}  // namespace sc::controlplane
