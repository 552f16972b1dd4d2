#include "model/parse.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/net_addr.h"
#include "common/strings.h"
#include "model/api_model.h"
#include "model/capabilities.h"

namespace sc::model {
namespace {

Error issuesError(const std::vector<ApiIssue>& issues) {
  std::string msg;
  for (size_t i = 0; i < issues.size(); ++i) {
    if (i) msg += '\n';
    msg += issues[i].text();
  }
  return plainError(ErrorCode::kInvalidArgument, msg);
}

const ApiModel& ecs() { return ApiModel::get(ApiModel::Service::kEcs); }

std::optional<std::string> optString(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<int> optInt(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<int>();
}

std::optional<int64_t> optInt64(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<int64_t>();
}

std::vector<std::string> stringList(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->get<std::vector<std::string>>();
}

// "1.5" + unit -> value * factor, rounded down; nullopt when malformed or out of range.
std::optional<int> parseScaled(std::string_view text, const std::vector<std::pair<std::string, double>>& units,
                               double bare_factor) {
  std::string_view t = trim(text);
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  std::string_view num = t.substr(0, i);
  std::string unit(trim(t.substr(i)));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  if (num.empty() || std::count(num.begin(), num.end(), '.') > 1 || num.front() == '.' || num.back() == '.') {
    return std::nullopt;
  }
  double value = std::strtod(std::string(num).c_str(), nullptr);
  double factor = 0;
  if (unit.empty()) {
    factor = bare_factor;
  } else {
    for (const auto& [u, f] : units) {
      if (unit == u) factor = f;
    }
    if (factor == 0) return std::nullopt;
  }
  double scaled = std::floor(value * factor);
  if (!std::isfinite(scaled) || scaled < 0 || scaled > 2147483647.0) return std::nullopt;
  return static_cast<int>(scaled);
}

// linuxParameters: what scagent honours is read; what it cannot is named in `unsupported`. Capability
// names are checked here, at registration.
LinuxParameters linuxParametersFromJson(const Json& lp, const std::string& path, std::vector<ApiIssue>& issues) {
  LinuxParameters out;
  if (!lp.is_object()) return out;
  if (auto caps = lp.find("capabilities"); caps != lp.end() && caps->is_object()) {
    out.cap_add = stringList(*caps, "add");
    out.cap_drop = stringList(*caps, "drop");
    for (const auto* list : {&out.cap_add, &out.cap_drop}) {
      for (const std::string& n : *list) {
        if (!isCapabilityName(n)) {
          issues.push_back({childPath(childPath(path, "capabilities"), list == &out.cap_add ? "add" : "drop"),
                            "unknown capability " + jsonQuote(n) + " (names as in CAP_<NAME>, without CAP_, or ALL)"});
        }
      }
    }
  }
  out.shared_memory_size_mib = optInt(lp, "sharedMemorySize");
  if (auto tm = lp.find("tmpfs"); tm != lp.end() && tm->is_array()) {
    for (const Json& t : *tm) {
      out.tmpfs.push_back(
          {optString(t, "containerPath").value_or(""), optInt(t, "size").value_or(0), stringList(t, "mountOptions")});
    }
  }
  for (const char* member : {"devices", "maxSwap", "swappiness"}) {
    if (lp.contains(member) && !lp[member].is_null()) out.unsupported.push_back(member);
  }
  if (lp.value("initProcessEnabled", false)) out.unsupported.push_back("initProcessEnabled");
  return out;
}

}  // namespace

std::optional<int> parseTaskMemory(std::string_view text) {
  return parseScaled(text, {{"mb", 1}, {"mib", 1}, {"gb", 1024}, {"gib", 1024}}, 1);
}

std::optional<int> parseTaskCpu(std::string_view text) {
  return parseScaled(text, {{"vcpu", 1024}, {"vcpus", 1024}}, 1);
}

std::string appProtocolName(AppProtocol p) {
  switch (p) {
    case AppProtocol::kTcp:
      return "tcp";
    case AppProtocol::kHttp:
      return "http";
    case AppProtocol::kHttp2:
      return "http2";
    case AppProtocol::kGrpc:
      return "grpc";
  }
  return "tcp";
}

std::optional<AppProtocol> parseAppProtocol(std::string_view s) {
  if (s == "tcp") return AppProtocol::kTcp;
  if (s == "http") return AppProtocol::kHttp;
  if (s == "http2") return AppProtocol::kHttp2;
  if (s == "grpc") return AppProtocol::kGrpc;
  return std::nullopt;
}

bool isHttpFamily(AppProtocol p) { return p != AppProtocol::kTcp; }

std::string networkModeName(NetworkMode m) {
  switch (m) {
    case NetworkMode::kAwsvpc:
      return "awsvpc";
    case NetworkMode::kBridge:
      return "bridge";
    case NetworkMode::kHost:
      return "host";
    case NetworkMode::kNone:
      return "none";
  }
  return "bridge";
}

std::optional<NetworkMode> parseNetworkMode(std::string_view s) {
  if (s == "awsvpc") return NetworkMode::kAwsvpc;
  if (s == "bridge") return NetworkMode::kBridge;
  if (s == "host") return NetworkMode::kHost;
  if (s == "none") return NetworkMode::kNone;
  return std::nullopt;
}

Result<TaskDefinition> taskDefinitionFromJson(const Json& in) {
  const Json* doc = &in;
  std::string shape = "RegisterTaskDefinitionRequest";
  std::string base;
  if (in.is_object() && in.contains("taskDefinition") && in["taskDefinition"].is_object()) {
    // DescribeTaskDefinition output: {"taskDefinition": {...}, "tags": [...]}.
    auto issues = ecs().validate(in, "DescribeTaskDefinitionResponse");
    if (!issues.empty()) return issuesError(issues);
    doc = &in["taskDefinition"];
    shape = "TaskDefinition";
    base = "taskDefinition";
  } else {
    auto issues = ecs().validate(in, shape);
    if (!issues.empty()) return issuesError(issues);
  }
  const Json& j = *doc;
  std::vector<ApiIssue> issues;
  TaskDefinition td;
  td.family = optString(j, "family").value_or("");
  if (td.family.empty()) {
    issues.push_back({childPath(base, "family"), "missing required member 'family'"});
  } else if (td.family.size() > 255 ||
             td.family.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_-") != std::string::npos) {
    issues.push_back(
        {childPath(base, "family"), "a family has 1-255 letters, digits, '_' and '-', got " + jsonQuote(td.family)});
  }
  td.revision = optInt(j, "revision");
  if (auto cpu = optString(j, "cpu")) {
    td.cpu_units = parseTaskCpu(*cpu);
    if (!td.cpu_units) {
      issues.push_back(
          {childPath(base, "cpu"), "expected CPU units (\"256\") or vCPUs (\"1 vCPU\"), got " + jsonQuote(*cpu)});
    }
  }
  if (auto mem = optString(j, "memory")) {
    td.memory_mib = parseTaskMemory(*mem);
    if (!td.memory_mib) {
      issues.push_back({childPath(base, "memory"), "expected MiB (\"512\") or GB (\"1 GB\"), got " + jsonQuote(*mem)});
    }
  }
  if (auto nm = optString(j, "networkMode")) td.network_mode = *parseNetworkMode(*nm);  // enum-checked
  if (j.contains("runtimePlatform") && j["runtimePlatform"].contains("operatingSystemFamily")) {
    td.os_family = j["runtimePlatform"]["operatingSystemFamily"].get<std::string>();
  }
  td.requires_compatibilities = stringList(j, "requiresCompatibilities");
  static const Json kNone = Json::array();
  const Json& cds = j.contains("containerDefinitions") ? j["containerDefinitions"] : kNone;
  if (cds.empty()) issues.push_back({childPath(base, "containerDefinitions"), "expected at least one container"});
  for (size_t ci = 0; ci < cds.size(); ++ci) {
    const Json& c = cds[ci];
    const std::string cpath = indexPath(childPath(base, "containerDefinitions"), ci);
    ContainerDefinition cd;
    cd.name = optString(c, "name").value_or("");
    if (cd.name.empty()) {
      issues.push_back({cpath, "missing required member 'name'"});
    } else if (cd.name.size() > 255 || cd.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                 "0123456789_-") != std::string::npos) {
      issues.push_back({childPath(cpath, "name"),
                        "a container name has 1-255 letters, digits, '_' and '-', got " + jsonQuote(cd.name)});
    }
    cd.image = optString(c, "image").value_or("");
    cd.memory = optInt(c, "memory");
    cd.memory_reservation = optInt(c, "memoryReservation");
    cd.cpu = optInt(c, "cpu").value_or(0);
    if (c.contains("essential") && c["essential"].is_boolean()) cd.essential = c["essential"].get<bool>();
    cd.command = stringList(c, "command");
    cd.entry_point = stringList(c, "entryPoint");
    cd.stop_timeout = optInt(c, "stopTimeout");
    cd.working_directory = optString(c, "workingDirectory").value_or("");
    cd.user = optString(c, "user").value_or("");
    cd.privileged = c.value("privileged", false);
    cd.readonly_root_filesystem = c.value("readonlyRootFilesystem", false);
    if (auto lp = c.find("linuxParameters"); lp != c.end()) {
      cd.linux_parameters = linuxParametersFromJson(*lp, childPath(cpath, "linuxParameters"), issues);
    }
    if (c.contains("environment") && c["environment"].is_array()) {
      for (const Json& kv : c["environment"]) {
        cd.environment.emplace_back(optString(kv, "name").value_or(""), optString(kv, "value").value_or(""));
      }
    }
    if (c.contains("portMappings") && c["portMappings"].is_array()) {
      for (const Json& pm : c["portMappings"]) {
        PortMapping m;
        m.name = optString(pm, "name");
        m.container_port = optInt(pm, "containerPort");
        m.host_port = optInt(pm, "hostPort");
        m.protocol = optString(pm, "protocol").value_or("tcp");
        if (auto ap = optString(pm, "appProtocol")) m.app_protocol = parseAppProtocol(*ap);
        m.container_port_range = optString(pm, "containerPortRange");
        cd.port_mappings.push_back(std::move(m));
      }
    }
    td.containers.push_back(std::move(cd));
  }
  if (!issues.empty()) return issuesError(issues);
  return td;
}

namespace {

// Container members scagent does not implement, and what to do instead.
struct Unhonoured {
  const char* member;
  const char* why;
};
constexpr Unhonoured kContainerMembers[] = {
    {"healthCheck", "container health checks are not run by scagent yet; the task's health is its proxy's"},
    {"dependsOn", "container start order is not supported; containers start together after the proxy"},
    {"startTimeout", "goes with dependsOn, which is not supported"},
    {"mountPoints", "volumes are not supported; an app writes to its own layer (or tmpfs)"},
    {"volumesFrom", "volumes are not supported"},
    {"secrets", "secrets are not fetched by scagent; pass them another way"},
    {"environmentFiles", "environment files are not fetched by scagent; use environment"},
    {"ulimits", "ulimits are not applied by scagent"},
    {"extraHosts", "the hosts file is scagent's (Service Connect names); extra entries are not supported"},
    {"dnsServers", "DNS settings are not supported"},
    {"dnsSearchDomains", "DNS settings are not supported"},
    {"links", "links are a bridge-mode Docker feature; use Service Connect names"},
    {"systemControls", "namespaced sysctls are not applied by scagent"},
    {"resourceRequirements", "GPUs and inference accelerators are not supported"},
    {"repositoryCredentials", "registries are not supported; images come from the agent's imageDir"},
    {"firelensConfiguration", "FireLens is not supported"},
    {"dockerSecurityOptions", "Docker security options do not apply; scagent's own sandbox is used"},
    {"credentialSpecs", "credential specs are not supported"},
    {"restartPolicy", "container restart policies are not supported; an essential container's exit stops the task"},
    {"interactive", "interactive containers are not supported"},
    {"pseudoTerminal", "pseudo-terminals are not supported"},
    {"disableNetworking", "a Service Connect task needs its network"},
};
constexpr Unhonoured kTaskMembers[] = {
    {"volumes", "volumes are not supported"},
    {"placementConstraints", "placement constraints are not supported; tasks are spread over instances"},
    {"proxyConfiguration", "App Mesh proxy configuration does not apply; scagent injects its own proxy"},
    {"inferenceAccelerators", "inference accelerators are not supported"},
    {"ephemeralStorage", "applies to Fargate only"},
};

// Present and not empty: an empty list or object asks for nothing.
bool present(const Json& j, const char* member) {
  auto it = j.find(member);
  if (it == j.end() || it->is_null()) return false;
  if ((it->is_array() || it->is_object()) && it->empty()) return false;
  if (it->is_boolean() && !it->get<bool>()) return false;
  return true;
}

}  // namespace

Result<void> checkHonouredMembers(const Json& td) {
  if (!td.is_object()) return ok();
  std::vector<ApiIssue> issues;
  for (const Unhonoured& u : kTaskMembers) {
    if (present(td, u.member)) issues.push_back({u.member, std::string("not supported by scagent: ") + u.why});
  }
  for (const char* mode : {"ipcMode", "pidMode"}) {
    if (present(td, mode)) issues.push_back({mode, "not supported by scagent: each task has its own namespaces"});
  }
  const Json cds = td.value("containerDefinitions", Json::array());
  for (size_t i = 0; i < cds.size(); ++i) {
    const std::string path = "containerDefinitions[" + std::to_string(i) + "]";
    for (const Unhonoured& u : kContainerMembers) {
      if (present(cds[i], u.member))
        issues.push_back({path + "." + u.member, std::string("not supported by scagent: ") + u.why});
    }
  }
  if (!issues.empty()) return issuesError(issues);
  return ok();
}

Result<TaskDefinition> parseTaskDefinition(std::string_view text) {
  SC_ASSIGN_OR_RETURN(Json j, parseJsonStrict(text, "task definition"));
  return taskDefinitionFromJson(j);
}

Result<ServiceConnectConfig> serviceConnectConfigFromJson(const Json& j, std::string_view path) {
  auto issues = ecs().validate(j, "ServiceConnectConfiguration", path);
  if (!issues.empty()) return issuesError(issues);
  ServiceConnectConfig sc;
  sc.enabled = j.at("enabled").get<bool>();
  sc.ns = optString(j, "namespace");
  if (j.contains("services") && j["services"].is_array()) {
    for (const Json& s : j["services"]) {
      ServiceConnectService svc;
      svc.port_name = s.at("portName").get<std::string>();
      svc.discovery_name = optString(s, "discoveryName");
      if (s.contains("clientAliases") && s["clientAliases"].is_array()) {
        for (const Json& a : s["clientAliases"]) {
          svc.client_aliases.push_back({a.at("port").get<int>(), optString(a, "dnsName")});
        }
      }
      svc.ingress_port_override = optInt(s, "ingressPortOverride");
      if (s.contains("timeout") && s["timeout"].is_object()) {
        svc.timeout = TimeoutConfig{optInt64(s["timeout"], "idleTimeoutSeconds"),
                                    optInt64(s["timeout"], "perRequestTimeoutSeconds")};
      }
      svc.tls = s.contains("tls") && !s["tls"].is_null();
      sc.services.push_back(std::move(svc));
    }
  }
  if (j.contains("logConfiguration") && j["logConfiguration"].is_object()) {
    LogConfig lc;
    lc.driver = j["logConfiguration"].at("logDriver").get<std::string>();
    if (j["logConfiguration"].contains("options") && j["logConfiguration"]["options"].is_object()) {
      for (auto it = j["logConfiguration"]["options"].begin(); it != j["logConfiguration"]["options"].end(); ++it) {
        lc.options[it.key()] = it->get<std::string>();
      }
    }
    sc.log = std::move(lc);
  }
  if (j.contains("accessLogConfiguration") && j["accessLogConfiguration"].is_object()) {
    const Json& a = j["accessLogConfiguration"];
    sc.access_log = AccessLogConfig{a.at("format").get<std::string>(),
                                    optString(a, "includeQueryParameters").value_or("DISABLED") == "ENABLED"};
  }
  return sc;
}

Result<ServiceDefinition> serviceDefinitionFromJson(const Json& j, std::string_view shape) {
  auto issues = ecs().validate(j, shape);
  if (!issues.empty()) return issuesError(issues);
  ServiceDefinition sd;
  sd.name = optString(j, shape == "UpdateServiceRequest" ? "service" : "serviceName").value_or("");
  sd.cluster = optString(j, "cluster").value_or("default");
  sd.task_definition = optString(j, "taskDefinition").value_or("");
  sd.desired_count = optInt(j, "desiredCount");
  sd.launch_type = optString(j, "launchType").value_or("");
  if (j.contains("deploymentController") && j["deploymentController"].is_object()) {
    sd.deployment_controller = j["deploymentController"].at("type").get<std::string>();
  }
  if (j.contains("deploymentConfiguration") && j["deploymentConfiguration"].is_object()) {
    sd.minimum_healthy_percent = optInt(j["deploymentConfiguration"], "minimumHealthyPercent");
    sd.maximum_percent = optInt(j["deploymentConfiguration"], "maximumPercent");
  }
  if (j.contains("serviceConnectConfiguration") && j["serviceConnectConfiguration"].is_object()) {
    SC_ASSIGN_OR_RETURN(sd.service_connect,
                        serviceConnectConfigFromJson(j["serviceConnectConfiguration"], "serviceConnectConfiguration"));
  }
  return sd;
}

Result<ServiceDefinition> parseServiceDefinition(std::string_view text) {
  SC_ASSIGN_OR_RETURN(Json j, parseJsonStrict(text, "service"));
  // UpdateService input names the service in `service`; CreateService in `serviceName`.
  const bool update = j.is_object() && j.contains("service") && !j.contains("serviceName");
  return serviceDefinitionFromJson(j, update ? "UpdateServiceRequest" : "CreateServiceRequest");
}

Result<ClusterDefinition> parseClusterDefinition(std::string_view text) {
  SC_ASSIGN_OR_RETURN(Json j, parseJsonStrict(text, "cluster"));
  auto issues = ecs().validate(j, "CreateClusterRequest");
  if (!issues.empty()) return issuesError(issues);
  ClusterDefinition cd;
  cd.name = optString(j, "clusterName").value_or("default");
  if (j.contains("serviceConnectDefaults") && j["serviceConnectDefaults"].is_object()) {
    std::string ns = j["serviceConnectDefaults"].at("namespace").get<std::string>();
    if (!ns.empty()) cd.default_namespace = ns;
  }
  return cd;
}

// ---- Namespace snapshot: scagent's own document, checked by hand with the same path style. ----

namespace {

class SnapshotReader {
 public:
  std::vector<ApiIssue> issues;

