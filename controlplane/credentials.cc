#include "controlplane/credentials.h"

#include <cerrno>
#include <ctime>

#include "common/file.h"
#include "controlplane/secure_random.h"
#include "controlplane/sigv4.h"
#include "model/json_input.h"

namespace sc::controlplane {
namespace {

using model::Json;

Error bad(const std::string& path, const std::string& member, const std::string& why) {
  return makeError(ErrorCode::kInvalidArgument, "read credentials", path, member + ": " + why);
}

bool isHex(const std::string& s, size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

Result<BootstrapToken> parseToken(const std::string& path, const Json& j, size_t i) {
  const std::string at = "bootstrapTokens[" + std::to_string(i) + "]";
  if (!j.is_object()) return bad(path, at, "expected an object");
  BootstrapToken t;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const bool is_text = it->is_string();
    if (k == "id" && is_text && !it->get<std::string>().empty() && it->get<std::string>().size() <= 64) {
      t.id = it->get<std::string>();
    } else if (k == "sha256" && is_text && isHex(it->get<std::string>(), 64)) {
      t.sha256 = it->get<std::string>();
    } else if (k == "expiresAt" && is_text && parseUtc(it->get<std::string>())) {
      t.expires_at = parseUtc(it->get<std::string>());
    } else if (k == "singleUse" && it->is_boolean()) {
      t.single_use = it->get<bool>();
    } else if (k == "description" && is_text && it->get<std::string>().size() <= 256) {
      t.description = it->get<std::string>();
    } else {
      return bad(path, at + "." + k,
                 "unknown member or wrong type (id: 1-64 characters, sha256: 64 lower-case hex digits, "
                 "expiresAt: YYYY-MM-DDTHH:MM:SSZ, singleUse: boolean, description: up to 256 characters)");
    }
  }
  if (t.id.empty() || t.sha256.empty()) return bad(path, at, "id and sha256 are required");
  return t;
}

Result<Json> readJson(const std::string& path) {
  SC_ASSIGN_OR_RETURN(std::string text, readFile(path, 1u << 20));
  auto j = model::parseJsonStrict(text, path);
  if (!j.ok()) return std::move(j).error();
  if (!j->is_object()) return bad(path, "(top level)", "expected an object");
  return std::move(*j);
}

Result<void> writeJson(const std::string& path, const Json& j) {
  SC_TRY(parseCredentials(path, j.dump()));  // never write a file sccontrol would refuse
  return writeFileAtomic(path, j.dump(2) + "\n", 0600);
}

}  // namespace

std::string formatUtc(int64_t epoch_seconds) {
  const std::time_t secs = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<int64_t> parseUtc(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0' || text.size() != 20) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::optional<int64_t> parseDuration(const std::string& text) {
  if (text.size() < 2 || text.size() > 8) return std::nullopt;
  const std::string digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const int64_t n = std::stoll(digits);
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return std::nullopt;
  }
  const int64_t s = n * unit;
  if (s < 1 || s > int64_t{3650} * 86400) return std::nullopt;
  return s;
}

Result<Credentials> parseCredentials(const std::string& path, const std::string& text) {
  auto parsed = model::parseJsonStrict(text, path);
  if (!parsed.ok()) return std::move(parsed).error();
  const Json& j = *parsed;
  if (!j.is_object()) return bad(path, "(top level)", "expected an object");
  Credentials c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "accessKeys" && it.key() != "bootstrapToken" && it.key() != "bootstrapTokens")
      return bad(path, it.key(), "unknown member");
  }
  for (const Json& k : j.value("accessKeys", Json::array())) {
    if (!k.is_object() || !k.value("id", Json()).is_string() || !k.value("secret", Json()).is_string())
      return bad(path, "accessKeys", "expected [{\"id\": \"...\", \"secret\": \"...\"}]");
    c.keys[k["id"].get<std::string>()] = k["secret"].get<std::string>();
  }
  if (c.keys.empty()) return bad(path, "accessKeys", "no access keys");
  if (j.contains("bootstrapToken")) {
    if (!j["bootstrapToken"].is_string() || j["bootstrapToken"].get<std::string>().size() < 16)
      return bad(path, "bootstrapToken", "expected a string of at least 16 characters");
    c.bootstrap_tokens.push_back({kDefaultBootstrapTokenId, sha256Hex(j["bootstrapToken"].get<std::string>())});
  }
  const Json list = j.value("bootstrapTokens", Json::array());
  if (!list.is_array()) return bad(path, "bootstrapTokens", "expected an array");
  for (size_t i = 0; i < list.size(); ++i) {
    SC_ASSIGN_OR_RETURN(BootstrapToken t, parseToken(path, list[i], i));
    for (const BootstrapToken& seen : c.bootstrap_tokens) {
      if (seen.id == t.id) return bad(path, "bootstrapTokens[" + std::to_string(i) + "].id", "duplicate id " + t.id);
    }
    c.bootstrap_tokens.push_back(std::move(t));
  }
  return c;
}

