// Linux capability names as ECS task definitions write them (`linuxParameters.capabilities`):
// without the CAP_ prefix, plus ALL. The numbers are the kernel's (linux/capability.h), stable ABI.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sc::model {

// The kernel's number of a capability name ("NET_RAW" -> 13); nullopt for an unknown name or ALL.
std::optional<int> capabilityNumber(std::string_view name);
// True for the 37 names the ECS API lists and ALL.
bool isCapabilityName(std::string_view name);
// Docker's default set (14 capabilities), which ECS's add/drop are relative to, as a bit mask.
uint64_t dockerDefaultCapabilities();
// The names of the bits in `mask`, in kernel order.
std::vector<std::string> capabilityNames(uint64_t mask);

// Docker's default set with `drop` removed and `add` added (ALL: every capability), as a mask. Adding a
// capability outside Docker's default set and `allowed_adds` (a mask) is refused with an error naming
// it, so a task definition never gains what Docker withholds by default.
Result<uint64_t> containerCapabilities(const std::vector<std::string>& add, const std::vector<std::string>& drop,
                                       uint64_t allowed_adds);

}  // namespace sc::model
