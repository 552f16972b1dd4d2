#include "controlplane/sigv4.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sc::controlplane {
namespace {

using std::chrono::system_clock;
const system_clock::time_point kNow = system_clock::from_time_t(1795000000);

HttpRequest request() {
  HttpRequest r;
  r.method = "POST";
  r.uri = "/";
  r.path = "/";
  r.headers["host"] = "127.0.0.1:8500";
  r.headers["content-type"] = "application/x-amz-json-1.1";
  r.headers["x-amz-target"] = "AmazonEC2ContainerServiceV20141113.ListClusters";
  r.body = "{}";
  return r;
}

const std::map<std::string, std::string> kKeyMap = {{"SCKEY", "secret"}};
const SigV4Policy kKeys{kKeyMap, "us-east-1", "ecs"};
const AccessKey kKey{"SCKEY", "secret"};

TEST(SigV4Test, KnownAnswerFromTheAwsTestSuite) {
  // aws-sig-v4-test-suite "get-vanilla": GET / with Host and X-Amz-Date, us-east-1/service.
  HttpRequest r;
  r.method = "GET";
  r.uri = "/";
  r.headers["host"] = "example.amazonaws.com";
  signSigV4(r, {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, "us-east-1", "service",
            system_clock::from_time_t(1440938160));  // 20150830T123600Z
  EXPECT_EQ(r.headers["x-amz-date"], "20150830T123600Z");
  EXPECT_EQ(r.headers["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, SignedRequestVerifies) {
  HttpRequest r = request();
  signSigV4(r, {"SCKEY", "secret"}, "us-east-1", "ecs", kNow);
  SigV4Identity who;
  EXPECT_FALSE(verifySigV4(r, kKeys, kNow + std::chrono::minutes(4), &who).has_value());
  EXPECT_EQ(who.access_key_id, "SCKEY");
  EXPECT_EQ(r.headers["authorization"].substr(r.headers["authorization"].size() - 64), who.signature);
}

TEST(SigV4Test, UnsignedIsMissingAuthenticationToken) {
  auto f = verifySigV4(request(), kKeys, kNow);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, "MissingAuthenticationTokenException");
  EXPECT_EQ(f->status, 403);
}

TEST(SigV4Test, WrongSecretIsInvalidSignature) {
  HttpRequest r = request();
  signSigV4(r, {"SCKEY", "not-the-secret"}, "us-east-1", "ecs", kNow);
  auto f = verifySigV4(r, kKeys, kNow);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, "InvalidSignatureException");
  EXPECT_NE(f->message.find("does not match"), std::string::npos);
}

TEST(SigV4Test, TamperedBodyIsInvalidSignature) {
  HttpRequest r = request();
  signSigV4(r, {"SCKEY", "secret"}, "us-east-1", "ecs", kNow);
  r.body = R"({"clusters": ["x"]})";
  EXPECT_EQ(verifySigV4(r, kKeys, kNow)->type, "InvalidSignatureException");
}

TEST(SigV4Test, UnknownKeyIsUnrecognizedClient) {
  HttpRequest r = request();
  signSigV4(r, {"OTHER", "secret"}, "us-east-1", "ecs", kNow);
  EXPECT_EQ(verifySigV4(r, kKeys, kNow)->type, "UnrecognizedClientException");
}

TEST(SigV4Test, SkewBeyondFiveMinutesIsExpired) {
  HttpRequest r = request();
  signSigV4(r, {"SCKEY", "secret"}, "us-east-1", "ecs", kNow);
  auto f = verifySigV4(r, kKeys, kNow + std::chrono::minutes(6));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, "InvalidSignatureException");
  EXPECT_EQ(f->message.rfind("Signature expired: ", 0), 0u) << f->message;
  EXPECT_TRUE(verifySigV4(r, kKeys, kNow - std::chrono::minutes(6)).has_value());
}

// Found by tests/fuzz (sigv4): a date past 2262 or before 1678 overflowed system_clock's 64-bit
// nanoseconds on conversion (signed overflow, before the signature was checked).
TEST(SigV4Test, ADateTheClockCannotHoldIsNotAValidDate) {
  for (const char* date : {"40301660T123600Z", "99991231T235959Z", "00000101T000000Z"}) {
    HttpRequest r = request();
    signSigV4(r, kKey, "us-east-1", "ecs", kNow);
    r.headers["x-amz-date"] = date;
    auto f = verifySigV4(r, kKeys, kNow);
    ASSERT_TRUE(f.has_value()) << date;
    EXPECT_EQ(f->type, "IncompleteSignatureException") << date;
    EXPECT_EQ(f->message, "Authorization header requires existence of a valid X-Amz-Date header") << date;
  }
}

TEST(SigV4Test, MalformedHeaderIsIncompleteSignature) {
  HttpRequest r = request();
  r.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=SCKEY";
  EXPECT_EQ(verifySigV4(r, kKeys, kNow)->type, "IncompleteSignatureException");
}

TEST(SigV4Test, XAmzTargetAddedAfterSigningIsRefused) {
  HttpRequest r = request();
  r.headers.erase("x-amz-target");
  signSigV4(r, kKey, "us-east-1", "ecs", kNow);
  r.headers["x-amz-target"] = "AmazonEC2ContainerServiceV20141113.DeleteCluster";
  auto f = verifySigV4(r, kKeys, kNow);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->status, 403);
  EXPECT_EQ(f->type, "IncompleteSignatureException");
  EXPECT_EQ(f->message, "There were headers present in the request which were not signed: x-amz-target");
}

