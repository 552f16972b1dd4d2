#include "controlplane/service_members.h"

#include "controlplane/json_fields.h"

namespace sc::controlplane {
namespace {

ApiError refuse(std::string message) { return {"InvalidParameterException", std::move(message)}; }

bool nonEmptyList(const Json& in, const char* name) {
  auto it = in.find(name);
  return it != in.end() && !(it->is_array() && it->empty()) && !it->is_null();
}

// The strategy sccontrol applies: one task at a time on the instance with the fewest tasks of the
// service (controlplane/placement.h), which is ECS's spread over instanceId (or host).
bool isSpreadOverInstances(const Json& s) {
  if (!s.is_object() || s.value("type", "") != "spread") return false;
  const std::string field = s.value("field", "");
  return field == "instanceId" || field == "host";
}

}  // namespace

std::optional<ApiError> unsupportedServiceMember(const Json& in) {
  if (nonEmptyList(in, "loadBalancers"))
    return refuse("loadBalancers: sccontrol has no load balancers; clients reach a service through Service Connect");
  if (nonEmptyList(in, "serviceRegistries"))
    return refuse("serviceRegistries: Cloud Map service discovery registration is not supported; use "
                  "serviceConnectConfiguration");
  if (in.value("enableExecuteCommand", false))
    return refuse("enableExecuteCommand: ECS Exec is not supported by scagent");
  if (in.contains("platformVersion"))
    return refuse("platformVersion: applies to the Fargate launch type only; sccontrol runs EC2 tasks");
  if (nonEmptyList(in, "placementConstraints"))
    return refuse("placementConstraints: not supported; tasks are spread over the cluster's instances");
  if (auto it = in.find("placementStrategy"); it != in.end() && it->is_array()) {
    for (const Json& s : *it) {
      if (!isSpreadOverInstances(s))
        return refuse("placementStrategy: sccontrol spreads tasks over instances ({\"type\": \"spread\", \"field\": "
                      "\"instanceId\"}) and supports no other strategy, got " +
                      s.dump());
    }
  }
  return std::nullopt;
}

void applyServiceMembers(Json& svc, const Json& in) {
  for (const char* m : {"propagateTags", "enableECSManagedTags", "networkConfiguration", "placementStrategy"}) {
    if (in.contains(m)) svc[m] = in[m];
  }
  if (in.contains("role")) svc["roleArn"] = in["role"];
}

Json newTaskTags(const Json& svc, const Json& task_definition, const std::string& cluster) {
  Json tags = Json::array();
  const std::string from = svc.value("propagateTags", "NONE");
  if (from == "SERVICE") tags = svc.value("tags", Json::array());
  if (from == "TASK_DEFINITION") tags = task_definition.value("tags", Json::array());
  if (svc.value("enableECSManagedTags", false)) {
    tags.push_back({{"key", "aws:ecs:clusterName"}, {"value", cluster}});
    tags.push_back({{"key", "aws:ecs:serviceName"}, {"value", svc.value("serviceName", "")}});
  }
  return tags;
}

}  // namespace sc::controlplane
