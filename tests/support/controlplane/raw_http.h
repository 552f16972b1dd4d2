// A minimal blocking HTTP/1.1 client over loopback TCP, with full control of headers (the AWS
// JSON protocol needs X-Amz-Target and a SigV4 Authorization). For tests and benchmarks.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "common/result.h"
#include "controlplane/sigv4.h"
#include "model/json_input.h"

namespace sc::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Sends one request on a fresh connection (Connection: close) and reads the whole response.
Result<RawResponse> rawHttp(uint16_t port, const std::string& method, const std::string& path,
                            const std::map<std::string, std::string>& headers, const std::string& body,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

// Renders a request (used by rawHttp and by the benchmark's own event loop).
std::string renderRequest(const std::string& method, const std::string& path,
                          std::map<std::string, std::string> headers, const std::string& body, bool keep_alive);

// Parses one complete response from `buf`; returns the bytes consumed, 0 while incomplete.
size_t parseResponse(const std::string& buf, RawResponse* out);

// One signed AWS JSON 1.1 call: target "AmazonEC2ContainerServiceV20141113.ListClusters".
Result<RawResponse> awsJson(uint16_t port, const controlplane::AccessKey& key, const std::string& target,
                            const model::Json& body);

}  // namespace sc::testing