TEST(SigV4Test, UnsignedXAmzDateIsRefused) {
  HttpRequest r = request();
  const std::vector<std::string> names = {"content-type", "host", "x-amz-target"};
  signSigV4(r, kKey, "us-east-1", "ecs", kNow, &names);  // a valid signature that leaves X-Amz-Date out
  auto f = verifySigV4(r, kKeys, kNow);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->status, 403);
  EXPECT_EQ(f->message, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST(SigV4Test, UnsignedHostIsRefused) {
  HttpRequest r = request();
  const std::vector<std::string> names = {"content-type", "x-amz-date", "x-amz-target"};
  signSigV4(r, kKey, "us-east-1", "ecs", kNow, &names);
  auto f = verifySigV4(r, kKeys, kNow);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->message, "'Host' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST(SigV4Test, PartialSigningOfEveryRequiredHeaderVerifies) {
  HttpRequest r = request();
  const std::vector<std::string> names = {"host", "x-amz-date", "x-amz-target"};  // content-type unsigned
  signSigV4(r, kKey, "us-east-1", "ecs", kNow, &names);
  EXPECT_FALSE(verifySigV4(r, kKeys, kNow).has_value());
}

TEST(SigV4Test, UnsignedNonAmzHeadersAreAllowedAsBotocoreSends) {
  HttpRequest r = request();
  signSigV4(r, kKey, "us-east-1", "ecs", kNow);
  r.headers["user-agent"] = "aws-cli/1.45.11";
  r.headers["x-amzn-trace-id"] = "Root=1-0-0";  // botocore leaves it unsigned; not an x-amz- header
  EXPECT_FALSE(verifySigV4(r, kKeys, kNow).has_value());
}

TEST(SigV4Test, WrongRegionScopeIsRefused) {
  HttpRequest r = request();
  signSigV4(r, kKey, "eu-west-1", "ecs", kNow);
  auto f = verifySigV4(r, kKeys, kNow);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->status, 403);
  EXPECT_EQ(f->type, "InvalidSignatureException");
  EXPECT_EQ(f->message.rfind("Credential should be scoped to a valid region.", 0), 0u) << f->message;
}

