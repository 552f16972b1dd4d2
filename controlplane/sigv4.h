// AWS Signature Version 4 for the AWS JSON endpoints: verification (the server) and signing (the
// tests, the benchmarks and the fake agent's tooling). HMAC-SHA256 and SHA-256 come from OpenSSL.
//
// Verification follows AWS's rules and error names:
//   no Authorization header          -> MissingAuthenticationTokenException (403)
//   malformed header or scope        -> IncompleteSignatureException (400)
//   unknown access key               -> UnrecognizedClientException (400)
//   X-Amz-Date more than 5 min away  -> InvalidSignatureException "Signature expired: ..." (400)
//   signature mismatch               -> InvalidSignatureException (400)
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

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

// `keys`: access key id -> secret. On success returns nullopt and sets `*access_key_id` if given.
std::optional<AuthFailure> verifySigV4(const HttpRequest& request, const std::map<std::string, std::string>& keys,
                                       std::chrono::system_clock::time_point now, std::string* access_key_id = nullptr);

// Adds X-Amz-Date and Authorization to `request.headers` (which must hold "host"); signs every
// header present. `request.uri` is the path and query as sent.
void signSigV4(HttpRequest& request, const AccessKey& key, const std::string& region, const std::string& service,
               std::chrono::system_clock::time_point now);

// Helpers shared with tests.
std::string sha256Hex(std::string_view data);
std::string amzDate(std::chrono::system_clock::time_point t);  // 20261125T153000Z
// A fresh access key id ("SC" + 18 upper-case characters) and secret (40 characters), from the
// kernel's random source.
Result<AccessKey> generateAccessKey();

}  // namespace sc::controlplane
