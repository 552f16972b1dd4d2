// HAProxy's `show servers state` parser (inject/runtime_api.h: parseServersState) and the plan
// built on what it returns (planMembership): the agent reads the proxy's answer to decide which
// runtime API commands to send. Invariants:
//   - no crash, no sanitizer report;
//   - ports, states and admin bits are in range;
//   - the slots it returns, written out again in the same format, parse to the same slots;
//   - unless the plan asks for a reload, its commands applied to the slots leave exactly the
//     healthy desired upstreams in rotation.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "inject/runtime_api.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using sc::inject::ServerSlot;
using sc::inject::Upstream;

// Fields 0-18 of a state line (version 1): be_id be_name srv_id srv_name srv_addr srv_op_state
// srv_admin_state ... srv_port; the fields the parser ignores hold neutral values.
std::string renderState(const std::vector<ServerSlot>& slots) {
  std::string out = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n";
  for (const ServerSlot& s : slots) {
    out += "1 " + s.backend + " 1 " + s.name + " " + s.addr + " " + std::to_string(s.op_state) + " " +
           std::to_string(s.admin_state) + " 1 1 0 1 0 1 6 0 0 0 - " + std::to_string(s.port) + " - 0 0 - - 0\n";
  }
  return out;
}

bool sameSlots(const std::vector<ServerSlot>& a, const std::vector<ServerSlot>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].backend != b[i].backend || a[i].name != b[i].name || a[i].addr != b[i].addr || a[i].port != b[i].port ||
        a[i].op_state != b[i].op_state || a[i].admin_state != b[i].admin_state) {
      return false;
    }
  }
  return true;
}

// Applies "set server <backend>/<name> state ready|maint" and "... addr <ip> port <p>" to `slots`
// and returns the (addr, port) of the backend's slots in rotation afterwards.
std::set<std::pair<std::string, int>> applyPlan(std::vector<ServerSlot> slots, const std::string& backend,
                                                const std::vector<std::string>& commands) {
  std::map<std::string, ServerSlot*> by_name;
  for (ServerSlot& s : slots) {
    if (s.backend == backend) by_name[s.name] = &s;
  }
  const std::string prefix = "set server " + backend + "/";
  for (const std::string& c : commands) {
    FUZZ_CHECK(c.starts_with(prefix), "a command for another backend: " + c);
    std::vector<std::string> w = sc::split(std::string_view(c).substr(prefix.size()), ' ');
    auto it = by_name.find(w[0]);
    FUZZ_CHECK(it != by_name.end(), "a command for a server that is not there: " + c);
    if (w.size() == 3 && w[1] == "state") {
      FUZZ_CHECK(w[2] == "ready" || w[2] == "maint", "an unknown state: " + c);
      it->second->admin_state = w[2] == "ready" ? 0 : 1;
    } else {
      FUZZ_CHECK(w.size() == 5 && w[1] == "addr" && w[3] == "port", "an unknown command: " + c);
      it->second->addr = w[2];
      it->second->port = std::stoi(w[4]);
    }
  }
  std::set<std::pair<std::string, int>> serving;
  for (const ServerSlot& s : slots) {
    if (s.backend == backend && !s.inMaintenance()) serving.insert({s.addr, s.port});
  }
  return serving;
}

void checkPlan(const std::vector<ServerSlot>& slots) {
  if (slots.empty()) return;
  const std::string& backend = slots.front().backend;
  std::set<std::string> names;
  for (const ServerSlot& s : slots) {
    // HAProxy refuses two servers of one name in a backend; the plan addresses servers by name.
    if (s.backend == backend && !names.insert(s.name).second) return;
  }
  const std::vector<Upstream> desired = {{"10.0.0.1", 80, "t1", true},
                                         {"10.0.0.2", 80, "t2", true},
                                         {"10.0.0.1", 80, "t1", true},
                                         {"10.0.0.3", 80, "t3", false}};
  const sc::inject::MembershipPlan plan = sc::inject::planMembership(backend, slots, desired);
  if (plan.needs_reload) return;
  const std::set<std::pair<std::string, int>> want = {{"10.0.0.1", 80}, {"10.0.0.2", 80}};
  FUZZ_CHECK(applyPlan(slots, backend, plan.commands) == want, "the plan leaves other servers in rotation");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto slots = sc::inject::parseServersState(text);
  if (!slots.ok()) return 0;
  for (const ServerSlot& s : *slots) {
    FUZZ_CHECK(s.port >= 0 && s.port <= 65535, "port out of range");
    FUZZ_CHECK(s.op_state >= 0 && s.op_state <= 255 && s.admin_state >= 0 && s.admin_state <= 255,
               "state out of range");
  }
  const std::string again_text = renderState(*slots);
  auto again = sc::inject::parseServersState(again_text);
  FUZZ_CHECK(again.ok() && sameSlots(*again, *slots), "slots change when written out and read back:\n" + again_text);
  checkPlan(*slots);
  return 0;
}
