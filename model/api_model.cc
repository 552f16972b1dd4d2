#include "model/api_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace sc::embedded {
extern const std::string_view kEcsModel;
extern const std::string_view kServiceDiscoveryModel;
}  // namespace sc::embedded

namespace sc::model {
namespace {

struct Range {
  int64_t min;
  int64_t max;
};

// Documented ranges the model does not encode, keyed by "<structure>.<member>".
const std::map<std::string, Range, std::less<>>& rangeOverrides() {
  static const std::map<std::string, Range, std::less<>> table = {
      {"PortMapping.containerPort", {1, 65535}},          {"PortMapping.hostPort", {0, 65535}},
      {"ServiceConnectClientAlias.port", {1, 65535}},     {"ServiceConnectService.ingressPortOverride", {1, 65535}},
      {"ContainerDefinition.memory", {6, 2147483647}},    {"ContainerDefinition.memoryReservation", {6, 2147483647}},
      {"ContainerDefinition.cpu", {0, 10240 * 16}},       {"ContainerDefinition.stopTimeout", {0, 120}},
      {"CreateServiceRequest.desiredCount", {0, 100000}}, {"UpdateServiceRequest.desiredCount", {0, 100000}},
  };
  return table;
}

std::string lower(std::string_view s) {
  std::string o(s);
  std::transform(o.begin(), o.end(), o.begin(), [](unsigned char c) { return std::tolower(c); });
  return o;
}

}  // namespace

const ApiModel& ApiModel::get(Service service) {
  static const ApiModel ecs(Json::parse(embedded::kEcsModel));
  static const ApiModel sd(Json::parse(embedded::kServiceDiscoveryModel));
  return service == Service::kEcs ? ecs : sd;
}

bool ApiModel::hasShape(std::string_view name) const { return model_["shapes"].contains(std::string(name)); }

const Json& ApiModel::shape(std::string_view name) const { return model_["shapes"].at(std::string(name)); }

std::optional<std::string> ApiModel::inputShape(std::string_view operation) const {
  const Json& ops = model_["operations"];
  auto it = ops.find(std::string(operation));
  if (it == ops.end() || !it->contains("input")) return std::nullopt;
  return (*it)["input"]["shape"].get<std::string>();
}

std::optional<std::string> ApiModel::outputShape(std::string_view operation) const {
  const Json& ops = model_["operations"];
  auto it = ops.find(std::string(operation));
  if (it == ops.end() || !it->contains("output")) return std::nullopt;
  return (*it)["output"]["shape"].get<std::string>();
}

std::vector<ApiIssue> ApiModel::validate(const Json& value, std::string_view shape_name, std::string_view path) const {
  std::vector<ApiIssue> out;
  validateInto(value, std::string(shape_name), std::string(path), "", out);
  return out;
}

void ApiModel::validateInto(const Json& v, const std::string& shape_name, const std::string& path,
                            const std::string& owner_member, std::vector<ApiIssue>& out) const {
  const Json& s = shape(shape_name);
  const std::string type = s.value("type", "");
  auto expect = [&](const std::string& what) {
    out.push_back({path, "expected " + what + ", got " + describeValue(v)});
  };

  if (type == "structure") {
    if (!v.is_object()) return expect("an object");
    const Json& members = s["members"];
    if (s.contains("required")) {
      for (const auto& req : s["required"]) {
        const std::string name = req.get<std::string>();
        if (!v.contains(name)) out.push_back({path, "missing required member '" + name + "'"});
      }
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string& key = it.key();
      const std::string member_path = childPath(path, key);
      if (!members.contains(key)) {
        std::string msg = "unknown member";
        for (auto m = members.begin(); m != members.end(); ++m) {
          if (lower(m.key()) == lower(key)) {
            msg += " (did you mean '" + m.key() + "'?)";
            break;
          }
        }
        out.push_back({member_path, msg});
        continue;
      }
      // An explicit null is how some tools say "not set"; treat it as absent.
      if (it->is_null()) continue;
      validateInto(*it, members[key]["shape"].get<std::string>(), member_path, shape_name + "." + key, out);
    }
    return;
  }
  if (type == "list") {
    if (!v.is_array()) return expect("an array");
    if (s.contains("min") && v.size() < s["min"].get<size_t>()) {
      out.push_back({path, "expected at least " + std::to_string(s["min"].get<size_t>()) + " item(s), got " +
                               std::to_string(v.size())});
    }
    if (s.contains("max") && v.size() > s["max"].get<size_t>()) {
      out.push_back({path, "expected at most " + std::to_string(s["max"].get<size_t>()) + " item(s), got " +
                               std::to_string(v.size())});
    }
    const std::string member = s["member"]["shape"].get<std::string>();
    for (size_t i = 0; i < v.size(); ++i) validateInto(v[i], member, indexPath(path, i), "", out);
    return;
  }
  if (type == "map") {
    if (!v.is_object()) return expect("an object");
    const std::string value_shape = s["value"]["shape"].get<std::string>();
    for (auto it = v.begin(); it != v.end(); ++it) {
      validateInto(*it, value_shape, childPath(path, it.key()), "", out);
    }
    return;
  }
  if (type == "string" || type == "blob") {
    if (!v.is_string()) {
      if (s.contains("enum")) {
        std::vector<std::string> names = s["enum"].get<std::vector<std::string>>();
        std::string list;
        for (size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + names[i];
        return expect("one of " + list);
      }
      return expect("a string");
    }
    const std::string str = v.get<std::string>();
    if (s.contains("enum")) {
      const auto& names = s["enum"];
      if (std::find(names.begin(), names.end(), str) == names.end()) {
        std::string list;
        for (size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + names[i].get<std::string>();
        expect("one of " + list);
      }
    }
    if (s.contains("min") && str.size() < s["min"].get<size_t>()) {
      out.push_back({path, "expected at least " + std::to_string(s["min"].get<size_t>()) + " character(s)"});
    }
    if (s.contains("max") && str.size() > s["max"].get<size_t>()) {
      out.push_back({path, "expected at most " + std::to_string(s["max"].get<size_t>()) + " character(s), got " +
                               std::to_string(str.size())});
    }
    return;
  }
  if (type == "integer" || type == "long") {
    int64_t lo = type == "integer" ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
    int64_t hi = type == "integer" ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
    bool ranged = false;
    if (s.contains("min")) {
      lo = s["min"].get<int64_t>();
      ranged = true;
    }
    if (s.contains("max")) {
      hi = s["max"].get<int64_t>();
      ranged = true;
    }
    if (auto o = rangeOverrides().find(owner_member); o != rangeOverrides().end()) {
      lo = o->second.min;
      hi = o->second.max;
      ranged = true;
    }
    const std::string desc =
        ranged ? "an integer " + std::to_string(lo) + "-" + std::to_string(hi) : std::string("an integer");
    bool in_range = false;
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      in_range = hi >= 0 && u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(u) >= lo;
    } else if (v.is_number_integer()) {
      int64_t i = v.get<int64_t>();
      in_range = i >= lo && i <= hi;
    } else {
      return expect(desc);
    }
    if (!in_range) expect(desc);
    return;
  }
  if (type == "boolean") {
    if (!v.is_boolean()) expect("true or false");
    return;
  }
  if (type == "double" || type == "float") {
    if (!v.is_number() || !std::isfinite(v.get<double>())) expect("a number");
    return;
  }
  if (type == "timestamp") {
    if (!v.is_number() && !v.is_string()) expect("a timestamp");
    return;
  }
  out.push_back({path, "the API model has shape type '" + type + "', which this validator does not know"});
}

}  // namespace sc::model
