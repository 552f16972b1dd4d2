// The Cloud Map operations beyond namespaces and discovery: GetInstance, GetInstancesHealthStatus,
// DiscoverInstancesRevision, UpdateHttpNamespace, DeleteService, ListOperations; and what both APIs
// answer for an operation sccontrol does not implement. Each refusal leaves the store unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "model/api_model.h"
#include "tests/unit/controlplane/control_plane_fixture.h"

namespace sc::controlplane {
namespace {

class CloudMapTest : public ControlPlaneTest {
 protected:
  ApiError cmError(const std::string& op, const Json& in) {
    auto r = cp_->call(Api::kCloudMap, op, in);
    EXPECT_FALSE(r.has_value()) << op << " succeeded: " << (r ? r->dump() : "");
    return r ? ApiError{} : r.error();
  }
  // The Cloud Map service of the fixture's service "web" (discovery name "http").
  Json cmService() {
    Json s = cm("ListServices", Json::object())["Services"];
    EXPECT_EQ(s.size(), 1u);
    return s.empty() ? Json::object() : s[0];
  }
  std::string nsId() { return cm("ListNamespaces", Json::object())["Namespaces"][0]["Id"]; }
  int64_t revision() {
    return cm("DiscoverInstancesRevision",
              {{"NamespaceName", "internal"}, {"ServiceName", "http"}})["InstancesRevision"];
  }
};

TEST_F(CloudMapTest, GetInstanceAndHealthStatusByServiceIdOrArn) {
  registerInstance("a");
  setup(2);
  settle("a", "HEALTHY", "10.0.0.7");
  const Json srv = cmService();
  const Json listed = cm("ListInstances", {{"ServiceId", srv["Arn"]}})["Instances"];
  ASSERT_EQ(listed.size(), 2u);
  const std::string id0 = listed[0]["Id"], id1 = listed[1]["Id"];
  for (const Json& ref : {srv["Id"], srv["Arn"]}) {
    Json got = cm("GetInstance", {{"ServiceId", ref}, {"InstanceId", id0}});
    EXPECT_EQ(got["ResourceOwner"], "000000000000");
    EXPECT_EQ(got["Instance"]["Id"], id0);
    EXPECT_EQ(got["Instance"]["Attributes"]["AWS_INSTANCE_IPV4"], "10.0.0.7");
    EXPECT_EQ(got["Instance"]["Attributes"]["AWS_INSTANCE_PORT"], "80");
    EXPECT_EQ(got["Instance"]["Attributes"]["ECS_SERVICE_NAME"], "web");
  }
  EXPECT_EQ(cm("GetService", {{"Id", srv["Arn"]}})["Service"]["InstanceCount"], 2);

  EXPECT_EQ(cm("GetInstancesHealthStatus", {{"ServiceId", srv["Id"]}}),
            Json({{"Status", {{id0, "HEALTHY"}, {id1, "HEALTHY"}}}}));
  Json page = cm("GetInstancesHealthStatus", {{"ServiceId", srv["Id"]}, {"MaxResults", 1}});
  EXPECT_EQ(page["Status"], Json({{id0, "HEALTHY"}}));
  ASSERT_EQ(page["NextToken"], id0);
  EXPECT_EQ(cm("GetInstancesHealthStatus", {{"ServiceId", srv["Id"]}, {"NextToken", page["NextToken"]}}),
            Json({{"Status", {{id1, "HEALTHY"}}}}));
  EXPECT_EQ(cm("GetInstancesHealthStatus", {{"ServiceId", srv["Id"]}, {"Instances", {id1}}})["Status"],
            Json({{id1, "HEALTHY"}}));

  const int64_t rev = cp_->revision();
  EXPECT_EQ(cmError("GetInstance", {{"ServiceId", srv["Id"]}, {"InstanceId", "nope"}}).type, "InstanceNotFound");
  EXPECT_EQ(cmError("GetInstance", {{"ServiceId", "srv-nope"}, {"InstanceId", id0}}).message,
            "Service not found: srv-nope");
  EXPECT_EQ(cmError("GetInstancesHealthStatus", {{"ServiceId", srv["Id"]}, {"Instances", {id0, "nope"}}}).message,
            "Instance not found: nope");
  EXPECT_EQ(cmError("GetInstancesHealthStatus", {{"ServiceId", srv["Id"]}, {"NextToken", "x"}}).type, "InvalidInput");
  EXPECT_EQ(cmError("GetInstancesHealthStatus", {{"ServiceId", srv["Id"]}, {"MaxResults", 0}}).type, "InvalidInput");
  EXPECT_EQ(cp_->revision(), rev);

  // An unhealthy task is no instance: deregistered, so neither call finds it.
  settle("a", "UNHEALTHY");
  EXPECT_EQ(cmError("GetInstance", {{"ServiceId", srv["Id"]}, {"InstanceId", id0}}).type, "InstanceNotFound");
  EXPECT_EQ(cm("GetInstancesHealthStatus", {{"ServiceId", srv["Id"]}}), Json({{"Status", Json::object()}}));
}

TEST_F(CloudMapTest, InstancesRevisionMovesWithTheInstanceListOnly) {
  registerInstance("a");
  setup(1);
  const int64_t empty = revision();
  Json d = cm("DiscoverInstances", {{"NamespaceName", "internal"}, {"ServiceName", "http"}});
  EXPECT_EQ(d["InstancesRevision"], empty);
  cm("CreateHttpNamespace", {{"Name", "unrelated"}});
  EXPECT_EQ(revision(), empty);  // a change elsewhere
  settle("a");
  const int64_t one = revision();
  EXPECT_GT(one, empty);  // registered
  EXPECT_EQ(cm("DiscoverInstances", {{"NamespaceName", "internal"}, {"ServiceName", "http"}})["InstancesRevision"],
            one);
  settle("a");
  EXPECT_EQ(revision(), one);  // the same report again
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"desiredCount", 2}});
  settle("a");
  const int64_t two = revision();
  EXPECT_GT(two, one);
  settle("a", "UNHEALTHY");
  const int64_t none = revision();
  EXPECT_GT(none, two);  // deregistered: never back to an earlier value
  restart(defaultOptions());
  EXPECT_GE(revision(), none);
  EXPECT_EQ(cmError("DiscoverInstancesRevision", {{"NamespaceName", "nope"}, {"ServiceName", "http"}}).type,
            "NamespaceNotFound");
  EXPECT_EQ(cmError("DiscoverInstancesRevision", {{"NamespaceName", "internal"}, {"ServiceName", "nope"}}).type,
            "ServiceNotFound");
}

