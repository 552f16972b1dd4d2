// SigV4 header parsing and verification (controlplane/sigv4.h: verifySigV4): the control plane
// reads Authorization and X-Amz-Date from every ECS and Cloud Map request before it knows who sent
// it. The input is a request as text:
//   <method> <uri>\n<name>: <value>\n...\n\n<body>
// Invariants:
//   - no crash, no sanitizer report, on any header;
//   - the same request (its HTTP-token header names, lower-cased as the server delivers them)
//     signed with signSigV4 verifies; the same signature again is a replay; another body fails.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "controlplane/sigv4.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using sc::controlplane::AccessKey;
using sc::controlplane::HttpRequest;
using sc::controlplane::ReplayCache;
using sc::controlplane::SigV4Policy;

// The aws-sig-v4-test-suite's key and time (20150830T123600Z), so that its requests verify.
const AccessKey kKey{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
const std::map<std::string, std::string> kKeys = {{kKey.id, kKey.secret}};
const auto kNow = std::chrono::system_clock::from_time_t(1440938160);

// RFC 9110 tchar: what an HTTP header name is made of.
bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

HttpRequest parseRequest(std::string_view text) {
  HttpRequest r;
  std::string_view head = text;
  if (size_t end = text.find("\n\n"); end != std::string_view::npos) {
    head = text.substr(0, end);
    r.body = std::string(text.substr(end + 2));
  }
  std::vector<std::string> lines = sc::split(head, '\n');
  const std::string& first = lines.front();
  const size_t sp = first.find(' ');
  r.method = first.substr(0, sp);
  r.uri = sp == std::string::npos ? "/" : first.substr(sp + 1);
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    const std::string name = lower(std::string_view(lines[i]).substr(0, colon));
    const std::string value(sc::trim(std::string_view(lines[i]).substr(colon + 1)));
    auto [it, added] = r.headers.emplace(name, value);
    if (!added) it->second += "," + value;
  }
  return r;
}

void checkSignedVerifies(HttpRequest r) {
  std::erase_if(r.headers, [](const auto& h) { return !isToken(h.first); });
  r.headers.emplace("host", "example.amazonaws.com");
  sc::controlplane::signSigV4(r, kKey, "us-east-1", "service", kNow);
  ReplayCache replay(16);
  const SigV4Policy policy{kKeys, "us-east-1", "service", &replay};
  auto first = sc::controlplane::verifySigV4(r, policy, kNow);
  FUZZ_CHECK(!first.has_value(), "a request signed with signSigV4 fails: " + first->type + ": " + first->message +
                                     "\nauthorization: " + r.headers["authorization"]);
  auto again = sc::controlplane::verifySigV4(r, policy, kNow);
  FUZZ_CHECK(again.has_value() && again->message.find("already used") != std::string::npos,
             "a replayed signature is accepted");
  r.body += "x";
  auto tampered = sc::controlplane::verifySigV4(r, {kKeys, "us-east-1", "service"}, kNow);
  FUZZ_CHECK(tampered.has_value() && tampered->type == "InvalidSignatureException",
             "a request with another body verifies");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const HttpRequest r = parseRequest(std::string_view(reinterpret_cast<const char*>(data), size));
  ReplayCache replay(4);
  sc::controlplane::SigV4Identity who;
  (void)sc::controlplane::verifySigV4(r, {kKeys, "us-east-1", "service", &replay}, kNow, &who);
  checkSignedVerifies(r);
  return 0;
}
