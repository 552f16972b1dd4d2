// sccontrol on etcd: `--store etcd://...` against a real etcd the test starts on loopback, driven
// by the real `aws` CLI; state survives a restart of sccontrol because it lives in etcd.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "common/process.h"
#include "tests/support/aws_cli.h"
#include "tests/support/controlplane/sccontrol_process.h"
#include "tests/support/etcd_cluster.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

using Json = nlohmann::json;

TEST(EtcdE2eTest, ClusterSurvivesASccontrolRestart) {
  const std::string program = testing::findAwsCli();
  if (program.empty()) GTEST_SKIP() << "the aws CLI is not on PATH (scripts/setup installs it)";
  testing::TempDir dir;
  testing::EtcdCluster etcd(dir.path());
  ASSERT_TRUE(etcd.ok());
  const std::string data = dir.path() + "/sccontrol";
  {
    testing::SccontrolProcess server(data, {"--store", etcd.url()});
    ASSERT_TRUE(server.up()) << server.log();
    testing::AwsCli cli(program, server.endpoint(), server.key().id, server.key().secret, dir.path());
    Json c = cli.json({"ecs", "create-cluster", "--cluster-name", "on-etcd"});
    EXPECT_EQ(c["cluster"]["clusterName"], "on-etcd");
  }
  testing::SccontrolProcess again(data, {"--store", etcd.url()});
  ASSERT_TRUE(again.up()) << again.log();
  testing::AwsCli cli(program, again.endpoint(), again.key().id, again.key().secret, dir.path());
  Json d = cli.json({"ecs", "describe-clusters", "--clusters", "on-etcd"});
  ASSERT_EQ(d["clusters"].size(), 1u) << d.dump();
  EXPECT_EQ(d["clusters"][0]["status"], "ACTIVE");
}

TEST(EtcdE2eTest, WithEtcdAwayWritesFailAndReadsStillAnswer) {
  const std::string program = testing::findAwsCli();
  if (program.empty()) GTEST_SKIP() << "the aws CLI is not on PATH (scripts/setup installs it)";
  testing::TempDir dir;
  testing::EtcdCluster etcd(dir.path());
  ASSERT_TRUE(etcd.ok());
  testing::SccontrolProcess server(dir.path() + "/sccontrol", {"--store", etcd.url()});
  ASSERT_TRUE(server.up()) << server.log();
  testing::AwsCli cli(program, server.endpoint(), server.key().id, server.key().secret, dir.path());
  cli.json({"ecs", "create-cluster", "--cluster-name", "before"});
  etcd.kill(0);
  ProcessResult w = cli.run({"ecs", "create-cluster", "--cluster-name", "after"});
  EXPECT_NE(w.exit_code, 0) << w.out;
  EXPECT_NE(w.err.find("ServerException"), std::string::npos) << w.err;
  EXPECT_NE(w.err.find("failed to reach 'etcd'"), std::string::npos) << w.err;
  Json d = cli.json({"ecs", "describe-clusters", "--clusters", "before"});
  EXPECT_EQ(d["clusters"].size(), 1u) << d.dump();
  EXPECT_FALSE(server.exited());
}

TEST(EtcdE2eTest, UnreachableEtcdStopsTheStartWithAClearError) {
  testing::TempDir dir;
  ProcessOptions o;
  o.path = std::string(SC_BINARY_DIR) + "/controlplane/sccontrol";
  o.args = {"--store", "etcd://127.0.0.1:1", "--data-dir", dir.path(), "--listen", "127.0.0.1:0"};
  auto r = runProcess(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->err.find("failed to open store 'etcd://127.0.0.1:1'"), std::string::npos) << r->err;
}

TEST(EtcdE2eTest, TlsFilesWithAPlainEtcdUrlAreRefused) {
  testing::TempDir dir;
  ProcessOptions o;
  o.path = std::string(SC_BINARY_DIR) + "/controlplane/sccontrol";
  o.args = {"--store", "etcd://127.0.0.1:1", "--etcd-ca", "/nonexistent", "--data-dir", dir.path()};
  auto r = runProcess(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->err.find("use etcds:// for TLS"), std::string::npos) << r->err;
}

}  // namespace
}  // namespace sc
