#include "controlplane/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "common/strings.h"

namespace sc::controlplane {
namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(d[p[i] >> 4]);
    out.push_back(d[p[i] & 0xf]);
  }
  return out;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string collapseSpaces(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : trim(v)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string canonicalQuery(std::string_view query) {
  if (query.empty()) return {};
  std::vector<std::string> parts = split(query, '&');
  for (auto& p : parts) {
    if (p.find('=') == std::string::npos) p += "=";
  }
  std::sort(parts.begin(), parts.end());
  return join(parts, "&");
}

struct Parsed {
  std::string key_id, date, region, service, signed_headers, signature;
};

std::optional<Parsed> parseAuthorization(std::string_view h) {
  constexpr std::string_view kAlg = "AWS4-HMAC-SHA256 ";
  if (!startsWith(h, kAlg)) return std::nullopt;
  Parsed p;
  for (const std::string& raw : split(h.substr(kAlg.size()), ',')) {
    std::string_view part = trim(raw);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view name = part.substr(0, eq), value = part.substr(eq + 1);
    if (name == "Credential") {
      std::vector<std::string> scope = split(value, '/');
      if (scope.size() != 5 || scope[4] != "aws4_request") return std::nullopt;
      p.key_id = scope[0];
      p.date = scope[1];
      p.region = scope[2];
      p.service = scope[3];
    } else if (name == "SignedHeaders") {
      p.signed_headers = value;
    } else if (name == "Signature") {
      p.signature = value;
    }
  }
  if (p.key_id.empty() || p.signed_headers.empty() || p.signature.empty()) return std::nullopt;
  return p;
}

std::optional<std::chrono::system_clock::time_point> parseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  tm t{};
  auto num = [&](size_t pos, size_t len) { return parseUint(s.substr(pos, len), 9999); };
  auto y = num(0, 4), mo = num(4, 2), d = num(6, 2), h = num(9, 2), mi = num(11, 2), se = num(13, 2);
  if (!y || !mo || !d || !h || !mi || !se) return std::nullopt;
  t.tm_year = static_cast<int>(*y) - 1900;
  t.tm_mon = static_cast<int>(*mo) - 1;
  t.tm_mday = static_cast<int>(*d);
  t.tm_hour = static_cast<int>(*h);
  t.tm_min = static_cast<int>(*mi);
  t.tm_sec = static_cast<int>(*se);
  time_t tt = timegm(&t);
  // system_clock counts nanoseconds in 64 bits (years 1678-2262): a date outside, such as year
  // 9999, would overflow on conversion. Keep an hour's room for the skew window's arithmetic.
  constexpr time_t kLimit =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max()).count() - 3600;
  if (tt == -1 || tt > kLimit || tt < -kLimit) return std::nullopt;
  return std::chrono::system_clock::from_time_t(tt);
}

