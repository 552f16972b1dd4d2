#include "agent/config.h"

#include <cerrno>
#include <cstdint>

#include "common/file.h"
#include "common/net_addr.h"
#include "model/json_input.h"

namespace sc::agent {
namespace {

using model::Json;

Error configError(const std::string& path, const std::string& msg) {
  return plainError(ErrorCode::kInvalidArgument, "config: " + path + ": " + msg);
}

// `allow_empty`: "" is a meaningful value (metricsListen: off; hostAddress: the bridge gateway), not a slip.
Result<void> readString(const Json& obj, const char* key, const std::string& path, std::string& out,
                        bool allow_empty = false) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_string() || (!allow_empty && it->get<std::string>().empty())) {
    return configError(model::childPath(path, key),
                       std::string(allow_empty ? "expected a string" : "expected a non-empty string") + ", got " +
                           model::describeValue(*it));
  }
  out = it->get<std::string>();
  return {};
}

Result<void> readBool(const Json& obj, const char* key, const std::string& path, bool& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_boolean()) {
    return configError(model::childPath(path, key), "expected true or false, got " + model::describeValue(*it));
  }
  out = it->get<bool>();
  return {};
}

Result<void> readInt(const Json& obj, const char* key, const std::string& path, int lo, int hi, int& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    return configError(model::childPath(path, key), "expected an integer " + std::to_string(lo) + "-" +
                                                        std::to_string(hi) + ", got " + model::describeValue(*it));
  }
  out = it->get<int>();
  return {};
}

bool isHttpUrl(const Json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  return (s.starts_with("http://") && s.size() > 7) || (s.starts_with("https://") && s.size() > 8);
}

// controlPlane.endpoint (one URL) or controlPlane.endpoints (1-16 URLs, the replicas), not both.
Result<void> readEndpoints(const Json& cp, ControlPlaneConfig& out) {
  const bool one = cp.contains("endpoint"), many = cp.contains("endpoints");
  if (one && many) return configError("controlPlane", "give endpoint or endpoints, not both");
  if (one) {
    if (!isHttpUrl(cp["endpoint"]))
      return configError("controlPlane.endpoint",
                         "expected an http:// or https:// URL, got " + model::describeValue(cp["endpoint"]));
    out.endpoints = {cp["endpoint"].get<std::string>()};
  }
  if (many) {
    const Json& list = cp["endpoints"];
    if (!list.is_array() || list.empty() || list.size() > 16)
      return configError("controlPlane.endpoints", "expected an array of 1-16 http:// or https:// URLs");
    out.endpoints.clear();
    for (const Json& e : list) {
      if (!isHttpUrl(e))
        return configError("controlPlane.endpoints",
                           "expected http:// or https:// URLs, got " + model::describeValue(e));
      out.endpoints.push_back(e.get<std::string>());
    }
  }
  return ok();
}

Result<void> onlyMembers(const Json& obj, const std::string& path, std::initializer_list<const char*> allowed) {
  if (!obj.is_object()) return configError(path.empty() ? "(top level)" : path, "expected an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const char* a : allowed) known = known || it.key() == a;
    if (!known) return configError(model::childPath(path, it.key()), "unknown member");
  }
  return {};
}

// proxy.uidBase, proxy.uidCount: after network, whose taskCidr the range must cover.
Result<void> readProxyIdentity(const Json& j, AgentConfig& cfg) {
  ProxyIdentityConfig& p = cfg.proxy;
  if (auto it = j.find("proxy"); it != j.end()) {
    SC_TRY(onlyMembers(*it, "proxy", {"uidBase", "uidCount"}));
    int base = static_cast<int>(p.uid_base), count = static_cast<int>(p.uid_count);
    // Below 2^31 (systemd's UIDS-GIDS.md: some tools treat larger uids as negative).
    SC_TRY(readInt(*it, "uidBase", "proxy", 1, INT32_MAX - 1, base));
    SC_TRY(readInt(*it, "uidCount", "proxy", 1, INT32_MAX - 1, count));
    p.uid_base = static_cast<uint32_t>(base);
    p.uid_count = static_cast<uint32_t>(count);
  }
  if (static_cast<uint64_t>(p.uid_base) + p.uid_count > static_cast<uint64_t>(INT32_MAX)) {
    return configError("proxy", "uidBase + uidCount must stay below 2^31");
  }
  auto cidr = Cidr::parse(cfg.network.task_cidr);
  if (!cidr.ok()) return configError("network.taskCidr", cidr.error().message);
  if (p.uid_count < cidr->size()) {
    return configError("proxy.uidCount", std::to_string(p.uid_count) + " uids cannot give each of the " +
                                             std::to_string(cidr->size()) + " addresses of network.taskCidr " +
                                             cfg.network.task_cidr + " its own");
  }
  return {};
}

}  // namespace

