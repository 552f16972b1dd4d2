#!/usr/bin/env bash
# The short version of the fault suite (docs/fault-injection.md) over a fresh lab with this build:
# scripts/lab up, `scripts/faults run` of the scenarios below with 8 s faults, scripts/lab down, and
# a check that the host is as before. The full suite (every scenario, 60 s faults) is
# `scripts/faults run` by hand.
#
#   lab_faults_test.sh <source dir> <build dir>
#
# Exit 0 passed, 1 failed, 77 skipped (no root; a failure under CI or SC_REQUIRE_ROOT). Runs alone
# (RUN_SERIAL), like tests/e2e/lab_test.sh.
set -uo pipefail
src=$1 build=$2
scenarios=(agent-kill proxy-kill host-partition controlplane-partition etcd-member-kill etcd-quorum-loss packet-loss)

. "$src/tests/support/lab_host.sh"
require_root
refuse_beside_a_lab
export SC_LAB_BUILD=$build
tmp=$(mktemp -d)
trap '"$src/scripts/lab" down >/dev/null 2>&1; rm -rf "$tmp"' EXIT
host_snapshot >"$tmp/before"
"$src/scripts/lab" up >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log" >&2; echo "FAIL: scripts/lab up" >&2; exit 1; }
"$src/scripts/faults" run "${scenarios[@]}" --duration 8 --report "$tmp/report.json"
rc=$?
jq -c '.scenarios[] | {name, requests, failed, max_gap_s, recovery_s, passed, reason, leaked}' "$tmp/report.json" || rc=1
[ "$(jq '.scenarios | length' "$tmp/report.json")" = "${#scenarios[@]}" ] || { echo "FAIL: not every scenario reported" >&2; rc=1; }
"$src/scripts/lab" down >"$tmp/down.log" 2>&1 || { cat "$tmp/down.log" >&2; echo "FAIL: scripts/lab down" >&2; rc=1; }
host_snapshot >"$tmp/after"
diff "$tmp/before" "$tmp/after" || { echo "FAIL: the lab left something behind" >&2; rc=1; }
[ $rc = 0 ] && echo "all scenarios within their bounds; nothing left behind"
exit $rc
