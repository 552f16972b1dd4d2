#include "controlplane/placement.h"

#include <tuple>

namespace sc::controlplane {

std::vector<std::string> placeTasks(std::vector<PlacementCandidate> candidates, int64_t memory_mib, int count) {
  std::vector<std::string> out;
  for (int n = 0; n < count; ++n) {
    PlacementCandidate* best = nullptr;
    for (auto& c : candidates) {
      if (c.free_memory_mib < memory_mib) continue;
      if (best == nullptr || std::tie(c.tasks_of_service, c.tasks_total, c.id) <
                                 std::tie(best->tasks_of_service, best->tasks_total, best->id)) {
        best = &c;
      }
    }
    if (best == nullptr) break;
    best->free_memory_mib -= memory_mib;
    ++best->tasks_of_service;
    ++best->tasks_total;
    out.push_back(best->id);
  }
  return out;
}

}  // namespace sc::controlplane
