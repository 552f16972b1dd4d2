// Versions: dotted numeric versions (`1.67.2`) and ECS-optimized AMI versions (`2.0.20221115`).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sc {

struct Version {
  std::vector<uint64_t> parts;

  // Missing trailing parts count as zero: 1.67 == 1.67.0.
  std::strong_ordering operator<=>(const Version& o) const;
  bool operator==(const Version& o) const { return (*this <=> o) == 0; }
  std::string toString() const;
};

// Parses `1.67.2`, `v1.67.2` and `1.67.2-rc1` (a suffix after '-' or '+' is ignored).
Result<Version> parseVersion(std::string_view text);

// Finds the AMI version inside an image name or version string:
// `2.0.20221115`, `amzn2-ami-ecs-hvm-2.0.20221115-x86_64-ebs`.
Result<Version> parseAmiVersion(std::string_view text);

}  // namespace sc