  bool object(const Json& j, const std::string& path, std::initializer_list<const char*> allowed) {
    if (!j.is_object()) {
      issues.push_back({path, "expected an object, got " + describeValue(j)});
      return false;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return it.key() == a; }) == allowed.end()) {
        issues.push_back({childPath(path, it.key()), "unknown member"});
      }
    }
    return true;
  }
  std::string str(const Json& j, const std::string& path, const char* key, bool required) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) issues.push_back({path, std::string("missing required member '") + key + "'"});
      return {};
    }
    if (!it->is_string()) {
      issues.push_back({childPath(path, key), "expected a string, got " + describeValue(*it)});
      return {};
    }
    return it->get<std::string>();
  }
  std::optional<int64_t> integer(const Json& j, const std::string& path, const char* key, int64_t lo, int64_t hi,
                                 bool required) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) issues.push_back({path, std::string("missing required member '") + key + "'"});
      return std::nullopt;
    }
    bool okay =
        it->is_number_integer() && (it->is_number_unsigned() ? it->get<uint64_t>() <= static_cast<uint64_t>(hi) : true);
    if (okay) {
      int64_t v = it->get<int64_t>();
      if (v >= lo && v <= hi) return v;
    }
    issues.push_back({childPath(path, key), "expected an integer " + std::to_string(lo) + "-" + std::to_string(hi) +
                                                ", got " + describeValue(*it)});
    return std::nullopt;
  }
  bool boolean(const Json& j, const std::string& path, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return false;
    if (!it->is_boolean()) {
      issues.push_back({childPath(path, key), "expected true or false, got " + describeValue(*it)});
      return false;
    }
    return it->get<bool>();
  }
};

}  // namespace

