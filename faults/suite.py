#!/usr/bin/env python3
"""The fault-injection suite over the multi-host lab (scripts/lab); scripts/faults runs it.

Each scenario injects one fault while steady client load runs from a web task on every host to
the db service (tasks on every host), heals it, waits for the steady state, checks every host for
leaks and gives a verdict against the scenario's stated bound. docs/fault-injection.md describes
each one. Standard library only; every side effect goes through Lab (scripts/lab) or a Load."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
LAB_DIR = os.environ.get("SC_LAB_DIR", "/var/lib/scagent-lab")


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


class Lab:
    """scripts/lab, and what the suite reads of the lab's namespaces."""

    def run(self, *args, check=True, timeout=120, env=None):
        p = subprocess.run([os.path.join(SRC, "scripts", "lab"), *args], capture_output=True, text=True,
                           timeout=timeout, env=dict(os.environ, **(env or {})))
        if check and p.returncode != 0:
            raise RuntimeError("scripts/lab %s: %s" % (" ".join(args), (p.stderr or p.stdout).strip()))
        return p

    def aws(self, *args, timeout=60, attempts=None):
        """The aws CLI; `attempts` 1 measures sccontrol's own answer (no CLI retries)."""
        opts = ["--cli-read-timeout", "10", "--cli-connect-timeout", "5", "--output", "json"]
        env = {"AWS_MAX_ATTEMPTS": str(attempts)} if attempts else None
        p = self.run("aws", *args, *opts, check=False, timeout=timeout, env=env)
        if p.returncode != 0:
            raise RuntimeError("aws %s: %s" % (" ".join(args[:2]), p.stderr.strip()))
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def status(self):
        return json.loads(self.run("status", "--json").stdout)

    def write(self, timeout=60, attempts=None):
        """A write that changes the store: a fresh tag value on the db service."""
        arn = self.aws("ecs", "describe-services", "--cluster", "demo", "--services", "db")["services"][0]["serviceArn"]
        self.aws("ecs", "tag-resource", "--resource-arn", arn, "--tags", "key=fault-suite,value=%.3f" % time.time(),
                 timeout=timeout, attempts=attempts)

    def up(self):
        return os.path.exists(os.path.join(LAB_DIR, "lab.env"))

    def hosts(self):
        return [h["name"] for h in self.status()["hosts"]]

    def tasks(self):
        """Running tasks of the cluster as sccontrol sees them: id -> {service, host, health}."""
        arns = self.aws("ecs", "list-tasks", "--cluster", "demo").get("taskArns", [])
        if not arns:
            return {}
        where = {t["task"]: t["host"] for t in self.status()["tasks"]}
        out = {}
        for t in self.aws("ecs", "describe-tasks", "--cluster", "demo", "--tasks", *arns)["tasks"]:
            tid = t["taskArn"].rsplit("/", 1)[1]
            if t["lastStatus"] == "RUNNING":
                out[tid] = {"service": t["group"].split(":", 1)[1], "host": where.get(tid, "?"),
                            "health": t.get("healthStatus", "UNKNOWN")}
        return out

    def agent_tasks(self, host):
        """The tasks host's agent runs (its own view), not STOPPED."""
        p = subprocess.run([self.bin("agent/scagent"), "status", "--config", "%s/%s/agent.json" % (LAB_DIR, host)],
                           capture_output=True, text=True, timeout=30)
        ids = []
        for line in p.stdout.splitlines()[1:]:
            f = line.split()
            if len(f) >= 3 and f[2] != "STOPPED" and not line.startswith("(no"):
                ids.append(f[0])
        return ids

    def bin(self, rel):
        return os.path.join(os.environ.get("SC_LAB_BUILD", os.path.join(SRC, "build/release")), rel)

    def pid(self, name):
        try:
            with open("%s/%s.pid" % (LAB_DIR, name)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def log_lines(self, name, msg):
        try:
            with open("%s/%s.log" % (LAB_DIR, name)) as f:
                return sum(1 for line in f if '"msg":"%s"' % msg in line)
        except OSError:
            return 0

    def ns_cmd(self, ns, *cmd, check=True):
        return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, check=check)


def netns_inode(name):
    try:
        return os.stat("/run/netns/" + name).st_ino
    except OSError:
        return None


