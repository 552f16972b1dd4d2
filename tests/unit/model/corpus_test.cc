// The malformed-input corpus (tests/corpus/model/cases.json): every case must end in a clean
// error that contains its expected text (or, for the few valid edge cases, in a plan), with no
// crash and nothing for ASan/UBSan to report.
#include <gtest/gtest.h>

#include "model/parse.h"
#include "model/plan.h"
#include "tests/support/golden.h"

namespace sc::model {
namespace {

struct Outcome {
  bool ok;
  std::string message;
};

// Case text: "text", or "hex" for bytes JSON cannot carry (invalid UTF-8).
std::string caseText(const Json& c) {
  if (!c.contains("hex")) return c["text"].get<std::string>();
  const std::string hex = c["hex"];
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

Outcome runCase(const Json& c) {
  const std::string kind = c["kind"];
  auto fromResult = [](const auto& r) { return Outcome{r.ok(), r.ok() ? "" : r.error().message}; };
  if (kind == "task-definition") return fromResult(parseTaskDefinition(caseText(c)));
  if (kind == "service") return fromResult(parseServiceDefinition(caseText(c)));
  if (kind == "cluster") return fromResult(parseClusterDefinition(caseText(c)));
  if (kind == "namespace") return fromResult(parseNamespaceSnapshot(caseText(c)));
  if (kind == "plan") {
    if (c.contains("text") || c.contains("hex")) return fromResult(parseTaskPlan(caseText(c)));
    auto td = parseTaskDefinition(c["taskDefinition"].get<std::string>());
    auto svc = parseServiceDefinition(c["service"].get<std::string>());
    if (!td.ok()) return {false, td.error().message};
    if (!svc.ok()) return {false, svc.error().message};
    std::optional<NamespaceSnapshot> ns;
    if (c.contains("namespace")) {
      auto n = parseNamespaceSnapshot(c["namespace"].get<std::string>());
      if (!n.ok()) return {false, n.error().message};
      ns = *n;
    }
    PlanOutcome o = buildTaskPlan({*td, *svc, nullptr, ns ? &*ns : nullptr}, {"corpus", 1});
    std::string msg;
    for (const auto& e : o.errors) msg += e.text() + "\n";
    return {o.plan.has_value(), msg};
  }
  ADD_FAILURE() << "unknown corpus kind " << kind;
  return {false, ""};
}

TEST(CorpusTest, EveryCaseEndsCleanly) {
  Json cases = Json::parse(testing::readSource("tests/corpus/model/cases.json"));
  ASSERT_GE(cases.size(), 60u);  // the floor; a shrinking corpus fails here
  size_t errors = 0;
  for (const Json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    Outcome o = runCase(c);
    if (c["expect"].is_null()) {
      EXPECT_TRUE(o.ok) << o.message;
      continue;
    }
    ++errors;
    EXPECT_FALSE(o.ok) << "expected an error containing: " << c["expect"];
    EXPECT_FALSE(o.message.empty());
    EXPECT_NE(o.message.find(c["expect"].get<std::string>()), std::string::npos) << o.message;
    EXPECT_EQ(o.message.find("json.exception"), std::string::npos) << "a library exception leaked: " << o.message;
  }
  EXPECT_GE(errors, 60u);
}

}  // namespace
}  // namespace sc::model
