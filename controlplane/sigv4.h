// AWS Signature Version 4 for the AWS JSON endpoints: verification (the server) and signing (the
// tests, the benchmarks and the fake agent's tooling). HMAC-SHA256 and SHA-256 come from OpenSSL.
//
// Verification follows AWS's rules and error names:
//   no Authorization header          -> MissingAuthenticationTokenException (403)
//   malformed header or scope        -> IncompleteSignatureException (400)
//   host, x-amz-date or any x-amz-*
//   header present but not signed    -> IncompleteSignatureException (403)
//   scope's region or service wrong  -> InvalidSignatureException "Credential should be scoped ..." (403)
//   unknown access key               -> UnrecognizedClientException (400)
//   X-Amz-Date more than 5 min away  -> InvalidSignatureException "Signature expired: ..." (400)
//   signature mismatch               -> InvalidSignatureException (400)
//   signature already accepted       -> InvalidSignatureException "... already been used" (403)
//   replay cache full                -> ThrottlingException "Rate exceeded" (400, retried by the SDKs)
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "controlplane/http_server.h"

namespace sc::controlplane {

struct AccessKey {
  std::string id;
  std::string secret;
};

struct AuthFailure {
  int status = 400;
  std::string type;
  std::string message;
};

inline constexpr std::chrono::minutes kMaxClockSkew{5};
inline constexpr size_t kDefaultReplayCacheEntries = 100000;

// Signatures accepted within the clock-skew window. A signature is remembered until its
// X-Amz-Date + 5 min, after which the date check refuses it anyway. At `capacity` live entries new
// signatures are refused (never an unexpired one forgotten: forgetting would reopen the replay).
// Thread-safe.
class ReplayCache {
 public:
  explicit ReplayCache(size_t capacity = kDefaultReplayCacheEntries) : capacity_(capacity) {}
  // Records `signature` (valid until `expires`); a failure if it was seen or the cache is full.
  std::optional<AuthFailure> admit(const std::string& signature, std::chrono::system_clock::time_point expires,
                                   std::chrono::system_clock::time_point now);
  // Drops `signature` (the request it signed failed with a retryable error: an SDK retrying within
  // the same second sends the very same signature).
  void forget(const std::string& signature);
  size_t size() const;

 private:
  void pruneLocked(std::chrono::system_clock::time_point now);
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> seen_;
  std::multimap<std::chrono::system_clock::time_point, std::string> by_expiry_;
};

// What a request must be signed for. `replay` may be null (no replay check).
struct SigV4Policy {
  const std::map<std::string, std::string>& keys;  // access key id -> secret
  std::string region;
  std::string service;
  ReplayCache* replay = nullptr;
};

struct SigV4Identity {
  std::string access_key_id;
  std::string signature;
};

// On success returns nullopt and fills `*who` if given.
std::optional<AuthFailure> verifySigV4(const HttpRequest& request, const SigV4Policy& policy,
                                       std::chrono::system_clock::time_point now, SigV4Identity* who = nullptr);

// Adds X-Amz-Date and Authorization to `request.headers` (which must hold "host"); signs every
// header present, or only those named in `only` (sorted, lower case; tests of partial signing).
// `request.uri` is the path and query as sent.
void signSigV4(HttpRequest& request, const AccessKey& key, const std::string& region, const std::string& service,
               std::chrono::system_clock::time_point now, const std::vector<std::string>* only = nullptr);

// Helpers shared with tests.
std::string sha256Hex(std::string_view data);
std::string amzDate(std::chrono::system_clock::time_point t);  // 20261125T153000Z
// A fresh access key id ("SC" + 18 upper-case characters) and secret (40 characters), from the
// kernel's random source.
Result<AccessKey> generateAccessKey();

}  // namespace sc::controlplane