TEST_F(CloudMapTest, UpdateHttpNamespaceChangesTheDescriptionOnce) {
  setup(0);
  const std::string id = nsId();
  const std::string arn = cm("GetNamespace", {{"Id", id}})["Namespace"]["Arn"];
  Json op = cm("UpdateHttpNamespace",
               {{"Id", arn}, {"UpdaterRequestId", "r1"}, {"Namespace", {{"Description", "the shop's services"}}}});
  EXPECT_EQ(cm("GetNamespace", {{"Id", id}})["Namespace"]["Description"], "the shop's services");
  Json got = cm("GetOperation", {{"OperationId", op["OperationId"]}})["Operation"];
  EXPECT_EQ(got["Type"], "UPDATE_NAMESPACE");
  EXPECT_EQ(got["Status"], "SUCCESS");
  EXPECT_EQ(got["Targets"]["NAMESPACE"], id);
  EXPECT_FALSE(got.contains("_requestId"));

  const int64_t rev = cp_->revision();
  // A retry: the same operation, nothing done twice.
  EXPECT_EQ(cm("UpdateHttpNamespace",
               {{"Id", id}, {"UpdaterRequestId", "r1"}, {"Namespace", {{"Description", "the shop's services"}}}}),
            op);
  EXPECT_EQ(
      cmError("UpdateHttpNamespace", {{"Id", id}, {"UpdaterRequestId", "r1"}, {"Namespace", {{"Description", "x"}}}})
          .type,
      "DuplicateRequest");
  EXPECT_EQ(cmError("UpdateHttpNamespace", {{"Id", "internal"}, {"Namespace", {{"Description", "x"}}}}).type,
            "NamespaceNotFound");  // a name is not an ID or ARN
  EXPECT_EQ(cmError("UpdateHttpNamespace", {{"Id", id}, {"Namespace", Json::object()}}).message,
            "Namespace: missing required member 'Description'");
  EXPECT_EQ(cmError("UpdateHttpNamespace", {{"Id", id}, {"Namespace", {{"Description", std::string(1025, 'x')}}}}).type,
            "InvalidInput");
  EXPECT_EQ(cp_->revision(), rev);
  EXPECT_EQ(cm("GetNamespace", {{"Id", id}})["Namespace"]["Description"], "the shop's services");
  ecs("UpdateService", {{"cluster", "c"}, {"service", "web"}, {"forceNewDeployment", true}});
  EXPECT_EQ(cm("GetNamespace", {{"Id", id}})["Namespace"]["Description"], "the shop's services");
}