Result<AgentConfig> parseAgentConfig(std::string_view text) {
  SC_ASSIGN_OR_RETURN(Json j, model::parseJsonStrict(text, "agent configuration"));
  AgentConfig cfg;
  SC_TRY(onlyMembers(j, "",
                     {"hostPolicy", "logLevel", "cluster", "stateDir", "runDir", "imageDir", "metricsListen",
                      "drainSeconds", "taskPidsLimit", "controlPlane", "network", "proxy"}));
  SC_TRY(readString(j, "cluster", "", cfg.cluster));
  for (auto [key, field] : {std::pair{"stateDir", &cfg.state_dir}, std::pair{"runDir", &cfg.run_dir},
                            std::pair{"imageDir", &cfg.image_dir}}) {
    SC_TRY(readString(j, key, "", *field));
    if ((*field)[0] != '/') return configError(key, "must be an absolute path, got \"" + *field + "\"");
  }
  SC_TRY(readString(j, "metricsListen", "", cfg.metrics_listen, /*allow_empty=*/true));  // "": no metrics page
  SC_TRY(readInt(j, "drainSeconds", "", 0, 3600, cfg.drain_seconds));
  SC_TRY(readInt(j, "taskPidsLimit", "", 0, 4194304, cfg.task_pids_limit));  // ECS_TASK_PIDS_LIMIT's range
  if (auto it = j.find("network"); it != j.end()) {
    SC_TRY(onlyMembers(*it, "network", {"taskCidr", "bridge", "hostAddress", "vethPrefix"}));
    SC_TRY(readString(*it, "taskCidr", "network", cfg.network.task_cidr));
    SC_TRY(readString(*it, "bridge", "network", cfg.network.bridge));
    SC_TRY(
        readString(*it, "hostAddress", "network", cfg.network.host_address, /*allow_empty=*/true));  // "": the gateway
    SC_TRY(readString(*it, "vethPrefix", "network", cfg.network.veth_prefix));
  }
  SC_TRY(readProxyIdentity(j, cfg));
  if (auto it = j.find("controlPlane"); it != j.end()) {
    SC_TRY(onlyMembers(*it, "controlPlane", {"endpoint", "endpoints", "bootstrapTokenFile", "pollTimeoutSeconds"}));
    SC_TRY(readEndpoints(*it, cfg.control_plane));
    SC_TRY(readString(*it, "bootstrapTokenFile", "controlPlane", cfg.control_plane.bootstrap_token_file));
    SC_TRY(readInt(*it, "pollTimeoutSeconds", "controlPlane", 1, 300, cfg.control_plane.poll_timeout_s));
  }
  if (auto it = j.find("logLevel"); it != j.end()) {
    if (!it->is_string() || !log::parseLevel(it->get<std::string>(), &cfg.log_level)) {
      return configError("logLevel", "expected one of debug, info, warn, error, got " + model::describeValue(*it));
    }
  }
  if (auto it = j.find("hostPolicy"); it != j.end()) {
    const Json& hp = *it;
    SC_TRY(onlyMembers(hp, "hostPolicy",
                       {"minEcsAgentVersion", "minAmiVersion", "minHaproxyVersion", "allowAmazonLinux2023",
                        "allowOldAmi", "allowExternal", "haproxyPath", "iptablesRestorePath"}));
    HostPolicy& p = cfg.host_policy;
    SC_TRY(readString(hp, "minEcsAgentVersion", "hostPolicy", p.min_ecs_agent_version));
    SC_TRY(readString(hp, "minAmiVersion", "hostPolicy", p.min_ami_version));
    SC_TRY(readString(hp, "minHaproxyVersion", "hostPolicy", p.min_haproxy_version));
    SC_TRY(readBool(hp, "allowAmazonLinux2023", "hostPolicy", p.allow_amazon_linux_2023));
    SC_TRY(readBool(hp, "allowOldAmi", "hostPolicy", p.allow_old_ami));
    SC_TRY(readBool(hp, "allowExternal", "hostPolicy", p.allow_external));
    SC_TRY(readString(hp, "haproxyPath", "hostPolicy", p.haproxy_path));
    SC_TRY(readString(hp, "iptablesRestorePath", "hostPolicy", p.iptables_restore_path));
    for (const std::string* path : {&p.haproxy_path, &p.iptables_restore_path}) {
      if (!path->empty() && (*path)[0] != '/')
        return configError("hostPolicy", "program paths must be absolute: " + *path);
    }
  }
  return cfg;
}

Result<AgentConfig> loadAgentConfig(const std::string& path, bool path_was_given) {
  auto text = readFile(path, 1u << 20);
  if (!text.ok()) {
    if (!path_was_given && text.error().sys_errno == ENOENT) return AgentConfig{};
    return std::move(text).error();
  }
  auto cfg = parseAgentConfig(*text);
  if (!cfg.ok()) return std::move(cfg).error().context("load", path);
  return cfg;
}

}  // namespace sc::agent
