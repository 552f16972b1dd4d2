// Tokens and IDs from RAND_bytes: 10 000 registrations' tokens are distinct and structureless, and
// the classic attack on std::mt19937_64 (untemper 312 consecutive outputs, run the recurrence
// forward) predicts the next token of the old generator but not of the new one.
#include "controlplane/secure_random.h"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <set>
#include <vector>

#include "controlplane/control_plane.h"
#include "controlplane/memory_store.h"
#include "tests/support/controlplane/fake_clock.h"

namespace sc::controlplane {
namespace {

// --- The attacker's side: std::mt19937_64's parameters (C++ [rand.predef]) --------------------
constexpr size_t kN = 312;
constexpr size_t kM = 156;
constexpr uint64_t kMatrixA = 0xB5026F5AA96619E9ULL;
constexpr uint64_t kUpperMask = 0xFFFFFFFF80000000ULL;  // the top 33 bits
constexpr uint64_t kLowerMask = 0x000000007FFFFFFFULL;  // the low 31 bits

uint64_t temper(uint64_t y) {
  y ^= (y >> 29) & 0x5555555555555555ULL;
  y ^= (y << 17) & 0x71D67FFFEDA60000ULL;
  y ^= (y << 37) & 0xFFF7EEE000000000ULL;
  y ^= y >> 43;
  return y;
}

// Inverts x = y ^ ((y >> s) & mask) (or << s): every pass fixes s more bits.
uint64_t undoRight(uint64_t x, int s, uint64_t mask) {
  uint64_t y = x;
  for (int i = 0; i < 64 / s + 1; ++i) y = x ^ ((y >> s) & mask);
  return y;
}
uint64_t undoLeft(uint64_t x, int s, uint64_t mask) {
  uint64_t y = x;
  for (int i = 0; i < 64 / s + 1; ++i) y = x ^ ((y << s) & mask);
  return y;
}

uint64_t untemper(uint64_t y) {
  y = undoRight(y, 43, ~0ULL);
  y = undoLeft(y, 37, 0xFFF7EEE000000000ULL);
  y = undoLeft(y, 17, 0x71D67FFFEDA60000ULL);
  y = undoRight(y, 29, 0x5555555555555555ULL);
  return y;
}

// Given 312 consecutive outputs (any offset into the stream), the next `count` outputs: the
// untempered outputs are 312 consecutive state words x[k..k+311], and
// x[k+312] = x[k+156] ^ twist(upper(x[k]) | lower(x[k+1])).
std::vector<uint64_t> predictNext(const std::vector<uint64_t>& outputs, size_t count) {
  std::vector<uint64_t> x;
  for (size_t i = outputs.size() - kN; i < outputs.size(); ++i) x.push_back(untemper(outputs[i]));
  std::vector<uint64_t> out;
  for (size_t k = 0; k < count; ++k) {
    uint64_t y = (x[k] & kUpperMask) | (x[k + 1] & kLowerMask);
    uint64_t next = x[k + kM] ^ (y >> 1) ^ ((y & 1) ? kMatrixA : 0);
    x.push_back(next);
    out.push_back(temper(next));
  }
  return out;
}

// Reads hex back into the 64-bit words the old ControlPlane::newId consumed (16 nibbles per word,
// low nibble first), which is what an attacker holding the tokens would do.
std::vector<uint64_t> wordsOfHex(const std::string& hex) {
  std::vector<uint64_t> words;
  for (size_t i = 0; i + 16 <= hex.size(); i += 16) {
    uint64_t w = 0;
    for (int j = 15; j >= 0; --j) {
      char c = hex[i + static_cast<size_t>(j)];
      w = (w << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    words.push_back(w);
  }
  return words;
}

// The old generator: ControlPlane::newId over a seeded std::mt19937_64.
std::string oldNewId(std::mt19937_64& rng, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  while (s.size() < n) {
    uint64_t r = rng();
    for (int i = 0; i < 16 && s.size() < n; ++i, r >>= 4) s.push_back(d[r & 15]);
  }
  return s;
}

// A registration hands out a 32-digit instance ID and a 64-digit token: 6 words. 52 of them give
// the attacker 312 words; the attack predicts the 53rd registration's ID and token.
struct Registration {
  std::string id, token;
};

std::string predictedToken(const std::vector<Registration>& seen) {
  std::vector<uint64_t> words;
  for (const Registration& r : seen) {
    for (uint64_t w : wordsOfHex(r.id)) words.push_back(w);
    for (uint64_t w : wordsOfHex(r.token)) words.push_back(w);
  }
  std::vector<uint64_t> next = predictNext(words, 6);  // the next ID (2 words), then the token (4)
  std::string token;
  static const char* d = "0123456789abcdef";
  for (size_t i = 2; i < 6; ++i) {
    uint64_t r = next[i];
    for (int j = 0; j < 16; ++j, r >>= 4) token.push_back(d[r & 15]);
  }
  return token;
}

TEST(MersenneTwisterAttack, UntemperInvertsTemper) {
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = rng();
    EXPECT_EQ(temper(untemper(v)), v);
  }
}

TEST(MersenneTwisterAttack, PredictsARealMt19937_64FromAnyOffset) {
  std::mt19937_64 rng(std::random_device{}());
  rng.discard(1000);  // not aligned to a twist
  std::vector<uint64_t> seen;
  for (size_t i = 0; i < kN; ++i) seen.push_back(rng());
  std::vector<uint64_t> predicted = predictNext(seen, 1000);
  for (uint64_t p : predicted) ASSERT_EQ(p, rng());
}

TEST(MersenneTwisterAttack, PredictsTheOldGeneratorsNextTokenFrom52Registrations) {
  std::mt19937_64 rng(std::random_device{}());
  std::vector<Registration> seen;
  for (int i = 0; i < 52; ++i) seen.push_back({oldNewId(rng, 32), oldNewId(rng, 64)});
  (void)oldNewId(rng, 32);
  EXPECT_EQ(predictedToken(seen), oldNewId(rng, 64));
}

// --- The control plane as it is --------------------------------------------------------------

class RegistrationTokens : public ::testing::Test {
 protected:
  void SetUp() override {
    ControlPlaneOptions o;
    o.bootstrap_token = "boot";
    auto c = ControlPlane::create(store_, clock_, o);
    ASSERT_TRUE(c.ok());
    cp_ = std::move(*c);
    ASSERT_TRUE(cp_->call(Api::kEcs, "CreateCluster", {{"clusterName", "c"}}).has_value());
  }
  Registration registerOne() {
    auto r = cp_->agentRegister({{"bootstrapToken", "boot"}, {"cluster", "c"}, {"memoryMiB", 1024}});
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    if (!r) return {};
    return {(*r)["instanceId"].get<std::string>(), (*r)["token"].get<std::string>()};
  }
  MemoryStore store_;
  testing::FakeClock clock_;
  std::unique_ptr<ControlPlane> cp_;
};

TEST_F(RegistrationTokens, TheAttackDoesNotPredictTheNextToken) {
  std::vector<Registration> seen;
  for (int i = 0; i < 52; ++i) seen.push_back(registerOne());
  Registration next = registerOne();
  ASSERT_EQ(next.token.size(), 64u);
  EXPECT_NE(predictedToken(seen), next.token);
  // Nor does any 64-bit word of the prediction match any word of the real token.
  std::vector<uint64_t> words;
  for (const Registration& r : seen) {
    for (uint64_t w : wordsOfHex(r.id)) words.push_back(w);
    for (uint64_t w : wordsOfHex(r.token)) words.push_back(w);
  }
  std::vector<uint64_t> predicted = predictNext(words, 6);
  std::set<uint64_t> real;
  for (uint64_t w : wordsOfHex(next.id)) real.insert(w);
  for (uint64_t w : wordsOfHex(next.token)) real.insert(w);
  for (uint64_t p : predicted) EXPECT_FALSE(real.contains(p));
}

TEST_F(RegistrationTokens, TenThousandTokensAreDistinctAndHaveNoBiasedBit) {
  constexpr int kCount = 10000;
  std::set<std::string> tokens;
  std::array<int, 256> ones{};  // 64 hex digits = 256 bits
  for (int i = 0; i < kCount; ++i) {
    Registration r = registerOne();
    ASSERT_EQ(r.token.size(), 64u);
    ASSERT_EQ(r.id.size(), 32u);
    ASSERT_TRUE(tokens.insert(r.token).second) << "duplicate token " << r.token;
    for (size_t c = 0; c < 64; ++c) {
      char ch = r.token[c];
      ASSERT_TRUE((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')) << r.token;
      int v = ch <= '9' ? ch - '0' : ch - 'a' + 10;
      for (int b = 0; b < 4; ++b) ones[c * 4 + static_cast<size_t>(b)] += (v >> b) & 1;
    }
  }
  // Each bit is Binomial(10000, 1/2): sd 50. Six sd (4700..5300) is missed by chance with
  // probability ~2e-9 per bit, ~5e-7 over 256 bits; a stuck or biased bit lands far outside.
  for (size_t b = 0; b < ones.size(); ++b) {
    EXPECT_GT(ones[b], kCount / 2 - 300) << "bit " << b;
    EXPECT_LT(ones[b], kCount / 2 + 300) << "bit " << b;
  }
}

TEST(SecureRandom, HexHasTheAskedLengthAndAlphabet) {
  for (size_t n : {0u, 1u, 15u, 16u, 32u, 64u}) {
    auto h = randomHex(n);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->size(), n);
    EXPECT_EQ(h->find_first_not_of("0123456789abcdef"), std::string::npos) << *h;
  }
}

TEST(SecureRandom, SecretEquals) {
  EXPECT_TRUE(secretEquals("boot", "boot"));
  EXPECT_FALSE(secretEquals("boot", "boo"));
  EXPECT_FALSE(secretEquals("boot", "bootx"));
  EXPECT_FALSE(secretEquals("boot", "Boot"));
  EXPECT_FALSE(secretEquals("", "boot"));
  EXPECT_TRUE(secretEquals("", ""));
}

}  // namespace
}  // namespace sc::controlplane
