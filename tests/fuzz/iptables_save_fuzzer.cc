// The `iptables-save` parser (netns/rules.h: parseIptablesSave): it reads what the kernel holds,
// including rules other programs wrote, to find the agent's own and delete them. Invariants, for
// each table:
//   - no crash, no sanitizer report;
//   - every rule it returns belongs to the table asked for;
//   - what it returns, written out again as iptables-save text, parses to the same chains and rules;
//   - the deletion text for those rules holds exactly one line per rule and two per dropped chain
//     (plus the table header and COMMIT): no input smuggles another line into iptables-restore.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "netns/rules.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using sc::netns::SavedRule;
using sc::netns::SavedTable;
using sc::netns::Table;

std::string renderSave(const SavedTable& t, Table table) {
  std::string out = std::string("*") + sc::netns::tableName(table) + "\n";
  for (const std::string& c : t.chains) out += ":" + c + " - [0:0]\n";
  for (const SavedRule& r : t.rules) out += "-A " + r.chain + " " + r.spec + "\n";
  return out + "COMMIT\n";
}

bool sameRules(const std::vector<SavedRule>& a, const std::vector<SavedRule>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const SavedRule& x, const SavedRule& y) {
    return x.table == y.table && x.chain == y.chain && x.spec == y.spec && x.comment == y.comment;
  });
}

void checkTable(const std::string& text, Table table) {
  const SavedTable t = sc::netns::parseIptablesSave(text, table);
  for (const SavedRule& r : t.rules) FUZZ_CHECK(r.table == table, "a rule of another table");

  const std::string again_text = renderSave(t, table);
  const SavedTable again = sc::netns::parseIptablesSave(again_text, table);
  FUZZ_CHECK(again.chains == t.chains, "chains change when written out and read back:\n" + again_text);
  FUZZ_CHECK(sameRules(again.rules, t.rules), "rules change when written out and read back:\n" + again_text);

  const std::string del = sc::netns::renderDeleteSaved(t.rules, table, t.chains);
  const size_t lines = static_cast<size_t>(std::count(del.begin(), del.end(), '\n'));
  const size_t body = t.rules.size() + 2 * t.chains.size();
  FUZZ_CHECK(lines == (body == 0 ? 0 : body + 2), "the deletion text has extra lines:\n" + del);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  checkTable(text, Table::kNat);
  checkTable(text, Table::kFilter);
  return 0;
}