def pids_in_netns(name, comm=None):
    """Processes whose network namespace is /run/netns/<name> (optionally of one command name)."""
    ino, out = netns_inode(name), []
    if ino is None:
        return out
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.stat("/proc/%s/ns/net" % d).st_ino != ino:
                continue
            with open("/proc/%s/comm" % d) as f:
                c = f.read().strip()
        except OSError:
            continue
        if comm is None or c == comm:
            out.append(int(d))
    return out


class Load:
    """faults/loadgen.py in each host's web task, at `rate` requests per second."""

    def __init__(self, lab, rate):
        self.procs = []
        for tid, t in sorted(lab.tasks().items()):
            if t["service"] != "web":
                continue
            cmd = ["ip", "netns", "exec", "sc-" + tid, sys.executable, os.path.join(HERE, "loadgen.py"),
                   "http://db:81/", str(rate), "1000000"]
            self.procs.append((t["host"], subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)))

    def stop(self):
        """Stops every client; returns their requests as (client host, record) pairs."""
        out = []
        for host, p in self.procs:
            p.terminate()
        for host, p in self.procs:
            text, _ = p.communicate(timeout=30)
            for line in text.splitlines():
                try:
                    out.append((host, json.loads(line)))
                except ValueError:
                    pass
        return out


def summarize(records, since):
    """requests, failed, the longest gap without a success on any client, latency percentiles."""
    rs = [(h, r) for h, r in records if r["t"] >= since]
    failed = sum(1 for _, r in rs if not r["ok"])
    gap = 0.0
    for host in {h for h, _ in rs}:
        oks = sorted(r["t"] for h, r in rs if h == host and r["ok"])
        ts = [since] + oks + [max(r["t"] for h, r in rs if h == host)]
        gap = max([gap] + [b - a for a, b in zip(ts, ts[1:])])
    by_client = {}
    for h, r in rs:
        by_client.setdefault(h, [0, 0])
        by_client[h][0] += 1
        by_client[h][1] += 0 if r["ok"] else 1
    ms = sorted(r["ms"] for _, r in rs if r["ok"])
    pct = lambda q: round(ms[min(len(ms) - 1, int(q * len(ms)))], 1) if ms else None
    return {"requests": len(rs), "failed": failed, "max_gap_s": round(gap, 2), "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "clients": {h: {"requests": n, "failed": f} for h, (n, f) in sorted(by_client.items())}}


def leaks(lab):
    """Kernel objects of no running task, and routes that do not match the hosts: one line each."""
    found, running = [], set()
    hosts = lab.hosts()
    for h in hosts:
        mine = lab.agent_tasks(h)
        running |= set(mine)
        veths = [l for l in lab.ns_cmd("lab-" + h, "ip", "-o", "link").stdout.splitlines() if re.search(r": scv", l)]
        if len(veths) != len(mine):
            found.append("%s: %d task veths for %d tasks" % (h, len(veths), len(mine)))
        routes = lab.ns_cmd("lab-" + h, "ip", "route", "show", "proto", "83").stdout.splitlines()
        if mine and len(routes) != len(hosts) - 1:
            found.append("%s: %d host routes for %d other hosts" % (h, len(routes), len(hosts) - 1))
    for n in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if n.startswith("sc-") and n[3:] not in running:
            found.append("namespace %s of no running task" % n)
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d.startswith("scagent-") and d[8:] not in running:
                found.append("cgroup %s/%s of no running task" % (root, d))
        if root.count("/") >= 4:
            dirs[:] = []
    for tid in running:
        if not pids_in_netns("sc-" + tid, "haproxy"):
            found.append("task %s has no proxy process" % tid)
    return sorted(set(found))


def steady(lab, want, limit=120):
    """Waits until every service runs its desired count, every task HEALTHY; returns the seconds."""
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            tasks = lab.tasks()
            counts = {s: sum(1 for t in tasks.values() if t["service"] == s and t["health"] == "HEALTHY") for s in want}
            if counts == want and len(tasks) == sum(want.values()):
                return round(time.time() - t0, 2)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired):
            pass
        time.sleep(1)
    raise RuntimeError("no steady state within %ds (want %s)" % (limit, want))


# ---- scenarios ----------------------------------------------------------------------------------
# Each: name, one line, its bound, inject(ctx) -> heal(ctx) (blocking; returns facts), and
# verdict(result) -> reason or None. ctx has lab, duration, and what inject() noted.


def too_many_failures(r, share=0.0):
    """The reason when more than `share` of the requests failed, else None."""
    if r["failed"] > share * r["requests"]:
        return "%d of %d requests failed" % (r["failed"], r["requests"])
    return None