Result<NamespaceSnapshot> namespaceSnapshotFromJson(const Json& j) {
  SnapshotReader r;
  NamespaceSnapshot ns;
  if (!r.object(j, "", {"name", "arn", "vipCidr", "revision", "totalTasks", "services"})) return issuesError(r.issues);
  ns.name = r.str(j, "", "name", true);
  if (auto cidr = r.str(j, "", "vipCidr", false); !cidr.empty()) {
    ns.vip_cidr = cidr;
    if (auto c = Cidr::parse(cidr); !c.ok()) r.issues.push_back({"vipCidr", c.error().message});
  }
  ns.revision = r.integer(j, "", "revision", 0, INT64_MAX, false).value_or(0);
  ns.total_tasks = r.integer(j, "", "totalTasks", 0, INT64_MAX, false);
  if (auto it = j.find("services"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      r.issues.push_back({"services", "expected an array, got " + describeValue(*it)});
    } else {
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& s = (*it)[i];
        const std::string p = indexPath("services", i);
        if (!r.object(s, p,
                      {"discoveryName", "dnsName", "port", "vip", "ownerService", "taskDefinitionFamily", "portName",
                       "discoveryNameDefaulted", "appProtocol", "timeout", "addresses"})) {
          continue;
        }
        NamespaceService svc;
        svc.discovery_name = r.str(s, p, "discoveryName", true);
        svc.dns_name = r.str(s, p, "dnsName", false);
        if (svc.dns_name.empty()) svc.dns_name = svc.discovery_name;
        svc.port = static_cast<int>(r.integer(s, p, "port", 1, 65535, true).value_or(0));
        svc.vip = r.str(s, p, "vip", false);
        if (!svc.vip.empty() && !IpAddress::parse(svc.vip).ok()) {
          r.issues.push_back({childPath(p, "vip"), "expected an IP address, got " + jsonQuote(svc.vip)});
        }
        svc.owner_service = r.str(s, p, "ownerService", false);
        svc.task_definition_family = r.str(s, p, "taskDefinitionFamily", false);
        svc.port_name = r.str(s, p, "portName", false);
        svc.discovery_name_defaulted = r.boolean(s, p, "discoveryNameDefaulted");
        if (std::string ap = r.str(s, p, "appProtocol", false); !ap.empty()) {
          if (auto parsed = parseAppProtocol(ap))
            svc.app_protocol = *parsed;
          else
            r.issues.push_back(
                {childPath(p, "appProtocol"), "expected one of tcp, http, http2, grpc, got " + jsonQuote(ap)});
        }
        if (auto t = s.find("timeout"); t != s.end() && !t->is_null()) {
          if (r.object(*t, childPath(p, "timeout"), {"idleTimeoutSeconds", "perRequestTimeoutSeconds"})) {
            svc.timeout.idle_timeout_s =
                r.integer(*t, childPath(p, "timeout"), "idleTimeoutSeconds", 0, 2147483647, false);
            svc.timeout.per_request_timeout_s =
                r.integer(*t, childPath(p, "timeout"), "perRequestTimeoutSeconds", 0, 2147483647, false);
          }
        }
        if (auto a = s.find("addresses"); a != s.end() && !a->is_null()) {
          if (!a->is_array()) {
            r.issues.push_back({childPath(p, "addresses"), "expected an array, got " + describeValue(*a)});
          } else {
            for (size_t k = 0; k < a->size(); ++k) {
              const std::string ap = indexPath(childPath(p, "addresses"), k);
              if (!r.object((*a)[k], ap, {"ip", "port", "taskId", "healthy"})) continue;
              EndpointAddress ea;
              ea.ip = r.str((*a)[k], ap, "ip", true);
              if (!ea.ip.empty() && !IpAddress::parse(ea.ip).ok()) {
                r.issues.push_back({childPath(ap, "ip"), "expected an IP address, got " + jsonQuote(ea.ip)});
              }
              ea.port = static_cast<int>(r.integer((*a)[k], ap, "port", 1, 65535, true).value_or(0));
              ea.task_id = r.str((*a)[k], ap, "taskId", false);
              ea.healthy = !(*a)[k].contains("healthy") || r.boolean((*a)[k], ap, "healthy");
              svc.addresses.push_back(std::move(ea));
            }
          }
        }
        ns.services.push_back(std::move(svc));
      }
    }
  }
  if (!r.issues.empty()) return issuesError(r.issues);
  return ns;
}