TEST_F(CloudMapTest, DeleteServiceIsRefusedWhileAnEcsServiceUsesIt) {
  setup(0);
  const Json srv = cmService();
  const int64_t rev = cp_->revision();
  ApiError e = cmError("DeleteService", {{"Id", srv["Id"]}});
  EXPECT_EQ(e.type, "ResourceInUse");
  EXPECT_NE(e.message.find("ECS service arn:aws:ecs:us-east-1:000000000000:service/c/web"), std::string::npos)
      << e.message;
  EXPECT_EQ(cmError("DeleteService", {{"Id", "srv-nope"}}).type, "ServiceNotFound");
  EXPECT_EQ(cp_->revision(), rev);
  EXPECT_EQ(cm("GetService", {{"Id", srv["Id"]}})["Service"]["Name"], "http");

  // One no ECS service uses (its owner is gone: an edited store) is deleted, by ID or ARN.
  auto stored = store_.list("cmservice/");
  ASSERT_TRUE(stored.ok() && stored->kvs.size() == 1u);
  Json orphan = Json::parse(stored->kvs[0].value);
  orphan.update({{"Id", "srv-orphan"},
                 {"Arn", "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-orphan"},
                 {"Name", "old"},
                 {"_owner", "service/c/gone"},
                 {"_dnsName", "old"},
                 {"_vip", "127.255.0.9"}});
  auto put =
      store_.txn({}, {TxnOp::put("cmservice/" + orphan["NamespaceId"].get<std::string>() + "/old", orphan.dump())});
  ASSERT_TRUE(put.ok() && put->succeeded);
  restart(defaultOptions());
  EXPECT_EQ(cm("DeleteService", {{"Id", orphan["Arn"]}}), Json::object());
  EXPECT_EQ(cmError("GetService", {{"Id", "srv-orphan"}}).type, "ServiceNotFound");
  EXPECT_EQ(cm("ListServices", Json::object())["Services"].size(), 1u);
}

