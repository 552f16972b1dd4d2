// Placement: which container instances get a service's new tasks. Pure, so it is tested alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sc::controlplane {

// The attribute an instance advertises when its agent can run Service Connect tasks.
inline constexpr const char* kServiceConnectCapability = "sc.capability.service-connect-v1";

struct PlacementCandidate {
  std::string id;
  int64_t free_memory_mib = 0;
  int tasks_of_service = 0;
  int tasks_total = 0;
};

// Places up to `count` tasks of `memory_mib` each, one at a time, on the candidate with the fewest
// tasks of the service, then the fewest tasks, then the lowest id (spread), skipping candidates
// without room. Returns the chosen ids in order; fewer than `count` when room runs out.
std::vector<std::string> placeTasks(std::vector<PlacementCandidate> candidates, int64_t memory_mib, int count);

}  // namespace sc::controlplane
