// TagResource, UntagResource and ListTagsForResource on both APIs. ECS tags live in the tagged
// document's "tags" member (its output shapes show them where the models have them); Cloud Map
// tags in "_tags" (no output shape but ListTagsForResource has them).
#include "controlplane/tags.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"
#include "controlplane/batch.h"
#include "controlplane/json_fields.h"

namespace sc::controlplane {
namespace {

ApiError invalidAs(const TagStyle& style, std::string message) { return {style.invalid, std::move(message)}; }

bool reservedPrefix(const std::string& s) {
  if (s.size() < 4) return false;
  std::string head = s.substr(0, 4);
  std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
  return head == "aws:";
}

// ECS's TagKey/TagValue pattern, ([\p{L}\p{Z}\p{N}_.:/=+\-@]*): ASCII is checked, bytes of
// multi-byte UTF-8 characters are taken as letters.
bool patternChars(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c >= 0x80 || std::isalnum(c) || c == ' ' || std::string_view("_.:/=+-@").find(ch) != std::string_view::npos;
  });
}

std::optional<ApiError> textProblem(const std::string& s, const TagStyle& style, const std::string& path) {
  if (reservedPrefix(s)) {
    return invalidAs(style, path + ": the aws: prefix is reserved for AWS use, got " + jsonQuote(s));
  }
  if (style.check_chars && !patternChars(s)) {
    return invalidAs(style, path + ": expected letters, digits, spaces and _ . : / = + - @, got " + jsonQuote(s));
  }
  return std::nullopt;
}

std::string pad8(const std::string& rev) { return std::string(8 - std::min<size_t>(8, rev.size()), '0') + rev; }

ApiError invalid(std::string message) { return {"InvalidParameterException", std::move(message)}; }

std::string tooManyMessage(size_t n) {
  return "a resource has at most " + std::to_string(kMaxTagsPerResource) + " tags; this one would have " +
         std::to_string(n);
}

}  // namespace

std::optional<ApiError> tagsProblem(const Json& tags, const TagStyle& style, const std::string& path) {
  for (size_t i = 0; i < tags.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "].";
    if (!tags[i].contains(style.key)) return invalidAs(style, at + style.key + ": required");
    if (auto e = textProblem(str(tags[i], style.key), style, at + style.key)) return e;
    if (auto e = textProblem(str(tags[i], style.value), style, at + style.value)) return e;
  }
  return std::nullopt;
}

std::optional<ApiError> tagKeysProblem(const Json& keys, const TagStyle& style, const std::string& path) {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (reservedPrefix(keys[i].get<std::string>())) {
      return invalidAs(style, path + "[" + std::to_string(i) + "]: tags with the aws: prefix cannot be removed, got " +
                                  jsonQuote(keys[i].get<std::string>()));
    }
  }
  return std::nullopt;
}

Json mergeTags(const Json& have, const Json& add, const TagStyle& style) {
  Json out = have.is_array() ? have : Json::array();
  for (const Json& t : add) {
    Json tag = {{style.key, str(t, style.key)}, {style.value, str(t, style.value)}};
    auto same = std::find_if(out.begin(), out.end(), [&](const Json& o) { return o[style.key] == tag[style.key]; });
    if (same != out.end()) {
      *same = tag;
    } else {
      out.push_back(tag);
    }
  }
  return out;
}

Json removeTags(const Json& have, const Json& keys, const TagStyle& style) {
  Json out = Json::array();
  for (const Json& t : have.is_array() ? have : Json::array()) {
    if (std::find(keys.begin(), keys.end(), t[style.key]) == keys.end()) out.push_back(t);
  }
  return out;
}

