// The real `aws` CLI pointed at a test's sccontrol: an isolated HOME and no config files, the
// server's access key, JSON output.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/process.h"

namespace sc::testing {

// The `aws` program on PATH, or "" when it is not installed (scripts/setup installs it).
std::string findAwsCli();

class AwsCli {
 public:
  AwsCli(std::string program, std::string endpoint, std::string key_id, std::string secret, std::string home)
      : program_(std::move(program)),
        endpoint_(std::move(endpoint)),
        key_id_(std::move(key_id)),
        secret_(std::move(secret)),
        home_(std::move(home)) {}

  // Runs `aws <args> --endpoint-url ... --output json`; a failure to run fails the test.
  ProcessResult run(std::vector<std::string> args, const std::string& secret_override = "") const;
  // Runs and parses stdout; a non-zero exit or unparsable output fails the test.
  nlohmann::json json(std::vector<std::string> args) const;

 private:
  std::string program_, endpoint_, key_id_, secret_, home_;
};

}  // namespace sc::testing
