// The credentials file (docs/control-plane.md "Credentials"): the access keys the aws CLI signs
// with and the bootstrap tokens agents register with.
//
// {"accessKeys": [{"id": "SC...", "secret": "..."}],
//  "bootstrapToken": "...",                          // optional: the token generated on first start
//  "bootstrapTokens": [{"id": "bt-...", "sha256": "<hex digest of the token>",
//                       "expiresAt": "2026-12-05T13:00:00Z", "singleUse": true, "description": "..."}]}
//
// Tokens added by `sccontrol token create` are kept as digests only; the token is printed once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/result.h"

namespace sc::controlplane {

struct BootstrapToken {
  std::string id;                     // names the token in logs, `sccontrol token list` and revocation
  std::string sha256;                 // lower-case hex SHA-256 of the token
  std::optional<int64_t> expires_at;  // epoch seconds; none: valid until revoked
  bool single_use = false;            // one registration, ever (recorded in the store)
  std::string description;
};

// The id the plain `bootstrapToken` member is known by.
inline constexpr const char* kDefaultBootstrapTokenId = "default";

struct Credentials {
  std::map<std::string, std::string> keys;       // access key id -> secret
  std::vector<BootstrapToken> bootstrap_tokens;  // `bootstrapToken` first (as "default"), then the list
};

// Checks every member; an error names the file and the member.
Result<Credentials> parseCredentials(const std::string& path, const std::string& text);

// Reads `path`, or creates it (mode 0600) with a fresh access key and bootstrap token and writes
// what to export for the aws CLI to `note`.
Result<Credentials> loadOrCreateCredentials(const std::string& path, const std::string& region, std::ostream& note);

struct NewBootstrapToken {
  BootstrapToken meta;
  std::string token;  // the secret itself: shown once, never stored
};

// `sccontrol token create`: adds a token to the file (atomically, mode 0600).
Result<NewBootstrapToken> addBootstrapToken(const std::string& path, std::optional<int64_t> expires_at, bool single_use,
                                            const std::string& description);
// `sccontrol token revoke`: removes token `id` (kNotFound when the file has none by that id).
Result<void> revokeBootstrapToken(const std::string& path, const std::string& id);

// "2026-12-05T13:00:00Z" <-> epoch seconds (UTC only).
std::string formatUtc(int64_t epoch_seconds);
std::optional<int64_t> parseUtc(const std::string& text);
// "90s", "30m", "12h", "7d" -> seconds (1 s to 3650 d); nullopt for anything else.
std::optional<int64_t> parseDuration(const std::string& text);

}  // namespace sc::controlplane
