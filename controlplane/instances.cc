// Container instance lifecycle: instance tokens, bootstrap tokens (expiry, single use), what a
// registration may claim, and removal of deregistered and long-lost instances.
#include <algorithm>

#include "common/log.h"
#include "controlplane/batch.h"
#include "controlplane/control_plane.h"
#include "controlplane/json_fields.h"
#include "controlplane/secure_random.h"
#include "controlplane/sigv4.h"

namespace sc::controlplane {
namespace {

// Where a single-use bootstrap token's one registration is recorded.
std::string usedTokenKey(const std::string& id) { return "bootstrap/" + id; }

ApiError refused(std::string message) { return {"UnrecognizedClientException", std::move(message), 401}; }

// What a registration or heartbeat may claim (docs/api.md, "Registration"); ECS's own limits for
// attribute names and values.
constexpr size_t kMaxAttributes = 64;
constexpr size_t kMaxAttributeChars = 128;
constexpr int64_t kMaxMemoryMiB = int64_t{1} << 30;  // 1 PiB
constexpr int64_t kMaxCpuUnits = int64_t{1} << 24;   // 16384 cores

std::optional<std::string> attributesProblem(const Json& body) {
  if (body.contains("attributes")) {
    const Json& a = body["attributes"];
    if (!a.is_object() || a.size() > kMaxAttributes) return "attributes: expected an object of up to 64 strings";
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (it.key().empty() || it.key().size() > kMaxAttributeChars || !it->is_string() ||
          it->get<std::string>().size() > kMaxAttributeChars)
        return "attributes: names of 1-128 characters with string values of up to 128";
    }
  }
  if (body.contains("capabilities")) {
    const Json& c = body["capabilities"];
    if (!c.is_array() || c.size() > kMaxAttributes) return "capabilities: expected an array of up to 64 strings";
    for (const Json& e : c) {
      if (!e.is_string() || e.get<std::string>().empty() || e.get<std::string>().size() > kMaxAttributeChars)
        return "capabilities: expected strings of 1-128 characters";
    }
  }
  return std::nullopt;
}

std::optional<std::string> integerProblem(const Json& body, const char* name, int64_t max, bool required) {
  if (!body.contains(name)) {
    if (!required) return std::nullopt;
  } else if (body[name].is_number_integer() && body[name].get<int64_t>() > 0 && body[name].get<int64_t>() <= max) {
    return std::nullopt;
  }
  return std::string(name) + ": expected an integer 1-" + std::to_string(max);
}

// Registering again (the agent's token was refused): the old instance and the tasks it names.
constexpr size_t kMaxAdoptTasks = 10000;
constexpr size_t kMaxArnChars = 2048;

std::optional<std::string> adoptionProblem(const Json& body) {
  if (body.contains("previousInstanceArn") &&
      (!body["previousInstanceArn"].is_string() || body["previousInstanceArn"].get<std::string>().empty() ||
       body["previousInstanceArn"].get<std::string>().size() > kMaxArnChars))
    return "previousInstanceArn: expected a string of 1-2048 characters";
  if (!body.contains("adoptTasks")) return std::nullopt;
  const Json& a = body["adoptTasks"];
  if (!body.contains("previousInstanceArn")) return "adoptTasks: needs previousInstanceArn";
  if (!a.is_array() || a.size() > kMaxAdoptTasks) return "adoptTasks: expected an array of up to 10000 task ARNs";
  for (const Json& t : a) {
    if (!t.is_string() || t.get<std::string>().empty() || t.get<std::string>().size() > kMaxArnChars)
      return "adoptTasks: expected task ARNs or IDs of 1-2048 characters";
  }
  return std::nullopt;
}

std::optional<std::string> textProblem(const Json& body, const char* name, size_t max) {
  if (!body.contains(name) || (body[name].is_string() && body[name].get<std::string>().size() <= max))
    return std::nullopt;
  return std::string(name) + ": expected a string of up to " + std::to_string(max) + " characters";
}

}  // namespace

std::optional<ApiError> ControlPlane::registrationProblem(const Json& body) {
  for (auto problem :
       {integerProblem(body, "memoryMiB", kMaxMemoryMiB, true), integerProblem(body, "cpuUnits", kMaxCpuUnits, false),
        textProblem(body, "hostname", 255), textProblem(body, "agentVersion", 64), textProblem(body, "cluster", 255),
        attributesProblem(body), adoptionProblem(body)}) {
    if (problem) return invalidAgent(*problem);
  }
  return std::nullopt;
}

std::optional<ApiError> ControlPlane::heartbeatProblem(const Json& body) {
  if (auto problem = attributesProblem(body)) return invalidAgent(*problem);
  return std::nullopt;
}

// The token itself is never compared: it is looked up by its SHA-256, so lookup timing can reveal at
// most a prefix of a digest, which does not help to find a token that has it.
std::expected<std::string, ApiError> ControlPlane::instanceForToken(const std::string& token) {
  auto it = tokens_.find(sha256Hex(token));
  if (it == tokens_.end()) return std::unexpected(refused("unknown or revoked instance token"));
  auto doc = docs_.find(it->second);
  if (doc == docs_.end()) return std::unexpected(refused("unknown or revoked instance token"));
  if (doc->second.value["status"] == "INACTIVE") {
    return std::unexpected(ApiError{"ContainerInstanceDeregisteredException",
                                    "container instance " + afterSlash(it->second) + " was deregistered", 410});
  }
  return it->second;
}

