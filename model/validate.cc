#include "model/validate.h"

#include <map>
#include <set>

#include "common/net_addr.h"
#include "common/strings.h"
#include "model/json_input.h"

namespace sc::model {
namespace {

bool nameChars(std::string_view s, size_t max, bool allow_dot) {
  if (s.empty() || s.size() > max || s.front() == '-') return false;
  for (char c : s) {
    const bool okay =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || (allow_dot && c == '.');
    if (!okay) return false;
  }
  return true;
}

const std::string kScPath = "serviceConnectConfiguration";

std::string svcPath(size_t i) { return indexPath(childPath(kScPath, "services"), i); }

}  // namespace

bool isValidPortName(std::string_view s) { return nameChars(s, 64, false); }
bool isValidDiscoveryName(std::string_view s) { return nameChars(s, 64, false); }

namespace {

Error badSyslog(std::string_view address, const std::string& why) {
  return makeError(ErrorCode::kInvalidArgument, "accept syslog-address", std::string(address), why);
}

bool isSafePath(std::string_view p) {
  if (p.size() < 2 || p.size() > 107 || p.front() != '/') return false;
  for (char c : p) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return p.find("/../") == std::string_view::npos && !p.ends_with("/..");
}

bool isSafeHost(std::string_view h) {
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    auto ip = IpAddress::parse(std::string(h.substr(1, h.size() - 2)));
    return ip.ok() && ip->family == 6;
  }
  auto ip = IpAddress::parse(std::string(h));
  return (ip.ok() && ip->family == 4) || isValidDnsName(h);
}

}  // namespace

Result<std::string> syslogTarget(std::string_view address) {
  std::string_view rest = address;
  bool unix_socket = false;
  if (const auto sep = rest.find("://"); sep != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, sep);
    if (scheme != "udp" && scheme != "unix" && scheme != "unixgram") {
      return badSyslog(address, "the scheme must be udp://, unix:// or unixgram:// (the proxy logs over datagrams)");
    }
    unix_socket = scheme != "udp";
    rest = rest.substr(sep + 3);
  }
  if (unix_socket || rest.starts_with("/")) {
    if (!isSafePath(rest)) {
      return badSyslog(address,
                       "a socket path must be absolute, at most 107 bytes of letters, digits, '.', '_', "
                       "'/' and '-', without '..'");
    }
    return std::string(rest);
  }
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || !isSafeHost(rest.substr(0, colon))) {
    return badSyslog(address, "expected host:port with an IPv4 address, [IPv6] or DNS name, or an absolute path");
  }
  auto port = parseUint(rest.substr(colon + 1), 65535);
  if (!port || *port == 0) return badSyslog(address, "the port must be 1-65535");
  return std::string(rest);
}

bool isValidDnsName(std::string_view s) {
  if (!nameChars(s, 127, true)) return false;
  for (const std::string& label : split(s, '.')) {
    if (label.empty() || label.size() > 63) return false;
  }
  return true;
}

bool isValidNamespaceName(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  return s.find_first_of("<>\"/") == std::string_view::npos || s.starts_with("arn:");
}

std::optional<NamedPort> findNamedPort(const TaskDefinition& td, std::string_view port_name) {
  for (const auto& c : td.containers) {
    for (const auto& pm : c.port_mappings) {
      if (pm.name && *pm.name == port_name) return NamedPort{&c, &pm};
    }
  }
  return std::nullopt;
}

std::string taskDefinitionFamily(std::string_view ref) {
  std::string_view r = ref;
  if (size_t slash = r.rfind('/'); slash != std::string_view::npos) r = r.substr(slash + 1);
  if (size_t colon = r.find(':'); colon != std::string_view::npos) r = r.substr(0, colon);
  return std::string(r);
}

std::optional<std::string> resolveNamespace(const ServiceDefinition& service, const ClusterDefinition* cluster) {
  if (service.service_connect && service.service_connect->ns && !service.service_connect->ns->empty()) {
    return service.service_connect->ns;
  }
  if (cluster && cluster->default_namespace) return cluster->default_namespace;
  return std::nullopt;
}

