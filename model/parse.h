// Parsing of the ECS JSON documents users already write.
//
// Each parser checks the document against the API model's shape first (types, required and
// unknown members, enums, ranges; every problem reported with its JSON path), then builds the
// typed value. A failed parse returns one error whose message holds one problem per line.
#pragma once

#include <string_view>

#include "common/result.h"
#include "model/json_input.h"
#include "model/types.h"

namespace sc::model {

// RegisterTaskDefinition input, or DescribeTaskDefinition output ({"taskDefinition": {...}}).
Result<TaskDefinition> parseTaskDefinition(std::string_view text);
Result<TaskDefinition> taskDefinitionFromJson(const Json& j);
// The members of a RegisterTaskDefinition input that scagent cannot honour (container health
// checks, dependsOn, volumes and mount points, secrets, ulimits, extra hosts, ...): one problem per
// member present, with its path. RegisterTaskDefinition and `scagent plan` refuse them rather than
// run the task without them. Task definitions registered before stay readable (parseTaskDefinition).
Result<void> checkHonouredMembers(const Json& task_definition);

// CreateService input. UpdateService input is accepted too: its `service` names the service.
Result<ServiceDefinition> parseServiceDefinition(std::string_view text);
Result<ServiceDefinition> serviceDefinitionFromJson(const Json& j, std::string_view shape);
Result<ServiceConnectConfig> serviceConnectConfigFromJson(const Json& j, std::string_view path);

// CreateCluster input (clusterName, serviceConnectDefaults).
Result<ClusterDefinition> parseClusterDefinition(std::string_view text);

// The namespace snapshot (see docs/service-connect-model.md, "Namespace snapshot").
Result<NamespaceSnapshot> parseNamespaceSnapshot(std::string_view text);
Result<NamespaceSnapshot> namespaceSnapshotFromJson(const Json& j);
OrderedJson namespaceSnapshotToJson(const NamespaceSnapshot& ns);

// Task-level sizes as ECS takes them: memory "512", "512 MiB", "1 GB", "1.5GB" -> MiB;
// cpu "256", "1 vCPU", "0.25 vcpu" -> CPU units.
std::optional<int> parseTaskMemory(std::string_view text);
std::optional<int> parseTaskCpu(std::string_view text);

}  // namespace sc::model
