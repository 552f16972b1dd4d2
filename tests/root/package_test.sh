#!/usr/bin/env bash
# Root test of the packages (issue 7): installs what scripts/package built on this machine, checks
# every path, owner and mode against packaging/manifest, runs the installed programs, then removes
# and purges and checks that nothing is left. CTest runs it once per mode, serialized (one dpkg):
#
#   package_test.sh build   <src> <pkgdir> <builddir>  scripts/package into <pkgdir> (CTest fixture)
#   package_test.sh deb     <src> <pkgdir>   scagent .deb: layout, check-host, upgrade, purge rule, purge
#   package_test.sh rpm     <src> <pkgdir>   every .rpm: rpm -qlp / --dump / --scripts against the manifest
#   package_test.sh scripts <src> <pkgdir>   the maintainer scripts' systemd and no-systemd branches
#   package_test.sh sccontrol <src> <pkgdir> sccontrol .deb: layout, `sccontrol --version`, purge
#   package_test.sh execstart <src> <pkgdir> the installed unit's ExecStart run as systemd would
#
# Exit 0 passed, 1 failed, 77 skipped. A skip is never a pass: scripts/test counts it as a
# failure, and the message says what could not be checked. Without root the test skips, or fails
# when CI or SC_REQUIRE_ROOT is set (as tests/support/root_guard.h does).
set -uo pipefail
action=$1 src=$2 pkgdir=$3
manifest=$src/packaging/manifest

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
check() { # check <description> <command...>
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
  if [ "$failures" -ne 0 ]; then echo "$action: $failures check(s) failed" >&2; exit 1; fi
  echo "$action: all checks passed"; exit 0
}
skip() { echo "SKIPPED: $*"; exit 77; }
contains() { grep -q -F -- "$2" <<<"$1"; }  # contains <text> <fixed string>

if [ "$(id -u)" -ne 0 ]; then
  if [ -n "${CI:-}" ] || { [ -n "${SC_REQUIRE_ROOT:-}" ] && [ "${SC_REQUIRE_ROOT}" != 0 ]; }; then
    echo "FAIL: root test cannot run in CI: not running as root" >&2; exit 1
  fi
  skip "needs root (run the suite with sudo scripts/test)"
fi

rows() { awk -v p="$1" '!/^#/ && NF && $1 == p' "$manifest"; }
version() { cat "$pkgdir/VERSION"; }
deb_of() { ls "$pkgdir/$1"_*.deb 2>/dev/null | head -1; }
rpm_of() { ls "$pkgdir/$1"-[0-9]*.rpm 2>/dev/null | head -1; }

# Leaves the host as it was even when a check fails half-way: no package, no user, no test netns.
cppid=""
cpdir=""
cleanup() {
  local p
  if [ -n "$cppid" ]; then kill "$cppid" 2>/dev/null; wait "$cppid" 2>/dev/null || true; fi
  [ -n "$cpdir" ] && rm -rf "$cpdir"
  for p in sccontrol scagent; do
    if [[ -n "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" ]]; then
      SCAGENT_PURGE_FORCE=1 dpkg --purge "$p" >/dev/null 2>&1 || true
    fi
  done
  ip netns del "sc-pkgtest-$$" 2>/dev/null || true
  restore_run_dirs
}

# Empty runtime directories that existed before the test (other scagent work on this machine, e.g.
# /run/scagent/tasks) are deleted by the purge; put them back as they were.
saved_run_dirs=()
save_run_dirs() {
  local d
  while read -r d; do saved_run_dirs+=("$d"); done < <(find /run/scagent /run/sccontrol -type d -printf '%p %m %U %G\n' 2>/dev/null)
}
restore_run_dirs() {
  local entry d m u g
  for entry in "${saved_run_dirs[@]}"; do
    read -r d m u g <<<"$entry"
    [ -d "$d" ] || { mkdir -p "$d" && chmod "$m" "$d" && chown "$u:$g" "$d"; }
  done
}

