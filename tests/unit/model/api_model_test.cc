#include "model/api_model.h"

#include <gtest/gtest.h>

namespace sc::model {
namespace {

const ApiModel& ecs() { return ApiModel::get(ApiModel::Service::kEcs); }

std::vector<std::string> texts(const std::vector<ApiIssue>& issues) {
  std::vector<std::string> out;
  for (const auto& i : issues) out.push_back(i.text());
  return out;
}

TEST(ApiModelTest, EmbeddedModelsAreTheBotocoreOnes) {
  EXPECT_EQ(ecs().metadata()["targetPrefix"], "AmazonEC2ContainerServiceV20141113");
  EXPECT_EQ(ApiModel::get(ApiModel::Service::kServiceDiscovery).metadata()["targetPrefix"],
            "Route53AutoNaming_v20170314");
  EXPECT_EQ(ecs().inputShape("CreateService"), "CreateServiceRequest");
  EXPECT_EQ(ecs().outputShape("DescribeServices"), "DescribeServicesResponse");
  EXPECT_FALSE(ecs().inputShape("NoSuchOperation"));
}

TEST(ApiModelTest, WrongTypeNamesThePathAndTheRange) {
  auto j = Json::parse(R"({"enabled": true, "services": [
      {"portName": "a"},
      {"portName": "b", "clientAliases": [{"port": "81"}]}]})");
  EXPECT_EQ(
      texts(ecs().validate(j, "ServiceConnectConfiguration", "serviceConnectConfiguration")),
      std::vector<std::string>{
          "serviceConnectConfiguration.services[1].clientAliases[0].port: expected an integer 1-65535, got \"81\""});
}

TEST(ApiModelTest, MissingRequiredAndUnknownMembers) {
  auto j = Json::parse(R"({"services": [{"portname": "a"}]})");
  auto t = texts(ecs().validate(j, "ServiceConnectConfiguration", "sc"));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], "sc: missing required member 'enabled'");
  EXPECT_EQ(t[1], "sc.services[0]: missing required member 'portName'");
  EXPECT_EQ(t[2], "sc.services[0].portname: unknown member (did you mean 'portName'?)");
}

TEST(ApiModelTest, EnumsAndRanges) {
  auto pm = Json::parse(R"({"containerPort": 0, "appProtocol": "tcp", "protocol": "sctp"})");
  auto t = texts(ecs().validate(pm, "PortMapping", "pm"));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], "pm.appProtocol: expected one of http, http2, grpc, got \"tcp\"");
  EXPECT_EQ(t[1], "pm.containerPort: expected an integer 1-65535, got 0");
  EXPECT_EQ(t[2], "pm.protocol: expected one of tcp, udp, got \"sctp\"");
}

TEST(ApiModelTest, HugeAndFractionalNumbersAreNotIntegers) {
  auto a = Json::parse(R"({"port": 99999999999999999999999})");
  EXPECT_EQ(texts(ecs().validate(a, "ServiceConnectClientAlias", "a")),
            std::vector<std::string>{"a.port: expected an integer 1-65535, got 1e+23"});
  auto b = Json::parse(R"({"port": 81.5})");
  EXPECT_EQ(texts(ecs().validate(b, "ServiceConnectClientAlias", "a")),
            std::vector<std::string>{"a.port: expected an integer 1-65535, got 81.5"});
  auto c = Json::parse(R"({"port": -1})");
  EXPECT_EQ(texts(ecs().validate(c, "ServiceConnectClientAlias", "a")),
            std::vector<std::string>{"a.port: expected an integer 1-65535, got -1"});
}

TEST(ApiModelTest, NullMeansAbsentAndBooleansAreStrict) {
  auto j = Json::parse(R"({"enabled": "true", "namespace": null})");
  EXPECT_EQ(texts(ecs().validate(j, "ServiceConnectConfiguration", "sc")),
            std::vector<std::string>{"sc.enabled: expected true or false, got \"true\""});
}

TEST(ApiModelTest, ListLimitsFromTheModel) {
  // TimeoutConfiguration has no list; use a model list with limits: ServiceConnectTlsConfiguration has none
  // either, so check the generic list path with an untyped value instead.
  auto j = Json::parse(R"({"enabled": true, "services": {"portName": "a"}})");
  EXPECT_EQ(texts(ecs().validate(j, "ServiceConnectConfiguration", "sc")),
            std::vector<std::string>{"sc.services: expected an array, got an object"});
}

}  // namespace
}  // namespace sc::model
