// Service deployments (DescribeServiceDeployments, ListServiceDeployments): the history of a
// service's deployments. A service's document keeps one record per deployment in
// `_serviceDeployments`, oldest first, the newest kServiceDeploymentHistory of them. A record is
// open while its deployment is the service's primary one (its status is then read from the
// deployment: IN_PROGRESS, or SUCCESSFUL once the rollout completed) and closed when a newer
// deployment replaces it or the service is deleted (SUCCESSFUL if its rollout had completed, else
// STOPPED), with the task counts of that moment.
#pragma once

#include <cstddef>
#include <string>

#include "controlplane/control_plane.h"

namespace sc::controlplane {

inline constexpr size_t kServiceDeploymentHistory = 100;

// Records `deployment` (made now, not yet in svc["deployments"]) as the service's newest service
// deployment; the deployments svc["deployments"] holds are its sources.
void recordServiceDeployment(Json& svc, const Json& deployment);

// Closes every open record: SUCCESSFUL when its rollout completed, else STOPPED with `reason`.
void closeServiceDeployments(Json& svc, double now, const std::string& reason);

// The ID a service deployment's ARN ends in: the digits of the deployment's "ecs-svc/<digits>".
std::string serviceDeploymentId(const std::string& deployment_id);

}  // namespace sc::controlplane
