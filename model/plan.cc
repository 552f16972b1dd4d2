#include "model/plan.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "common/net_addr.h"
#include "common/strings.h"

namespace sc::model {

Timeouts resolveTimeouts(AppProtocol proto, const std::optional<TimeoutConfig>& cfg) {
  Timeouts t;
  if (isHttpFamily(proto)) {
    t.idle_s = kDefaultHttpIdleTimeoutS;
    t.per_request_s = kDefaultPerRequestTimeoutS;
  } else {
    t.idle_s = kDefaultTcpIdleTimeoutS;
  }
  if (cfg) {
    if (cfg->idle_timeout_s) t.idle_s = *cfg->idle_timeout_s;
    if (cfg->per_request_timeout_s && isHttpFamily(proto)) t.per_request_s = *cfg->per_request_timeout_s;
  }
  return t;
}

std::vector<int> pickEphemeralPorts(size_t count, const std::vector<int>& avoid, std::optional<uint64_t> seed) {
  std::mt19937_64 rng(seed ? *seed : std::random_device{}());
  std::set<int> taken(avoid.begin(), avoid.end());
  std::uniform_int_distribution<int> dist(kEphemeralPortMin, kEphemeralPortMax);
  std::vector<int> out;
  while (out.size() < count) {
    int p = dist(rng);
    if (taken.insert(p).second) out.push_back(p);
  }
  return out;
}

Result<std::string> allocateVip(const std::string& cidr_text, const std::vector<std::string>& used) {
  SC_ASSIGN_OR_RETURN(Cidr cidr, Cidr::parse(cidr_text));
  if (cidr.base.family != 4) {
    return makeError(ErrorCode::kInvalidArgument, "allocate a VIP from", cidr_text,
                     "only IPv4 VIP ranges are supported");
  }
  std::set<std::string> taken(used.begin(), used.end());
  const uint64_t n = cidr.size();
  for (uint64_t i = 1; i + 1 < n || (n <= 2 && i < n); ++i) {
    std::string a = cidr.at(i).toString();
    if (!taken.count(a)) return a;
  }
  return makeError(ErrorCode::kFailedPrecondition, "allocate a VIP from", cidr_text, "the range is exhausted");
}

namespace {

std::string schemeOf(AppProtocol p) {
  switch (p) {
    case AppProtocol::kGrpc:
      return "grpc";
    case AppProtocol::kTcp:
      return "tcp";
    default:
      return "http";
  }
}

// One hosts line per DNS name, then `<alias>.<namespace>` for each alias without a dot (botocore
// documents that form as the default dnsName), unless another alias already has that name or the
// long form is not a valid DNS name.
void addHostsEntries(TaskPlan& plan) {
  std::set<std::string> named;
  for (const auto& a : plan.egress) {
    if (named.insert(a.dns_name).second) plan.hosts.emplace_back(a.vip, a.dns_name);
  }
  std::set<std::string> short_names;
  for (const auto& a : plan.egress) {
    if (a.dns_name.find('.') != std::string::npos || !short_names.insert(a.dns_name).second) continue;
    std::string long_name = a.dns_name + "." + plan.namespace_name;
    if (isValidDnsName(long_name) && named.insert(long_name).second) plan.hosts.emplace_back(a.vip, long_name);
  }
}

}  // namespace

PlanOutcome buildTaskPlan(const PlanInput& in, const PlanOptions& options) {
  PlanOutcome outcome;
  outcome.errors = validateServiceConnect({in.task_definition, in.service, in.cluster, in.namespace_});
  if (!outcome.errors.empty()) return outcome;

  const TaskDefinition& td = in.task_definition;
  const ServiceDefinition& svc = in.service;
  const ServiceConnectConfig& sc = *svc.service_connect;
  TaskPlan plan;
  plan.task_id = options.task_id.empty() ? td.family + "-plan" : options.task_id;
  plan.family = td.family;
  plan.revision = td.revision;
  plan.service_name = svc.name;
  plan.cluster = in.cluster ? in.cluster->name : svc.cluster;
  plan.namespace_name = *resolveNamespace(svc, in.cluster);
  plan.network_mode = td.network_mode;
  plan.hostname = plan.task_id;
  plan.log = sc.log;
  plan.access_log = sc.access_log;
  if (in.namespace_) {
    plan.vip_cidr = in.namespace_->vip_cidr;
    plan.namespace_revision = in.namespace_->revision;
  }
  auto vip_cidr = Cidr::parse(plan.vip_cidr);
  if (!vip_cidr.ok()) {
    outcome.errors.push_back({"vip-cidr", "vipCidr", vip_cidr.error().message});
    return outcome;
  }
  const bool awsvpc = td.network_mode == NetworkMode::kAwsvpc;

  // --- Ingress: one listener per distinct (containerPort, override). ---
  std::vector<int> avoid;
  for (const auto& c : td.containers) {
    for (const auto& pm : c.port_mappings) {
      if (pm.container_port) avoid.push_back(*pm.container_port);
      if (pm.host_port && *pm.host_port) avoid.push_back(*pm.host_port);
    }
  }
  for (const auto& s : sc.services)
    if (s.ingress_port_override) avoid.push_back(*s.ingress_port_override);

  std::map<std::pair<int, int>, size_t> listener_of;  // (containerPort, override or 0) -> index
  std::vector<size_t> service_listener(sc.services.size());
  size_t ephemeral_needed = 0;
  for (size_t i = 0; i < sc.services.size(); ++i) {
    const auto& s = sc.services[i];
    NamedPort np = *findNamedPort(td, s.port_name);
    const int cport = *np.mapping->container_port;
    const std::string discovery = s.discovery_name.value_or(s.port_name);
    const auto key = std::make_pair(cport, s.ingress_port_override.value_or(0));
    auto it = listener_of.find(key);
    if (it == listener_of.end()) {
      IngressListener l;
      l.name = "ingress-" + discovery;
      l.container_name = np.container->name;
      l.container_port = cport;
      l.app_protocol = np.mapping->app_protocol.value_or(AppProtocol::kTcp);
      l.timeouts = resolveTimeouts(l.app_protocol, s.timeout);
      if (s.ingress_port_override) {
        l.override = true;
        l.listener_port = *s.ingress_port_override;
      } else {
        ++ephemeral_needed;
      }
      l.intercept = awsvpc && !s.ingress_port_override;
      l.publish = !awsvpc;
      it = listener_of.emplace(key, plan.ingress.size()).first;
      plan.ingress.push_back(std::move(l));
    } else {
      const IngressListener& l = plan.ingress[it->second];
      Timeouts t = resolveTimeouts(l.app_protocol, s.timeout);
      if (t.idle_s != l.timeouts.idle_s || t.per_request_s != l.timeouts.per_request_s) {
        plan.warnings.push_back({"shared-listener-timeouts",
                                 indexPath(childPath("serviceConnectConfiguration", "services"), i),
                                 "this service shares containerPort " + std::to_string(cport) + " with " +
                                     jsonQuote(l.discovery_names.front()) +
                                     " and so its listener; the listener keeps the first service's timeouts"});
      }
    }
    plan.ingress[it->second].discovery_names.push_back(discovery);
    service_listener[i] = it->second;
  }
  std::vector<int> ports = pickEphemeralPorts(ephemeral_needed, avoid, options.port_seed);
  size_t next_port = 0;
  for (auto& l : plan.ingress) {
    if (!l.override) l.listener_port = ports[next_port++];
    avoid.push_back(l.listener_port);
  }

  // --- VIPs: keep the namespace's, allocate for new names (per DNS name, as the hosts file needs). ---
  std::map<std::string, std::string> vip_of;  // dns name -> vip
  std::vector<std::string> used_vips;
  if (in.namespace_) {
    for (const auto& ns : in.namespace_->services) {
      if (!ns.vip.empty()) {
        vip_of.emplace(ns.dns_name, ns.vip);
        used_vips.push_back(ns.vip);
      }
    }
  }
  auto vipFor = [&](const std::string& dns) -> Result<std::string> {
    if (auto it = vip_of.find(dns); it != vip_of.end()) return it->second;
    SC_ASSIGN_OR_RETURN(std::string v, allocateVip(plan.vip_cidr, used_vips));
    used_vips.push_back(v);
    vip_of[dns] = v;
    return v;
  };

  // --- Endpoints this task serves. ---
  for (size_t i = 0; i < sc.services.size(); ++i) {
    const auto& s = sc.services[i];
    const IngressListener& l = plan.ingress[service_listener[i]];
    ServedEndpoint e;
    e.discovery_name = s.discovery_name.value_or(s.port_name);
    e.dns_name =
        !s.client_aliases.empty() && s.client_aliases[0].dns_name ? *s.client_aliases[0].dns_name : e.discovery_name;
    e.port = !s.client_aliases.empty() ? s.client_aliases[0].port : l.container_port;
    e.url = schemeOf(l.app_protocol) + "://" + e.dns_name + ":" + std::to_string(e.port);
    e.listener = l.name;
    e.target_port = awsvpc ? (l.override ? l.listener_port : l.container_port) : 0;
    auto vip = vipFor(e.dns_name);
    if (!vip.ok()) {
      outcome.errors.push_back({"vip-range-exhausted", "vipCidr", vip.error().message});
      return outcome;
    }
    e.vip = *vip;
    plan.endpoints.push_back(std::move(e));
  }

  // --- Egress: every endpoint of the namespace as it stands, plus this service's own. ---
  std::set<std::string> own_discovery;
  for (size_t i = 0; i < sc.services.size(); ++i) {
    const auto& e = plan.endpoints[i];
    own_discovery.insert(e.discovery_name);
    EgressAlias a;
    a.dns_name = e.dns_name;
    a.port = e.port;
    a.vip = e.vip;
    a.discovery_name = e.discovery_name;
    a.app_protocol = plan.ingress[service_listener[i]].app_protocol;
    a.timeouts = resolveTimeouts(a.app_protocol, sc.services[i].timeout);
    if (in.namespace_) {
      for (const auto& ns : in.namespace_->services) {
        if (ns.discovery_name == e.discovery_name && ns.owner_service == svc.name) a.addresses = ns.addresses;
      }
    }
    plan.egress.push_back(std::move(a));
  }
  if (in.namespace_) {
    for (const auto& ns : in.namespace_->services) {
      if (own_discovery.count(ns.discovery_name) && ns.owner_service == svc.name) continue;
      EgressAlias a;
      a.dns_name = ns.dns_name;
      a.port = ns.port;
      auto vip = vipFor(ns.dns_name);
      if (!vip.ok()) {
        outcome.errors.push_back({"vip-range-exhausted", "vipCidr", vip.error().message});
        return outcome;
      }
      a.vip = *vip;
      a.discovery_name = ns.discovery_name;
      a.app_protocol = ns.app_protocol;
      a.timeouts = resolveTimeouts(ns.app_protocol, ns.timeout);
      a.addresses = ns.addresses;
      plan.egress.push_back(std::move(a));
    }
  }
  std::sort(plan.egress.begin(), plan.egress.end(), [](const EgressAlias& x, const EgressAlias& y) {
    return std::tie(x.dns_name, x.port) < std::tie(y.dns_name, y.port);
  });
  // Each alias's egress listener: clear of every declared port and of the ingress listeners.
  std::optional<uint64_t> egress_seed;
  if (options.port_seed) egress_seed = *options.port_seed + 1;
  std::vector<int> egress_ports = pickEphemeralPorts(plan.egress.size(), avoid, egress_seed);
  for (size_t i = 0; i < plan.egress.size(); ++i) plan.egress[i].listener_port = egress_ports[i];
  addHostsEntries(plan);

  // --- Bridge mode: the app's own port mappings are published on the host. ---
  if (!awsvpc) {
    for (const auto& c : td.containers) {
      for (const auto& pm : c.port_mappings) {
        if (!pm.container_port) continue;
        plan.published_ports.push_back({c.name, *pm.container_port, pm.host_port.value_or(0), pm.protocol});
      }
    }
  }

  // --- The carve. ---
  Carve& cv = plan.carve;
  cv.task_memory_mib = *td.memory_mib;
  for (const auto& c : td.containers) {
    if (c.memory)
      cv.containers_memory_mib += *c.memory;
    else
      cv.unlimited_containers.push_back(c.name);
    cv.containers_cpu_units += c.cpu;
  }
  cv.proxy_memory_mib = cv.task_memory_mib - cv.containers_memory_mib;
  if (cv.proxy_memory_mib < kRecommendedProxyMemoryMib) {
    plan.warnings.push_back({"proxy-memory-low", "memory",
                             "the proxy gets " + std::to_string(cv.proxy_memory_mib) +
                                 " MiB; at least 64 MiB is recommended (raise the task memory)"});
  }
  const size_t ns_services = (in.namespace_ ? in.namespace_->services.size() : 0) + sc.services.size();
  const int64_t ns_tasks = in.namespace_ && in.namespace_->total_tasks ? *in.namespace_->total_tasks : 0;
  const int large_need = kRecommendedProxyMemoryMib + kLargeNamespaceExtraMemoryMib;
  if ((ns_services > kLargeNamespaceServices || ns_tasks > kLargeNamespaceTasks) && cv.proxy_memory_mib < large_need) {
    plan.warnings.push_back({"large-namespace-memory", "memory",
                             "namespace " + jsonQuote(plan.namespace_name) + " has " + std::to_string(ns_services) +
                                 " Service Connect services and " + std::to_string(ns_tasks) +
                                 " tasks; above 100 services or 2000 tasks add 128 MiB for the proxy (" +
                                 std::to_string(large_need) + " MiB in all), it gets " +
                                 std::to_string(cv.proxy_memory_mib) + " MiB"});
  }
  if (td.cpu_units) {
    cv.task_cpu_units = *td.cpu_units;
    cv.proxy_cpu_units = *td.cpu_units - cv.containers_cpu_units;
    if (*cv.proxy_cpu_units < kRecommendedProxyCpuUnits) {
      plan.warnings.push_back({"proxy-cpu-low", "cpu",
                               "the proxy gets " + std::to_string(*cv.proxy_cpu_units) +
                                   " CPU units; 256 are recommended, 512 above 500 requests/s"});
    }
  }
  outcome.plan = std::move(plan);
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// JSON form.

namespace {

OrderedJson timeoutsJson(const Timeouts& t) {
  OrderedJson j;
  j["idleSeconds"] = t.idle_s;
  if (t.per_request_s) j["perRequestSeconds"] = *t.per_request_s;
  return j;
}

}  // namespace

OrderedJson taskPlanToJson(const TaskPlan& p) {
  OrderedJson j;
  j["taskId"] = p.task_id;
  j["family"] = p.family;
  if (p.revision) j["revision"] = *p.revision;
  j["service"] = p.service_name;
  j["cluster"] = p.cluster;
  j["namespace"] = p.namespace_name;
  j["namespaceRevision"] = p.namespace_revision;
  j["networkMode"] = networkModeName(p.network_mode);
  j["hostname"] = p.hostname;
  j["ingress"] = OrderedJson::array();
  for (const auto& l : p.ingress) {
    OrderedJson o;
    o["name"] = l.name;
    o["discoveryNames"] = l.discovery_names;
    o["container"] = l.container_name;
    o["containerPort"] = l.container_port;
    o["listenerPort"] = l.listener_port;
    o["intercept"] = l.intercept;
    o["override"] = l.override;
    o["publish"] = l.publish;
    o["appProtocol"] = appProtocolName(l.app_protocol);
    o["timeouts"] = timeoutsJson(l.timeouts);
    j["ingress"].push_back(o);
  }
  j["endpoints"] = OrderedJson::array();
  for (const auto& e : p.endpoints) {
    OrderedJson o;
    o["discoveryName"] = e.discovery_name;
    o["dnsName"] = e.dns_name;
    o["port"] = e.port;
    o["url"] = e.url;
    o["listener"] = e.listener;
    o["targetPort"] = e.target_port;
    o["vip"] = e.vip;
    j["endpoints"].push_back(o);
  }
  j["vipCidr"] = p.vip_cidr;
  j["egress"] = OrderedJson::array();
  for (const auto& a : p.egress) {
    OrderedJson o;
    o["dnsName"] = a.dns_name;
    o["port"] = a.port;
    o["vip"] = a.vip;
    if (a.listener_port != 0) o["listenerPort"] = a.listener_port;  // 0: a record from before the redirect
    o["discoveryName"] = a.discovery_name;
    o["appProtocol"] = appProtocolName(a.app_protocol);
    o["timeouts"] = timeoutsJson(a.timeouts);
    o["addresses"] = OrderedJson::array();
    for (const auto& ad : a.addresses) {
      OrderedJson x;
      x["ip"] = ad.ip;
      x["port"] = ad.port;
      if (!ad.task_id.empty()) x["taskId"] = ad.task_id;
      x["healthy"] = ad.healthy;
      o["addresses"].push_back(x);
    }
    j["egress"].push_back(o);
  }
  j["hosts"] = OrderedJson::array();
  for (const auto& [ip, name] : p.hosts) j["hosts"].push_back({{"address", ip}, {"name", name}});
  j["publishedPorts"] = OrderedJson::array();
  for (const auto& pp : p.published_ports) {
    j["publishedPorts"].push_back({{"container", pp.container_name},
                                   {"containerPort", pp.container_port},
                                   {"hostPort", pp.host_port},
                                   {"protocol", pp.protocol}});
  }
  OrderedJson c;
  c["taskMemoryMiB"] = p.carve.task_memory_mib;
  c["containersMemoryMiB"] = p.carve.containers_memory_mib;
  c["proxyMemoryMiB"] = p.carve.proxy_memory_mib;
  c["unlimitedContainers"] = p.carve.unlimited_containers;
  if (p.carve.task_cpu_units) c["taskCpuUnits"] = *p.carve.task_cpu_units;
  c["containersCpuUnits"] = p.carve.containers_cpu_units;
  if (p.carve.proxy_cpu_units) c["proxyCpuUnits"] = *p.carve.proxy_cpu_units;
  j["carve"] = c;
  if (p.log) {
    OrderedJson lj;
    lj["logDriver"] = p.log->driver;
    lj["options"] = p.log->options;
    j["logConfiguration"] = lj;
  }
  if (p.access_log) {
    j["accessLogConfiguration"] = {{"format", p.access_log->format},
                                   {"includeQueryParameters", p.access_log->include_query ? "ENABLED" : "DISABLED"}};
  }
  j["warnings"] = OrderedJson::array();
  for (const auto& w : p.warnings)
    j["warnings"].push_back({{"rule", w.rule}, {"path", w.path}, {"message", w.message}});
  return j;
}

namespace {

struct PlanReadError {
  std::string path;
  std::string message;
};

class PlanReader {
 public:
  const Json& member(const Json& j, const std::string& path, const char* key) {
    if (!j.is_object()) throw PlanReadError{path, "expected an object, got " + describeValue(j)};
    auto it = j.find(key);
    if (it == j.end()) throw PlanReadError{path, std::string("missing member '") + key + "'"};
    return *it;
  }
  const Json* optional(const Json& j, const char* key) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  std::string str(const Json& j, const std::string& path, const char* key) {
    const Json& v = member(j, path, key);
    if (!v.is_string()) throw PlanReadError{childPath(path, key), "expected a string, got " + describeValue(v)};
    return v.get<std::string>();
  }
  int64_t integer(const Json& v, const std::string& path, int64_t lo, int64_t hi) {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) ||
        v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
      throw PlanReadError{
          path, "expected an integer " + std::to_string(lo) + "-" + std::to_string(hi) + ", got " + describeValue(v)};
    }
    return v.get<int64_t>();
  }
  int port(const Json& j, const std::string& path, const char* key, int lo = 1) {
    return static_cast<int>(integer(member(j, path, key), childPath(path, key), lo, 65535));
  }
  bool boolean(const Json& j, const std::string& path, const char* key) {
    const Json& v = member(j, path, key);
    if (!v.is_boolean()) throw PlanReadError{childPath(path, key), "expected true or false, got " + describeValue(v)};
    return v.get<bool>();
  }
  const Json& array(const Json& j, const std::string& path, const char* key) {
    const Json& v = member(j, path, key);
    if (!v.is_array()) throw PlanReadError{childPath(path, key), "expected an array, got " + describeValue(v)};
    return v;
  }
  AppProtocol proto(const Json& j, const std::string& path) {
    std::string s = str(j, path, "appProtocol");
    auto p = parseAppProtocol(s);
    if (!p)
      throw PlanReadError{childPath(path, "appProtocol"), "expected tcp, http, http2 or grpc, got " + jsonQuote(s)};
    return *p;
  }
  Timeouts timeouts(const Json& j, const std::string& path) {
    const Json& t = member(j, path, "timeouts");
    const std::string tp = childPath(path, "timeouts");
    Timeouts out;
    out.idle_s = integer(member(t, tp, "idleSeconds"), childPath(tp, "idleSeconds"), 0, INT32_MAX);
    if (const Json* pr = optional(t, "perRequestSeconds")) {
      out.per_request_s = integer(*pr, childPath(tp, "perRequestSeconds"), 0, INT32_MAX);
    }
    return out;
  }
  std::string ip(const Json& j, const std::string& path, const char* key) {
    std::string s = str(j, path, key);
    if (!IpAddress::parse(s).ok())
      throw PlanReadError{childPath(path, key), "expected an IP address, got " + jsonQuote(s)};
    return s;
  }
};

}  // namespace

