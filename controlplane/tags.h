// Tags on ECS and Cloud Map resources: the limits both models document and the merge rules
// TagResource, UntagResource and the create operations share.
#pragma once

#include <cstddef>
#include <optional>

#include "controlplane/control_plane.h"

namespace sc::controlplane {

// How one API spells tags: member names and the error type of a bad tag.
struct TagStyle {
  const char* key;      // "key" (ECS), "Key" (Cloud Map)
  const char* value;    // "value", "Value"
  const char* invalid;  // "InvalidParameterException", "InvalidInput"
  bool check_chars;     // ECS's TagKey/TagValue pattern (Cloud Map's model has none)
};
inline constexpr TagStyle kEcsTags{"key", "value", "InvalidParameterException", true};
inline constexpr TagStyle kCloudMapTags{"Key", "Value", "InvalidInput", false};
inline constexpr size_t kMaxTagsPerResource = 50;  // both APIs' per-resource limit

// The first problem of the tags a request gives under `path` ("tags", "Tags"): a missing key, the
// reserved `aws:` prefix (any case) on a key or value, characters outside ECS's pattern.
std::optional<ApiError> tagsProblem(const Json& tags, const TagStyle& style, const std::string& path);
// The first problem of the keys UntagResource names (the `aws:` prefix cannot be removed).
std::optional<ApiError> tagKeysProblem(const Json& keys, const TagStyle& style, const std::string& path);
// `have` with `add` applied: a key already there takes the new value, a new key is appended; a
// missing value is "".
Json mergeTags(const Json& have, const Json& add, const TagStyle& style);
// `have` without the tags whose key `keys` lists.
Json removeTags(const Json& have, const Json& keys, const TagStyle& style);
// ECS Describe*: `doc` with its "tags" only when the request's `include` lists TAGS.
Json tagsIfIncluded(Json doc, const Json& in);

}  // namespace sc::controlplane