Json tagsIfIncluded(Json doc, const Json& in) {
  Json include = in.value("include", Json::array());
  if (std::find(include.begin(), include.end(), "TAGS") == include.end()) {
    doc.erase("tags");
  } else if (!doc.contains("tags")) {
    doc["tags"] = Json::array();
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// ECS

std::expected<std::string, ApiError> ControlPlane::ecsTaggedKey(Batch& b, const std::string& arn, const char* missing) {
  const std::string prefix = ecsArn("");
  if (!startsWith(arn, prefix)) {
    return std::unexpected(invalid("resourceArn: expected an ECS ARN starting " + prefix + ", got " + jsonQuote(arn)));
  }
  const std::string rest = arn.substr(prefix.size());
  const auto slash = rest.find('/');
  const std::string type = rest.substr(0, slash), path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  std::string key;
  if (type == "cluster") {
    if (!b.find("cluster/" + path)) return std::unexpected(ApiError{"ClusterNotFoundException", "Cluster not found."});
    return "cluster/" + path;
  }
  if (type == "service" || type == "task" || type == "container-instance") {
    const auto p = path.find('/');
    if (p == std::string::npos || p == 0 || p + 1 == path.size()) {
      return std::unexpected(invalid("resourceArn: expected " + type + "/<cluster>/<id>, got " + jsonQuote(arn)));
    }
    if (!b.find("cluster/" + path.substr(0, p)))
      return std::unexpected(ApiError{"ClusterNotFoundException", "Cluster not found."});
    key = (type == "container-instance" ? std::string("instance") : type) + "/" + path;
  } else if (type == "task-definition") {
    const auto colon = path.rfind(':');
    if (colon == std::string::npos || !parseUint(path.substr(colon + 1), 99999999)) {
      return std::unexpected(
          invalid("resourceArn: a task definition ARN ends in <family>:<revision>, got " + jsonQuote(arn)));
    }
    key = "taskdef/" + path.substr(0, colon) + "/" + pad8(path.substr(colon + 1));
  } else {
    return std::unexpected(invalid(
        "resourceArn: sccontrol tags clusters, services, tasks, task definitions and container instances; got " +
        jsonQuote(arn)));
  }
  const Json* doc = b.find(key);
  if (doc == nullptr || (type == "service" && str(*doc, "status") == "INACTIVE")) {
    return std::unexpected(ApiError{missing, "The specified resource could not be found: " + arn});
  }
  return key;
}

ApiResult ControlPlane::tagResource(const Json& in) {
  Batch b(docs_);
  auto key = ecsTaggedKey(b, str(in, "resourceArn"), "ResourceNotFoundException");
  if (!key) return std::unexpected(key.error());
  if (auto e = tagsProblem(in["tags"], kEcsTags, "tags")) return std::unexpected(*e);
  Json doc = *b.get(*key);
  Json tags = mergeTags(doc.value("tags", Json::array()), in["tags"], kEcsTags);
  if (tags.size() > kMaxTagsPerResource) return std::unexpected(invalid("tags: " + tooManyMessage(tags.size())));
  doc["tags"] = std::move(tags);
  b.put(*key, std::move(doc));
  return finish(b, Json::object());
}

ApiResult ControlPlane::untagResource(const Json& in) {
  Batch b(docs_);
  auto key = ecsTaggedKey(b, str(in, "resourceArn"), "ResourceNotFoundException");
  if (!key) return std::unexpected(key.error());
  if (auto e = tagKeysProblem(in["tagKeys"], kEcsTags, "tagKeys")) return std::unexpected(*e);
  Json doc = *b.get(*key);
  doc["tags"] = removeTags(doc.value("tags", Json::array()), in["tagKeys"], kEcsTags);
  b.put(*key, std::move(doc));
  return finish(b, Json::object());
}

// ListTagsForResource's model lists no ResourceNotFoundException: a missing resource other than
// a cluster is an InvalidParameterException.
ApiResult ControlPlane::listTagsForResource(const Json& in) {
  Batch b(docs_);
  auto key = ecsTaggedKey(b, str(in, "resourceArn"), "InvalidParameterException");
  if (!key) return std::unexpected(key.error());
  return Json{{"tags", b.find(*key)->value("tags", Json::array())}};
}

// ---------------------------------------------------------------------------------------------
// Cloud Map

std::expected<std::string, ApiError> ControlPlane::cmTaggedKey(Batch& b, const std::string& arn) {
  const std::string prefix = cmArn("");
  const ApiError not_found{"ResourceNotFoundException",
                           "The operation can't be completed because the resource was not found: " + arn};
  if (startsWith(arn, prefix + "namespace/")) {
    const std::string key = "namespace/" + arn.substr(prefix.size() + 10);
    if (!b.find(key)) return std::unexpected(not_found);
    return key;
  }
  if (startsWith(arn, prefix + "service/")) {
    const std::string id = arn.substr(prefix.size() + 8);
    for (const auto& [k, cm] : b.list("cmservice/")) {
      if (cm["Id"] == id) return k;
    }
    return std::unexpected(not_found);
  }
  return std::unexpected(
      ApiError{"InvalidInput", "ResourceARN: sccontrol tags namespaces and services (ARNs starting " + prefix +
                                   "namespace/ or service/), got " + jsonQuote(arn)});
}

ApiResult ControlPlane::cmTagResource(const Json& in) {
  Batch b(docs_);
  auto key = cmTaggedKey(b, str(in, "ResourceARN"));
  if (!key) return std::unexpected(key.error());
  if (auto e = tagsProblem(in["Tags"], kCloudMapTags, "Tags")) return std::unexpected(*e);
  Json doc = *b.get(*key);
  Json tags = mergeTags(doc.value("_tags", Json::array()), in["Tags"], kCloudMapTags);
  if (tags.size() > kMaxTagsPerResource) {
    return std::unexpected(
        ApiError{"TooManyTagsException", str(in, "ResourceARN") + ": " + tooManyMessage(tags.size())});
  }
  doc["_tags"] = std::move(tags);
  b.put(*key, std::move(doc));
  return finish(b, Json::object());
}

ApiResult ControlPlane::cmUntagResource(const Json& in) {
  Batch b(docs_);
  auto key = cmTaggedKey(b, str(in, "ResourceARN"));
  if (!key) return std::unexpected(key.error());
  if (auto e = tagKeysProblem(in["TagKeys"], kCloudMapTags, "TagKeys")) return std::unexpected(*e);
  Json doc = *b.get(*key);
  doc["_tags"] = removeTags(doc.value("_tags", Json::array()), in["TagKeys"], kCloudMapTags);
  b.put(*key, std::move(doc));
  return finish(b, Json::object());
}

ApiResult ControlPlane::cmListTagsForResource(const Json& in) {
  Batch b(docs_);
  auto key = cmTaggedKey(b, str(in, "ResourceARN"));
  if (!key) return std::unexpected(key.error());
  return Json{{"Tags", b.find(*key)->value("_tags", Json::array())}};
}

}  // namespace sc::controlplane
