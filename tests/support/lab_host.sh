# Sourced by the lab's tests (tests/e2e/lab_test.sh, tests/fault/lab_faults_test.sh): the root
# guard, the refusal to run beside a lab, and a snapshot of what the lab may leave on the host.

# Exit 77 (skipped) without root, or 1 under CI or SC_REQUIRE_ROOT.
require_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  if [ -n "${CI:-}" ] || { [ -n "${SC_REQUIRE_ROOT:-}" ] && [ "${SC_REQUIRE_ROOT}" != 0 ]; }; then
    echo "FAIL: root test cannot run in CI: not running as root" >&2; exit 1
  fi
  echo "SKIPPED: needs root (run the suite with sudo scripts/test)"; exit 77
}

# The test would take a running lab down: refuse.
refuse_beside_a_lab() {
  if [ -e /var/lib/scagent-lab ] || ip netns list | grep -q '^lab-'; then
    echo "FAIL: a lab runs on this host; stop it first: scripts/lab down" >&2; exit 1
  fi
}

# Namespaces, links, routes, the agent's rules, scagent cgroups, the lab's processes.
host_snapshot() {
  ip netns list | awk '{print $1}' | sort
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
  ip route show table all | grep -v 'table local' | sort
  iptables-save | grep -c -e 'SC_' -e 'sc:' || true
  find /sys/fs/cgroup -maxdepth 4 -name 'scagent*' | sort
  pgrep -x 'haproxy|scagent|sccontrol|etcd' | sort || true
}
