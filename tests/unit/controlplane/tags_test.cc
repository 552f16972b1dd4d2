// Tags on both APIs: TagResource, UntagResource, ListTagsForResource on every resource kind sccontrol
// has, tags given at create time, `include: TAGS`, and the models' limits with their error shapes.
#include <gtest/gtest.h>

#include "tests/unit/controlplane/control_plane_fixture.h"

namespace sc::controlplane {
namespace {

class TagsTest : public ControlPlaneTest {
 protected:
  ApiError cmError(const std::string& op, const Json& in) {
    auto r = cp_->call(Api::kCloudMap, op, in);
    EXPECT_FALSE(r.has_value()) << op << " succeeded: " << (r ? r->dump() : "");
    return r ? ApiError{} : r.error();
  }
  Json ecsTags(const std::string& arn) { return ecs("ListTagsForResource", {{"resourceArn", arn}})["tags"]; }
  Json cmTags(const std::string& arn) { return cm("ListTagsForResource", {{"ResourceARN", arn}})["Tags"]; }
  static Json manyTags(int n) {
    Json tags = Json::array();
    for (int i = 0; i < n; ++i) tags.push_back({{"key", "k" + std::to_string(i)}, {"value", "v"}});
    return tags;
  }
};

TEST_F(TagsTest, EveryEcsResourceKindIsTaggedListedAndUntagged) {
  std::string instance = registerInstance("a");
  setup(1);
  settle("a");
  const std::string task = tasks()[0]["taskArn"];
  const std::vector<std::string> arns = {"arn:aws:ecs:us-east-1:000000000000:cluster/c", service()["serviceArn"], task,
                                         "arn:aws:ecs:us-east-1:000000000000:task-definition/app:1", instance};
  for (const std::string& arn : arns) {
    SCOPED_TRACE(arn);
    EXPECT_EQ(ecsTags(arn), Json::array());
    ecs("TagResource", {{"resourceArn", arn}, {"tags", {{{"key", "team"}, {"value", "a"}}, {{"key", "env"}}}}});
    ecs("TagResource", {{"resourceArn", arn}, {"tags", {{{"key", "team"}, {"value", "b"}}}}});  // a new value
    EXPECT_EQ(ecsTags(arn), Json::parse(R"([{"key":"team","value":"b"},{"key":"env","value":""}])"));
    ecs("UntagResource", {{"resourceArn", arn}, {"tagKeys", {"env", "absent"}}});
    EXPECT_EQ(ecsTags(arn), Json::parse(R"([{"key":"team","value":"b"}])"));
  }
  // Tags are stored: a restarted control plane has them.
  restart(defaultOptions());
  EXPECT_EQ(ecsTags(arns[1]), Json::parse(R"([{"key":"team","value":"b"}])"));
  // and shown where the models show them, with include TAGS only.
  EXPECT_FALSE(service().contains("tags"));
  Json with = ecs("DescribeTasks", {{"cluster", "c"}, {"tasks", {task}}, {"include", {"TAGS"}}});
  EXPECT_EQ(with["tasks"][0]["tags"][0]["key"], "team");
  Json ci =
      ecs("DescribeContainerInstances", {{"cluster", "c"}, {"containerInstances", {instance}}, {"include", {"TAGS"}}});
  EXPECT_EQ(ci["containerInstances"][0]["tags"][0]["value"], "b");
  ci = ecs("DescribeContainerInstances", {{"cluster", "c"}, {"containerInstances", {instance}}});
  EXPECT_FALSE(ci["containerInstances"][0].contains("tags"));
}

TEST_F(TagsTest, CreateTimeTagsAreKeptAndShownWithIncludeTags) {
  Json tags = Json::parse(R"([{"key":"owner","value":"me"}])");
  Json c = ecs("CreateCluster", {{"clusterName", "c"}, {"tags", tags}});
  EXPECT_EQ(c["cluster"]["tags"], tags);
  Json td = Json::parse(kTd);
  td["tags"] = tags;
  Json reg = ecs("RegisterTaskDefinition", td);
  EXPECT_EQ(reg["tags"], tags);
  Json svc =
      ecs("CreateService",
          {{"cluster", "c"}, {"serviceName", "plain"}, {"taskDefinition", "app"}, {"desiredCount", 0}, {"tags", tags}});
  EXPECT_EQ(svc["service"]["tags"], tags);

  Json d = ecs("DescribeClusters", {{"clusters", {"c"}}});
  EXPECT_FALSE(d["clusters"][0].contains("tags"));
  d = ecs("DescribeClusters", {{"clusters", {"c"}}, {"include", {"TAGS"}}});
  EXPECT_EQ(d["clusters"][0]["tags"], tags);
  d = ecs("DescribeServices", {{"cluster", "c"}, {"services", {"plain"}}, {"include", {"TAGS"}}});
  EXPECT_EQ(d["services"][0]["tags"], tags);
  d = ecs("DescribeTaskDefinition", {{"taskDefinition", "app:1"}});
  EXPECT_FALSE(d.contains("tags"));
  EXPECT_FALSE(d["taskDefinition"].contains("tags"));
  d = ecs("DescribeTaskDefinition", {{"taskDefinition", "app:1"}, {"include", {"TAGS"}}});
  EXPECT_EQ(d["tags"], tags);
  EXPECT_EQ(ecsTags(svc["service"]["serviceArn"]), tags);
  // Agents are not sent a task definition's tags.
  registerInstance("a");
  ecs("UpdateService", {{"cluster", "c"}, {"service", "plain"}, {"desiredCount", 1}});
  Json desired_td = desired("a")["tasks"][0]["taskDefinition"];
  EXPECT_EQ(desired_td["family"], "app");
  EXPECT_FALSE(desired_td.contains("tags"));
}

TEST_F(TagsTest, EcsLimitsAndErrorsChangeNothing) {
  setup(0);
  const std::string cluster = "arn:aws:ecs:us-east-1:000000000000:cluster/c";
  ecs("TagResource", {{"resourceArn", cluster}, {"tags", manyTags(49)}});
  int64_t rev = cp_->revision();
  auto tag = [&](const Json& tags, const std::string& arn = "arn:aws:ecs:us-east-1:000000000000:cluster/c") {
    ApiError e = ecsError("TagResource", {{"resourceArn", arn}, {"tags", tags}});
    return e.type + ": " + e.message;
  };
  EXPECT_EQ(tag(Json::parse(R"([{"key":"new1"},{"key":"new2"}])")),
            "InvalidParameterException: tags: a resource has at most 50 tags; this one would have 51");
  EXPECT_EQ(tag(Json::parse(R"([{"key":"AWS:x","value":"v"}])")),
            "InvalidParameterException: tags[0].key: the aws: prefix is reserved for AWS use, got \"AWS:x\"");
  EXPECT_EQ(tag(Json::parse(R"([{"key":"x","value":"aws:v"}])")),
            "InvalidParameterException: tags[0].value: the aws: prefix is reserved for AWS use, got \"aws:v\"");
  EXPECT_EQ(tag(Json::parse(R"([{"key":"a#b"}])")),
            "InvalidParameterException: tags[0].key: expected letters, digits, spaces and _ . : / = + - @, got "
            "\"a#b\"");
  EXPECT_EQ(tag(Json::parse(R"([{"value":"v"}])")), "InvalidParameterException: tags[0].key: required");
  EXPECT_EQ(ecsError("TagResource", {{"resourceArn", cluster}, {"tags", {{{"key", std::string(129, 'k')}}}}}).type,
            "InvalidParameterException");
  EXPECT_EQ(tag(manyTags(1), "arn:aws:ecs:us-east-1:000000000000:cluster/nope"),
            "ClusterNotFoundException: Cluster not found.");
  EXPECT_EQ(tag(manyTags(1), "arn:aws:ecs:us-east-1:000000000000:service/c/nope"),
            "ResourceNotFoundException: The specified resource could not be found: "
            "arn:aws:ecs:us-east-1:000000000000:service/c/nope");
  EXPECT_EQ(tag(manyTags(1), "arn:aws:ecs:eu-west-1:000000000000:cluster/c").rfind("InvalidParameterException: ", 0),
            0u);
  EXPECT_EQ(tag(manyTags(1), "arn:aws:ecs:us-east-1:000000000000:capacity-provider/x")
                .rfind("InvalidParameterException: resourceArn: sccontrol tags clusters", 0),
            0u);
  EXPECT_EQ(ecsError("UntagResource", {{"resourceArn", cluster}, {"tagKeys", {"aws:x"}}}).type,
            "InvalidParameterException");
  EXPECT_EQ(ecsError("ListTagsForResource", {{"resourceArn", "arn:aws:ecs:us-east-1:000000000000:task/c/nope"}}).type,
            "InvalidParameterException");  // its model lists no ResourceNotFoundException
  EXPECT_EQ(
      ecsError("CreateService",
               {{"cluster", "c"}, {"serviceName", "x"}, {"taskDefinition", "app"}, {"tags", {{{"key", "aws:x"}}}}})
          .type,
      "InvalidParameterException");
  EXPECT_EQ(ecsError("CreateCluster", {{"clusterName", "d"}, {"tags", manyTags(51)}}).type,
            "InvalidParameterException");
  EXPECT_EQ(cp_->revision(), rev);
  EXPECT_EQ(ecsTags(cluster).size(), 49u);
  ecs("TagResource", {{"resourceArn", cluster}, {"tags", manyTags(50)}});  // 49 replaced, one added: 50
  EXPECT_EQ(ecsTags(cluster).size(), 50u);
}

TEST_F(TagsTest, CloudMapNamespacesAndServicesAreTagged) {
  setup(0);
  Json op = cm("CreateHttpNamespace", {{"Name", "spare"}, {"Tags", {{{"Key", "team"}, {"Value", "a"}}}}});
  std::string ns_id = cm("GetOperation", {{"OperationId", op["OperationId"]}})["Operation"]["Targets"]["NAMESPACE"];
  const std::string ns_arn = cm("GetNamespace", {{"Id", ns_id}})["Namespace"]["Arn"];
  EXPECT_EQ(cmTags(ns_arn), Json::parse(R"([{"Key":"team","Value":"a"}])"));
  const std::string srv_arn = cm("ListServices", Json::object())["Services"][0]["Arn"];
  cm("TagResource",
     {{"ResourceARN", srv_arn}, {"Tags", {{{"Key", "x"}, {"Value", "1"}}, {{"Key", "y"}, {"Value", ""}}}}});
  cm("UntagResource", {{"ResourceARN", srv_arn}, {"TagKeys", {"y"}}});
  EXPECT_EQ(cmTags(srv_arn), Json::parse(R"([{"Key":"x","Value":"1"}])"));
  EXPECT_FALSE(cm("GetNamespace", {{"Id", ns_id}})["Namespace"].contains("_tags"));

  int64_t rev = cp_->revision();
  Json many = Json::array();
  for (int i = 0; i < 50; ++i) many.push_back({{"Key", "k" + std::to_string(i)}, {"Value", "v"}});
  ApiError e = cmError("TagResource", {{"ResourceARN", ns_arn}, {"Tags", many}});
  EXPECT_EQ(e.type, "TooManyTagsException");
  EXPECT_EQ(e.message, ns_arn + ": a resource has at most 50 tags; this one would have 51");
  Json more = many;
  more.push_back({{"Key", "k50"}, {"Value", "v"}});
  EXPECT_EQ(cmError("CreateHttpNamespace", {{"Name", "more"}, {"Tags", more}}).type, "TooManyTagsException");
  EXPECT_EQ(cmError("TagResource", {{"ResourceARN", ns_arn}, {"Tags", {{{"Key", "aws:k"}, {"Value", "v"}}}}}).type,
            "InvalidInput");
  EXPECT_EQ(cmError("UntagResource", {{"ResourceARN", ns_arn}, {"TagKeys", {"aws:k"}}}).type, "InvalidInput");
  const std::string gone = "arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-nope";
  EXPECT_EQ(cmError("ListTagsForResource", {{"ResourceARN", gone}}).type, "ResourceNotFoundException");
  EXPECT_EQ(cmError("TagResource", {{"ResourceARN", "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-x"},
                                    {"Tags", Json::array()}})
                .type,
            "ResourceNotFoundException");
  EXPECT_EQ(cmError("ListTagsForResource", {{"ResourceARN", "arn:aws:ecs:us-east-1:000000000000:cluster/c"}}).type,
            "InvalidInput");
  EXPECT_EQ(cp_->revision(), rev);
}

}  // namespace
}  // namespace sc::controlplane