TEST_F(CloudMapTest, ListOperationsFiltersAndPages) {
  const std::string a = cm("CreateHttpNamespace", {{"Name", "a"}})["OperationId"];
  const std::string a_id = cm("GetOperation", {{"OperationId", a}})["Operation"]["Targets"]["NAMESPACE"];
  clock_.advance(std::chrono::seconds(100));
  const std::string b = cm("CreateHttpNamespace", {{"Name", "b"}})["OperationId"];
  const std::string del = cm("DeleteNamespace", {{"Id", a_id}})["OperationId"];
  auto ids = [&](const Json& in) {
    std::set<std::string> out;
    const Json listed = cm("ListOperations", in);
    for (const Json& op : listed["Operations"]) out.insert(op["Id"].get<std::string>());
    return out;
  };
  using Set = std::set<std::string>;
  EXPECT_EQ(ids(Json::object()), (Set{a, b, del}));
  EXPECT_EQ(cm("ListOperations", Json::object())["Operations"][0]["Status"], "SUCCESS");
  EXPECT_EQ(ids({{"Filters", {{{"Name", "TYPE"}, {"Values", {"DELETE_NAMESPACE"}}}}}}), (Set{del}));
  EXPECT_EQ(
      ids({{"Filters", {{{"Name", "TYPE"}, {"Condition", "IN"}, {"Values", {"CREATE_NAMESPACE", "UPDATE_SERVICE"}}}}}}),
      (Set{a, b}));
  EXPECT_EQ(ids({{"Filters", {{{"Name", "NAMESPACE_ID"}, {"Condition", "EQ"}, {"Values", {a_id}}}}}}), (Set{a, del}));
  EXPECT_EQ(
      ids({{"Filters",
            {{{"Name", "NAMESPACE_ID"}, {"Values", {a_id}}}, {{"Name", "TYPE"}, {"Values", {"CREATE_NAMESPACE"}}}}}}),
      (Set{a}));  // every filter must match
  EXPECT_EQ(ids({{"Filters", {{{"Name", "STATUS"}, {"Condition", "IN"}, {"Values", {"PENDING", "FAIL"}}}}}}), Set{});
  EXPECT_EQ(ids({{"Filters", {{{"Name", "SERVICE_ID"}, {"Values", {"srv-x"}}}}}}), Set{});
  const double t0 = 1795000000;
  EXPECT_EQ(ids({{"Filters",
                  {{{"Name", "UPDATE_DATE"}, {"Condition", "BETWEEN"}, {"Values", {"1795000000", "1795000050"}}}}}}),
            (Set{a}));
  EXPECT_EQ(ids({{"Filters",
                  {{{"Name", "UPDATE_DATE"},
                    {"Condition", "BETWEEN"},
                    {"Values", {std::to_string(t0 + 99.5), "1795000100"}}}}}}),
            (Set{b, del}));

  Json first = cm("ListOperations", {{"MaxResults", 2}});
  ASSERT_EQ(first["Operations"].size(), 2u);
  ASSERT_TRUE(first.contains("NextToken"));
  Json second = cm("ListOperations", {{"MaxResults", 2}, {"NextToken", first["NextToken"]}});
  ASSERT_EQ(second["Operations"].size(), 1u);
  EXPECT_FALSE(second.contains("NextToken"));
  EXPECT_EQ((Set{first["Operations"][0]["Id"], first["Operations"][1]["Id"], second["Operations"][0]["Id"]}),
            (Set{a, b, del}));

  const int64_t rev = cp_->revision();
  auto refused = [&](const Json& filter) {
    ApiError e = cmError("ListOperations", {{"Filters", {filter}}});
    EXPECT_EQ(e.type, "InvalidInput") << filter.dump();
    return e.message;
  };
  EXPECT_EQ(refused({{"Name", "NAMESPACE_ID"}, {"Condition", "IN"}, {"Values", {"a"}}}),
            "Filters[0]: NAMESPACE_ID does not take the condition IN");
  EXPECT_EQ(refused({{"Name", "TYPE"}, {"Values", {"CREATE_NAMESPACE", "DELETE_NAMESPACE"}}}),
            "Filters[0]: EQ takes one value, got 2");
  EXPECT_EQ(refused({{"Name", "STATUS"}, {"Values", {"SUCCEED"}}}),
            "Filters[0]: STATUS value \"SUCCEED\" is none of the model's values");
  EXPECT_EQ(refused({{"Name", "TYPE"}, {"Condition", "BEGINS_WITH"}, {"Values", {"CREATE"}}}),
            "Filters[0]: TYPE does not take the condition BEGINS_WITH");
  EXPECT_EQ(refused({{"Name", "UPDATE_DATE"}, {"Values", {"1"}}}),
            "Filters[0]: UPDATE_DATE takes the condition BETWEEN, got EQ");
  EXPECT_EQ(refused({{"Name", "UPDATE_DATE"}, {"Condition", "BETWEEN"}, {"Values", {"2", "1"}}}),
            "Filters[0]: the start date must come first");
  EXPECT_EQ(refused({{"Name", "UPDATE_DATE"}, {"Condition", "BETWEEN"}, {"Values", {"x", "1"}}}),
            "Filters[0]: Values[0]: expected a date in Unix seconds, got \"x\"");
  EXPECT_EQ(refused({{"Name", "OWNER"}, {"Values", {"x"}}}).rfind("Filters[0].Name: ", 0), 0u);
  EXPECT_EQ(cmError("ListOperations", {{"NextToken", "nope"}}).message,
            "NextToken: not a token ListOperations returned");
  EXPECT_EQ(cp_->revision(), rev);
}

