#!/usr/bin/env bash
# e2e test of the multi-host lab (scripts/lab) with this build's binaries: 3 hosts, 3 etcd members,
# sccontrol on etcd, everything driven by the real aws CLI. Shows that
#   * `curl http://db:81` from the web task on one host is answered by db tasks on every host, for
#     an awsvpc service (host-gw routes between the hosts' task subnets) and for a bridge-mode one
#     (host address and host port);
#   * a db task added on another host is balanced at once;
#   * killing one etcd member changes nothing a user sees (API and traffic);
#   * a SIGKILLed agent restarted adopts its tasks (none restarted);
#   * after `scripts/lab down` the host is as before (namespaces, links, routes, SC_/sc: rules,
#     scagent cgroups, processes, the lab's directory).
#
#   lab_test.sh <source dir> <build dir>
#
# Exit 0 passed, 1 failed, 77 skipped (no root; a failure under CI or SC_REQUIRE_ROOT). Runs alone
# (RUN_SERIAL): the lab uses fixed names (lab-*, /var/lib/scagent-lab, 10.99.0.0/24).
set -uo pipefail
src=$1 build=$2
lab_dir=/var/lib/scagent-lab

. "$src/tests/support/lab_host.sh"
require_root
refuse_beside_a_lab

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
lab() { SC_LAB_BUILD=$build "$src/scripts/lab" "$@"; }
tmp=$(mktemp -d)
trap 'lab down >/dev/null 2>&1; rm -rf "$tmp"' EXIT

host_snapshot >"$tmp/before"

# Which tasks answered `curl URL` from the web task, N times: their ids, sorted, unique.
answers() {
  local url=$1 n=$2 web
  web=$(lab status --json | jq -r '.tasks[] | select(.service == "web" and .lastStatus == "RUNNING") | .task')
  for _ in $(seq 1 "$n"); do lab exec "$web" curl -s --max-time 2 "$url" || true; echo; done |
    awk '/task/ {print $NF}' | sort -u
}
ids_of() { lab status --json | jq -r --arg s "$1" '.tasks[] | select(.service == $s and .lastStatus == "RUNNING") | .task' | sort; }
hosts_of() { lab status --json | jq -r --arg s "$1" '.tasks[] | select(.service == $s and .lastStatus == "RUNNING") | .host' | sort -u | wc -l; }

if ! lab up --hosts 3 --etcd 3 >"$tmp/up.log" 2>&1; then
  cat "$tmp/up.log" >&2
  fail "scripts/lab up"
  exit 1
fi
pass "lab up"
[ "$(lab status --json | jq '[.hosts[], .etcd[], .controlPlanes[]] | map(select(.up)) | length')" = 7 ] &&
  pass "3 hosts, 3 etcd members and a control plane are up" || fail "status: $(lab status --json)"

# A bridge-mode service beside the demo's awsvpc db, created first so that web's proxy knows both.
cat >"$tmp/dbb-td.json" <<'JSON'
{"family": "dbb", "networkMode": "bridge", "requiresCompatibilities": ["EC2"], "memory": "192", "cpu": "512",
 "containerDefinitions": [{"name": "app", "image": "busybox-httpd", "essential": true, "memory": 64, "cpu": 128,
   "stopTimeout": 5,
   "command": ["/bin/sh", "-c", "mkdir -p /tmp/www && echo \"dbb task $SC_TASK_ID\" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"],
   "portMappings": [{"name": "http", "containerPort": 8080, "hostPort": 0, "protocol": "tcp", "appProtocol": "http"}]}]}
JSON
lab aws ecs register-task-definition --cli-input-json "file://$tmp/dbb-td.json" >/dev/null || fail "register dbb"
lab aws ecs create-service --cluster demo --service-name dbb --task-definition dbb --desired-count 3 \
  --placement-strategy type=spread,field=instanceId \
  --service-connect-configuration '{"enabled": true, "namespace": "demo", "services": [{"portName": "http",
    "discoveryName": "dbb", "clientAliases": [{"dnsName": "dbb", "port": 82}]}]}' >/dev/null || fail "create dbb"
if lab demo >"$tmp/demo.log" 2>&1; then pass "lab demo (db and web)"; else cat "$tmp/demo.log" >&2; fail "scripts/lab demo"; fi
for _ in $(seq 1 100); do [ "$(ids_of dbb | wc -l)" = 3 ] && break; sleep 0.3; done