std::vector<Diagnostic> validateServiceConnect(const ValidationInput& in) {
  std::vector<Diagnostic> out;
  auto add = [&](std::string rule, std::string path, std::string msg) {
    out.push_back({std::move(rule), std::move(path), std::move(msg)});
  };
  const TaskDefinition& td = in.task_definition;
  const ServiceDefinition& svc = in.service;

  if (!svc.service_connect) {
    add("service-connect-missing", "", "the service has no serviceConnectConfiguration");
    return out;
  }
  const ServiceConnectConfig& sc = *svc.service_connect;
  if (!sc.enabled) {
    add("service-connect-disabled", childPath(kScPath, "enabled"),
        "Service Connect is turned off for this service (enabled: false); there is nothing to plan");
    return out;
  }
  if (sc.log && sc.log->driver == "syslog") {
    if (auto it = sc.log->options.find("syslog-address"); it != sc.log->options.end()) {
      if (auto target = syslogTarget(it->second); !target.ok()) {
        add("log-syslog-address",
            childPath(childPath(childPath(kScPath, "logConfiguration"), "options"), "syslog-address"),
            target.error().message);
      }
    }
  }

  // --- Where the service may run. ---
  if (svc.deployment_controller != "ECS") {
    add("rolling-deployments-only", "deploymentController.type",
        "Service Connect supports only rolling deployments (type ECS), got " + jsonQuote(svc.deployment_controller));
  }
  if (td.os_family && *td.os_family != "LINUX") {
    add("linux-only", "runtimePlatform.operatingSystemFamily",
        "Service Connect runs only on Linux, got " + jsonQuote(*td.os_family));
  }
  if (!td.requires_compatibilities.empty()) {
    bool ec2 = false;
    for (const auto& c : td.requires_compatibilities) ec2 = ec2 || c == "EC2";
    if (!ec2) {
      add("ec2-compatibility", "requiresCompatibilities",
          "scagent hosts run EC2-compatible task definitions; add \"EC2\" to requiresCompatibilities");
    }
  }
  if (td.network_mode != NetworkMode::kAwsvpc && td.network_mode != NetworkMode::kBridge) {
    add("network-mode", "networkMode",
        "Service Connect needs networkMode awsvpc or bridge, got " + jsonQuote(networkModeName(td.network_mode)));
  }
  if (!svc.task_definition.empty() && !td.family.empty() && taskDefinitionFamily(svc.task_definition) != td.family) {
    add("task-definition-mismatch", "taskDefinition",
        "the service names task definition " + jsonQuote(svc.task_definition) +
            " but the task definition given is family " + jsonQuote(td.family));
  }

  // --- Namespace. ---
  std::optional<std::string> ns = resolveNamespace(svc, in.cluster);
  if (!ns) {
    add("namespace-missing", childPath(kScPath, "namespace"),
        "Service Connect is enabled but no namespace is set here or as the cluster's default "
        "(serviceConnectDefaults.namespace)");
  } else if (!isValidNamespaceName(*ns)) {
    add("namespace-syntax", childPath(kScPath, "namespace"),
        "a namespace name has 1-1024 characters and none of < > \" /, got " + jsonQuote(*ns));
  } else if (in.namespace_ && in.namespace_->name != *ns) {
    add("namespace-mismatch", childPath(kScPath, "namespace"),
        "the service joins namespace " + jsonQuote(*ns) + " but the namespace snapshot is of " +
            jsonQuote(in.namespace_->name) + "; a service belongs to exactly one namespace");
  }

  // --- Memory and CPU: the proxy lives on what the containers leave. ---
  {
    int limited = 0;
    int64_t hard_sum = 0;
    int64_t cpu_sum = 0;
    for (const auto& c : td.containers) {
      if (c.memory) {
        ++limited;
        hard_sum += *c.memory;
      }
      cpu_sum += c.cpu;
    }
    if (!td.memory_mib) {
      if (limited == static_cast<int>(td.containers.size()) && limited > 0) {
        add("container-limits-without-task-memory", "memory",
            "every container sets a memory limit but the task sets none; Service Connect needs the task memory "
            "limit, set above the sum of the container limits (" +
                std::to_string(hard_sum) + " MiB) to leave room for the proxy");
      } else {
        add("task-memory-required", "memory",
            "Service Connect needs the task memory limit (task-level \"memory\"); the proxy uses what the "
            "containers' limits leave of it (64 MiB or more recommended)");
      }
    } else if (*td.memory_mib <= hard_sum) {
      add("task-memory-too-small", "memory",
          "the task memory (" + std::to_string(*td.memory_mib) +
              " MiB) must be greater than the sum of the "
              "container memory limits (" +
              std::to_string(hard_sum) + " MiB); the difference is the proxy's");
    }
    if (td.cpu_units && *td.cpu_units <= cpu_sum) {
      add("task-cpu-too-small", "cpu",
          "the task cpu (" + std::to_string(*td.cpu_units) +
              " units) must be greater than the sum of the "
              "container cpu (" +
              std::to_string(cpu_sum) + " units); the difference is the proxy's (256 recommended)");
    }
  }

  // --- Port mapping names in the task definition. ---
  std::set<int> container_ports;
  {
    std::map<std::string, std::string> seen;  // name -> where
    for (size_t ci = 0; ci < td.containers.size(); ++ci) {
      const auto& c = td.containers[ci];
      for (size_t pi = 0; pi < c.port_mappings.size(); ++pi) {
        const auto& pm = c.port_mappings[pi];
        const std::string p = indexPath(childPath(indexPath("containerDefinitions", ci), "portMappings"), pi);
        if (pm.container_port) container_ports.insert(*pm.container_port);
        if (!pm.name) continue;
        if (!isValidPortName(*pm.name)) {
          add("port-name-syntax", childPath(p, "name"),
              "a port name has 1-64 characters: lowercase letters, digits, '_' and '-', not starting with '-'; got " +
                  jsonQuote(*pm.name));
        }
        if (auto [it, fresh] = seen.emplace(*pm.name, p); !fresh) {
          add("port-name-duplicate", childPath(p, "name"),
              "port name " + jsonQuote(*pm.name) + " is already used at " + it->second);
        }
      }
    }
  }

  // --- Each Service Connect service. ---
  std::map<std::string, std::string> discovery_seen;  // discovery name -> path
  std::map<std::string, std::string> endpoint_seen;   // "dns:port" -> path
  std::map<std::string, std::string> defaulted_seen;  // port name -> path (no discoveryName)
  std::map<int, std::string> override_seen;
  for (size_t i = 0; i < sc.services.size(); ++i) {
    const ServiceConnectService& s = sc.services[i];
    const std::string p = svcPath(i);
    auto named = findNamedPort(td, s.port_name);
    if (!named) {
      std::vector<std::string> names;
      for (const auto& c : td.containers)
        for (const auto& pm : c.port_mappings)
          if (pm.name) names.push_back(jsonQuote(*pm.name));
      add("port-name-unknown", childPath(p, "portName"),
          jsonQuote(s.port_name) + " is not the name of a port mapping in task definition " + jsonQuote(td.family) +
              (names.empty() ? std::string(" (it names none)") : " (it names " + join(names, ", ") + ")"));
    } else {
      const PortMapping& pm = *named->mapping;
      if (!pm.container_port) {
        add("port-mapping-container-port", childPath(p, "portName"),
            "port mapping " + jsonQuote(s.port_name) +
                " has no containerPort; Service Connect needs a single port, "
                "not a containerPortRange");
      }
      if (pm.protocol != "tcp") {
        add("port-mapping-protocol", childPath(p, "portName"),
            "port mapping " + jsonQuote(s.port_name) + " uses protocol " + jsonQuote(pm.protocol) +
                "; Service Connect carries TCP only");
      }
      const AppProtocol proto = pm.app_protocol.value_or(AppProtocol::kTcp);
      if (s.timeout && s.timeout->per_request_timeout_s && proto == AppProtocol::kTcp) {
        add("per-request-timeout-tcp", childPath(childPath(p, "timeout"), "perRequestTimeoutSeconds"),
            "perRequestTimeoutSeconds applies to HTTP, HTTP/2 and gRPC; port mapping " + jsonQuote(s.port_name) +
                " has no appProtocol, so it is TCP (set only idleTimeoutSeconds, or set appProtocol)");
      }
    }
    if (s.discovery_name && !isValidDiscoveryName(*s.discovery_name)) {
      add("discovery-name-syntax", childPath(p, "discoveryName"),
          "a discovery name has 1-64 characters: lowercase letters, digits, '_' and '-', not starting with '-'; got " +
              jsonQuote(*s.discovery_name));
    }
    if (s.client_aliases.size() > 1) {
      add("client-aliases-max", childPath(p, "clientAliases"),
          "a Service Connect service has at most one client alias, got " + std::to_string(s.client_aliases.size()));
    }
    for (size_t k = 0; k < s.client_aliases.size(); ++k) {
      const auto& a = s.client_aliases[k];
      if (a.dns_name && !isValidDnsName(*a.dns_name)) {
        add("dns-name-syntax", childPath(indexPath(childPath(p, "clientAliases"), k), "dnsName"),
            "a DNS name has 1-127 characters: lowercase letters, digits, '_', '-' and '.', in non-empty labels of at "
            "most 63, not starting with '-'; got " +
                jsonQuote(*a.dns_name));
      }
    }
    if (s.ingress_port_override) {
      const int o = *s.ingress_port_override;
      const std::string op = childPath(p, "ingressPortOverride");
      if (container_ports.count(o)) {
        add("ingress-port-override-collision", op,
            "ingressPortOverride " + std::to_string(o) +
                " is a containerPort of the task; the proxy and the app "
                "cannot both listen on it");
      } else if (auto [it, fresh] = override_seen.emplace(o, op); !fresh) {
        add("ingress-port-override-collision", op,
            "ingressPortOverride " + std::to_string(o) + " is already used at " + it->second);
      }
    }
    if (s.tls) {
      add("tls-unsupported", childPath(p, "tls"),
          "TLS through AWS Private CA is not available on scagent hosts; remove tls (traffic between proxies is "
          "plain TCP on the task network)");
    }

    // Names this entry claims.
    if (!named || !named->mapping->container_port) continue;
    const std::string discovery = s.discovery_name.value_or(s.port_name);
    if (!s.discovery_name) {
      if (auto [it, fresh] = defaulted_seen.emplace(s.port_name, p); !fresh) {
        add("default-discovery-name-taken", p,
            "only one Service Connect service per task definition and namespace may leave out discoveryName; " +
                it->second + " already uses port " + jsonQuote(s.port_name) + " without one (set discoveryName)");
        continue;
      }
      if (in.namespace_) {
        for (const auto& other : in.namespace_->services) {
          if (other.owner_service != svc.name && other.discovery_name_defaulted &&
              other.task_definition_family == td.family && other.port_name == s.port_name) {
            add("default-discovery-name-taken", p,
                "service " + jsonQuote(other.owner_service) + " already uses task definition " + jsonQuote(td.family) +
                    " without a discoveryName in namespace " + jsonQuote(in.namespace_->name) +
                    "; only one may (set discoveryName)");
          }
        }
      }
    }
    const std::string dpath = s.discovery_name ? childPath(p, "discoveryName") : childPath(p, "portName");
    if (auto [it, fresh] = discovery_seen.emplace(discovery, dpath); !fresh) {
      add("discovery-name-duplicate", dpath,
          "discovery name " + jsonQuote(discovery) + " is already used at " + it->second +
              "; discovery names are unique in a namespace");
    } else if (in.namespace_) {
      for (const auto& other : in.namespace_->services) {
        if (other.discovery_name == discovery && other.owner_service != svc.name) {
          add("discovery-name-duplicate", dpath,
              "discovery name " + jsonQuote(discovery) + " already belongs to service " +
                  jsonQuote(other.owner_service) + " in namespace " + jsonQuote(in.namespace_->name));
        }
      }
    }
    const int cport = *named->mapping->container_port;
    const std::string dns =
        !s.client_aliases.empty() && s.client_aliases[0].dns_name ? *s.client_aliases[0].dns_name : discovery;
    const int port = !s.client_aliases.empty() ? s.client_aliases[0].port : cport;
    const std::string endpoint = dns + ":" + std::to_string(port);
    const std::string epath = s.client_aliases.empty() ? p : indexPath(childPath(p, "clientAliases"), 0);
    if (auto [it, fresh] = endpoint_seen.emplace(endpoint, epath); !fresh) {
      add("endpoint-duplicate", epath,
          "endpoint " + endpoint + " is already used at " + it->second + "; endpoints are unique in a namespace");
    } else if (in.namespace_) {
      for (const auto& other : in.namespace_->services) {
        if (other.dns_name == dns && other.port == port && other.owner_service != svc.name) {
          add("endpoint-duplicate", epath,
              "endpoint " + endpoint + " already belongs to service " + jsonQuote(other.owner_service) +
                  " (discovery name " + jsonQuote(other.discovery_name) + ") in namespace " +
                  jsonQuote(in.namespace_->name));
        }
      }
    }
  }
  return out;
}

}  // namespace sc::model