// The smallest input the model accepts for `shape`: required members only, each at its minimum.
Json minimalInput(const model::ApiModel& m, const std::string& shape_name) {
  const Json& shape = m.shape(shape_name);
  const std::string type = shape.value("type", "");
  if (type == "structure") {
    Json out = Json::object();
    for (const Json& r : shape.value("required", Json::array())) {
      out[r.get<std::string>()] = minimalInput(m, shape["members"][r.get<std::string>()]["shape"].get<std::string>());
    }
    return out;
  }
  if (type == "string") {
    if (shape.contains("enum")) return shape["enum"][0];
    return std::string(std::max<size_t>(1, shape.value("min", size_t{1})), '1');
  }
  if (type == "list") {
    Json out = Json::array();
    for (size_t i = 0; i < shape.value("min", size_t{0}); ++i)
      out.push_back(minimalInput(m, shape["member"]["shape"].get<std::string>()));
    return out;
  }
  if (type == "map") return Json::object();
  if (type == "boolean") return false;
  if (type == "integer" || type == "long") return shape.value("min", 1);
  return 1;  // double, float, timestamp
}

// Every operation of both models that sccontrol does not implement answers an error its own model
// entry lists (so SDKs raise one of the operation's declared exceptions), naming the operation.
TEST_F(CloudMapTest, UnsupportedOperationsAnswerAnErrorTheirModelLists) {
  using model::ApiModel;
  std::map<Api, int> counts;
  const std::string unsupported = " is not supported by sccontrol; see docs/api.md";
  int refused = 0;
  for (auto [api, service] : {std::pair{Api::kEcs, ApiModel::Service::kEcs},
                              std::pair{Api::kCloudMap, ApiModel::Service::kServiceDiscovery}}) {
    const ApiModel& m = ApiModel::get(service);
    for (auto it = m.operations().begin(); it != m.operations().end(); ++it) {
      auto r = cp_->call(api, it.key(), minimalInput(m, it.value()["input"]["shape"].get<std::string>()));
      if (r || r.error().message != it.key() + unsupported) continue;
      ++refused;
      ++counts[api];
      std::set<std::string> listed;
      for (const Json& e : it.value().value("errors", Json::array())) listed.insert(e["shape"].get<std::string>());
      EXPECT_TRUE(listed.contains(r.error().type)) << it.key() << ": " << r.error().type;
    }
  }
  // Every operation the models have and docs/api.md does not list as supported.
  EXPECT_EQ(counts[Api::kEcs], 77 - 31);
  EXPECT_EQ(counts[Api::kCloudMap], 30 - 18);
  EXPECT_EQ(refused, counts[Api::kEcs] + counts[Api::kCloudMap]);
  EXPECT_EQ(
      cp_->call(Api::kEcs, "CreateTaskSet", {{"cluster", "c"}, {"service", "s"}, {"taskDefinition", "t"}}).error().type,
      "UnsupportedFeatureException");
  EXPECT_EQ(cp_->call(Api::kEcs, "ListAccountSettings", Json::object()).error().type, "ClientException");
  EXPECT_EQ(cp_->call(Api::kCloudMap, "CreatePrivateDnsNamespace", {{"Name", "x"}, {"Vpc", "v"}}).error().type,
            "InvalidInput");
  // A name neither model has: AWS's protocol answer.
  EXPECT_EQ(cp_->call(Api::kEcs, "Nope", Json::object()).error().type, "UnknownOperationException");
}

}  // namespace
}  // namespace sc::controlplane