def hold(ctx, inject, heal):
    """inject(), then the fault lasts ctx.duration, then heal() (also when the wait is cut short)."""
    inject()
    try:
        time.sleep(ctx.duration)
    finally:
        ctx.heal_at = time.time()
        heal()


class Scenario:
    name, about, bound = "", "", ""

    def run(self, ctx):  # injects, waits, heals; returns facts for verdict()
        raise NotImplementedError

    def verdict(self, r):
        raise NotImplementedError


class AgentKill(Scenario):
    name, about = "agent-kill", "SIGKILL one host's agent under load, restart it"
    bound = "0 failed requests; every task of the host adopted, none restarted"

    def run(self, ctx):
        lab, h = ctx.lab, "h2"
        before = sorted(lab.agent_tasks(h))
        adopted0 = lab.log_lines(h, "task adopted")
        lab.run("kill", h)
        time.sleep(min(ctx.duration, 5))
        ctx.heal_at = time.time()
        lab.run("start", h)
        t0 = time.time()
        while lab.log_lines(h, "task adopted") - adopted0 < len(before) and time.time() - t0 < 60:
            time.sleep(0.2)
        return {"before": before, "after": sorted(lab.agent_tasks(h)),
                "adopted": lab.log_lines(h, "task adopted") - adopted0}

    def verdict(self, r):
        if too_many_failures(r):
            return too_many_failures(r)
        if r["facts"]["before"] != r["facts"]["after"]:
            return "h2's tasks changed: %s -> %s" % (r["facts"]["before"], r["facts"]["after"])
        if r["facts"]["adopted"] != len(r["facts"]["before"]):
            return "%d of %d tasks adopted" % (r["facts"]["adopted"], len(r["facts"]["before"]))
        return None


class ProxyKill(Scenario):
    name, about = "proxy-kill", "SIGKILL one db task's proxy (HAProxy master and workers), on h2 if it has one"
    bound = "the task answers clients again within 5 s; under 5 % of requests failed"

    def run(self, ctx):
        lab = ctx.lab
        db = lab.tasks()
        db = sorted((v["host"] != "h2", t) for t, v in db.items() if v["service"] == "db")  # h2's first
        if not db:
            raise RuntimeError("no db task runs to kill the proxy of")
        victim = db[0][1]
        pids = pids_in_netns("sc-" + victim, "haproxy")
        killed = time.time()
        for p in pids:
            try:
                os.kill(p, 9)
            except ProcessLookupError:
                pass
        ctx.heal_at = killed
        t0 = time.time()
        while time.time() - t0 < 30:  # a new proxy in the task's namespace
            if set(pids_in_netns("sc-" + victim, "haproxy")) - set(pids):
                break
            time.sleep(0.1)
        time.sleep(max(ctx.duration, 8))
        return {"victim": victim, "killed_at": killed, "pids": len(pids)}

    def verdict(self, r):
        back = [rec["t"] for _, rec in r["records"] if rec["ok"] and rec["by"] == r["facts"]["victim"]
                and rec["t"] > r["facts"]["killed_at"]]
        if not r["facts"]["pids"]:
            return "no proxy process found for %s" % r["facts"]["victim"]
        if not back:
            return "task %s never answered again" % r["facts"]["victim"]
        r["answers_again_s"] = round(min(back) - r["facts"]["killed_at"], 2)
        if r["answers_again_s"] > 5:
            return "answered again after %.1f s" % r["answers_again_s"]
        return too_many_failures(r, 0.05)


class HostPartition(Scenario):
    name, about = "host-partition", "cut one host (h3) off the lab network, then heal it"
    bound = ("other hosts' clients fail only until h3's endpoints are ejected (none after 20 s); h3's client "
             "keeps being served by h3's db; after healing each service runs its desired count, no task twice")

    def run(self, ctx):
        lab = ctx.lab
        ctx.fault_at = time.time()
        hold(ctx, lambda: lab.run("partition", "h3"), lambda: lab.run("heal", "h3"))
        return {"fault_at": ctx.fault_at, "heal_at": ctx.heal_at}

    def verdict(self, r):
        f = r["facts"]
        during = [(h, rec) for h, rec in r["records"] if f["fault_at"] <= rec["t"] < f["heal_at"]]
        late = [rec for h, rec in during if h != "h3" and not rec["ok"] and rec["t"] > f["fault_at"] + 20]
        if late and f["heal_at"] - f["fault_at"] > 20:
            return "%d requests of other hosts failed later than 20 s into the partition" % len(late)
        if not any(rec["ok"] for h, rec in during if h == "h3"):
            return "h3's client got no answer while h3 was cut off"
        return None