Result<NamespaceSnapshot> parseNamespaceSnapshot(std::string_view text) {
  SC_ASSIGN_OR_RETURN(Json j, parseJsonStrict(text, "namespace snapshot"));
  return namespaceSnapshotFromJson(j);
}

OrderedJson namespaceSnapshotToJson(const NamespaceSnapshot& ns) {
  OrderedJson j;
  j["name"] = ns.name;
  j["vipCidr"] = ns.vip_cidr;
  j["revision"] = ns.revision;
  if (ns.total_tasks) j["totalTasks"] = *ns.total_tasks;
  j["services"] = OrderedJson::array();
  for (const auto& s : ns.services) {
    OrderedJson o;
    o["discoveryName"] = s.discovery_name;
    o["dnsName"] = s.dns_name;
    o["port"] = s.port;
    o["vip"] = s.vip;
    if (!s.owner_service.empty()) o["ownerService"] = s.owner_service;
    if (!s.task_definition_family.empty()) o["taskDefinitionFamily"] = s.task_definition_family;
    if (!s.port_name.empty()) o["portName"] = s.port_name;
    if (s.discovery_name_defaulted) o["discoveryNameDefaulted"] = true;
    o["appProtocol"] = appProtocolName(s.app_protocol);
    if (s.timeout.idle_timeout_s || s.timeout.per_request_timeout_s) {
      OrderedJson t = OrderedJson::object();
      if (s.timeout.idle_timeout_s) t["idleTimeoutSeconds"] = *s.timeout.idle_timeout_s;
      if (s.timeout.per_request_timeout_s) t["perRequestTimeoutSeconds"] = *s.timeout.per_request_timeout_s;
      o["timeout"] = t;
    }
    o["addresses"] = OrderedJson::array();
    for (const auto& a : s.addresses) {
      OrderedJson ao;
      ao["ip"] = a.ip;
      ao["port"] = a.port;
      if (!a.task_id.empty()) ao["taskId"] = a.task_id;
      if (!a.healthy) ao["healthy"] = false;
      o["addresses"].push_back(ao);
    }
    j["services"].push_back(o);
  }
  return j;
}

}  // namespace sc::model
