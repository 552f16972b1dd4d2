# sc_running_tasks: prints what shows that scagent tasks still run on this host, nothing if none.
# The rule (docs/install.md, "Removing"): a task runs while its network namespace
# /run/netns/sc-<task> exists, while the agent's state or runtime directory lists it
# (/var/lib/scagent/tasks/<task>, /run/scagent/tasks/<task>), or while any process runs as a uid
# of the default proxy range, 20000-85535 (scproxy, 20000, for proxies from before per-task uids;
# each task's proxy has its own above it, docs/security.md).
# (Inserted by scripts/package from packaging/tasks-running.sh; POSIX sh, no package files needed.)
sc_running_tasks() {
	sc_found=""
	for sc_p in /run/netns/sc-*; do
		[ -e "$sc_p" ] && sc_found="$sc_found netns:${sc_p##*/}"
	done
	for sc_p in /var/lib/scagent/tasks/*; do
		[ -e "$sc_p" ] && sc_found="$sc_found state:${sc_p##*/}"
	done
	for sc_p in /run/scagent/tasks/*; do
		[ -e "$sc_p" ] && sc_found="$sc_found runtime:${sc_p##*/}"
	done
	if [ -n "$(find /proc -mindepth 1 -maxdepth 1 -name '[0-9]*' -uid +19999 -uid -85536 -print -quit 2>/dev/null)" ]; then
		sc_found="$sc_found processes-of-proxy-uids"
	fi
	echo "${sc_found# }"
}
