// The credentials file: parsing every member, and the token administration of `sccontrol token`.
#include "controlplane/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/file.h"
#include "controlplane/sigv4.h"
#include "tests/support/temp_dir.h"

namespace sc::controlplane {
namespace {

const std::string kKeys = R"("accessKeys": [{"id": "SCKEY", "secret": "s3cret"}])";
const std::string kDigest(64, 'a');

Result<Credentials> parse(const std::string& members) { return parseCredentials("creds", "{" + members + "}"); }

TEST(CredentialsTest, DefaultTokenAndListAreRead) {
  auto c = parse(kKeys + R"(, "bootstrapToken": "0123456789abcdef0123",
      "bootstrapTokens": [{"id": "bt-1", "sha256": ")" + kDigest + R"(", "expiresAt": "2026-12-05T13:00:00Z",
                           "singleUse": true, "description": "rack 4"}])");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->keys.at("SCKEY"), "s3cret");
  ASSERT_EQ(c->bootstrap_tokens.size(), 2u);
  EXPECT_EQ(c->bootstrap_tokens[0].id, "default");
  EXPECT_EQ(c->bootstrap_tokens[0].sha256, sha256Hex("0123456789abcdef0123"));
  EXPECT_FALSE(c->bootstrap_tokens[0].expires_at.has_value());
  const BootstrapToken& t = c->bootstrap_tokens[1];
  EXPECT_EQ(t.id, "bt-1");
  EXPECT_EQ(t.sha256, kDigest);
  EXPECT_EQ(t.expires_at, parseUtc("2026-12-05T13:00:00Z"));
  EXPECT_TRUE(t.single_use);
  EXPECT_EQ(t.description, "rack 4");
}

TEST(CredentialsTest, EveryMalformedMemberIsNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("accessKeys": [])", "accessKeys: no access keys"},
      {kKeys + R"(, "extra": 1)", "extra: unknown member"},
      {kKeys + R"(, "bootstrapToken": "short")", "bootstrapToken: expected a string of at least 16"},
      {kKeys + R"(, "bootstrapTokens": {})", "bootstrapTokens: expected an array"},
      {kKeys + R"(, "bootstrapTokens": [{"id": "x", "sha256": "ABC"}])", "bootstrapTokens[0].sha256"},
      {kKeys + R"(, "bootstrapTokens": [{"id": "x", "sha256": ")" + kDigest + R"(", "expiresAt": "tomorrow"}])",
       "bootstrapTokens[0].expiresAt"},
      {kKeys + R"(, "bootstrapTokens": [{"sha256": ")" + kDigest + R"("}])", "id and sha256 are required"},
      {kKeys + R"(, "bootstrapTokens": [{"id": "x", "sha256": ")" + kDigest + R"(", "who": 1}])",
       "bootstrapTokens[0].who"},
      {kKeys + R"(, "bootstrapTokens": [{"id": "default", "sha256": ")" + kDigest +
           R"("}], "bootstrapToken": "0123456789abcdef0123")",
       "duplicate id default"},
  };
  for (const auto& [members, what] : cases) {
    auto c = parse(members);
    ASSERT_FALSE(c.ok()) << members;
    EXPECT_NE(c.error().message.find(what), std::string::npos) << c.error().message;
  }
}

TEST(CredentialsTest, CreatedTokensAreKeptAsDigestsAndRevokedById) {
  testing::TempDir dir;
  const std::string path = dir.file("credentials");
  std::ostringstream note;
  auto fresh = loadOrCreateCredentials(path, "us-east-1", note);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  ASSERT_EQ(fresh->bootstrap_tokens.size(), 1u);
  EXPECT_NE(note.str().find("export AWS_ACCESS_KEY_ID="), std::string::npos);

  auto made = addBootstrapToken(path, 1800000000, true, "new rack");
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_EQ(made->token.size(), 64u);
  EXPECT_EQ(made->meta.sha256, sha256Hex(made->token));
  const std::string text = *readFile(path);
  EXPECT_EQ(text.find(made->token), std::string::npos) << "the token itself is never written";
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto read = parseCredentials(path, text);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->bootstrap_tokens.size(), 2u);
  EXPECT_EQ(read->bootstrap_tokens[1].id, made->meta.id);
  EXPECT_EQ(read->bootstrap_tokens[1].expires_at, 1800000000);
  EXPECT_EQ(read->keys, fresh->keys) << "the access keys are kept";

  auto unknown = revokeBootstrapToken(path, "bt-none");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(*readFile(path), text) << "a failed revocation leaves the file as it was";
  ASSERT_TRUE(revokeBootstrapToken(path, "default").ok());
  ASSERT_TRUE(revokeBootstrapToken(path, made->meta.id).ok());
  auto after = parseCredentials(path, *readFile(path));
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->bootstrap_tokens.empty());
}

TEST(CredentialsTest, DurationsAndTimes) {
  EXPECT_EQ(parseDuration("90s"), 90);
  EXPECT_EQ(parseDuration("30m"), 1800);
  EXPECT_EQ(parseDuration("12h"), 43200);
  EXPECT_EQ(parseDuration("7d"), 604800);
  for (const char* bad : {"", "s", "0s", "-1h", "1w", "1.5h", "3651d", "99999999d", "h1"})
    EXPECT_FALSE(parseDuration(bad).has_value()) << bad;
  EXPECT_EQ(formatUtc(1795000000), "2026-11-18T11:06:40Z");
  EXPECT_EQ(parseUtc("2026-11-18T11:06:40Z"), 1795000000);
  for (const char* bad : {"2026-11-18", "2026-11-18T11:06:40", "2026-11-18T11:06:40+01:00", "x"})
    EXPECT_FALSE(parseUtc(bad).has_value()) << bad;
}

}  // namespace
}  // namespace sc::controlplane
