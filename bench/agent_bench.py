#!/usr/bin/env python3
"""Host agent benchmarks (root). Prints figures; never passes or fails on time.

Runs a private sccontrol and a private `scagent run` on this machine and drives them with the
ECS/Cloud Map API (botocore, the aws CLI's own library), then reads the agent's JSON log, its
state directory, /proc and each proxy's HAProxy runtime API (admin.sock). Phases:

  start        desired-to-RUNNING per task: a service is scaled up by one task at a time
               (--start-tasks times); per task, from the agent's first log line for the task
               (`task PROVISIONING`) to `task RUNNING` (the proxy is HEALTHY by then), and from
               UpdateService returning to DescribeTasks showing RUNNING + HEALTHY.
               Baseline (same run): `bench_proxy launch` (one bare proxy launch-to-HEALTHY).
  propagation  --web client tasks run; db is scaled up by one (then back down) --rounds times;
               per new db task, from its `task RUNNING` log line (and from the moment Cloud Map
               DiscoverInstances first returns it) until the egress backend of every web proxy
               lists it (address set, not in maintenance). Removal the same way, from
               `task DEACTIVATING`. Baseline: one DiscoverInstances round trip and one runtime
               API `show servers state` round trip.
  idle         --idle-tasks tasks on the host; agent VmRSS and CPU (utime+stime) over
               --idle-seconds with nothing changing. Baseline: the same agent with 0 tasks,
               measured at the start of the run; and one task proxy's RSS.
  sweep        (not in the default phases) agent VmRSS and CPU at each of --sweep-counts tasks
               (service `sweep`, scaled up step by step; --sweep-settle s after the step's tasks
               are RUNNING+HEALTHY, then --sweep-seconds s sampled every second): memory against
               task count, for bench/plot.py.

--samples-out FILE writes what the figures were computed from as JSON (per task, per round and
per proxy, per task count), for bench/plot.py; the printed output is the same with or without it.

Usage (from the repository root, after a release build that includes bench_proxy):
  sudo python3 bench/agent_bench.py [--phases start,propagation,idle] [--bin build/release]

Isolation: sccontrol on 127.0.0.1:18600, state in /tmp/scbench-agent, bridge scbrb0, task CIDR
10.225.0.0/16, veth prefix scb, no metrics page (metricsListen ""), cluster and namespace
"bench"; everything is removed at the end (also after a
failure or Ctrl-C), and what remains is listed.
"""
import argparse
import glob
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

PORT = 18600
ENDPOINT = f"http://127.0.0.1:{PORT}"
WORK = "/tmp/scbench-agent"
BRIDGE = "scbrb0"
CIDR = "10.225.0.0/16"
VETH_PREFIX = "scb"  # host ends of the task veths: scb<hex offset>, not the default scv
CLUSTER = "bench"
RUN_DIR = "/run/scagent"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(*a):
    print(*a, flush=True)


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summary(xs, unit="ms", scale=1000.0):
    if not xs:
        return "(no samples)"
    v = [x * scale for x in xs]
    return (f"n={len(v):3d}  median {statistics.median(v):8.1f} {unit}  min {min(v):8.1f}  "
            f"p95 {pct(v, 95):8.1f}  p99 {pct(v, 99):8.1f}  max {max(v):8.1f}")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def loadavg_list():
    return [float(x) for x in loadavg().split()]


def ms(x):
    """Seconds -> milliseconds rounded to 0.1 us (samples file); None stays None."""
    return None if x is None else round(1000.0 * x, 4)


