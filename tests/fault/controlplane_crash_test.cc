// Crash safety: kill -9 of sccontrol during a burst of writes loses no acknowledged write, and the
// restarted server's state is consistent.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "tests/support/controlplane/raw_http.h"
#include "tests/support/controlplane/sccontrol_process.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

using Json = model::Json;

TEST(ControlplaneCrashTest, KillNineDuringWriteBurstLosesNoAcknowledgedWrite) {
  testing::TempDir dir;
  std::map<std::string, std::set<int64_t>> acked;  // family -> acknowledged revisions
  {
    testing::SccontrolProcess server(dir.path());
    ASSERT_TRUE(server.up());
    auto c = testing::awsJson(server.port(), server.key(), "AmazonEC2ContainerServiceV20141113.CreateCluster",
                              {{"clusterName", "crash"}, {"serviceConnectDefaults", {{"namespace", "ns"}}}});
    ASSERT_TRUE(c.ok() && c->status == 200);
    std::mutex mu;
    std::atomic<int> total{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        std::string family = "fam" + std::to_string(w);
        Json td = {{"family", family}, {"containerDefinitions", {{{"name", "c"}, {"image", "i"}, {"memory", 64}}}}};
        while (!stop) {
          auto r = testing::awsJson(server.port(), server.key(),
                                    "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition", td);
          if (!r.ok() || r->status != 200) continue;  // the server is gone: unacknowledged
          std::lock_guard lock(mu);
          acked[family].insert(Json::parse(r->body)["taskDefinition"]["revision"].get<int64_t>());
          ++total;
        }
      });
    }
    while (total < 200) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    int st = server.kill(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    stop = true;
    for (auto& t : writers) t.join();
  }
  testing::SccontrolProcess again(dir.path());
  ASSERT_TRUE(again.up());
  std::map<std::string, int64_t> stored_max;
  for (const auto& [family, revs] : acked) {
    auto r = testing::awsJson(again.port(), again.key(), "AmazonEC2ContainerServiceV20141113.ListTaskDefinitions",
                              {{"familyPrefix", family}});
    ASSERT_TRUE(r.ok() && r->status == 200);
    std::set<int64_t> stored;
    const Json listed = Json::parse(r->body);
    for (const Json& arn : listed["taskDefinitionArns"]) {
      std::string s = arn.get<std::string>();
      stored.insert(std::stoll(s.substr(s.rfind(':') + 1)));
    }
    for (int64_t rev : revs)
      EXPECT_TRUE(stored.contains(rev)) << family << ":" << rev << " was acknowledged but is lost";
    // Consistent: revisions are 1..n without holes (each write was all or nothing).
    ASSERT_FALSE(stored.empty());
    stored_max[family] = *stored.rbegin();
    EXPECT_EQ(*stored.rbegin(), static_cast<int64_t>(stored.size())) << family;
  }
  // The server still works and continues the sequence (a write committed just before the kill but
  // never acknowledged may be there too: all or nothing, never half).
  auto next = testing::awsJson(
      again.port(), again.key(), "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
      {{"family", "fam0"}, {"containerDefinitions", {{{"name", "c"}, {"image", "i"}, {"memory", 64}}}}});
  ASSERT_TRUE(next.ok() && next->status == 200);
  EXPECT_EQ(Json::parse(next->body)["taskDefinition"]["revision"].get<int64_t>(), stored_max["fam0"] + 1);
  auto clusters = testing::awsJson(again.port(), again.key(), "AmazonEC2ContainerServiceV20141113.DescribeClusters",
                                   {{"clusters", {"crash"}}});
  ASSERT_TRUE(clusters.ok());
  EXPECT_EQ(Json::parse(clusters->body)["clusters"][0]["status"], "ACTIVE");
}

}  // namespace
}  // namespace sc