class ControlPlanePartition(Scenario):
    name, about = "controlplane-partition", "cut the control plane (cp1) off every agent, then heal"
    bound = "0 failed requests; every agent connected again within 60 s of healing"

    def run(self, ctx):
        lab = ctx.lab
        hold(ctx, lambda: lab.run("partition", "cp1"), lambda: lab.run("heal", "cp1"))
        t0, connected = time.time(), False
        while time.time() - t0 < 60 and not connected:
            try:
                arns = lab.aws("ecs", "list-container-instances", "--cluster", "demo")["containerInstanceArns"]
                ci = lab.aws("ecs", "describe-container-instances", "--cluster", "demo", "--container-instances", *arns)
                connected = all(i["agentConnected"] for i in ci["containerInstances"])
            except RuntimeError:
                pass
            time.sleep(1)
        return {"connected": connected, "reconnected_s": round(time.time() - t0, 2)}

    def verdict(self, r):
        if too_many_failures(r):
            return too_many_failures(r)
        if not r["facts"]["connected"]:
            return "agents not all connected 60 s after healing"
        return None


class EtcdMemberKill(Scenario):
    name, about = "etcd-member-kill", "SIGKILL one etcd member (e2), restart it later"
    bound = "0 failed requests; the API reads and writes while it is down"

    def run(self, ctx):
        lab = ctx.lab
        lab.run("kill", "e2")
        api = "ok"
        try:
            lab.write()  # reads the service, then changes a tag
        except RuntimeError as e:
            api = str(e)
        time.sleep(ctx.duration)
        ctx.heal_at = time.time()
        lab.run("start", "e2")
        return {"api": api}

    def verdict(self, r):
        if too_many_failures(r):
            return too_many_failures(r)
        if r["facts"]["api"] != "ok":
            return "API call failed with one member down: " + r["facts"]["api"]
        return None


class EtcdQuorumLoss(Scenario):
    name, about = "etcd-quorum-loss", "SIGKILL 2 of 3 etcd members, restart them later"
    bound = "0 failed requests; a write answers an error within 30 s (no hang, no success); writes work again after"

    def run(self, ctx):
        lab = ctx.lab
        lab.run("kill", "e2")
        lab.run("kill", "e3")
        t0 = time.time()
        try:
            lab.write(timeout=45, attempts=1)
            during = "succeeded"
        except RuntimeError as e:
            during = "error: " + str(e).splitlines()[-1][:200]
        except subprocess.TimeoutExpired:
            during = "hang"
        answered_s = round(time.time() - t0, 2)
        time.sleep(max(0, ctx.duration - answered_s))
        ctx.heal_at = time.time()
        lab.run("start", "e2")
        lab.run("start", "e3")
        after, t1 = "no", time.time()
        while time.time() - t1 < 60 and after == "no":
            try:
                lab.write()
                after = "yes"
            except RuntimeError:
                time.sleep(1)
        return {"during": during, "answered_s": answered_s, "write_after": after}

    def verdict(self, r):
        f = r["facts"]
        if too_many_failures(r):
            return too_many_failures(r)
        if f["during"] == "hang" or f["answered_s"] > 30:
            return "a write without quorum took %.1f s (%s)" % (f["answered_s"], f["during"])
        if f["during"] == "succeeded":
            return "a write succeeded without an etcd quorum"
        if f["write_after"] != "yes":
            return "writes did not work within 60 s of the members' return"
        return None


class PacketLoss(Scenario):
    name, about = "packet-loss", "5 % packet loss between h1 and h2 (iptables statistic), both ways"
    # A connection across the lossy link loses its SYN or SYN-ACK about 10 % of the time and the
    # kernel resends it after 1 s, the load's timeout; a third of h1's and h2's requests cross it.
    bound = "under 10 % of requests failed (latency figures reported)"

    RULES = [("PREROUTING", "-i", "eth0", "-s"), ("POSTROUTING", "-o", "eth0", "-d")]

    def rules(self, lab, op):
        for chain, io, dev, sd in self.RULES:
            for addr in ("10.99.0.102", "10.222.2.0/24"):
                lab.ns_cmd("lab-h1", "iptables", "-w", "-t", "mangle", op, chain, io, dev, sd, addr, "-m", "statistic",
                           "--mode", "random", "--probability", "0.05", "-m", "comment", "--comment", "lab-loss",
                           "-j", "DROP")

    def run(self, ctx):
        hold(ctx, lambda: self.rules(ctx.lab, "-I"), lambda: self.rules(ctx.lab, "-D"))
        return {}

    def verdict(self, r):
        return too_many_failures(r, 0.10)