void ControlPlane::setBootstrapTokens(std::vector<BootstrapToken> tokens) {
  std::lock_guard lock(bootstrap_mu_);
  bootstrap_tokens_ = std::move(tokens);
}

std::expected<BootstrapToken, ApiError> ControlPlane::acceptBootstrapLocked(Batch& b, const std::string& presented) {
  std::vector<BootstrapToken> tokens;
  {
    std::lock_guard lock(bootstrap_mu_);
    tokens = bootstrap_tokens_;
  }
  // Every digest is compared, in constant time, whichever matches.
  const std::string digest = sha256Hex(presented);
  const BootstrapToken* match = nullptr;
  for (const BootstrapToken& t : tokens) {
    if (secretEquals(digest, t.sha256)) match = &t;
  }
  if (presented.empty() || match == nullptr) return std::unexpected(refused("the bootstrap token is wrong"));
  const double now = nowSeconds();
  if (match->expires_at && static_cast<double>(*match->expires_at) <= now)
    return std::unexpected(refused("the bootstrap token " + match->id + " has expired"));
  if (match->single_use) {
    if (b.find(usedTokenKey(match->id)) != nullptr)
      return std::unexpected(refused("the single-use bootstrap token " + match->id + " was used already"));
    b.put(usedTokenKey(match->id), Json{{"usedAt", now}});
  }
  return *match;
}

// An agent whose token was refused registers again naming its old instance and the tasks it runs.
// Those that still belong to the old instance and are not STOPPED move to the new one, so a host
// that sccontrol forgot (its instance document is gone: a restored or edited store) keeps its
// tasks. An old instance that is still registered keeps its tasks: a bootstrap token does not take
// over another host's tasks. Returns the ARNs of the tasks moved.
Json ControlPlane::adoptTasksLocked(Batch& b, const Json& body, const std::string& cluster, const std::string& arn) {
  Json adopted = Json::array();
  const std::string previous = str(body, "previousInstanceArn");
  if (previous.empty()) return adopted;
  for (const auto& [k, i] : b.list("instance/")) {
    if (i.value("containerInstanceArn", "") == previous) {
      log::warn("not adopting tasks: the previous instance is still registered",
                {{"instance", afterSlash(arn)}, {"previousInstance", afterSlash(previous)}});
      return adopted;
    }
  }
  for (const Json& named : body.value("adoptTasks", Json::array())) {
    const std::string key = "task/" + cluster + "/" + afterSlash(named.get<std::string>());
    auto t = b.get(key);
    if (!t || t->value("containerInstanceArn", "") != previous || (*t)["lastStatus"] == "STOPPED") continue;
    Json moved = *t;
    moved["containerInstanceArn"] = arn;
    adopted.push_back(moved.value("taskArn", key));
    b.put(key, std::move(moved));
  }
  return adopted;
}

void ControlPlane::forgetInstanceLocked(Batch& b, const std::string& key, const Json& inst, const char* why) {
  b.del(key);
  log::info("container instance removed", {{"instance", afterSlash(key)},
                                           {"cluster", afterSlash(inst["clusterArn"].get<std::string>())},
                                           {"hostname", inst.value("ec2InstanceId", "")},
                                           {"reason", why}});
}

void ControlPlane::removeGoneInstancesLocked(Batch& b) {
  const double now = nowSeconds();
  const double deregistered_cutoff = now - static_cast<double>(options_.stopped_task_retention.count());
  const double lost_cutoff = now - static_cast<double>(options_.lost_instance_retention.count());
  for (const auto& [k, i] : b.list("instance/")) {
    if (i["status"] == "INACTIVE") {
      if (i.value("_deregisteredAt", 0.0) < deregistered_cutoff)
        forgetInstanceLocked(b, k, i, "deregistered longer than the stopped-task retention");
    } else if (!i.value("agentConnected", false)) {
      if (!i.contains("_lostAt")) {  // lost before sccontrol kept the time: the clock starts now
        Json stamped = i;
        stamped["_lostAt"] = now;
        b.put(k, std::move(stamped));
      } else if (i["_lostAt"].get<double>() < lost_cutoff) {
        forgetInstanceLocked(b, k, i, "lost longer than the lost-instance retention");
      }
    }
  }
  // A single-use token's record is kept while the token could still be presented.
  std::set<std::string> live;
  {
    std::lock_guard lock(bootstrap_mu_);
    for (const BootstrapToken& t : bootstrap_tokens_) {
      if (!t.expires_at || static_cast<double>(*t.expires_at) > now) live.insert(usedTokenKey(t.id));
    }
  }
  for (const auto& [k, used] : b.list("bootstrap/")) {
    if (!live.contains(k)) b.del(k);
  }
}

void ControlPlane::pruneTokensLocked() {
  std::erase_if(tokens_, [&](const auto& e) { return !docs_.contains(e.second); });
  std::erase_if(last_seen_, [&](const auto& e) { return !docs_.contains(e.first); });
  // By two TTLs after the grace began, reconcile has replaced the unknown instance's tasks.
  const auto now = clock_.now();
  std::erase_if(orphaned_since_, [&](const auto& e) { return now - e.second > 2 * options_.instance_ttl; });
}

}  // namespace sc::controlplane
