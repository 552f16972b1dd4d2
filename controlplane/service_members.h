// CreateService's and UpdateService's members beyond desiredCount, the task definition, the
// deployment configuration and Service Connect: each is honoured or refused with an error that
// names it, never silently dropped (docs/api.md lists them).
#pragma once

#include <optional>
#include <string>

#include "controlplane/control_plane.h"

namespace sc::controlplane {

// The first member of the request sccontrol cannot honour: load balancers, Cloud Map service
// registries, ECS Exec, a Fargate platform version, placement constraints, a placement strategy
// other than spreading over instances.
std::optional<ApiError> unsupportedServiceMember(const Json& in);

// Stores what is honoured as given: propagateTags, enableECSManagedTags, networkConfiguration (kept
// and answered; addresses come from the agent's network settings), placementStrategy, roleArn.
void applyServiceMembers(Json& svc, const Json& in);

// The tags a new task of the service gets: the service's or the task definition's (propagateTags)
// and, with enableECSManagedTags, aws:ecs:clusterName and aws:ecs:serviceName.
Json newTaskTags(const Json& svc, const Json& task_definition, const std::string& cluster);

}  // namespace sc::controlplane