SCENARIOS = [AgentKill(), ProxyKill(), HostPartition(), ControlPlanePartition(), EtcdMemberKill(), EtcdQuorumLoss(),
             PacketLoss()]
WANT = {"db": 3, "web": 3}


class Ctx:
    def __init__(self, lab, duration):
        self.lab, self.duration, self.heal_at, self.fault_at = lab, duration, None, None


def run_one(lab, s, duration, rate):
    log("%s: %s" % (s.name, s.about))
    steady(lab, WANT)
    load = Load(lab, rate)
    time.sleep(2)
    ctx = Ctx(lab, duration)
    start = time.time()
    result = {"name": s.name, "bound": s.bound}
    steady_at = None
    try:
        facts = s.run(ctx)
        steady(lab, WANT)
        steady_at = time.time()
        time.sleep(2)
    except Exception as e:  # a scenario that cannot finish fails with the reason
        facts = {"error": str(e)}
    records = load.stop()
    result.update(summarize(records, start))
    # From the heal (or the fault, for instant ones) to the steady state seen through the API.
    result["recovery_s"] = None if steady_at is None else round(steady_at - (ctx.heal_at or start), 2)
    result["leaked"] = leaks(lab)
    result["facts"], result["records"] = facts, records
    reason = facts.get("error") or s.verdict(result) or (
        "left behind: " + "; ".join(result["leaked"]) if result["leaked"] else None)
    result["passed"], result["reason"] = reason is None, reason or ""
    del result["records"]
    log("%s: %s%s" % (s.name, "passed" if result["passed"] else "FAILED", "" if result["passed"] else ": " + reason))
    return result


def prepare(lab):
    """db and web with a task on every host (scripts/lab demo, then web scaled to 3)."""
    services = lab.aws("ecs", "describe-services", "--cluster", "demo", "--services", "db", "web")["services"]
    if len([s for s in services if s.get("status") == "ACTIVE"]) < 2:
        lab.run("demo", timeout=300)
    lab.aws("ecs", "update-service", "--cluster", "demo", "--service", "web", "--desired-count", "3",
            "--placement-strategy", "type=spread,field=instanceId")
    steady(lab, WANT, limit=180)


def table(results):
    rows = [("scenario", "requests", "failed", "max gap s", "recovery s", "p50 ms", "p99 ms", "verdict")]
    for r in results:
        rows.append((r["name"], str(r["requests"]), str(r["failed"]), str(r["max_gap_s"]), str(r["recovery_s"]),
                     str(r["p50_ms"]), str(r["p99_ms"]), "pass" if r["passed"] else "FAIL: " + r["reason"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in rows)


def main(argv):
    ap = argparse.ArgumentParser(prog="scripts/faults")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    rp = sub.add_parser("run")
    rp.add_argument("names", nargs="*")
    rp.add_argument("--report", help="write the JSON report here")
    rp.add_argument("--duration", type=float, default=60, help="seconds each fault lasts (default 60)")
    rp.add_argument("--rate", type=float, default=10, help="requests per second per client (default 10)")
    a = ap.parse_args(argv)
    if a.cmd == "list":
        for s in SCENARIOS:
            print("%-24s %s" % (s.name, s.about))
        return 0
    by_name = {s.name: s for s in SCENARIOS}
    unknown = [n for n in a.names if n not in by_name]
    if unknown:
        print("scripts/faults: no scenario %s (scripts/faults list)" % ", ".join(unknown), file=sys.stderr)
        return 2
    lab = Lab()
    if not lab.up():
        print("scripts/faults: no lab is up; scripts/lab up first", file=sys.stderr)
        return 2
    prepare(lab)
    results = [run_one(lab, by_name[n] if a.names else n, a.duration, a.rate)
               for n in (a.names or SCENARIOS)]
    print(table(results))
    if a.report:
        with open(a.report, "w") as f:
            json.dump({"scenarios": results}, f, indent=2)
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