Result<TaskPlan> taskPlanFromJson(const Json& j) {
  PlanReader r;
  TaskPlan p;
  try {
    p.task_id = r.str(j, "", "taskId");
    p.family = r.str(j, "", "family");
    if (const Json* rev = r.optional(j, "revision"))
      p.revision = static_cast<int>(r.integer(*rev, "revision", 1, INT32_MAX));
    p.service_name = r.str(j, "", "service");
    p.cluster = r.str(j, "", "cluster");
    p.namespace_name = r.str(j, "", "namespace");
    if (const Json* nr = r.optional(j, "namespaceRevision"))
      p.namespace_revision = r.integer(*nr, "namespaceRevision", 0, INT64_MAX);
    std::string nm = r.str(j, "", "networkMode");
    auto mode = parseNetworkMode(nm);
    if (!mode || (*mode != NetworkMode::kAwsvpc && *mode != NetworkMode::kBridge)) {
      throw PlanReadError{"networkMode", "expected awsvpc or bridge, got " + jsonQuote(nm)};
    }
    p.network_mode = *mode;
    p.hostname = r.str(j, "", "hostname");
    const Json& ingress = r.array(j, "", "ingress");
    for (size_t i = 0; i < ingress.size(); ++i) {
      const std::string ip = indexPath("ingress", i);
      const Json& o = ingress[i];
      IngressListener l;
      l.name = r.str(o, ip, "name");
      for (const Json& d : r.array(o, ip, "discoveryNames")) {
        if (!d.is_string()) throw PlanReadError{childPath(ip, "discoveryNames"), "expected strings"};
        l.discovery_names.push_back(d.get<std::string>());
      }
      l.container_name = r.str(o, ip, "container");
      l.container_port = r.port(o, ip, "containerPort");
      l.listener_port = r.port(o, ip, "listenerPort");
      l.intercept = r.boolean(o, ip, "intercept");
      l.override = r.boolean(o, ip, "override");
      l.publish = r.boolean(o, ip, "publish");
      l.app_protocol = r.proto(o, ip);
      l.timeouts = r.timeouts(o, ip);
      p.ingress.push_back(std::move(l));
    }
    const Json& endpoints = r.array(j, "", "endpoints");
    for (size_t i = 0; i < endpoints.size(); ++i) {
      const std::string ep = indexPath("endpoints", i);
      const Json& o = endpoints[i];
      ServedEndpoint e;
      e.discovery_name = r.str(o, ep, "discoveryName");
      e.dns_name = r.str(o, ep, "dnsName");
      e.port = r.port(o, ep, "port");
      e.url = r.str(o, ep, "url");
      e.listener = r.str(o, ep, "listener");
      e.target_port = r.port(o, ep, "targetPort", 0);
      e.vip = r.ip(o, ep, "vip");
      p.endpoints.push_back(std::move(e));
    }
    p.vip_cidr = r.str(j, "", "vipCidr");
    if (!Cidr::parse(p.vip_cidr).ok())
      throw PlanReadError{"vipCidr", "expected a CIDR range, got " + jsonQuote(p.vip_cidr)};
    const Json& egress = r.array(j, "", "egress");
    for (size_t i = 0; i < egress.size(); ++i) {
      const std::string ep = indexPath("egress", i);
      const Json& o = egress[i];
      EgressAlias a;
      a.dns_name = r.str(o, ep, "dnsName");
      if (!isValidDnsName(a.dns_name))
        throw PlanReadError{childPath(ep, "dnsName"), "not a valid DNS name: " + jsonQuote(a.dns_name)};
      a.port = r.port(o, ep, "port");
      a.vip = r.ip(o, ep, "vip");
      if (r.optional(o, "listenerPort")) a.listener_port = r.port(o, ep, "listenerPort");
      a.discovery_name = r.str(o, ep, "discoveryName");
      a.app_protocol = r.proto(o, ep);
      a.timeouts = r.timeouts(o, ep);
      const Json& addrs = r.array(o, ep, "addresses");
      for (size_t k = 0; k < addrs.size(); ++k) {
        const std::string ap = indexPath(childPath(ep, "addresses"), k);
        EndpointAddress ad;
        ad.ip = r.ip(addrs[k], ap, "ip");
        ad.port = r.port(addrs[k], ap, "port");
        if (const Json* t = r.optional(addrs[k], "taskId"); t && t->is_string()) ad.task_id = t->get<std::string>();
        if (r.optional(addrs[k], "healthy")) ad.healthy = r.boolean(addrs[k], ap, "healthy");
        a.addresses.push_back(std::move(ad));
      }
      p.egress.push_back(std::move(a));
    }
    const Json& hosts = r.array(j, "", "hosts");
    for (size_t i = 0; i < hosts.size(); ++i) {
      const std::string hp = indexPath("hosts", i);
      std::string name = r.str(hosts[i], hp, "name");
      if (!isValidDnsName(name)) throw PlanReadError{childPath(hp, "name"), "not a valid DNS name: " + jsonQuote(name)};
      p.hosts.emplace_back(r.ip(hosts[i], hp, "address"), name);
    }
    if (const Json* pub = r.optional(j, "publishedPorts")) {
      for (size_t i = 0; i < pub->size(); ++i) {
        const std::string pp = indexPath("publishedPorts", i);
        PublishedPort x;
        x.container_name = r.str((*pub)[i], pp, "container");
        x.container_port = r.port((*pub)[i], pp, "containerPort");
        x.host_port = r.port((*pub)[i], pp, "hostPort", 0);
        x.protocol = r.str((*pub)[i], pp, "protocol");
        if (x.protocol != "tcp" && x.protocol != "udp")
          throw PlanReadError{childPath(pp, "protocol"), "expected tcp or udp"};
        p.published_ports.push_back(std::move(x));
      }
    }
    const Json& c = r.member(j, "", "carve");
    p.carve.task_memory_mib =
        static_cast<int>(r.integer(r.member(c, "carve", "taskMemoryMiB"), "carve.taskMemoryMiB", 1, INT32_MAX));
    p.carve.containers_memory_mib = static_cast<int>(
        r.integer(r.member(c, "carve", "containersMemoryMiB"), "carve.containersMemoryMiB", 0, INT32_MAX));
    p.carve.proxy_memory_mib =
        static_cast<int>(r.integer(r.member(c, "carve", "proxyMemoryMiB"), "carve.proxyMemoryMiB", 1, INT32_MAX));
    if (const Json* u = r.optional(c, "unlimitedContainers")) {
      for (const Json& n : *u)
        if (n.is_string()) p.carve.unlimited_containers.push_back(n.get<std::string>());
    }
    if (const Json* t = r.optional(c, "taskCpuUnits"))
      p.carve.task_cpu_units = static_cast<int>(r.integer(*t, "carve.taskCpuUnits", 0, INT32_MAX));
    if (const Json* t = r.optional(c, "containersCpuUnits"))
      p.carve.containers_cpu_units = static_cast<int>(r.integer(*t, "carve.containersCpuUnits", 0, INT32_MAX));
    if (const Json* t = r.optional(c, "proxyCpuUnits"))
      p.carve.proxy_cpu_units = static_cast<int>(r.integer(*t, "carve.proxyCpuUnits", INT32_MIN, INT32_MAX));
    if (const Json* lc = r.optional(j, "logConfiguration")) {
      LogConfig l;
      l.driver = r.str(*lc, "logConfiguration", "logDriver");
      if (const Json* opts = r.optional(*lc, "options"); opts && opts->is_object()) {
        for (auto it = opts->begin(); it != opts->end(); ++it)
          if (it->is_string()) l.options[it.key()] = it->get<std::string>();
      }
      p.log = std::move(l);
    }
    if (const Json* al = r.optional(j, "accessLogConfiguration")) {
      p.access_log = AccessLogConfig{r.str(*al, "accessLogConfiguration", "format"),
                                     r.str(*al, "accessLogConfiguration", "includeQueryParameters") == "ENABLED"};
    }
    if (const Json* w = r.optional(j, "warnings"); w && w->is_array()) {
      for (const Json& x : *w) {
        if (x.is_object()) p.warnings.push_back({x.value("rule", ""), x.value("path", ""), x.value("message", "")});
      }
    }
  } catch (const PlanReadError& e) {
    return plainError(ErrorCode::kInvalidArgument, (e.path.empty() ? std::string("plan") : e.path) + ": " + e.message);
  } catch (const Json::exception& e) {
    return plainError(ErrorCode::kInvalidArgument, std::string("plan: ") + e.what());
  }
  return p;
}

Result<TaskPlan> parseTaskPlan(std::string_view text) {
  SC_ASSIGN_OR_RETURN(Json j, parseJsonStrict(text, "task plan"));
  return taskPlanFromJson(j);
}

}  // namespace sc::model
