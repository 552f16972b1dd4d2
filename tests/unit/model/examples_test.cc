// Every task definition and service shipped in examples/ parses and plans (a skipped file would
// change the count and fail here).
#include <gtest/gtest.h>

#include <filesystem>

#include "common/file.h"
#include "model/parse.h"
#include "model/plan.h"
#include "tests/support/golden.h"

namespace sc::model {
namespace {

TEST(ExamplesTest, EveryShippedExamplePlans) {
  size_t planned = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(testing::sourcePath("examples"))) {
    const std::string path = entry.path().string();
    if (path.find("task-definition") == std::string::npos || !path.ends_with(".json")) continue;
    std::string svc_path = path;
    svc_path.replace(svc_path.find("task-definition"), std::string("task-definition").size(), "service");
    SCOPED_TRACE(path);
    auto td = parseTaskDefinition(*readFile(path));
    ASSERT_TRUE(td.ok()) << td.error().message;
    auto svc = parseServiceDefinition(*readFile(svc_path));
    ASSERT_TRUE(svc.ok()) << svc.error().message;
    std::optional<ClusterDefinition> cluster;
    const std::string cluster_path = entry.path().parent_path().string() + "/cluster.json";
    if (std::filesystem::exists(cluster_path)) {
      auto c = parseClusterDefinition(*readFile(cluster_path));
      ASSERT_TRUE(c.ok()) << c.error().message;
      cluster = *c;
    }
    PlanOutcome o = buildTaskPlan({*td, *svc, cluster ? &*cluster : nullptr, nullptr}, {"example", 1});
    EXPECT_TRUE(o.plan.has_value()) << (o.errors.empty() ? "" : o.errors[0].text());
    ++planned;
  }
  EXPECT_EQ(planned, 4u);  // seed-example: awsvpc and bridge; demo: db and web. Update when adding examples.
}

}  // namespace
}  // namespace sc::model