std::string signatureFor(const HttpRequest& r, const std::string& secret, const Parsed& p, const std::string& date) {
  std::string_view uri = r.uri;
  std::string_view path = uri, query;
  if (auto q = uri.find('?'); q != std::string_view::npos) {
    path = uri.substr(0, q);
    query = uri.substr(q + 1);
  }
  std::string canonical =
      r.method + "\n" + std::string(path.empty() ? "/" : path) + "\n" + canonicalQuery(query) + "\n";
  for (const std::string& name : split(p.signed_headers, ';')) {
    auto it = r.headers.find(name);
    canonical += name + ":" + (it == r.headers.end() ? std::string() : collapseSpaces(it->second)) + "\n";
  }
  canonical += "\n" + p.signed_headers + "\n" + sha256Hex(r.body);
  std::string scope = p.date + "/" + p.region + "/" + p.service + "/aws4_request";
  std::string to_sign = "AWS4-HMAC-SHA256\n" + date + "\n" + scope + "\n" + sha256Hex(canonical);
  std::string k = hmac("AWS4" + secret, p.date);
  k = hmac(k, p.region);
  k = hmac(k, p.service);
  k = hmac(k, "aws4_request");
  std::string sig = hmac(k, to_sign);
  return hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

bool isSigned(const std::vector<std::string>& signed_list, std::string_view name) {
  return std::find(signed_list.begin(), signed_list.end(), name) != signed_list.end();
}

// AWS's rule: host, x-amz-date and every x-amz-* header present are covered by the signature
// (botocore signs every header but user-agent, expect, x-amzn-trace-id and hop-by-hop ones).
std::optional<AuthFailure> checkSignedHeaders(const HttpRequest& r, const Parsed& p) {
  const std::vector<std::string> signed_list = split(p.signed_headers, ';');
  if (!isSigned(signed_list, "host")) {
    return AuthFailure{403, "IncompleteSignatureException",
                       "'Host' must be a 'SignedHeader' in the AWS Authorization."};
  }
  if (!isSigned(signed_list, "x-amz-date")) {
    return AuthFailure{403, "IncompleteSignatureException",
                       "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."};
  }
  std::vector<std::string> unsigned_names;
  for (const auto& [name, value] : r.headers) {
    if (startsWith(name, "x-amz-") && !isSigned(signed_list, name)) unsigned_names.push_back(name);
  }
  if (unsigned_names.empty()) return std::nullopt;
  return AuthFailure{403, "IncompleteSignatureException",
                     "There were headers present in the request which were not signed: " + join(unsigned_names, ", ")};
}

std::optional<AuthFailure> checkScope(const Parsed& p, const SigV4Policy& policy) {
  if (p.region != policy.region) {
    return AuthFailure{
        403, "InvalidSignatureException",
        "Credential should be scoped to a valid region. (got '" + p.region + "', expected '" + policy.region + "')"};
  }
  if (p.service != policy.service) {
    return AuthFailure{
        403, "InvalidSignatureException",
        "Credential should be scoped to correct service: '" + policy.service + "'. (got '" + p.service + "')"};
  }
  return std::nullopt;
}

std::optional<AuthFailure> checkSkew(std::chrono::system_clock::time_point when, const std::string& date,
                                     std::chrono::system_clock::time_point now) {
  if (when >= now - kMaxClockSkew && when <= now + kMaxClockSkew) return std::nullopt;
  std::string edge = when < now ? amzDate(now - kMaxClockSkew) : amzDate(now + kMaxClockSkew);
  std::string rel = when < now ? " is now earlier than " : " is now later than ";
  std::string sign = when < now ? " - 5 min.)" : " + 5 min.)";
  return AuthFailure{400, "InvalidSignatureException",
                     "Signature expired: " + date + rel + edge + " (" + amzDate(now) + sign};
}

}  // namespace

std::string sha256Hex(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return hex(out, sizeof(out));
}

std::string amzDate(std::chrono::system_clock::time_point t) {
  time_t tt = std::chrono::system_clock::to_time_t(t);
  tm g{};
  gmtime_r(&tt, &g);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &g);
  return buf;
}

