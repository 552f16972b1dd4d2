// DescribeServiceDeployments and ListServiceDeployments: a service's deployments as ECS's service
// deployment history, their statuses through a rollout, a replaced rollout and a deletion, the
// filters and pages, and the refusals (which change nothing).
#include <gtest/gtest.h>

#include "tests/unit/controlplane/control_plane_fixture.h"

namespace sc::controlplane {
namespace {

constexpr const char* kPrefix = "arn:aws:ecs:us-east-1:000000000000:";

class ServiceDeploymentsTest : public ControlPlaneTest {
 protected:
  Json list(Json in = Json::object()) {
    in["cluster"] = "c";
    in["service"] = "web";
    return ecs("ListServiceDeployments", in);
  }
  static std::string digits(const std::string& deployment_id) { return deployment_id.substr(8); }  // "ecs-svc/…"
  static std::string deploymentArn(const std::string& id) {
    return std::string(kPrefix) + "service-deployment/c/web/" + digits(id);
  }
  static std::string revisionArn(const std::string& id) {
    return std::string(kPrefix) + "service-revision/c/web/" + digits(id);
  }
  Json describe(const std::vector<std::string>& arns) {
    return ecs("DescribeServiceDeployments", {{"serviceDeploymentArns", arns}});
  }
};

TEST_F(ServiceDeploymentsTest, ARolloutItsReplacementAndADeletionAsEcsReportsThem) {
  registerInstance("a");
  setup(1);
  const std::string first = service()["deployments"][0]["id"];
  Json l = list()["serviceDeployments"];
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["serviceDeploymentArn"], deploymentArn(first));
  EXPECT_EQ(l[0]["serviceArn"], std::string(kPrefix) + "service/c/web");
  EXPECT_EQ(l[0]["clusterArn"], std::string(kPrefix) + "cluster/c");
  EXPECT_EQ(l[0]["targetServiceRevisionArn"], revisionArn(first));
  EXPECT_EQ(l[0]["status"], "IN_PROGRESS");
  EXPECT_FALSE(l[0].contains("finishedAt"));

  clock_.advance(std::chrono::seconds(10));
  settle("a");
  Json d = describe({deploymentArn(first)})["serviceDeployments"][0];
  EXPECT_EQ(d["status"], "SUCCESSFUL");
  EXPECT_EQ(d["finishedAt"], 1795000010.0);
  EXPECT_EQ(d["createdAt"], 1795000000.0);
  EXPECT_EQ(
      d["targetServiceRevision"],
      Json({{"arn", revisionArn(first)}, {"requestedTaskCount", 1}, {"runningTaskCount", 1}, {"pendingTaskCount", 0}}));
  EXPECT_EQ(d["sourceServiceRevisions"], Json::array());
  EXPECT_EQ(d["deploymentConfiguration"], Json({{"maximumPercent", 200}, {"minimumHealthyPercent", 100}}));
  EXPECT_EQ(d["deploymentCircuitBreaker"]["status"], "DISABLED");
  EXPECT_FALSE(d.contains("_id"));