# The host must not have the packages already: the test would remove an operator's install.
require_clean_host() {
  local p
  for p in scagent sccontrol; do
    if [[ -n "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" ]]; then
      echo "FAIL: package $p is already on this host ($(dpkg-query -W -f='${Status}' "$p")); the test installs and purges it, so remove it first" >&2
      exit 1
    fi
  done
  # The packages' configuration and state must not exist yet: the purge at the end deletes them.
  # (An empty runtime directory under /run may: the task checks below cover what it could hold.)
  local d
  for d in $(awk '!/^#/ && NF && ($2 == "tmpfiles" || $2 == "dir" || $2 == "conffile") && $3 !~ /^\/run\// { print $3 }' "$manifest"); do
    if [ -e "$d" ]; then
      echo "FAIL: $d exists before the packages are installed (another scagent on this host?); the test's purge would delete it" >&2
      exit 1
    fi
  done
  # The purge rule looks for sc-* namespaces and processes of the proxy uids (20000-85535): there
  # must be none yet.
  local others="" ns
  for ns in /run/netns/sc-* /run/scagent/tasks/*; do [ -e "$ns" ] && others="$others $ns"; done
  if [ -n "$others" ]; then
    echo "FAIL: this host already runs scagent tasks ($others ); the purge checks cannot run beside them" >&2
    exit 1
  fi
  # A proxy of a test that just finished may still be exiting (soft-stop): give it a moment.
  local left
  for _ in $(seq 1 50); do
    left=$(find /proc -mindepth 1 -maxdepth 1 -name '[0-9]*' -uid +19999 -uid -85536 -print 2>/dev/null)
    [ -z "$left" ] && break
    sleep 0.2
  done
  if [ -n "$left" ]; then
    for d in $left; do echo "  uid $(stat -c %u "$d" 2>/dev/null): ${d#/proc/} $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)" >&2; done
    echo "FAIL: processes of the proxy uids (20000-85535) run on this host; the purge checks cannot run beside them" >&2
    exit 1
  fi
}

mode_of() { printf '%04o' "0$(stat -c '%a' "$1")"; }

# check_installed <package>: every manifest row of the package is on the host as listed.
check_installed() {
  local pkg=$1 kind path mode owner group _
  while read -r _ kind path mode owner group _; do
    case "$kind" in
      file | conffile)
        if [ -f "$path" ] && [ ! -L "$path" ]; then
          check "$path is $mode $owner:$group" test "$(mode_of "$path") $(stat -c '%U:%G' "$path")" = "$mode $owner:$group"
        else
          fail "$path is missing or not a regular file"
        fi ;;
      dir | tmpfiles)
        if [ -d "$path" ]; then
          check "$path/ is $mode $owner:$group" test "$(mode_of "$path") $(stat -c '%U:%G' "$path")" = "$mode $owner:$group"
        else
          fail "$path/ is missing"
        fi ;;
      user)
        local pw gr
        pw=$(getent passwd "$path") || { fail "user $path is missing"; continue; }
        gr=$(getent group "$group") || { fail "group $group is missing"; continue; }
        check "user $path has a nologin shell" test "${pw##*:}" = /usr/sbin/nologin
        check "user $path's primary group is $group" test "$(echo "$pw" | cut -d: -f4)" = "$(echo "$gr" | cut -d: -f3)"
        if [ "$mode" != dynamic ]; then
          check "user $path has uid $mode" test "$(echo "$pw" | cut -d: -f3)" = "$mode"
          check "group $group has gid $mode" test "$(echo "$gr" | cut -d: -f3)" = "$mode"
        else
          check "user $path is a system user" test "$(echo "$pw" | cut -d: -f3)" -lt 1000
        fi ;;
    esac
  done < <(rows "$pkg")
  # The .deb's payload files are exactly the manifest's files.
  check "$pkg .deb payload files = manifest files" test \
    "$(dpkg-deb --fsys-tarfile "$(deb_of "$pkg")" | tar -t | grep -v '/$' | sed 's|^\.||' | sort)" = \
    "$(rows "$pkg" | awk '$2 == "file" || $2 == "conffile" { print $3 }' | sort)"
  check "$pkg conffiles registered with dpkg" test \
    "$(dpkg-query -W -f='${Conffiles}\n' "$pkg" | awk 'NF { print $1 }' | sort)" = \
    "$(rows "$pkg" | awk '$2 == "conffile" { print $3 }' | sort)"
  check "$pkg: installation enabled no unit" test -z "$(find /etc/systemd/system -name "$pkg.service" 2>/dev/null)"
  if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify $pkg.service (installed)" \
      systemd-analyze verify --man=no "/usr/lib/systemd/system/$pkg.service"
  fi
}

# check_removed <package>: after `dpkg --remove`, only what docs/install.md says stays.
check_removed() {
  local pkg=$1 kind path mode owner group _
  check "$pkg is in state config-files" test "$(dpkg-query -W -f='${Status}' "$pkg")" = "deinstall ok config-files"
  while read -r _ kind path mode owner group _; do
    case "$kind" in
      file) check "$path removed" test ! -e "$path" ;;
      conffile) check "$path kept on remove" test -f "$path" ;;
      tmpfiles) check "$path/ kept on remove" test -d "$path" ;;
      user) check "user $path kept on remove" getent passwd "$path" ;;
    esac
  done < <(rows "$pkg")
}

# check_purged <package>: nothing of the package is left.
check_purged() {
  local pkg=$1 kind path mode owner group _
  check "$pkg is unknown to dpkg" test -z "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)"
  while read -r _ kind path mode owner group _; do
    case "$kind" in
      user)
        check "user $path removed" test -z "$(getent passwd "$path")"
        check "group $group removed" test -z "$(getent group "$group")" ;;
      *) check "$path removed" test ! -e "$path" ;;
    esac
  done < <(rows "$pkg")
  check "no $pkg unit links or deb-systemd-helper state left" test -z \
    "$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name "*$pkg*" 2>/dev/null)"
  check "no ${pkg}.* backups left in /etc" test -z "$(find /etc -maxdepth 2 -name "*$pkg*" 2>/dev/null)"
}

case "$action" in
build)
  builddir=$4
  "$src/scripts/package" --out "$pkgdir" --build-dir "$builddir" || exit 1
  awk '{ print $1; exit }' "$builddir/packaging/version" >"$pkgdir/VERSION"
  exit 0 ;;

deb)
  deb=$(deb_of scagent)
  [ -n "$deb" ] || { echo "FAIL: no scagent .deb in $pkgdir (the build fixture failed?)" >&2; exit 1; }
  require_clean_host
  save_run_dirs
  trap cleanup EXIT
  echo "== install $deb"
  check "dpkg -i scagent" dpkg -i "$deb"
  depends=$(dpkg-query -W -f='${Depends}' scagent)
  for d in "haproxy (>= 2.4)" iptables iproute2 libcurl4; do
    check "Depends lists $d" contains "$depends" "$d"
  done
  check_installed scagent
  check "installed scagent version is $(version)" test "$(/usr/bin/scagent version)" = "scagent $(version)"
  check "installed scagent check-host passes on this host" /usr/bin/scagent check-host
  check "the shipped config parses (check-host --config /etc/scagent/config.json)" /usr/bin/scagent check-host --config /etc/scagent/config.json >/dev/null
  check "the shipped example parses (check-host --config .../examples/config.json)" \
    /usr/bin/scagent check-host --config /usr/share/doc/scagent/examples/config.json >/dev/null
  # The man page documents every command `scagent --help` lists.
  # The page is read once: a `zcat | grep -q` pipeline fails under pipefail whenever grep's early
  # exit hits zcat with SIGPIPE, which depends on the match's position and on timing.
  man_text=$(zcat /usr/share/man/man8/scagent.8.gz | sed 's/\\-/-/g')
  man_has() { grep -q -E "^\.B (scagent )?$1( |\$)" <<<"$man_text"; }
  for cmd in $(/usr/bin/scagent --help | awk '/^commands:/ { f = 1; next } f && /^  [a-z]/ { print $1 }'); do
    check "man page documents '$cmd'" man_has "$cmd"
  done

  echo "== upgrade (reinstall over itself: prerm upgrade, postinst configure <old version>)"
  echo '{"logLevel": "debug"}' >/etc/scagent/config.json
  check "dpkg -i over the installed package" dpkg -i --force-confold "$deb"
  check "the changed conffile is kept on upgrade" grep -q debug /etc/scagent/config.json
  check_installed scagent

  echo "== purge refused while a task runs"
  ip netns add "sc-pkgtest-$$"
  out=$(dpkg --purge scagent 2>&1); rc=$?
  check "dpkg --purge fails while /run/netns/sc-pkgtest-$$ exists" test "$rc" -ne 0
  check "the refusal says why" contains "$out" "refusing to purge: tasks still run on this host (netns:sc-pkgtest-$$)"
  check "nothing was removed" test -x /usr/bin/scagent -a -f /etc/scagent/config.json -a -d /var/lib/scagent
  echo scagent install | dpkg --set-selections

  echo "== remove (a task still runs: allowed, the task is left alone)"
  out=$(dpkg --remove scagent 2>&1); rc=$?
  check "dpkg --remove succeeds" test "$rc" -eq 0
  check "removal notes the running task" contains "$out" "tasks keep running after removal (netns:sc-pkgtest-$$)"
  check "the task's namespace is untouched" test -e "/run/netns/sc-pkgtest-$$"
  check_removed scagent
  out=$(dpkg --purge scagent 2>&1); rc=$?
  check "purge of the removed package is refused while the task runs" test "$rc" -ne 0
  check "state and user are kept by the refused purge" test -d /var/lib/scagent -a -n "$(getent passwd scproxy)"
  ip netns del "sc-pkgtest-$$"

  echo "== purge"
  check "dpkg --purge succeeds once no task runs" dpkg --purge scagent
  check_purged scagent
  finish ;;

sccontrol)
  deb=$(deb_of sccontrol)
  [ -n "$deb" ] || skip "NOT CHECKABLE YET: this tree builds no sccontrol binary (issue 5), so there is no sccontrol package; its install layout, \`sccontrol --version\` and purge are not checked"
  require_clean_host
  save_run_dirs
  trap cleanup EXIT
  check "dpkg -i sccontrol" dpkg -i "$deb"
  check_installed sccontrol
  check "installed sccontrol --version names $(version)" contains "$(/usr/bin/sccontrol --version)" "$(version)"
  check "dpkg --remove sccontrol" dpkg --remove sccontrol
  check_removed sccontrol
  check "dpkg --purge sccontrol" dpkg --purge sccontrol
  check_purged sccontrol
  finish ;;

execstart)
  deb=$(deb_of scagent)
  [ -n "$deb" ] || { echo "FAIL: no scagent .deb in $pkgdir" >&2; exit 1; }
  require_clean_host
  save_run_dirs
  trap cleanup EXIT
  dpkg -i "$deb" >/dev/null || { echo "FAIL: dpkg -i scagent" >&2; exit 1; }
  unit=/usr/lib/systemd/system/scagent.service
  execstart=$(sed -n 's/^ExecStart=[-@:+!]*//p' "$unit")
  read -r -a argv <<<"$execstart"
  echo "ExecStart: ${argv[*]}"
  if ! grep -q '^  run' <<<"$("${argv[0]}" --help)"; then
    skip "NOT CHECKABLE YET: \`${argv[0]} run\` does not exist yet (issue 6); the unit's ExecStart ($execstart) was not run"
  fi
  sdeb=$(deb_of sccontrol)
  [ -n "$sdeb" ] || { echo "FAIL: no sccontrol .deb in $pkgdir (the agent needs a control plane to register)" >&2; exit 1; }
  dpkg -i "$sdeb" >/dev/null || { echo "FAIL: dpkg -i sccontrol" >&2; exit 1; }
  # A control plane to register with: the installed sccontrol on a free loopback port, with the
  # cluster the shipped configuration names ("default") and the bootstrap token it generated.
  cpdir=$(mktemp -d)
  /usr/bin/sccontrol --listen 127.0.0.1:0 --port-file "$cpdir/port" --data-dir "$cpdir/data" >"$cpdir/log" 2>&1 &
  cppid=$!
  for _ in $(seq 1 100); do [ -s "$cpdir/port" ] && break; sleep 0.1; done
  [ -s "$cpdir/port" ] || { echo "FAIL: sccontrol did not start: $(cat "$cpdir/log")" >&2; exit 1; }
  endpoint="http://127.0.0.1:$(cat "$cpdir/port")"
  export AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accessKeys"][0]["id"])' "$cpdir/data/credentials")
  export AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accessKeys"][0]["secret"])' "$cpdir/data/credentials")
  export AWS_DEFAULT_REGION=us-east-1
  aws ecs create-cluster --cluster-name default --endpoint-url "$endpoint" >/dev/null || { echo "FAIL: create-cluster" >&2; exit 1; }
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrapToken"])' "$cpdir/data/credentials" >/etc/scagent/bootstrap-token
  chmod 0600 /etc/scagent/bootstrap-token
  printf '{"controlPlane": {"endpoint": "%s", "bootstrapTokenFile": "/etc/scagent/bootstrap-token"}, "metricsListen": "unix:%s"}\n' \
    "$endpoint" "$cpdir/metrics.sock" >/etc/scagent/config.json
  export SC_METRICS_SOCK="$cpdir/metrics.sock"
  # As systemd would: clean environment, cwd /, stdin /dev/null, NOTIFY_SOCKET and the watchdog
  # variables set; wait for READY=1, then SIGTERM (KillMode=process) and a clean exit.
  check "ExecStart starts, notifies READY=1, serves /metrics and stops on SIGTERM" python3 - "${argv[@]}" <<'PY'
import os, shutil, signal, socket, subprocess, sys, tempfile, time
d = tempfile.mkdtemp()
path = os.path.join(d, "notify")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(1.0)
env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG": "C.UTF-8",
       "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "INVOCATION_ID": "0" * 32,
       "STATE_DIRECTORY": "/var/lib/scagent"}