[ "$(hosts_of db)" = 3 ] && pass "db's 3 tasks are spread over the 3 hosts" || fail "db on $(hosts_of db) hosts"
[ "$(hosts_of dbb)" = 3 ] && pass "dbb's 3 tasks are spread over the 3 hosts" || fail "dbb on $(hosts_of dbb) hosts"
got=$(answers http://db:81/ 12)
[ "$got" = "$(ids_of db)" ] && pass "awsvpc: http://db:81 from web is answered by the db tasks of every host" ||
  fail "awsvpc: answers '$got' want '$(ids_of db)'"
got=$(answers http://dbb:82/ 12)
[ "$got" = "$(ids_of dbb)" ] && pass "bridge: http://dbb:82 from web is answered by the dbb tasks of every host" ||
  fail "bridge: answers '$got' want '$(ids_of dbb)'"
# The routes between the hosts are the agents' (proto 83), one per other host.
[ "$(ip -n lab-h1 route show proto 83 | wc -l)" = 2 ] && pass "h1 routes to the 2 other hosts' task subnets" ||
  fail "h1 routes: $(ip -n lab-h1 route show proto 83)"

# A fourth db task: balanced at once.
lab aws ecs update-service --cluster demo --service db --desired-count 4 >/dev/null || fail "scale db"
for _ in $(seq 1 100); do [ "$(ids_of db | wc -l)" = 4 ] && break; sleep 0.3; done
got=""
for _ in $(seq 1 20); do
  got=$(answers http://db:81/ 12)
  [ "$got" = "$(ids_of db)" ] && break
  sleep 0.5
done
[ "$(echo "$got" | wc -l)" = 4 ] && pass "a fourth db task answers too" || fail "after scaling: '$got'"

# One etcd member killed: the API and the traffic as before.
lab kill e3 >/dev/null
lab aws ecs describe-services --cluster demo --services db --query 'services[0].runningCount' --output text >"$tmp/rc" 2>&1 &&
  [ "$(cat "$tmp/rc")" = 4 ] && pass "one etcd member down: the API answers" || fail "API with e3 down: $(cat "$tmp/rc")"
lab aws ecs update-service --cluster demo --service db --desired-count 3 >/dev/null && pass "one etcd member down: writes work" ||
  fail "update with e3 down"
for _ in $(seq 1 100); do [ "$(ids_of db | wc -l)" = 3 ] && break; sleep 0.3; done
got=$(answers http://db:81/ 9)
[ "$got" = "$(ids_of db)" ] && pass "one etcd member down: traffic balanced over the 3 db tasks" || fail "traffic with e3 down: '$got'"
lab start e3 >/dev/null

# An agent SIGKILLed and restarted: its tasks adopted, none restarted.
before=$(lab status --json | jq -r '.tasks[] | select(.host == "h2") | .task' | sort)
lab kill h2 >/dev/null
lab start h2 >/dev/null
for _ in $(seq 1 100); do grep -q '"msg":"task adopted"' "$lab_dir/h2.log" && break; sleep 0.2; done
sleep 2
after=$(lab status --json | jq -r '.tasks[] | select(.host == "h2" and .lastStatus == "RUNNING") | .task' | sort)
[ -n "$before" ] && [ "$before" = "$after" ] && pass "a restarted agent keeps its tasks ($(echo "$before" | wc -l))" ||
  fail "h2's tasks before '$before' after '$after'"
[ "$(grep -c '"msg":"task adopted"' "$lab_dir/h2.log")" = "$(echo "$before" | wc -l)" ] &&
  pass "each of h2's tasks was adopted" || fail "adoptions: $(grep -c '"msg":"task adopted"' "$lab_dir/h2.log")"

if lab down >"$tmp/down.log" 2>&1; then pass "lab down"; else cat "$tmp/down.log" >&2; fail "scripts/lab down"; fi
host_snapshot >"$tmp/after"
if diff "$tmp/before" "$tmp/after" >"$tmp/diff"; then pass "the host is as before"; else fail "left behind: $(cat "$tmp/diff")"; fi

[ "$failures" = 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "all checks passed"
