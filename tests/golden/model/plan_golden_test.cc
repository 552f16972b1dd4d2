// Pins `scagent plan` output for the seed example (awsvpc and bridge) with a fixed port seed.
#include <gtest/gtest.h>

#include "model/parse.h"
#include "model/plan.h"
#include "tests/support/golden.h"

namespace sc::model {
namespace {

std::string planFor(const std::string& td_file, const std::string& svc_file) {
  auto td = parseTaskDefinition(testing::readSource("examples/seed-example/" + td_file));
  auto svc = parseServiceDefinition(testing::readSource("examples/seed-example/" + svc_file));
  auto cluster = parseClusterDefinition(testing::readSource("examples/seed-example/cluster.json"));
  EXPECT_TRUE(td.ok() && svc.ok() && cluster.ok());
  PlanOutcome o = buildTaskPlan({*td, *svc, &*cluster, nullptr}, {"", 1});
  EXPECT_TRUE(o.plan.has_value());
  return o.plan ? taskPlanToJson(*o.plan).dump(2) + "\n" : "";
}

TEST(PlanGoldenTest, SeedExampleAwsvpc) {
  testing::expectGolden("model/seed-example-awsvpc.json", planFor("task-definition.json", "service.json"));
}

TEST(PlanGoldenTest, SeedExampleBridge) {
  testing::expectGolden("model/seed-example-bridge.json",
                        planFor("task-definition-bridge.json", "service-bridge.json"));
}

}  // namespace
}  // namespace sc::model
