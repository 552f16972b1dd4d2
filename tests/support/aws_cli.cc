#include "tests/support/aws_cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/strings.h"

namespace sc::testing {

std::string findAwsCli() {
  const char* path = std::getenv("PATH");
  for (const std::string& dir : split(path != nullptr ? path : "/usr/bin", ':')) {
    std::string p = dir + "/aws";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

ProcessResult AwsCli::run(std::vector<std::string> args, const std::string& secret_override) const {
  args.insert(args.end(), {"--endpoint-url", endpoint_, "--output", "json"});
  const char* path = std::getenv("PATH");
  std::vector<std::string> env = {std::string("PATH=") + (path != nullptr ? path : "/usr/bin:/bin"),
                                  "HOME=" + home_,
                                  "AWS_CONFIG_FILE=" + home_ + "/none",
                                  "AWS_SHARED_CREDENTIALS_FILE=" + home_ + "/none",
                                  "AWS_ACCESS_KEY_ID=" + key_id_,
                                  "AWS_SECRET_ACCESS_KEY=" + (secret_override.empty() ? secret_ : secret_override),
                                  "AWS_DEFAULT_REGION=us-east-1",
                                  "AWS_DISABLE_HOST_PREFIX_INJECTION=true",
                                  "AWS_PAGER=",
                                  "LANG=C.UTF-8"};
  auto r = runProcess({.path = program_, .args = std::move(args), .env = env, .timeout = std::chrono::milliseconds(60000)});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : ProcessResult{};
}

nlohmann::json AwsCli::json(std::vector<std::string> args) const {
  ProcessResult r = run(std::move(args));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out.empty() ? "{}" : r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j.is_discarded() ? nlohmann::json::object() : j;
}

}  // namespace sc::testing
