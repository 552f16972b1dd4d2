// UpdateCluster (settings, configuration, the default namespace) and ListServicesByNamespace.
#include <gtest/gtest.h>

#include <map>

#include "tests/unit/controlplane/control_plane_fixture.h"

namespace sc::controlplane {
namespace {

class ClusterUpdateTest : public ControlPlaneTest {
 protected:
  // A Service Connect service `name` in `cluster`, its namespace the cluster's default unless `ns`.
  void createService(const std::string& cluster, const std::string& name, const std::string& ns = "") {
    Json sc = {
        {"enabled", true},
        {"services",
         {{{"portName", "http"}, {"discoveryName", name}, {"clientAliases", {{{"port", 81}, {"dnsName", name}}}}}}}};
    if (!ns.empty()) sc["namespace"] = ns;
    ecs("CreateService", {{"cluster", cluster},
                          {"serviceName", name},
                          {"taskDefinition", "app"},
                          {"desiredCount", 0},
                          {"serviceConnectConfiguration", sc}});
  }
  std::string namespaceArn(const std::string& name) {
    const Json all = cm("ListNamespaces", Json::object());
    for (const Json& ns : all["Namespaces"])
      if (ns["Name"] == name) return ns["Arn"];
    return "";
  }
  Json byNamespace(const Json& in) { return ecs("ListServicesByNamespace", in); }
};

TEST_F(ClusterUpdateTest, UpdateClusterSetsChangesAndRemovesTheDefaultNamespace) {
  ecs("CreateCluster", {{"clusterName", "c"}});
  ecs("RegisterTaskDefinition", Json::parse(kTd));
  Json u = ecs("UpdateCluster", {{"cluster", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
  EXPECT_EQ(u["cluster"]["clusterName"], "c");
  EXPECT_EQ(u["cluster"]["status"], "ACTIVE");
  const std::string internal = namespaceArn("internal");
  ASSERT_FALSE(internal.empty());  // created, as CreateCluster does
  EXPECT_EQ(u["cluster"]["serviceConnectDefaults"]["namespace"], internal);
  createService("c", "a");  // resolves the new default

  u = ecs("UpdateCluster", {{"cluster", "arn:aws:ecs:us-east-1:000000000000:cluster/c"},
                            {"serviceConnectDefaults", {{"namespace", "other"}}}});
  EXPECT_EQ(u["cluster"]["serviceConnectDefaults"]["namespace"], namespaceArn("other"));
  createService("c", "b");
  EXPECT_EQ(byNamespace({{"namespace", "internal"}})["serviceArns"].size(), 1u);  // a keeps its namespace
  EXPECT_EQ(byNamespace({{"namespace", "other"}})["serviceArns"].size(), 1u);
  u = ecs("UpdateCluster", {{"cluster", "c"}, {"serviceConnectDefaults", {{"namespace", internal}}}});  // by ARN
  EXPECT_EQ(u["cluster"]["serviceConnectDefaults"]["namespace"], internal);

  u = ecs("UpdateCluster", {{"cluster", "c"}, {"serviceConnectDefaults", {{"namespace", ""}}}});
  EXPECT_FALSE(u["cluster"].contains("serviceConnectDefaults"));
  EXPECT_FALSE(namespaceArn("internal").empty());  // the namespace stays, as in ECS
  EXPECT_FALSE(ecs("DescribeClusters", {{"clusters", {"c"}}})["clusters"][0].contains("serviceConnectDefaults"));
}

TEST_F(ClusterUpdateTest, UpdateClusterSettingsConfigurationAndErrors) {
  ecs("CreateCluster", {{"clusterName", "c"}, {"settings", {{{"name", "containerInsights"}, {"value", "enabled"}}}}});
  Json cfg = {{"executeCommandConfiguration", {{"logging", "DEFAULT"}}}};
  Json u = ecs("UpdateCluster", {{"cluster", "c"}, {"configuration", cfg}});
  EXPECT_EQ(u["cluster"]["settings"], Json::parse(R"([{"name":"containerInsights","value":"enabled"}])"));
  EXPECT_EQ(u["cluster"]["configuration"], cfg);
  u = ecs("UpdateCluster", {{"cluster", "c"}, {"settings", {{{"name", "containerInsights"}, {"value", "enhanced"}}}}});
  EXPECT_EQ(u["cluster"]["settings"], Json::parse(R"([{"name":"containerInsights","value":"enhanced"}])"));
  Json d = ecs("DescribeClusters", {{"clusters", {"c"}}, {"include", {"SETTINGS", "CONFIGURATIONS"}}})["clusters"][0];
  EXPECT_EQ(d["settings"][0]["value"], "enhanced");
  EXPECT_EQ(d["configuration"], cfg);

  int64_t rev = cp_->revision();
  ApiError e = ecsError("UpdateCluster", {{"cluster", "c"},
                                          {"serviceConnectDefaults", {{"namespace", "fresh"}}},
                                          {"settings", {{{"name", "containerInsights"}, {"value", "on"}}}}});
  EXPECT_EQ(e.type, "InvalidParameterException");
  EXPECT_EQ(e.message, "settings[0].value: containerInsights is enabled, disabled or enhanced, got \"on\"");
  EXPECT_EQ(ecsError("UpdateCluster", {{"cluster", "nope"}}).type, "ClusterNotFoundException");
  EXPECT_EQ(
      ecsError("UpdateCluster", {{"cluster", "c"},
                                 {"serviceConnectDefaults",
                                  {{"namespace", "arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-x"}}}})
          .type,
      "NamespaceNotFoundException");
  EXPECT_EQ(ecsError("UpdateCluster", {{"cluster", "c"}, {"serviceConnectDefaults", {{"namespace", "a/b"}}}}).type,
            "InvalidParameterException");
  EXPECT_EQ(
      ecsError("UpdateCluster", {{"cluster", "c"}, {"settings", {{{"name", "other"}, {"value", "enabled"}}}}}).type,
      "InvalidParameterException");  // not in ClusterSettingName
  EXPECT_EQ(cp_->revision(), rev);
  EXPECT_TRUE(namespaceArn("fresh").empty());
}

TEST_F(ClusterUpdateTest, ListServicesByNamespaceSpansClustersAndPages) {
  ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
  ecs("CreateCluster", {{"clusterName", "d"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
  ecs("RegisterTaskDefinition", Json::parse(kTd));
  for (const char* n : {"s1", "s2", "s3"}) createService("c", n);
  createService("d", "s4");
  cm("CreateHttpNamespace", {{"Name", "other"}});
  createService("d", "s5", "other");
  ecs("CreateService", {{"cluster", "d"}, {"serviceName", "plain"}, {"taskDefinition", "app"}, {"desiredCount", 0}});

  Json all = byNamespace({{"namespace", "internal"}});
  EXPECT_EQ(all["serviceArns"], Json::parse(R"(["arn:aws:ecs:us-east-1:000000000000:service/c/s1",
    "arn:aws:ecs:us-east-1:000000000000:service/c/s2", "arn:aws:ecs:us-east-1:000000000000:service/c/s3",
    "arn:aws:ecs:us-east-1:000000000000:service/d/s4"])"));
  EXPECT_FALSE(all.contains("nextToken"));
  EXPECT_EQ(byNamespace({{"namespace", namespaceArn("internal")}})["serviceArns"], all["serviceArns"]);
  EXPECT_EQ(byNamespace({{"namespace", "other"}})["serviceArns"],
            Json::parse(R"(["arn:aws:ecs:us-east-1:000000000000:service/d/s5"])"));

  Json page = byNamespace({{"namespace", "internal"}, {"maxResults", 3}});
  ASSERT_EQ(page["serviceArns"].size(), 3u);
  EXPECT_EQ(page["nextToken"], all["serviceArns"][2]);
  Json rest = byNamespace({{"namespace", "internal"}, {"maxResults", 3}, {"nextToken", page["nextToken"]}});
  EXPECT_EQ(rest["serviceArns"], Json::array({all["serviceArns"][3]}));
  EXPECT_FALSE(rest.contains("nextToken"));

  // Deleted services leave the list.
  ecs("DeleteService", {{"cluster", "c"}, {"service", "s2"}});
  for (int i = 0; i < 3; ++i) cp_->tick();
  EXPECT_EQ(byNamespace({{"namespace", "internal"}})["serviceArns"].size(), 3u);

  EXPECT_EQ(ecsError("ListServicesByNamespace", {{"namespace", "nope"}}).type, "NamespaceNotFoundException");
  EXPECT_EQ(ecsError("ListServicesByNamespace", {{"namespace", "internal"}, {"maxResults", 101}}).type,
            "InvalidParameterException");
  EXPECT_EQ(ecsError("ListServicesByNamespace", {{"namespace", "internal"}, {"nextToken", "garbage"}}).type,
            "InvalidParameterException");
}

// The seed: a cluster with a default namespace shows an `sc` attachment with `--include ATTACHMENTS`
// (not by default); each include value adds its member, and an unknown one is refused.
TEST_F(ClusterUpdateTest, IncludeAddsAttachmentsSettingsConfigurationsAndStatistics) {
  ecs("CreateCluster", {{"clusterName", "c"}, {"serviceConnectDefaults", {{"namespace", "internal"}}}});
  Json plain = ecs("DescribeClusters", {{"clusters", {"c"}}})["clusters"][0];
  EXPECT_EQ(plain["status"], "ACTIVE");
  for (const char* m : {"attachments", "attachmentsStatus", "settings", "configuration", "tags"})
    EXPECT_FALSE(plain.contains(m)) << m;
  EXPECT_EQ(plain["statistics"], Json::array());

  Json all = ecs("DescribeClusters",
                 {{"clusters", {"c"}}, {"include", {"ATTACHMENTS", "SETTINGS", "STATISTICS", "TAGS"}}})["clusters"][0];
  ASSERT_EQ(all["attachments"].size(), 1u);
  const Json& sc = all["attachments"][0];
  EXPECT_EQ(sc["type"], "sc");
  EXPECT_EQ(sc["status"], "CREATED");
  EXPECT_EQ(sc["details"][0]["value"], namespaceArn("internal"));
  EXPECT_EQ(sc["id"].get<std::string>().size(), 36u);  // a UUID
  EXPECT_EQ(all["attachmentsStatus"], "UPDATE_COMPLETE");
  EXPECT_EQ(all["settings"][0]["name"], "containerInsights");
  EXPECT_EQ(all["tags"], Json::array());
  std::map<std::string, std::string> stats;
  for (const Json& kv : all["statistics"]) stats[kv["name"].get<std::string>()] = kv["value"].get<std::string>();
  EXPECT_EQ(stats.size(), 8u);
  EXPECT_EQ(stats["runningEC2TasksCount"], "0");
  EXPECT_EQ(stats["activeEC2ServiceCount"], "0");

  ecs("UpdateCluster", {{"cluster", "c"}, {"serviceConnectDefaults", {{"namespace", ""}}}});
  Json removed = ecs("DescribeClusters", {{"clusters", {"c"}}, {"include", {"ATTACHMENTS"}}})["clusters"][0];
  EXPECT_EQ(removed["attachments"], Json::array());

  ApiError e = ecsError("DescribeClusters", {{"clusters", {"c"}}, {"include", {"EVERYTHING"}}});
  EXPECT_EQ(e.type, "InvalidParameterException");
  EXPECT_NE(e.message.find("expected one of ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS, TAGS"),
            std::string::npos)
      << e.message;
}

TEST_F(ClusterUpdateTest, UpdateClusterSettingsAndTheEc2DefaultCapacityProviders) {
  ecs("CreateCluster", {{"clusterName", "c"}});
  Json u = ecs("UpdateClusterSettings",
               {{"cluster", "c"}, {"settings", {{{"name", "containerInsights"}, {"value", "enabled"}}}}});
  EXPECT_EQ(u["cluster"]["settings"], Json::parse(R"([{"name":"containerInsights","value":"enabled"}])"));
  Json p =
      ecs("PutClusterCapacityProviders",
          {{"cluster", "c"}, {"capacityProviders", Json::array()}, {"defaultCapacityProviderStrategy", Json::array()}});
  EXPECT_EQ(p["cluster"]["clusterName"], "c");
  const int64_t rev = cp_->revision();
  ApiError e = ecsError(
      "PutClusterCapacityProviders",
      {{"cluster", "c"}, {"capacityProviders", {"FARGATE"}}, {"defaultCapacityProviderStrategy", Json::array()}});
  EXPECT_EQ(e.type, "InvalidParameterException");
  EXPECT_NE(e.message.find("capacity providers are not supported"), std::string::npos) << e.message;
  EXPECT_EQ(cp_->revision(), rev);
  EXPECT_EQ(ecsError("PutClusterCapacityProviders", {{"cluster", "nope"},
                                                     {"capacityProviders", Json::array()},
                                                     {"defaultCapacityProviderStrategy", Json::array()}})
                .type,
            "ClusterNotFoundException");
}

// Families by status and prefix, paged; DeleteTaskDefinitions takes only INACTIVE revisions nothing
// runs, and answers the others as failures.
TEST_F(ClusterUpdateTest, TaskDefinitionFamiliesAndDeletion) {
  Json td = Json::parse(kTd);
  ecs("RegisterTaskDefinition", td);  // app:1
  ecs("RegisterTaskDefinition", td);  // app:2
  td["family"] = "batch";
  ecs("RegisterTaskDefinition", td);  // batch:1
  td["family"] = "old";
  ecs("RegisterTaskDefinition", td);  // old:1
  ecs("DeregisterTaskDefinition", {{"taskDefinition", "old:1"}});
  EXPECT_EQ(ecs("ListTaskDefinitionFamilies", Json::object())["families"], Json::parse(R"(["app","batch"])"));
  EXPECT_EQ(ecs("ListTaskDefinitionFamilies", {{"status", "INACTIVE"}})["families"], Json::parse(R"(["old"])"));
  EXPECT_EQ(ecs("ListTaskDefinitionFamilies", {{"status", "ALL"}, {"familyPrefix", "b"}})["families"],
            Json::parse(R"(["batch"])"));
  Json page = ecs("ListTaskDefinitionFamilies", {{"status", "ALL"}, {"maxResults", 2}});
  EXPECT_EQ(page["families"], Json::parse(R"(["app","batch"])"));
  EXPECT_EQ(ecs("ListTaskDefinitionFamilies", {{"status", "ALL"}, {"nextToken", page["nextToken"]}})["families"],
            Json::parse(R"(["old"])"));

  Json del = ecs("DeleteTaskDefinitions", {{"taskDefinitions", {"old:1", "app:2", "nope:1"}}});
  ASSERT_EQ(del["taskDefinitions"].size(), 1u);
  EXPECT_EQ(del["taskDefinitions"][0]["status"], "DELETE_IN_PROGRESS");
  ASSERT_EQ(del["failures"].size(), 2u);
  EXPECT_NE(del["failures"][0]["reason"].get<std::string>().find("is ACTIVE"), std::string::npos);
  EXPECT_NE(del["failures"][1]["reason"].get<std::string>().find("does not exist"), std::string::npos);
  EXPECT_EQ(ecs("ListTaskDefinitionFamilies", {{"status", "ALL"}})["families"], Json::parse(R"(["app","batch"])"));
}

}  // namespace
}  // namespace sc::controlplane