  // A new deployment, replaced by another before it completes: STOPPED, the first still SUCCESSFUL.
  clock_.advance(std::chrono::seconds(10));
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"forceNewDeployment", true}});
  const std::string second = service()["deployments"][0]["id"];
  d = describe({deploymentArn(second)})["serviceDeployments"][0];
  EXPECT_EQ(d["status"], "IN_PROGRESS");
  ASSERT_EQ(d["sourceServiceRevisions"].size(), 1u);
  EXPECT_EQ(d["sourceServiceRevisions"][0]["arn"], revisionArn(first));
  EXPECT_EQ(d["sourceServiceRevisions"][0]["runningTaskCount"], 1);
  clock_.advance(std::chrono::seconds(10));
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"forceNewDeployment", true}});
  const std::string third = service()["deployments"][0]["id"];
  for (int i = 0; i < 4; ++i) settle("a");
  l = list()["serviceDeployments"];
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0]["serviceDeploymentArn"], deploymentArn(third));  // newest first
  EXPECT_EQ(l[0]["status"], "SUCCESSFUL");
  EXPECT_EQ(l[1]["serviceDeploymentArn"], deploymentArn(second));
  EXPECT_EQ(l[1]["status"], "STOPPED");
  EXPECT_EQ(l[1]["statusReason"], "ECS deployment " + third + " replaced it.");
  EXPECT_EQ(l[2]["status"], "SUCCESSFUL");
  d = describe({deploymentArn(second)})["serviceDeployments"][0];
  EXPECT_EQ(d["stoppedAt"], 1795000030.0);
  EXPECT_FALSE(d.contains("finishedAt"));
  ASSERT_EQ(describe({deploymentArn(third)})["serviceDeployments"][0]["sourceServiceRevisions"].size(), 2u);

  // Filters and pages.
  EXPECT_EQ(list({{"status", {"STOPPED"}}})["serviceDeployments"].size(), 1u);
  EXPECT_EQ(list({{"status", {"SUCCESSFUL", "IN_PROGRESS"}}})["serviceDeployments"].size(), 2u);
  EXPECT_EQ(list({{"createdAt", {{"after", 1795000005}}}})["serviceDeployments"].size(), 2u);
  EXPECT_EQ(list({{"createdAt",
                   {{"after", 1795000005}, {"before", 1795000025}}}})["serviceDeployments"][0]["serviceDeploymentArn"],
            deploymentArn(second));
  Json page = list({{"maxResults", 2}});
  ASSERT_EQ(page["serviceDeployments"].size(), 2u);
  ASSERT_EQ(page["nextToken"], digits(second));
  Json rest = list({{"maxResults", 2}, {"nextToken", page["nextToken"]}});
  ASSERT_EQ(rest["serviceDeployments"].size(), 1u);
  EXPECT_EQ(rest["serviceDeployments"][0]["serviceDeploymentArn"], deploymentArn(first));
  EXPECT_FALSE(rest.contains("nextToken"));

  // Describe several, with an unknown one among them.
  const std::string unknown = std::string(kPrefix) + "service-deployment/c/web/123";
  Json many = describe({deploymentArn(first), unknown, deploymentArn(third)});
  EXPECT_EQ(many["serviceDeployments"].size(), 2u);
  EXPECT_EQ(many["failures"], Json::parse(R"([{"arn": ")" + unknown + R"(", "reason": "MISSING"}])"));

  // Refusals change nothing.
  const int64_t rev = cp_->revision();
  EXPECT_EQ(ecsError("ListServiceDeployments", {{"cluster", "c"}, {"service", "nope"}}).type,
            "ServiceNotFoundException");
  EXPECT_EQ(ecsError("ListServiceDeployments", {{"cluster", "nope"}, {"service", "web"}}).type,
            "ClusterNotFoundException");
  EXPECT_EQ(ecsError("ListServiceDeployments", {{"cluster", "c"}, {"service", "web"}, {"maxResults", 101}}).message,
            "maxResults: expected 1-100, got 101");
  EXPECT_EQ(ecsError("ListServiceDeployments", {{"cluster", "c"}, {"service", "web"}, {"nextToken", "1"}}).message,
            "nextToken: not a token ListServiceDeployments returned");
  EXPECT_EQ(ecsError("ListServiceDeployments", {{"cluster", "c"}, {"service", "web"}, {"status", {"DONE"}}}).type,
            "InvalidParameterException");
  EXPECT_EQ(
      ecsError("DescribeServiceDeployments", {{"serviceDeploymentArns", {std::string(kPrefix) + "service/c/web"}}})
          .type,
      "InvalidParameterException");
  EXPECT_EQ(ecsError("DescribeServiceDeployments",
                     {{"serviceDeploymentArns", std::vector<std::string>(21, deploymentArn(first))}})
                .message,
            "serviceDeploymentArns: at most 20 ARNs, got 21");
  EXPECT_EQ(cp_->revision(), rev);

  // The history is stored: a restarted control plane has it; by ARN too.
  restart(defaultOptions());
  EXPECT_EQ(ecs("ListServiceDeployments", {{"cluster", std::string(kPrefix) + "cluster/c"},
                                           {"service", std::string(kPrefix) + "service/c/web"}})["serviceDeployments"]
                .size(),
            3u);

  // Deleting the service stops a deployment in progress.
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"desiredCount", 2}, {"forceNewDeployment", true}});
  clock_.advance(std::chrono::seconds(10));
  ecs("DeleteService", {{"cluster", "c"}, {"service", "web"}, {"force", true}});
  l = list()["serviceDeployments"];
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0]["status"], "STOPPED");
  EXPECT_EQ(l[0]["statusReason"], "The service was deleted.");
  EXPECT_EQ(l[1]["status"], "SUCCESSFUL");
}

}  // namespace
}  // namespace sc::controlplane
