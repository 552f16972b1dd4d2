// The AWS API models (botocore's service-2.json, embedded from model/api/) and a validator that
// checks a JSON document against one of their shapes.
//
// The validator reports, with the JSON path of each: wrong types, missing required members,
// unknown members (with a "did you mean" when only the case differs), values outside an enum,
// lists or strings outside the model's length limits and integers outside their range. Ranges the
// model leaves open but the API documents (ports are 1-65535) come from a small table of overrides.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "model/json_input.h"

namespace sc::model {

struct ApiIssue {
  std::string path;
  std::string message;
  std::string text() const { return (path.empty() ? std::string("input") : path) + ": " + message; }
};

class ApiModel {
 public:
  enum class Service { kEcs, kServiceDiscovery };
  // The embedded model of `service`; loaded once, shared, immutable.
  static const ApiModel& get(Service service);

  bool hasShape(std::string_view name) const;
  const Json& shape(std::string_view name) const;  // the shape's JSON; must exist
  const Json& operations() const { return model_["operations"]; }
  const Json& metadata() const { return model_["metadata"]; }
  // The input/output shape name of an operation ("CreateService" -> "CreateServiceRequest").
  std::optional<std::string> inputShape(std::string_view operation) const;
  std::optional<std::string> outputShape(std::string_view operation) const;

  // Validates `value` against shape `shape_name`; `path` is the path of `value` itself.
  std::vector<ApiIssue> validate(const Json& value, std::string_view shape_name, std::string_view path = "") const;

 private:
  explicit ApiModel(Json model) : model_(std::move(model)) {}
  void validateInto(const Json& value, const std::string& shape_name, const std::string& path,
                    const std::string& owner_member, std::vector<ApiIssue>& out) const;
  Json model_;
};

}  // namespace sc::model