std::optional<AuthFailure> verifySigV4(const HttpRequest& r, const SigV4Policy& policy,
                                       std::chrono::system_clock::time_point now, SigV4Identity* who) {
  auto auth = r.headers.find("authorization");
  if (auth == r.headers.end())
    return AuthFailure{403, "MissingAuthenticationTokenException", "Missing Authentication Token"};
  auto p = parseAuthorization(auth->second);
  if (!p) {
    return AuthFailure{400, "IncompleteSignatureException",
                       "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters "
                       "with algorithm AWS4-HMAC-SHA256"};
  }
  auto date_h = r.headers.find("x-amz-date");
  auto when = date_h == r.headers.end() ? std::nullopt : parseAmzDate(date_h->second);
  if (!when)
    return AuthFailure{400, "IncompleteSignatureException",
                       "Authorization header requires existence of a valid X-Amz-Date header"};
  if (date_h->second.substr(0, 8) != p->date) {
    return AuthFailure{400, "InvalidSignatureException",
                       "Credential should be scoped to a valid date matching X-Amz-Date"};
  }
  if (auto f = checkSignedHeaders(r, *p)) return f;
  if (auto f = checkScope(*p, policy)) return f;
  auto key = policy.keys.find(p->key_id);
  if (key == policy.keys.end())
    return AuthFailure{400, "UnrecognizedClientException", "The security token included in the request is invalid."};
  if (auto f = checkSkew(*when, date_h->second, now)) return f;
  std::string want = signatureFor(r, key->second, *p, date_h->second);
  if (want.size() != p->signature.size() || CRYPTO_memcmp(want.data(), p->signature.data(), want.size()) != 0) {
    return AuthFailure{400, "InvalidSignatureException",
                       "The request signature we calculated does not match the signature you provided. Check your AWS "
                       "Secret Access Key and signing method. Consult the service documentation for details."};
  }
  if (policy.replay != nullptr) {
    if (auto f = policy.replay->admit(p->signature, *when + kMaxClockSkew, now)) return f;
  }
  if (who != nullptr) *who = {p->key_id, p->signature};
  return std::nullopt;
}

std::optional<AuthFailure> ReplayCache::admit(const std::string& signature,
                                              std::chrono::system_clock::time_point expires,
                                              std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  if (seen_.contains(signature)) {
    return AuthFailure{403, "InvalidSignatureException",
                       "Signature already used: a request with this signature was accepted within the last 5 "
                       "minutes; sign every request afresh"};
  }
  if (seen_.size() >= capacity_) pruneLocked(now);
  if (seen_.size() >= capacity_) {
    return AuthFailure{400, "ThrottlingException",
                       "Rate exceeded: " + std::to_string(capacity_) +
                           " signed requests accepted within the last 5 minutes; retry later"};
  }
  seen_.insert(signature);
  by_expiry_.emplace(expires, signature);
  if (seen_.size() % 1024 == 0) pruneLocked(now);
  return std::nullopt;
}

void ReplayCache::pruneLocked(std::chrono::system_clock::time_point now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first < now) {
    seen_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

void ReplayCache::forget(const std::string& signature) {
  std::lock_guard lock(mu_);
  if (seen_.erase(signature) == 0) return;
  for (auto it = by_expiry_.begin(); it != by_expiry_.end(); ++it) {
    if (it->second == signature) {
      by_expiry_.erase(it);
      return;
    }
  }
}

size_t ReplayCache::size() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

void signSigV4(HttpRequest& r, const AccessKey& key, const std::string& region, const std::string& service,
               std::chrono::system_clock::time_point now, const std::vector<std::string>* only) {
  std::string date = amzDate(now);
  r.headers["x-amz-date"] = date;
  r.headers.erase("authorization");
  std::vector<std::string> names;
  for (const auto& [k, v] : r.headers) names.push_back(k);
  if (only != nullptr) names = *only;
  Parsed p{key.id, date.substr(0, 8), region, service, join(names, ";"), ""};
  std::string sig = signatureFor(r, key.secret, p, date);
  r.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=" + key.id + "/" + p.date + "/" + region + "/" + service +
                               "/aws4_request, SignedHeaders=" + p.signed_headers + ", Signature=" + sig;
}

Result<AccessKey> generateAccessKey() {
  static const char* upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  static const char* any = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char buf[64];
  if (RAND_bytes(buf, sizeof(buf)) != 1) {
    return makeError(ErrorCode::kInternal, "generate", "access key", "RAND_bytes failed");
  }
  AccessKey k;
  k.id = "SC";
  for (int i = 0; i < 18; ++i) k.id.push_back(upper[buf[i] & 31]);
  for (int i = 18; i < 58; ++i) k.secret.push_back(any[buf[i] & 63]);
  return k;
}

}  // namespace sc::controlplane