p = subprocess.Popen(sys.argv[1:], cwd="/", env=env, stdin=subprocess.DEVNULL)
try:
    ready, deadline = False, time.time() + 30
    while time.time() < deadline and p.poll() is None and not ready:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        print("sd_notify:", msg.replace("\n", " "))
        ready = "READY=1" in msg.split("\n")
    if not ready:
        print("no READY=1 within 30 s; exit status", p.poll())
        sys.exit(1)
    page = subprocess.run(["curl", "-sf", "--max-time", "5", "--unix-socket", os.environ["SC_METRICS_SOCK"],
                           "http://localhost/metrics"], capture_output=True, text=True)
    if "scagent_control_plane_up" not in page.stdout:
        print("no agent metrics on", os.environ["SC_METRICS_SOCK"], page.returncode, page.stdout[:500])
        sys.exit(1)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    print("exit status after SIGTERM:", rc)
    sys.exit(0 if rc == 0 else 1)
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
    shutil.rmtree(d, ignore_errors=True)
PY
  instances=$(aws ecs list-container-instances --cluster default --endpoint-url "$endpoint" --query 'length(containerInstanceArns)' --output text 2>&1)
  check "the agent registered with sccontrol (list-container-instances: $instances)" test "$instances" = 1
  rm -f /etc/scagent/bootstrap-token
  finish ;;

