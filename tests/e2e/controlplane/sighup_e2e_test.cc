// sccontrol and SIGHUP (systemctl reload): it re-reads the log level and the credentials file,
// logs one line, and keeps serving; a file that does not read leaves the current settings.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "controlplane/sigv4.h"
#include "model/json_input.h"
#include "common/process.h"
#include "common/strings.h"
#include "tests/support/controlplane/raw_http.h"
#include "tests/support/controlplane/sccontrol_process.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

using model::Json;

// Occurrences of `needle` in `text`.
size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

class SighupE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::writeTestFile(dir_.file("config.json"), R"({"logLevel": "info"})");
    server_ = std::make_unique<testing::SccontrolProcess>(
        dir_.path(), std::vector<std::string>{"--config", dir_.file("config.json")});
    ASSERT_TRUE(server_->up());
  }
  int listClusters(const controlplane::AccessKey& key) {
    auto r = testing::awsJson(server_->port(), key, "AmazonEC2ContainerServiceV20141113.ListClusters", Json::object());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->status : 0;
  }
  int registerWith(const std::string& bootstrap) {
    auto r = testing::rawHttp(server_->port(), "POST", "/v1/agent/register", {},
                              Json{{"bootstrapToken", bootstrap}, {"cluster", "c"}, {"memoryMiB", 1024}}.dump());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->status : 0;
  }
  // Sends SIGHUP and waits (bounded; not a timing assertion) until the log has one more line
  // containing `line`. Fails if sccontrol exits.
  void hupAndWaitFor(const std::string& line) {
    const size_t before = count(server_->log(), line);
    server_->signal(SIGHUP);
    for (int i = 0; i < 1500 && count(server_->log(), line) == before; ++i) {
      ASSERT_FALSE(server_->exited()) << "sccontrol exited on SIGHUP; its log:\n" << server_->log();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(count(server_->log(), line), before + 1) << server_->log();
    ASSERT_FALSE(server_->exited()) << server_->log();
  }

  // `sccontrol token ...` on this server's credentials file.
  ProcessResult token(std::vector<std::string> args) {
    args.insert(args.begin(), "token");
    args.insert(args.begin() + 2, {"--credentials", dir_.file("credentials")});
    auto r = runProcess({std::string(SC_BINARY_DIR) + "/controlplane/sccontrol", args});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : ProcessResult{};
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::SccontrolProcess> server_;
};

TEST_F(SighupE2eTest, SighupReloadsAndKeepsServing) {
  EXPECT_EQ(listClusters(server_->key()), 200);
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(hupAndWaitFor("configuration reloaded"));
  EXPECT_EQ(listClusters(server_->key()), 200);
  auto health = testing::rawHttp(server_->port(), "GET", "/healthz", {}, "");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
}

TEST_F(SighupE2eTest, SighupRotatesCredentialsAndLogLevel) {
  EXPECT_EQ(listClusters(server_->key()), 200);
  ASSERT_EQ(testing::awsJson(server_->port(), server_->key(), "AmazonEC2ContainerServiceV20141113.CreateCluster",
                             Json{{"clusterName", "c"}})
                ->status,
            200);
  EXPECT_EQ(registerWith(server_->bootstrapToken()), 200);

  const controlplane::AccessKey fresh{"SCROTATEDKEY000000AB", "rotated-secret"};
  testing::writeTestFile(dir_.file("credentials"), Json{{"accessKeys", {{{"id", fresh.id}, {"secret", fresh.secret}}}},
                                                        {"bootstrapToken", "rotated-bootstrap"}}
                                                       .dump());
  testing::writeTestFile(dir_.file("config.json"), R"({"logLevel": "debug"})");
  ASSERT_NO_FATAL_FAILURE(hupAndWaitFor("configuration reloaded"));
  EXPECT_NE(server_->log().find(R"("logLevel":"debug")"), std::string::npos) << server_->log();

  EXPECT_EQ(listClusters(fresh), 200);
  EXPECT_EQ(listClusters(server_->key()), 400);  // the old key is gone
  EXPECT_EQ(registerWith("rotated-bootstrap"), 200);
  EXPECT_EQ(registerWith(server_->bootstrapToken()), 401);

  // A credentials file that does not parse changes nothing, and sccontrol stays up.
  testing::writeTestFile(dir_.file("credentials"), "{not json");
  ASSERT_NO_FATAL_FAILURE(hupAndWaitFor("configuration not reloaded"));
  EXPECT_EQ(listClusters(fresh), 200);
  EXPECT_EQ(registerWith("rotated-bootstrap"), 200);
}

// `sccontrol token` adds tokens the running sccontrol accepts after a reload: a single-use one
// registers once; a revoked one (here the generated default) is refused after the next reload.
TEST_F(SighupE2eTest, TokenCommandsTakeEffectOnReload) {
  ASSERT_EQ(testing::awsJson(server_->port(), server_->key(), "AmazonEC2ContainerServiceV20141113.CreateCluster",
                             Json{{"clusterName", "c"}})
                ->status,
            200);
  ProcessResult made = token({"create", "--single-use", "--expires-in", "1h", "--description", "rack 4"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string once = std::string(trim(made.out));
  ASSERT_EQ(once.size(), 64u) << made.out;
  EXPECT_NE(made.err.find("single use; reload sccontrol"), std::string::npos) << made.err;
  EXPECT_EQ(registerWith(once), 401) << "not before the reload";
  ASSERT_NO_FATAL_FAILURE(hupAndWaitFor("configuration reloaded"));
  EXPECT_NE(server_->log().find(R"("bootstrapTokens":"2")"), std::string::npos) << server_->log();
  EXPECT_EQ(registerWith(once), 200);
  EXPECT_EQ(registerWith(once), 401) << "single use";
  EXPECT_NE(server_->log().find("was used already"), std::string::npos);

  ProcessResult listed = token({"list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("default\tnever\tno\t"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("\tyes\track 4"), std::string::npos) << listed.out;

  EXPECT_EQ(registerWith(server_->bootstrapToken()), 200);
  ASSERT_EQ(token({"revoke", "default"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(hupAndWaitFor("configuration reloaded"));
  EXPECT_EQ(registerWith(server_->bootstrapToken()), 401);

  // Usage errors exit 2 and change nothing.
  const std::string before = testing::readTestFile(dir_.file("credentials"));
  EXPECT_EQ(token({"create", "--expires-in", "0s"}).exit_code, 2);
  EXPECT_EQ(token({"revoke"}).exit_code, 2);
  EXPECT_EQ(token({"revoke", "bt-none"}).exit_code, 1);
  EXPECT_EQ(testing::readTestFile(dir_.file("credentials")), before);
}

}  // namespace
}  // namespace sc