Result<Credentials> loadOrCreateCredentials(const std::string& path, const std::string& region, std::ostream& note) {
  auto text = readFile(path, 1u << 20);
  if (text.ok()) return parseCredentials(path, *text);
  if (text.error().sys_errno != ENOENT) return std::move(text).error();
  SC_ASSIGN_OR_RETURN(AccessKey key, generateAccessKey());
  SC_ASSIGN_OR_RETURN(std::string boot, randomHex(40));
  Json j = {{"accessKeys", Json::array({{{"id", key.id}, {"secret", key.secret}}})}, {"bootstrapToken", boot}};
  SC_TRY(writeFileAtomic(path, j.dump(2) + "\n", 0600));
  note << "sccontrol: generated an access key and an agent bootstrap token in " << path
       << " (mode 0600, root only).\nFor the aws CLI:\n"
       << "  export AWS_ACCESS_KEY_ID=" << key.id << "\n"
       << "  export AWS_SECRET_ACCESS_KEY=$(jq -r '.accessKeys[0].secret' " << path << ")\n"
       << "  export AWS_DEFAULT_REGION=" << region << "\n"
       << "  aws ecs list-clusters --endpoint-url http://<listen address>\n";
  return parseCredentials(path, j.dump());
}

Result<NewBootstrapToken> addBootstrapToken(const std::string& path, std::optional<int64_t> expires_at, bool single_use,
                                            const std::string& description) {
  if (description.size() > 256)
    return makeError(ErrorCode::kInvalidArgument, "add a bootstrap token to", path, "description: over 256 characters");
  SC_ASSIGN_OR_RETURN(Json j, readJson(path));
  SC_ASSIGN_OR_RETURN(std::string id, randomHex(12));
  SC_ASSIGN_OR_RETURN(std::string token, randomHex(64));
  NewBootstrapToken out{{"bt-" + id, sha256Hex(token), expires_at, single_use, description}, token};
  Json entry = {{"id", out.meta.id}, {"sha256", out.meta.sha256}};
  if (expires_at) entry["expiresAt"] = formatUtc(*expires_at);
  if (single_use) entry["singleUse"] = true;
  if (!description.empty()) entry["description"] = description;
  if (!j.contains("bootstrapTokens")) j["bootstrapTokens"] = Json::array();
  if (!j["bootstrapTokens"].is_array()) return bad(path, "bootstrapTokens", "expected an array");
  j["bootstrapTokens"].push_back(entry);
  SC_TRY(writeJson(path, j));
  return out;
}

Result<void> revokeBootstrapToken(const std::string& path, const std::string& id) {
  SC_ASSIGN_OR_RETURN(Json j, readJson(path));
  bool found = false;
  if (id == kDefaultBootstrapTokenId && j.contains("bootstrapToken")) {
    j.erase("bootstrapToken");
    found = true;
  }
  if (j.contains("bootstrapTokens") && j["bootstrapTokens"].is_array()) {
    Json& list = j["bootstrapTokens"];
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (it->is_object() && it->value("id", "") == id) {
        list.erase(it);
        found = true;
        break;
      }
    }
  }
  if (!found) return makeError(ErrorCode::kNotFound, "revoke bootstrap token", id, "no such token in " + path);
  return writeJson(path, j);
}

}  // namespace sc::controlplane