scripts)
  # The maintainer scripts' systemd branch, which this machine (no systemd as PID 1) never takes in
  # the install test: each script runs in a private mount namespace where /run/systemd/system
  # exists (or does not), with systemctl, deb-systemd-* and the sysusers/tmpfiles tools replaced
  # by recorders. The recorded calls must say: installing enables and starts nothing, an upgrade
  # try-restarts, a removal stops, and without systemd no unit is touched.
  deb=$(deb_of scagent)
  rpmf=$(rpm_of scagent)
  [ -n "$deb" ] && [ -n "$rpmf" ] || { echo "FAIL: no scagent .deb or .rpm in $pkgdir" >&2; exit 1; }
  require_clean_host
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  dpkg-deb -e "$deb" "$work/deb"
  for tag in POSTIN PREUN POSTUN; do rpm -qp --qf "%{$tag}" "$rpmf" 2>/dev/null >"$work/rpm.$tag"; done
  mkdir "$work/bin"
  for tool in systemctl deb-systemd-invoke deb-systemd-helper systemd-sysusers systemd-tmpfiles userdel groupdel; do
    printf '#!/bin/sh\necho "%s $*" >>"$SC_CALLS"\n' "$tool" >"$work/bin/$tool"
  done
  printf '#!/bin/sh\necho "$SC_WANT"\n' >"$work/bin/dpkg-query"
  chmod 0755 "$work/bin"/*
  # calls <systemd yes|no> <want> <script> <args...>: the commands the script ran, one a line.
  calls() {
    local sd=$1 want=$2; shift 2
    : >"$work/calls"
    SC_CALLS=$work/calls SC_WANT=$want SC_SD=$sd PATH="$work/bin:$PATH" \
      unshare --mount --propagation private sh -c \
      'mkdir -p /run/systemd && mount -t tmpfs sc-pkgtest /run/systemd && { [ "$SC_SD" = no ] || mkdir /run/systemd/system; } && exec sh "$@"' \
      sh "$@" >/dev/null 2>&1 || echo "exit-status-nonzero"
    cat "$work/calls"
  }
  has_call() { grep -q -x -F -- "$2" <<<"$1"; }
  no_call_re() { ! grep -q -E -- "$2" <<<"$1"; }

  echo "== deb, systemd running"
  c=$(calls yes install "$work/deb/postinst" configure)
  check "deb fresh install: creates scproxy (sysusers.d)" has_call "$c" "systemd-sysusers /usr/lib/sysusers.d/scagent.conf"
  check "deb fresh install: creates its directories (tmpfiles.d)" has_call "$c" "systemd-tmpfiles --create /usr/lib/tmpfiles.d/scagent.conf"
  check "deb fresh install: enables and starts nothing" no_call_re "$c" "enable|start|restart|preset|exit-status"
  c=$(calls yes install "$work/deb/prerm" upgrade "$(version)")
  check "deb upgrade, old prerm: leaves the agent running" no_call_re "$c" "stop|exit-status"
  c=$(calls yes install "$work/deb/postinst" configure "$(version)")
  check "deb upgrade, new postinst: try-restarts the agent" has_call "$c" "deb-systemd-invoke try-restart scagent.service"
  check "deb upgrade: never a plain restart, start or enable" no_call_re "$c" " (restart|start|enable)|exit-status"
  c=$(calls yes remove "$work/deb/prerm" remove)
  check "deb remove: stops the agent" has_call "$c" "deb-systemd-invoke stop scagent.service"
  c=$(calls yes remove "$work/deb/postrm" remove)
  check "deb remove: reloads systemd" has_call "$c" "systemctl --system daemon-reload"
  echo "== deb, no systemd"
  for step in "postinst configure" "postinst configure $(version)" "prerm remove" "postrm remove"; do
    # shellcheck disable=SC2086  # the step is a script name and its arguments
    c=$(calls no install "$work/deb/${step%% *}" ${step#* })
    check "deb $step without systemd: no systemctl, no unit action" no_call_re "$c" "^(systemctl|deb-systemd-invoke) |exit-status"
    case "$step" in postinst*) check "deb $step without systemd: still creates scproxy" has_call "$c" "systemd-sysusers /usr/lib/sysusers.d/scagent.conf" ;; esac
  done
  echo "== rpm, systemd running"
  c=$(calls yes - "$work/rpm.POSTIN" 1)
  check "rpm install: creates scproxy (sysusers.d)" has_call "$c" "systemd-sysusers /usr/lib/sysusers.d/scagent.conf"
  check "rpm install: enables and starts nothing" no_call_re "$c" "enable|start|preset|exit-status"
  c=$(calls yes - "$work/rpm.PREUN" 1)
  check "rpm upgrade, old %preun: leaves the agent running" no_call_re "$c" "stop|exit-status"
  c=$(calls yes - "$work/rpm.POSTUN" 1)
  check "rpm upgrade, old %postun: try-restarts the agent" has_call "$c" "systemctl try-restart scagent.service"
  c=$(calls yes - "$work/rpm.PREUN" 0)
  check "rpm erase: stops the agent" has_call "$c" "systemctl stop scagent.service"
  c=$(calls yes - "$work/rpm.POSTUN" 0)
  check "rpm erase: no restart after the package is gone" no_call_re "$c" "try-restart|exit-status"
  echo "== rpm, no systemd"
  for step in "POSTIN 1" "PREUN 0" "POSTUN 1"; do
    c=$(calls no - "$work/rpm.${step% *}" "${step#* }")
    check "rpm %${step% *} $((${step#* })) without systemd: no systemctl" no_call_re "$c" "^systemctl |exit-status"
  done
  c=$(calls no - "$work/rpm.POSTIN" 1)
  check "rpm %POSTIN without systemd: still creates scproxy" has_call "$c" "systemd-sysusers /usr/lib/sysusers.d/scagent.conf"
  finish ;;

rpm)
  found=0
  for pkg in scagent sccontrol; do
    rpmf=$(rpm_of "$pkg")
    [ -n "$rpmf" ] || continue
    found=1
    echo "== $rpmf"
    check "$pkg rpm version is $(version)" test "$(rpm -qp --qf '%{VERSION}' "$rpmf" 2>/dev/null)" = "$(version)"
    check "rpm -qlp $pkg = manifest payload" test \
      "$(rpm -qlp "$rpmf" 2>/dev/null | sort)" = \
      "$(rows "$pkg" | awk '$2 == "file" || $2 == "conffile" || $2 == "dir" { print $3 }' | sort)"
    check "rpm -qcp $pkg = manifest conffiles" test \
      "$(rpm -qcp "$rpmf" 2>/dev/null | sort)" = "$(rows "$pkg" | awk '$2 == "conffile" { print $3 }' | sort)"
    # --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink
    dump=$(rpm -qp --dump "$rpmf" 2>/dev/null)
    while read -r _ kind path mode owner group _; do
      case "$kind" in file | conffile | dir) ;; *) continue ;; esac
      got=$(awk -v p="$path" '$1 == p { printf "%s %s:%s", substr($5, length($5) - 3), $6, $7 }' <<<"$dump")
      check "$pkg rpm: $path is $mode $owner:$group" test "$got" = "$mode $owner:$group"
    done < <(rows "$pkg")
    scripts=$(rpm -qp --scripts "$rpmf" 2>/dev/null)
    has() { grep -q -F -- "$1" <<<"$scripts"; }
    lacks_re() { ! grep -E -q -- "$1" <<<"$scripts"; }
    check "$pkg rpm %post creates its users (sysusers.d)" has "systemd-sysusers /usr/lib/sysusers.d/$pkg.conf"
    check "$pkg rpm %post creates its directories (tmpfiles.d)" has "systemd-tmpfiles --create /usr/lib/tmpfiles.d/$pkg.conf"
    check "$pkg rpm %preun stops the service on erase" has "systemctl stop $pkg.service"
    check "$pkg rpm %postun try-restarts on upgrade" has "systemctl try-restart $pkg.service"
    check "$pkg rpm scripts act only when systemd runs" has "[ -d /run/systemd/system ]"
    check "$pkg rpm scripts never enable or start the unit" lacks_re 'systemctl (enable|start|preset)'
    if [ "$pkg" = scagent ]; then
      check "scagent rpm %preun knows the running-tasks rule" has "/run/netns/sc-*"
      req=$(rpm -qp --requires "$rpmf" 2>/dev/null)
      for r in "haproxy >= 2.4" iptables iproute "libcurl.so.4()(64bit)"; do
        check "scagent rpm requires $r" grep -q -x -F -- "$r" <<<"$req"
      done
    fi
  done
  [ "$found" = 1 ] || { echo "FAIL: no .rpm in $pkgdir" >&2; exit 1; }
  finish ;;

*) echo "usage: package_test.sh build|deb|rpm|scripts|sccontrol|execstart <src> <pkgdir> [builddir]" >&2; exit 2 ;;
esac
