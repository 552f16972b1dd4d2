#include "controlplane/sigv4.h"

#include <gtest/gtest.h>

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

const std::map<std::string, std::string> kKeys = {{"SCKEY", "secret"}};

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
  std::string who;
  EXPECT_FALSE(verifySigV4(r, kKeys, kNow + std::chrono::minutes(4), &who).has_value());
  EXPECT_EQ(who, "SCKEY");
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

TEST(SigV4Test, MalformedHeaderIsIncompleteSignature) {
  HttpRequest r = request();
  r.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=SCKEY";
  EXPECT_EQ(verifySigV4(r, kKeys, kNow)->type, "IncompleteSignatureException");
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