TEST(SigV4Test, WrongServiceScopeIsRefused) {
  HttpRequest r = request();
  signSigV4(r, kKey, "us-east-1", "servicediscovery", kNow);
  auto f = verifySigV4(r, kKeys, kNow);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->status, 403);
  EXPECT_EQ(f->message.rfind("Credential should be scoped to correct service: 'ecs'.", 0), 0u) << f->message;
}

TEST(SigV4Test, ReplayedRequestIsRefusedAndAFreshOneAccepted) {
  ReplayCache cache;
  SigV4Policy policy{kKeyMap, "us-east-1", "ecs", &cache};
  HttpRequest r = request();
  signSigV4(r, kKey, "us-east-1", "ecs", kNow);
  EXPECT_FALSE(verifySigV4(r, policy, kNow).has_value());
  auto f = verifySigV4(r, policy, kNow + std::chrono::seconds(30));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->status, 403);
  EXPECT_EQ(f->message.rfind("Signature already used", 0), 0u) << f->message;
  // The same call signed afresh (a retry: a new X-Amz-Date) goes through.
  HttpRequest again = request();
  signSigV4(again, kKey, "us-east-1", "ecs", kNow + std::chrono::seconds(1));
  EXPECT_FALSE(verifySigV4(again, policy, kNow + std::chrono::seconds(1)).has_value());
  // A failed verification records nothing.
  HttpRequest bad = request();
  signSigV4(bad, {"SCKEY", "wrong"}, "us-east-1", "ecs", kNow + std::chrono::seconds(2));
  EXPECT_TRUE(verifySigV4(bad, policy, kNow + std::chrono::seconds(2)).has_value());
  EXPECT_EQ(cache.size(), 2u);
}

TEST(SigV4Test, ForgottenSignatureIsAcceptedAgain) {
  // What the frontend does when a call fails with a retryable error: botocore's retry within the
  // same second carries the same signature and must go through.
  ReplayCache cache;
  SigV4Policy policy{kKeyMap, "us-east-1", "ecs", &cache};
  HttpRequest r = request();
  signSigV4(r, kKey, "us-east-1", "ecs", kNow);
  SigV4Identity who;
  ASSERT_FALSE(verifySigV4(r, policy, kNow, &who).has_value());
  cache.forget(who.signature);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(verifySigV4(r, policy, kNow).has_value());
  EXPECT_TRUE(verifySigV4(r, policy, kNow).has_value());
}

TEST(SigV4Test, ReplayCacheIsBoundedAndForgetsOnlyExpiredEntries) {
  ReplayCache cache(3);
  const auto expires = kNow + kMaxClockSkew;
  for (std::string sig : {"a", "b", "c"}) EXPECT_FALSE(cache.admit(sig, expires, kNow).has_value());
  auto full = cache.admit("d", expires, kNow + std::chrono::minutes(1));
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->type, "ThrottlingException");
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.admit("a", expires, kNow + std::chrono::minutes(1)).has_value());  // still remembered
  // Once the window of the old entries has passed they are dropped and room is made.
  EXPECT_FALSE(cache.admit("d", expires + kMaxClockSkew, expires + std::chrono::seconds(1)).has_value());
  EXPECT_EQ(cache.size(), 1u);
}

TEST(SigV4Test, ReplayCacheIsThreadSafe) {
  ReplayCache cache(100000);
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (!cache.admit("sig" + std::to_string(i), kNow + kMaxClockSkew, kNow)) ++accepted;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted.load(), 2000);  // each signature admitted exactly once across the threads
  EXPECT_EQ(cache.size(), 2000u);
}

TEST(SigV4Test, GeneratedKeysAreDistinctAndWellFormed) {
  auto a = generateAccessKey(), b = generateAccessKey();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id.size(), 20u);
  EXPECT_EQ(a->secret.size(), 40u);
  EXPECT_NE(a->id, b->id);
}

}  // namespace
}  // namespace sc::controlplane
