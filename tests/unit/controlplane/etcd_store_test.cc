// EtcdStore beyond the contract: URLs, etcd's limits, paging, the prefix, fail-over.
#include "controlplane/etcd_store.h"

#include <gtest/gtest.h>

#include "tests/support/etcd_cluster.h"
#include "tests/support/temp_dir.h"

namespace sc::controlplane {
namespace {

std::unique_ptr<EtcdStore> openOn(const testing::EtcdCluster& etcd, EtcdOptions o = {}) {
  auto parsed = parseEtcdUrl(etcd.url(), o);
  EXPECT_TRUE(parsed.ok() && *parsed);
  auto s = EtcdStore::open(o);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(EtcdUrlTest, ParsesEndpointListsAndSchemes) {
  EtcdOptions o;
  ASSERT_TRUE(*parseEtcdUrl("etcd://10.0.0.1:2379,10.0.0.2:2379", o));
  EXPECT_EQ(o.endpoints, (std::vector<std::string>{"http://10.0.0.1:2379", "http://10.0.0.2:2379"}));
  ASSERT_TRUE(*parseEtcdUrl("etcds://e:2379", o));
  EXPECT_EQ(o.endpoints, (std::vector<std::string>{"https://e:2379"}));
  EXPECT_FALSE(*parseEtcdUrl("/var/lib/sccontrol/state.db", o));
  EXPECT_FALSE(parseEtcdUrl("etcd://", o).ok());
  EXPECT_FALSE(parseEtcdUrl("etcd://host", o).ok());
  EXPECT_FALSE(parseEtcdUrl("etcd://a:1,", o).ok());
}

TEST(EtcdStoreTest, UnreachableEtcdIsAnErrorAtOpen) {
  EtcdOptions o;
  o.endpoints = {"http://127.0.0.1:1"};
  auto s = EtcdStore::open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("no endpoint answered"), std::string::npos) << s.error().message;
}

TEST(EtcdStoreTest, RefusesTransactionsOverEtcdsLimits) {
  testing::TempDir d;
  testing::EtcdCluster etcd(d.path());
  ASSERT_TRUE(etcd.ok());
  auto s = openOn(etcd);
  ASSERT_NE(s, nullptr);
  std::vector<TxnOp> ops;
  for (int i = 0; i < 129; ++i) ops.push_back(TxnOp::put("k" + std::to_string(i), "v"));
  auto many = s->txn({}, ops);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.error().message.find("failed to commit 'transaction': 129 ops exceed etcd's limit of 128"),
            std::string::npos)
      << many.error().message;
  ops.pop_back();
  EXPECT_TRUE(s->txn({}, ops).ok());  // 128 is allowed
  auto big = s->txn({}, {TxnOp::put("big", std::string(2u << 20, 'x'))});
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("exceed etcd's request limit"), std::string::npos) << big.error().message;
  EXPECT_TRUE(s->txn({}, {TxnOp::put("large", std::string(1u << 20, 'x'))}).ok());  // 1 MiB fits
  EXPECT_EQ((*s->get("large"))->value.size(), 1u << 20);
}

TEST(EtcdStoreTest, ListPagesThroughManyKeysAtOneRevision) {
  testing::TempDir d;
  testing::EtcdCluster etcd(d.path());
  ASSERT_TRUE(etcd.ok());
  EtcdOptions o;
  o.page_size = 7;
  auto s = openOn(etcd, o);
  ASSERT_NE(s, nullptr);
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<TxnOp> ops;
    for (int i = 0; i < 20; ++i) ops.push_back(TxnOp::put("p/" + std::to_string(batch * 100 + i), "v"));
    ASSERT_TRUE(s->txn({}, ops).ok());
  }
  ASSERT_TRUE(s->txn({}, {TxnOp::put("q", "other")}).ok());
  auto l = s->list("p/");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->kvs.size(), 60u);
  EXPECT_EQ(l->revision, 4);
  for (size_t i = 1; i < l->kvs.size(); ++i) EXPECT_LT(l->kvs[i - 1].key, l->kvs[i].key);
  EXPECT_EQ(s->list("")->kvs.size(), 61u);
}

TEST(EtcdStoreTest, PrefixesKeepStoresApartOnOneEtcd) {
  testing::TempDir d;
  testing::EtcdCluster etcd(d.path());
  ASSERT_TRUE(etcd.ok());
  EtcdOptions other;
  other.prefix = "/other/";
  auto a = openOn(etcd);
  auto b = openOn(etcd, other);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->txn({}, {TxnOp::put("k", "a")}).ok());
  ASSERT_TRUE(b->txn({}, {TxnOp::put("k", "b")}).ok());
  EXPECT_EQ((*a->get("k"))->value, "a");
  EXPECT_EQ((*b->get("k"))->value, "b");
  EXPECT_EQ(a->list("")->kvs.size(), 1u);
  // The revision is etcd's: the other prefix's write moved it too, strictly forward.
  EXPECT_EQ(*a->revision(), 2);
}

TEST(EtcdStoreTest, FailsOverWhenAMemberDies) {
  testing::TempDir d;
  testing::EtcdCluster etcd(d.path(), 3);
  ASSERT_TRUE(etcd.ok());
  auto s = openOn(etcd);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->txn({}, {TxnOp::put("a", "1")}).ok());
  etcd.kill(0);  // the endpoint the store talks to first
  auto r = s->txn({}, {TxnOp::put("b", "2")});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->revision, 2);
  EXPECT_EQ((*s->get("a"))->value, "1");
  EXPECT_EQ(s->list("")->kvs.size(), 2u);
}

}  // namespace
}  // namespace sc::controlplane
