#!/usr/bin/env bash
# e2e test of docs/quickstart.md (issue 19): starts the demo with this build's binaries
# (SC_DEMO_BUILD=<build> scripts/demo), runs every command block the page marks with
# `<!-- quickstart-test: run -->`, in page order and in one shell (`set -euo pipefail`, with
# build/release/ read as <build>/), then `scripts/demo --down`, and checks that the host is as it
# was: namespaces, sc* links, SC_ and sc: iptables rules, scagent cgroups, /run/scagent, the demo's
# processes and state directory, the page's /tmp files.
#
#   quickstart_test.sh <source dir> <build dir>
#
# Exit 0 passed, 1 failed, 77 skipped (no root; a failure under CI or SC_REQUIRE_ROOT, as
# tests/root/package_test.sh). Runs alone (RUN_SERIAL): the demo uses fixed names (scbr0, ports 8500
# and 9464, /var/lib/scagent-demo).
set -uo pipefail
src=$1 build=$2
page=$src/docs/quickstart.md
demo_dir=/var/lib/scagent-demo
page_files=(/tmp/hello-task-definition.json /tmp/hello-service.json)

if [ "$(id -u)" -ne 0 ]; then
  if [ -n "${CI:-}" ] || { [ -n "${SC_REQUIRE_ROOT:-}" ] && [ "${SC_REQUIRE_ROOT}" != 0 ]; }; then
    echo "FAIL: root test cannot run in CI: not running as root" >&2; exit 1
  fi
  echo "SKIPPED: needs root (run the suite with sudo scripts/test)"; exit 77
fi

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# Refuse to run beside a demo or a user's quickstart files: the test would stop or delete them.
if [ -e "$demo_dir" ]; then
  echo "FAIL: a demo runs on this host ($demo_dir); stop it first: scripts/demo --down" >&2; exit 1
fi
for f in "${page_files[@]}"; do
  [ -e "$f" ] && { echo "FAIL: $f exists (a quickstart run by hand?); remove it first" >&2; exit 1; }
done

# The blocks: a ```sh fence right after the marker line, up to the closing fence.
script=$(awk '
  /^<!-- quickstart-test: run -->$/ { marked = 1; next }
  marked && /^```sh$/ { inblock = 1; marked = 0; n++; printf "\n# --- block %d\n", n; next }
  inblock && /^```$/ { inblock = 0; next }
  inblock { print; next }
  { marked = 0 }
  END { if (inblock) exit 1 }' "$page") || { echo "FAIL: an unclosed marked block in $page" >&2; exit 1; }
blocks=$(grep -c '^# --- block ' <<<"$script")
# The page marks 15 blocks: another count means a marker was lost or added (then update it here).
if [ "$blocks" -ne 15 ]; then
  echo "FAIL: $blocks marked blocks in $page, expected 15" >&2; exit 1
fi
script=${script//build\/release\//$build/}

host_state() {
  echo "netns: $(ip netns list | awk '{print $1}' | sort | tr '\n' ' ')"
  echo "links: $(ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep '^sc' | sort | tr '\n' ' ')"
  echo "rules: $(iptables-save | grep -cE 'SC_|sc:')"
  echo "cgroups: $(find /sys/fs/cgroup -maxdepth 3 -name '*scagent*' 2>/dev/null | sort | tr '\n' ' ')"
  echo "run dir: $([ -e /run/scagent ] && echo present || echo absent)"
  echo "demo processes: $(pgrep -f -- "$demo_dir|/run/scagent/tasks/" | wc -l)"
}
before=$(host_state)

work=$(mktemp -d)
cleanup() {
  if [ -e "$demo_dir" ]; then
    (cd "$src" && SC_DEMO_BUILD=$build scripts/demo --down) >"$work/down.log" 2>&1 || fail "scripts/demo --down: $(tail -5 "$work/down.log")"
  fi
  rm -f "${page_files[@]}"
  rm -rf "$work"
}
trap cleanup EXIT

cd "$src" || exit 1
if SC_DEMO_BUILD=$build scripts/demo >"$work/demo.log" 2>&1; then
  pass "scripts/demo started the demo"
else
  fail "scripts/demo: $(tail -20 "$work/demo.log")"
  exit 1
fi

printf 'set -euo pipefail\n%s\n' "$script" >"$work/page.sh"
if timeout 240 bash "$work/page.sh" >"$work/page.out" 2>"$work/page.err"; then
  pass "the $blocks marked blocks of docs/quickstart.md ran"
else
  fail "the page's commands failed (exit $?); the script, its stdout and its stderr follow"
  cat -n "$work/page.sh" >&2
  echo "--- stdout" >&2; cat "$work/page.out" >&2
  echo "--- stderr" >&2; cat "$work/page.err" >&2
fi
out=$(cat "$work/page.out")

# What the page says the commands print.
contains() { grep -qE -- "$1" <<<"$out"; }
contains '^db task [0-9a-f]{32}$' && pass "db answers from inside the web task" || fail "no 'db task <id>' answer"
contains '^ready$' && pass "the proxy's /ready" || fail "no 'ready' from the web task's http.sock"
[ "$(grep -c '^haproxy_backend_http_responses_total{proxy="egress_db_81",code="2xx"} [0-9]' <<<"$out")" = 1 ] &&
  pass "the proxy page's grep prints its one line" || fail "the proxy page's grep did not print exactly one line"
[ "$(grep -c '^haproxy_backend_http_responses_total{.*service="web".*proxy="egress_db_81",code="2xx"} [0-9]' <<<"$out")" = 1 ] &&
  contains '^scagent_tasks\{state="RUNNING"\} 4$' && pass "the agent page's grep prints its two lines" ||
  fail "the agent page's grep did not print scagent_tasks RUNNING 4 and one web 2xx line"
[ "$(grep -cE '^ +2 db task [0-9a-f]{32}$' <<<"$out")" = 5 ] && pass "five db tasks answer after the scale-out" ||
  fail "not five db tasks answering twice each after the scale-out"
contains '^curl: exit 6$' && pass "the old web task does not know hello" || fail "no 'curl: exit 6' from the old web task"
contains '^hello from [0-9a-f]{32}$' && pass "the new web task reaches hello" || fail "no 'hello from <id>' answer"
[ "$(grep -c '^db task ' <<<"$out")" -ge 2 ] || fail "the last block's request from the remaining web task got no answer"

cleanup
trap - EXIT
after=$(host_state)
if [ "$before" = "$after" ]; then
  pass "nothing left behind"
else
  fail "the host differs after the demo: before / after"
  diff <(echo "$before") <(echo "$after") >&2
fi
[ ! -e "$demo_dir" ] || fail "$demo_dir is still there"
for f in "${page_files[@]}"; do [ ! -e "$f" ] || fail "$f is still there"; done

if [ "$failures" -ne 0 ]; then echo "quickstart: $failures check(s) failed" >&2; exit 1; fi
echo "quickstart: all checks passed"