def utc_now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def host_facts():
    h = {"cpus": os.cpu_count(), "kernel": os.uname().release}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                h["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        h["commit"] = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                     text=True, timeout=10).stdout.strip()
        # Changes to docs and committed results do not change what runs.
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!docs", ":!bench/results"], capture_output=True, text=True, timeout=10).stdout.strip()
        h["worktree_clean"] = not dirty
    except (OSError, subprocess.TimeoutExpired):
        pass
    return h


def write_samples(path, samples):
    """One JSON object; the top-level keys one per line and each list element on its own line."""
    samples["finished_utc"] = utc_now()
    samples["loadavg_end"] = loadavg_list()
    parts = []
    for k, v in samples.items():
        if isinstance(v, dict):
            inner = []
            for k2, v2 in v.items():
                if isinstance(v2, list) and v2 and isinstance(v2[0], dict):
                    items = ",\n".join(json.dumps(e) for e in v2)
                    inner.append(f"{json.dumps(k2)}: [\n{items}\n]")
                else:
                    inner.append(f"{json.dumps(k2)}: {json.dumps(v2)}")
            parts.append(f"{json.dumps(k)}: {{\n" + ",\n".join(inner) + "\n}")
        else:
            parts.append(f"{json.dumps(k)}: {json.dumps(v)}")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("{\n" + ",\n".join(parts) + "\n}\n")
    os.replace(tmp, path)
    log(f"samples written to {path}")


# ---------------------------------------------------------------------------------------------
# Processes and the API.

class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.join(REPO, args.bin) if not os.path.isabs(args.bin) else args.bin
        self.procs = {}
        self.ecs = None
        self.sd = None
        self.last_idle = None  # the last measure_idle()'s samples
        self.baseline_idle = None
        self.log_pos = 0
        self.log_lines = []  # (epoch seconds, msg, task, raw dict)
        # What the figures are computed from (--samples-out); one key per phase.
        self.samples = {"program": "agent_bench", "started_utc": utc_now(), "host": host_facts(),
                        "args": {k: v for k, v in vars(args).items() if k != "samples_out"},
                        "loadavg_start": loadavg_list()}

    # --- setup ---
    def start(self):
        if os.path.exists(WORK):
            sys.exit(f"{WORK} exists: a previous run did not clean up (see --cleanup-only)")
        os.makedirs(WORK)
        subprocess.run([os.path.join(REPO, "scripts/build-demo-image"), f"{WORK}/images/busybox-httpd"],
                       check=True, stdout=subprocess.DEVNULL)
        self.spawn("sccontrol", [f"{self.bin}/controlplane/sccontrol", "--listen", f"127.0.0.1:{PORT}",
                                 "--data-dir", f"{WORK}/sccontrol", "--ttl", "30"])
        creds_file = f"{WORK}/sccontrol/credentials"
        for _ in range(200):
            if os.path.exists(creds_file) and os.path.getsize(creds_file) > 0:
                try:
                    subprocess.run(["curl", "-sf", f"{ENDPOINT}/healthz"], check=True, stdout=subprocess.DEVNULL)
                    break
                except subprocess.CalledProcessError:
                    pass
            time.sleep(0.1)
        creds = json.load(open(creds_file))
        key = creds["accessKeys"][0]
        import botocore.session
        from botocore.config import Config
        s = botocore.session.get_session()
        cfg = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30, inject_host_prefix=False)
        kw = dict(region_name="us-east-1", endpoint_url=ENDPOINT, aws_access_key_id=key["id"],
                  aws_secret_access_key=key["secret"], config=cfg)
        self.ecs = s.create_client("ecs", **kw)
        self.sd = s.create_client("servicediscovery", **kw)

        self.ecs.create_cluster(clusterName=CLUSTER, serviceConnectDefaults={"namespace": CLUSTER})
        for family, port_name in (("db", "http"), ("web", "web"), ("idle", "idle"), ("sweep", "sweep")):
            self.ecs.register_task_definition(
                family=family, networkMode="awsvpc", requiresCompatibilities=["EC2"],
                memory="128", cpu="256",
                containerDefinitions=[{
                    "name": "app", "image": "busybox-httpd", "essential": True, "memory": 16, "cpu": 64,
                    "stopTimeout": 2,
                    "command": ["/bin/sh", "-c", "mkdir -p /tmp/www && echo \"$SC_TASK_ID\" > /tmp/www/index.html "
                                "&& exec httpd -f -p 8080 -h /tmp/www"],
                    "portMappings": [{"name": port_name, "containerPort": 8080, "protocol": "tcp",
                                      "appProtocol": "http"}]}])

        with open(f"{WORK}/bootstrap-token", "w") as f:
            f.write(creds["bootstrapToken"])
        os.chmod(f"{WORK}/bootstrap-token", 0o600)
        cfg = {"cluster": CLUSTER, "stateDir": f"{WORK}/agent", "imageDir": f"{WORK}/images",
               # No metrics page (it would take the default port or clash with another agent's).
               "metricsListen": "", "drainSeconds": 1, "logLevel": "info",
               "network": {"bridge": BRIDGE, "taskCidr": CIDR, "vethPrefix": VETH_PREFIX},
               "controlPlane": {"endpoint": ENDPOINT, "bootstrapTokenFile": f"{WORK}/bootstrap-token",
                                "pollTimeoutSeconds": 10}}
        with open(f"{WORK}/agent.json", "w") as f:
            json.dump(cfg, f)
        env = dict(kv.split("=", 1) for kv in self.args.agent_env)
        self.spawn("scagent", [f"{self.bin}/agent/scagent", "run", "--config", f"{WORK}/agent.json"], env)
        self.wait_log(lambda m, t, d: m == "registered", 30, "agent registration")
        log(f"sccontrol pid {self.procs['sccontrol'].pid}, scagent pid {self.procs['scagent'].pid}")

    def spawn(self, name, argv, env=None):
        out = open(f"{WORK}/{name}.log", "w")
        self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd="/",
                                            env=dict(os.environ, **(env or {})))
        with open(f"{WORK}/{name}.pid", "w") as f:
            f.write(str(self.procs[name].pid))

    # --- the agent's JSON log ---
    def read_log(self):
        path = f"{WORK}/scagent.log"
        with open(path) as f:
            f.seek(self.log_pos)
            data = f.read()
        end = data.rfind("\n")
        if end < 0:
            return
        self.log_pos += len(data[:end + 1].encode())
        for line in data[:end + 1].splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            ts = datetime.strptime(d["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
            self.log_lines.append((ts, d.get("msg", ""), d.get("task", ""), d))

    def wait_log(self, pred, timeout, what):
        deadline = time.time() + timeout
        seen = 0
        while time.time() < deadline:
            self.read_log()
            for e in self.log_lines[seen:]:
                if pred(e[1], e[2], e[3]):
                    return e
            seen = len(self.log_lines)
            if self.procs["scagent"].poll() is not None:
                sys.exit(f"scagent exited ({self.procs['scagent'].returncode}); see {WORK}/scagent.log")
            time.sleep(0.05)
        sys.exit(f"timed out waiting for {what}")

    def task_log(self, task):
        self.read_log()
        return [(ts, m) for ts, m, t, _ in self.log_lines if t == task]

    def log_time(self, task, msg):
        for ts, m in self.task_log(task):
            if m == msg:
                return ts
        return None

    # --- ECS helpers ---
    def create_service(self, name, count, alias=None, port_name="http"):
        sc = {"enabled": True, "namespace": CLUSTER}
        if alias:
            sc["services"] = [{"portName": port_name, "discoveryName": alias,
                               "clientAliases": [{"dnsName": alias, "port": 81}]}]
        self.ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=name, desiredCount=count,
                                deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200},
                                serviceConnectConfiguration=sc)

    def service_tasks(self, name):
        arns = []
        token = None
        while True:
            kw = {"cluster": CLUSTER, "serviceName": name}
            if token:
                kw["nextToken"] = token
            r = self.ecs.list_tasks(**kw)
            arns += r["taskArns"]
            token = r.get("nextToken")
            if not token:
                break
        out = []
        for i in range(0, len(arns), 100):
            out += self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns[i:i + 100])["tasks"]
        return out

    def wait_running(self, name, count, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ts = self.service_tasks(name)
            ok = [t for t in ts if t["lastStatus"] == "RUNNING" and t.get("healthStatus") == "HEALTHY"]
            if len(ok) >= count:
                return ok
            time.sleep(0.5)
        sys.exit(f"timed out waiting for {count} RUNNING+HEALTHY tasks of {name}")

    # --- agent state ---
    def agent_tasks(self):
        """task id -> record (the agent's own state directory)."""
        out = {}
        for p in glob.glob(f"{WORK}/agent/tasks/*.json"):
            try:
                r = json.load(open(p))
            except (ValueError, OSError):
                continue
            out[r.get("taskId", os.path.basename(p)[:-5])] = r
        return out

    def ip_to_task(self):
        m = {}
        for tid, r in self.agent_tasks().items():
            ip = (r.get("facts") or {}).get("task_ip")
            if ip and r.get("status") != "STOPPED":
                m[ip] = tid
        return m

    def active_agent_tasks(self):
        try:
            out = subprocess.run([f"{self.bin}/agent/scagent", "status", "--config", f"{WORK}/agent.json"],
                                 capture_output=True, text=True, timeout=30).stdout
        except subprocess.TimeoutExpired:
            return -1
        n = 0
        for line in out.splitlines()[1:]:
            f = line.split()
            if len(f) >= 3 and f[2] != "STOPPED" and f[0] != "(no":
                n += 1
        return n


# ---------------------------------------------------------------------------------------------
# HAProxy runtime API.

def admin(task, cmd, timeout=2.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        # The proxy's own directory (per-task uids); tasks from before them have it in the task's.
        path = f"{RUN_DIR}/tasks/{task}/proxy/admin.sock"
        s.connect(path if os.path.exists(path) else f"{RUN_DIR}/tasks/{task}/admin.sock")
        s.sendall((cmd + "\n").encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode()
    finally:
        s.close()


def active_servers(task, backend):
    """Set of 'ip:port' of the backend's servers that are in rotation (address set, no MAINT bit)."""
    out = set()
    for line in admin(task, f"show servers state {backend}").splitlines():
        if not line or line.startswith("#") or " " not in line:
            continue
        f = line.split()
        if len(f) < 19:
            continue
        addr, admin_state, port = f[4], int(f[6]), f[18]
        if addr in ("0.0.0.0", "::") or admin_state & 0x63:
            continue
        out.add(f"{addr}:{port}")
    return out


def egress_backend(task, prefix="egress_db_"):
    for line in admin(task, "show servers state").splitlines():
        f = line.split()
        if len(f) > 2 and f[1].startswith(prefix):
            return f[1]
    return None


# ---------------------------------------------------------------------------------------------
# Phases.

def phase_start(b, n):
    log(f"\n== desired-to-RUNNING: {n} tasks of service db, scaled up one at a time "
        f"(load average {loadavg()})")
    b.create_service("db", 0, alias="db")
    agent_side, outside, to_first_line, report_lag = [], [], [], []
    phases = {"sandbox (PROVISIONING->PENDING)": [], "proxy to HEALTHY (PENDING->ACTIVATING)": [],
              "app (ACTIVATING->RUNNING)": []}
    known = set()
    failures = []
    per_task = []  # samples file: one entry per task
    for i in range(1, n + 1):
        t0 = time.time()
        b.ecs.update_service(cluster=CLUSTER, service="db", desiredCount=i)
        t_ret = time.time()
        seen = None
        deadline = time.time() + 60
        while time.time() < deadline and seen is None:
            for t in b.service_tasks("db"):
                tid = t["taskArn"].rsplit("/", 1)[-1]
                if tid in known:
                    continue
                if t["lastStatus"] == "RUNNING" and t.get("healthStatus") == "HEALTHY":
                    seen = (tid, time.time())
                    break
            if seen is None:
                time.sleep(0.01)
        if seen is None:
            sys.exit(f"task {i} did not become RUNNING+HEALTHY within 60 s")
        tid, t_seen = seen
        known.add(tid)
        time.sleep(0.05)
        entries = b.task_log(tid)
        t_first = entries[0][0] if entries else None
        t_run = b.log_time(tid, "task RUNNING")
        if t_first is None or t_run is None:
            log(f"  task {tid}: log lines missing: {entries}")
            continue
        agent_side.append(t_run - t_first)
        st = {m: ts for ts, m in entries}
        chain = ["task PROVISIONING", "task PENDING", "task ACTIVATING", "task RUNNING"]
        steps = {}
        if all(c in st for c in chain):
            for k, (a, z) in zip(phases, zip(chain, chain[1:])):
                phases[k].append(st[z] - st[a])
                steps[k.split(" (")[0]] = ms(st[z] - st[a])
        # A task that failed to start in the meantime (then replaced by the scheduler) is
        # reported, not counted in the outside figures.
        failed = [(ts, t, d.get("error", "")) for ts, m, t, d in b.log_lines
                  if m == "task failed to start" and t_ret <= ts <= t_seen]
        entry = {"i": i, "task": tid, "agent_ms": ms(t_run - t_first), "steps_ms": steps,
                 "update_service_call_ms": ms(t_ret - t0), "loadavg": loadavg_list()}
        if failed:
            failures.append((i, failed))
            log(f"  {i:2d} another task failed to start first; not counted outside: {failed}")
            entry["another_task_failed_first"] = True
        else:
            outside.append(t_seen - t_ret)
            to_first_line.append(t_first - t_ret)
            report_lag.append(t_seen - t_run)
            entry.update({"outside_ms": ms(t_seen - t_ret), "update_to_first_line_ms": ms(t_first - t_ret),
                          "running_to_describe_ms": ms(t_seen - t_run)})
        per_task.append(entry)
        log(f"  {i:2d} {tid}: agent PROVISIONING->RUNNING {1000 * (t_run - t_first):6.1f} ms; "
            f"UpdateService->DescribeTasks RUNNING+HEALTHY {1000 * (t_seen - t_ret):6.1f} ms "
            f"(UpdateService call {1000 * (t_ret - t0):.1f} ms)")
        time.sleep(0.2)
    log("\n  agent log, first line for the task -> 'task RUNNING' (proxy HEALTHY, app started):")
    log("    " + summary(agent_side))
    for k, v in phases.items():
        log(f"    {k:40s} {summary(v)}")
    log("  outside, UpdateService returned -> DescribeTasks RUNNING+HEALTHY (polled every ~10 ms):")
    log("    " + summary(outside))
    log("    of which UpdateService returned -> agent's first log line: " + summary(to_first_line))
    log("    of which agent 'task RUNNING' -> seen RUNNING+HEALTHY by DescribeTasks: " + summary(report_lag))

    base = []
    base_ms = []
    bp = os.path.join(b.bin, "bench/bench_proxy")
    if os.path.exists(bp):
        log(f"\n  baseline: {bp} launch {n} (load average {loadavg()})")
        launch_samples = f"{WORK}/launch-samples.json"
        r = subprocess.run([bp, "--samples-out", launch_samples, "launch", str(n)], capture_output=True, text=True,
                           cwd="/")
        try:
            base_ms = next(e["launch_ms"] for e in json.load(open(launch_samples))["runs"]
                           if e.get("measure") == "launch")
        except (OSError, ValueError, KeyError, StopIteration):
            pass
        for line in r.stdout.splitlines():
            log("    " + line)
        for line in r.stdout.splitlines():
            if "median" in line:
                try:
                    base.append(float(line.split("median")[1].split()[0]))
                except (ValueError, IndexError):
                    pass
    if base and agent_side:
        m = statistics.median(agent_side) * 1000
        log(f"  ratio agent median / bare proxy launch median: {m:.1f} / {base[0]:.1f} ms = {m / base[0]:.2f}x")
        mo = statistics.median(outside) * 1000
        log(f"  ratio outside median / bare proxy launch median: {mo:.1f} / {base[0]:.1f} ms = {mo / base[0]:.2f}x")
    b.samples["start"] = {"tasks": per_task, "baseline_launch_ms": base_ms}
    return {"agent": agent_side, "outside": outside}


def discover(b):
    r = b.sd.discover_instances(NamespaceName=CLUSTER, ServiceName="db")
    return {f"{i['Attributes'].get('AWS_INSTANCE_IPV4')}:{i['Attributes'].get('AWS_INSTANCE_PORT')}"
            for i in r["Instances"]}


def phase_propagation(b, web_n, rounds):
    log(f"\n== endpoint propagation: {web_n} web client tasks, db scaled +1/-1, {rounds} rounds "
        f"(load average {loadavg()})")
    base_db = len(b.wait_running("db", 1))
    b.create_service("web", web_n)
    webs = [t["taskArn"].rsplit("/", 1)[-1] for t in b.wait_running("web", web_n)]
    backend = None
    for _ in range(100):
        backend = egress_backend(webs[0])
        if backend:
            break
        time.sleep(0.1)
    log(f"  web proxies: {len(webs)}, backend {backend}, db tasks {base_db}")
    sample = discover(b)
    log(f"  DiscoverInstances shows {len(sample)} db endpoints, e.g. {sorted(sample)[:2]}")

    # Baselines.
    rtt_sd, rtt_api = [], []
    for _ in range(50):
        t = time.time()
        discover(b)
        rtt_sd.append(time.time() - t)
        t = time.time()
        active_servers(webs[0], backend)
        rtt_api.append(time.time() - t)

    add_all, add_each, add_cp, add_cp_to_all, rem_all, rem_deact = [], [], [], [], [], []
    per_round = []  # samples file: one entry per round, times per web proxy in the order of `webs`
    t_begin = time.time()

    def wait_change(before, want_added):
        """Poll every web proxy until each shows a change vs `before`; returns (addr, {task: t}, t_cp)."""
        first = {}
        target = None
        t_cp = None
        deadline = time.time() + 30
        while time.time() < deadline and len(first) < len(webs):
            now_cp = None
            if t_cp is None:
                try:
                    d = discover(b)
                    now_cp = time.time()
                    diff = (d - before) if want_added else (before - d)
                    if diff and (target is None or target in diff):
                        t_cp = now_cp
                except Exception:
                    pass
            for w in webs:
                if w in first:
                    continue
                cur = active_servers(w, backend)
                diff = (cur - before) if want_added else (before - cur)
                if target is None and len(diff) == 1:
                    target = next(iter(diff))
                if target is not None and target in diff:
                    first[w] = time.time()
            time.sleep(0.001)
        return target, first, t_cp

    for r in range(rounds):
        before = active_servers(webs[0], backend)
        if any(active_servers(w, backend) != before for w in webs):
            time.sleep(1)
            before = active_servers(webs[0], backend)
        b.ecs.update_service(cluster=CLUSTER, service="db", desiredCount=base_db + 1)
        target, first, t_cp = wait_change(before, True)
        if len(first) < len(webs):
            log(f"  round {r}: only {len(first)}/{len(webs)} proxies saw the new endpoint in 30 s")
            continue
        ip = target.split(":")[0]
        tid = None
        for _ in range(50):
            tid = b.ip_to_task().get(ip)
            if tid:
                break
            time.sleep(0.05)
        t_run = b.log_time(tid, "task RUNNING") if tid else None
        if t_run is None:
            log(f"  round {r}: no 'task RUNNING' log line for {target} ({tid})")
            continue
        t_all = max(first.values())
        add_all.append(t_all - t_run)
        add_each += [t - t_run for t in first.values()]
        entry = {"round": r, "added": target, "added_ms_per_proxy": [ms(first[w] - t_run) for w in webs],
                 "added_all_ms": ms(t_all - t_run), "added_cloud_map_ms": ms(t_cp - t_run) if t_cp else None,
                 "loadavg": loadavg_list()}
        per_round.append(entry)
        if t_cp is not None:
            add_cp.append(t_cp - t_run)
            add_cp_to_all.append(t_all - t_cp)
        cp_txt = f"{1000 * (t_cp - t_run):6.1f}" if t_cp else "     -"
        line = (f"  round {r:2d} +{target:<17} RUNNING->all proxies {1000 * (t_all - t_run):7.1f} ms "
                f"(Cloud Map {cp_txt} ms)")

        # Back down by one; the scheduler picks which task stops.
        time.sleep(0.3)
        before = active_servers(webs[0], backend)
        ip_task = b.ip_to_task()
        b.ecs.update_service(cluster=CLUSTER, service="db", desiredCount=base_db)
        t_down = time.time()
        target, first, _ = wait_change(before, False)
        if len(first) == len(webs) and target:
            rid = ip_task.get(target.split(":")[0])
            rem_all.append(max(first.values()) - t_down)
            t_deact = b.log_time(rid, "task DEACTIVATING") if rid else None
            entry.update({"removed": target, "removed_ms_per_proxy": [ms(first[w] - t_down) for w in webs],
                          "removed_all_ms": ms(max(first.values()) - t_down),
                          "removed_from_deactivating_ms": ms(max(first.values()) - t_deact) if t_deact else None})
            line += f"; -{target} UpdateService->all {1000 * (max(first.values()) - t_down):7.1f} ms"
            if t_deact is not None:
                rem_deact.append(max(first.values()) - t_deact)
                line += f" (after DEACTIVATING {1000 * (max(first.values()) - t_deact):+7.1f} ms)"
            # Wait until the stopped task is gone, so rounds do not overlap.
            if rid:
                for _ in range(200):
                    if b.log_time(rid, "task STOPPED"):
                        break
                    time.sleep(0.05)
        log(line)

    log(f"\n  added endpoint, agent 'task RUNNING' of the new db task -> listed by every web proxy "
        f"(the slowest of {len(webs)}):")
    log("    " + summary(add_all))
    log("  the same per proxy (pooled):")
    log("    " + summary(add_each))
    log("    of which 'task RUNNING' -> first DiscoverInstances answer listing it: " + summary(add_cp))
    log("    of which DiscoverInstances lists it -> every proxy lists it:       " + summary(add_cp_to_all))
    log("  removed endpoint (scale down by one), UpdateService returned -> out of rotation in every web proxy:")
    log("    " + summary(rem_all))
    log("    the same from the stopping task's 'task DEACTIVATING' log line: " + summary(rem_deact))
    # How the agent updates its proxies: one 'proxy members updated' log line per proxy; lines less
    # than 300 ms apart are one pass.
    b.read_log()
    ups = [ts for ts, m, _, _ in b.log_lines if m == "proxy members updated" and ts >= t_begin]
    passes, cur = [], []
    for ts in ups:
        if cur and ts - cur[-1] > 0.3:
            passes.append(cur)
            cur = []
        cur.append(ts)
    if cur:
        passes.append(cur)
    passes = [p for p in passes if len(p) > 1]
    if passes:
        gaps = [p[i + 1] - p[i] for p in passes for i in range(len(p) - 1)]
        log(f"  agent log: {len(passes)} passes over the proxies ('proxy members updated', lines < 300 ms apart); "
            f"proxies per pass median {statistics.median([len(p) for p in passes]):.0f}")
        log("    span of a pass (first to last proxy):  " + summary([p[-1] - p[0] for p in passes]))
        log("    from one proxy's update to the next:   " + summary(gaps))
    b.samples["propagation"] = {"web_proxies": webs, "db_tasks": base_db, "rounds": per_round,
                                "baseline_discover_instances_ms": [ms(x) for x in rtt_sd],
                                "baseline_show_servers_state_ms": [ms(x) for x in rtt_api]}
    log(f"  baseline: one DiscoverInstances round trip (botocore, SigV4): {summary(rtt_sd)}")
    log(f"  baseline: one runtime API 'show servers state' round trip:   {summary(rtt_api)}")
    if add_all:
        m = statistics.median(add_all)
        log(f"  ratio propagation p50 / DiscoverInstances round trip p50: {1000 * m:.1f} / "
            f"{1000 * statistics.median(rtt_sd):.2f} ms = {m / statistics.median(rtt_sd):.0f}x; "
            f"p99 / baseline p99: {pct(add_all, 99) / pct(rtt_sd, 99):.0f}x")
    return webs


def proc_status(pid):
    d = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            d[k] = v.strip()
    return d


def cpu_split(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rfind(")") + 2:].split()
    return int(fields[11]), int(fields[12])  # utime, stime (fields 14 and 15)


def cpu_ticks(pid):
    return sum(cpu_split(pid))


def kib(s):
    return int(s.split()[0])


def measure_idle(b, seconds, label, interval=5):
    """Prints the agent's RSS and CPU over `seconds`; returns (last VmRSS KiB, CPU share) and leaves the
    samples in b.last_idle."""
    pid = b.procs["scagent"].pid
    cp = b.procs["sccontrol"].pid
    hz = os.sysconf("SC_CLK_TCK")
    rss = []
    s0 = cpu_split(pid)
    c0, k0, t0 = cpu_ticks(pid), cpu_ticks(cp), time.time()
    while time.time() - t0 < seconds:
        rss.append(kib(proc_status(pid)["VmRSS"]))
        time.sleep(min(interval, max(0.1, seconds - (time.time() - t0))))
    rss.append(kib(proc_status(pid)["VmRSS"]))
    c1, k1, t1 = cpu_ticks(pid), cpu_ticks(cp), time.time()
    s1 = cpu_split(pid)
    st = proc_status(pid)
    cpu = (c1 - c0) / hz / (t1 - t0)
    ccpu = (k1 - k0) / hz / (t1 - t0)
    log(f"  {label}: agent VmRSS {rss[-1] / 1024:.1f} MiB (min {min(rss) / 1024:.1f}, max {max(rss) / 1024:.1f} "
        f"over {len(rss)} samples; VmHWM {kib(st['VmHWM']) / 1024:.1f} MiB), threads {st['Threads']}, "
        f"CPU {100 * cpu:.2f} % of a core over {t1 - t0:.0f} s ({c1 - c0} ticks: user {s1[0] - s0[0]}, "
        f"system {s1[1] - s0[1]}); RssAnon {kib(st['RssAnon']) / 1024:.1f} MiB, RssFile {kib(st['RssFile']) / 1024:.1f} MiB; sccontrol CPU {100 * ccpu:.2f} %; "
        f"load average {loadavg()}")
    b.last_idle = {"vmrss_kib": rss, "vmhwm_kib": kib(st["VmHWM"]), "rss_anon_kib": kib(st["RssAnon"]),
                   "rss_file_kib": kib(st["RssFile"]), "threads": int(st["Threads"]), "seconds": round(t1 - t0, 3),
                   "cpu_ticks_user": s1[0] - s0[0], "cpu_ticks_system": s1[1] - s0[1], "clk_tck": hz,
                   "cpu_share": round(cpu, 6), "sccontrol_cpu_share": round(ccpu, 6), "loadavg": loadavg_list()}
    return rss[-1], cpu


def proxy_rss(task):
    """Processes of the task's proxy (found by their cgroup): count, VmRSS sum and Pss sum (KiB)."""
    rss = pss = n = 0
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cg = open(f"{d}/cgroup").read()
            if f"scagent-{task}/proxy" not in cg:
                continue
            rss += kib(proc_status(d[6:])["VmRSS"])
            with open(f"{d}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except (OSError, KeyError):
            pass
    return n, rss, pss


def phase_idle(b, n, seconds, baseline):
    log(f"\n== agent RSS and idle CPU with {n} tasks (load average {loadavg()})")
    for s in ("web", "db"):
        try:
            b.ecs.delete_service(cluster=CLUSTER, service=s, force=True)
        except Exception:
            pass
    wait_no_tasks(b, 300)
    t0 = time.time()
    b.create_service("idle", n, alias="idle", port_name="idle")
    tasks = b.wait_running("idle", n, timeout=900)
    log(f"  {n} tasks RUNNING+HEALTHY {time.time() - t0:.1f} s after CreateService (desiredCount {n} at once)")
    time.sleep(15)
    rss, cpu = measure_idle(b, seconds, f"{n} tasks")
    tid = tasks[0]["taskArn"].rsplit("/", 1)[-1]
    np_, prss, ppss = proxy_rss(tid)
    b.samples.setdefault("idle", {})["points"] = [dict(b.baseline_idle, tasks=0)] if b.baseline_idle else []
    b.samples["idle"]["points"].append(dict(b.last_idle, tasks=n, proxy_vmrss_kib=prss, proxy_pss_kib=ppss))
    log(f"  one task proxy ({tid}): {np_} processes, VmRSS sum {prss / 1024:.1f} MiB, Pss {ppss / 1024:.1f} MiB")
    if baseline:
        brss, bcpu = baseline
        log(f"  ratio RSS {n} tasks / 0 tasks: {rss / 1024:.1f} / {brss / 1024:.1f} MiB = {rss / brss:.2f}x; "
            f"per task +{(rss - brss) / n:.0f} KiB")
        if bcpu > 0:
            log(f"  ratio CPU {n} tasks / 0 tasks: {100 * cpu:.2f} % / {100 * bcpu:.2f} % = {cpu / bcpu:.1f}x "
                f"(the baseline is a few ticks of 10 ms: a floor, not a figure)")
        else:
            log(f"  ratio CPU {n} tasks / 0 tasks: {100 * cpu:.2f} % / 0 (no tick in the baseline window)")
        log(f"  per task: {1000 * cpu / n:.2f} ms of CPU per second, {(rss - brss) / n:.0f} KiB")
    if prss:
        log(f"  agent RSS / one proxy's RSS: {rss / prss:.2f}x")


def phase_sweep(b, counts, settle, seconds):
    """Agent VmRSS and CPU at each task count: service `sweep` scaled up step by step."""
    log(f"\n== agent RSS and CPU against task count: {counts} (load average {loadavg()})")
    for s in ("web", "db", "idle"):
        try:
            b.ecs.delete_service(cluster=CLUSTER, service=s, force=True)
        except Exception:
            pass
    wait_no_tasks(b, 300)
    points = []
    created = False
    for n in sorted(counts):
        t0 = time.time()
        if n > 0 and not created:
            b.create_service("sweep", n, alias="sweep", port_name="sweep")
            created = True
        elif n > 0:
            b.ecs.update_service(cluster=CLUSTER, service="sweep", desiredCount=n)
        tasks = b.wait_running("sweep", n, timeout=900) if n > 0 else []
        t_up = time.time() - t0
        time.sleep(settle)
        measure_idle(b, seconds, f"{n} tasks", interval=1)
        point = dict(b.last_idle, tasks=n, step_up_seconds=round(t_up, 3))
        if tasks:
            np_, prss, ppss = proxy_rss(tasks[0]["taskArn"].rsplit("/", 1)[-1])
            point.update(proxy_vmrss_kib=prss, proxy_pss_kib=ppss)
        points.append(point)
    if len(points) >= 2 and points[-1]["tasks"] > points[0]["tasks"]:
        a, z = points[0], points[-1]
        per = (statistics.median(z["vmrss_kib"]) - statistics.median(a["vmrss_kib"])) / (z["tasks"] - a["tasks"])
        log(f"  VmRSS median {statistics.median(a['vmrss_kib']) / 1024:.1f} MiB at {a['tasks']} tasks, "
            f"{statistics.median(z['vmrss_kib']) / 1024:.1f} MiB at {z['tasks']}: +{per:.0f} KiB per task")
    b.samples["sweep"] = {"settle_seconds": settle, "points": points}


def wait_no_tasks(b, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if b.active_agent_tasks() == 0:
            return True
        time.sleep(0.5)
    log(f"  warning: tasks still active after {timeout} s: {b.active_agent_tasks()}")
    return False


# ---------------------------------------------------------------------------------------------
# Cleanup.

def my_task_ids():
    ids = set(os.path.basename(p)[:-5] for p in glob.glob(f"{WORK}/agent/tasks/*.json"))
    return ids


def cleanup(b):
    log(f"\n== cleanup (load average {loadavg()})")
    ids = my_task_ids()
    # Task ids this run ever had, also from the log (a record is removed once STOPPED is reported).
    try:
        b.read_log()
        ids |= {t for _, _, t, _ in b.log_lines if t}
    except OSError:
        pass
    if b.ecs is not None and b.procs.get("sccontrol") and b.procs["sccontrol"].poll() is None:
        for s in ("db", "web", "idle", "sweep"):
            try:
                b.ecs.delete_service(cluster=CLUSTER, service=s, force=True)
            except Exception:
                pass
        if b.procs.get("scagent") and b.procs["scagent"].poll() is None:
            wait_no_tasks(b, 600)
    for name in ("scagent", "sccontrol"):
        p = b.procs.get(name)
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                log(f"  {name} ({p.pid}) did not stop in 60 s; killing it")
                p.kill()
                p.wait()
    # Links still attached to this run's bridge are task veths the agent did not remove.
    ports = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True, text=True).stdout
    stale = [l.split(":")[1].strip().split("@")[0] for l in ports.splitlines() if ":" in l]
    subprocess.run(["ip", "link", "del", BRIDGE], stderr=subprocess.DEVNULL)
    # Host rules that name this run's bridge or task CIDR (other agents' rules are left alone).
    for table in ("nat", "filter"):
        out = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("-A ") and (BRIDGE in line or CIDR in line):
                subprocess.run(["iptables", "-w", "-t", table] + ["-D"] + _split(line[3:]))
    # Report what remains.
    left = [f"veth {v} (was on {BRIDGE})" for v in stale]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [l for l in netns.splitlines() if any(i in l for i in ids)]
    all_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    if BRIDGE in all_links:
        left.append(f"link {BRIDGE}")
    # Host veth ends with this run's prefix (scb<hex offset>) that are no longer on the bridge.
    for l in all_links.splitlines():
        name = l.split(":")[1].strip().split("@")[0] if ":" in l else ""
        tail = name[len(VETH_PREFIX):]
        if name.startswith(VETH_PREFIX) and tail and all(c in "0123456789abcdef" for c in tail) \
                and name not in stale:
            left.append(f"veth {name}")
    links = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    left += [l for l in links.splitlines() if "10.225." in l]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    left += [l for l in rules.splitlines() if BRIDGE in l or CIDR in l or any(f"sc:{i}" in l for i in ids)]
    cgs = subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "5", "-type", "d", "-name", "scagent-*"],
                         capture_output=True, text=True).stdout
    left += [p for p in cgs.splitlines() if any(p.endswith(i) for i in ids)]
    left += [p for p in glob.glob(f"{RUN_DIR}/tasks/*") + glob.glob(f"{RUN_DIR}/apps/*")
             if os.path.basename(p) in ids]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    left += [l for l in ps.splitlines() if any(i in l for i in ids) and "agent_bench" not in l]
    if left:
        log("  REMAINING (not removed; state kept in " + WORK + "):")
        for l in left:
            log("    " + l)
    else:
        if b.args.keep_logs:
            os.makedirs(b.args.keep_logs, exist_ok=True)
            for n in ("scagent.log", "sccontrol.log"):
                if os.path.exists(f"{WORK}/{n}"):
                    subprocess.run(["cp", f"{WORK}/{n}", b.args.keep_logs])
            log(f"  logs copied to {b.args.keep_logs}")
        log(f"  nothing of this run remains ({len(ids)} task ids checked); removing {WORK}")
        subprocess.run(["rm", "-rf", WORK])
        for d in (f"{RUN_DIR}/tasks", f"{RUN_DIR}/apps", RUN_DIR):
            try:
                os.rmdir(d)
            except OSError:
                pass


def _split(spec):
    import shlex
    return shlex.split(spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/release")
    ap.add_argument("--phases", default="start,propagation,idle")
    ap.add_argument("--start-tasks", type=int, default=20)
    ap.add_argument("--web", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--idle-tasks", type=int, default=100)
    ap.add_argument("--idle-seconds", type=int, default=60)
    ap.add_argument("--sweep-counts", default="0,20,40,60,80,100", help="task counts of the sweep phase")
    ap.add_argument("--sweep-settle", type=int, default=5, help="seconds after a sweep step before measuring")
    ap.add_argument("--sweep-seconds", type=int, default=10, help="seconds measured at each sweep step")
    ap.add_argument("--samples-out", metavar="FILE", help="write the samples as JSON (for bench/plot.py)")
    ap.add_argument("--keep-logs", metavar="DIR", help="copy the agent's and sccontrol's logs here at the end")
    ap.add_argument("--agent-env", action="append", default=[], metavar="NAME=VALUE",
                    help="environment for scagent (experiments, e.g. MALLOC_ARENA_MAX=2)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("agent_bench: run as root")
    phases = args.phases.split(",")
    b = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    log(f"agent_bench {datetime.now(timezone.utc).isoformat(timespec='seconds')}, {os.cpu_count()} CPUs, "
        f"kernel {os.uname().release}, load average {loadavg()}")
    try:
        b.start()
        baseline = None
        if "idle" in phases:
            log(f"\n== baseline: the agent with 0 tasks, idle for {args.idle_seconds} s")
            time.sleep(2)
            baseline = measure_idle(b, args.idle_seconds, "0 tasks")
            b.baseline_idle = b.last_idle
        if "start" in phases or "propagation" in phases:
            phase_start(b, args.start_tasks if "start" in phases else 1)
            if "start" not in phases:
                b.samples.pop("start", None)  # one task to have db running, not a figure
        if "propagation" in phases:
            phase_propagation(b, args.web, args.rounds)
        if "idle" in phases:
            phase_idle(b, args.idle_tasks, args.idle_seconds, baseline)
        if "sweep" in phases:
            phase_sweep(b, [int(x) for x in args.sweep_counts.split(",")], args.sweep_settle, args.sweep_seconds)
    finally:
        cleanup(b)
        if args.samples_out:
            write_samples(args.samples_out, b.samples)


if __name__ == "__main__":
    main()
