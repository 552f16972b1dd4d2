#include "controlplane/secure_random.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <vector>

namespace sc::controlplane {
namespace {

Error randError(std::string_view object) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  return makeError(ErrorCode::kInternal, "draw", object, std::string("RAND_bytes: ") + buf);
}

}  // namespace

Result<std::string> randomHex(size_t hex_chars) {
  static const char* d = "0123456789abcdef";
  std::vector<unsigned char> buf((hex_chars + 1) / 2);
  if (!buf.empty() && RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) return randError("random hex");
  std::string out;
  out.reserve(hex_chars);
  for (unsigned char b : buf) {
    out.push_back(d[b >> 4]);
    if (out.size() < hex_chars) out.push_back(d[b & 15]);
  }
  out.resize(hex_chars);
  return out;
}

Result<uint64_t> randomU64() {
  uint64_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof(v)) != 1) return randError("random number");
  return v;
}

bool secretEquals(std::string_view a, std::string_view b) {
  unsigned char da[SHA256_DIGEST_LENGTH];
  unsigned char db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

}  // namespace sc::controlplane
