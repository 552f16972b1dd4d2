#!/usr/bin/env python3
"""Plots of the benchmarks' samples files (PNG, drawn by gnuplot).

Reads the JSON files that the benchmarks write with --samples-out and draws, for each file, the
plots its content allows:

  bench_proxy traffic   proxy-latency.png        latency percentiles per path (direct, one proxy,
                                                 two proxies): closed loop, ~1000 and ~4000 req/s
  bench_proxy egress    proxy-egress-latency.png the egress paths (keep-alive, new connection)
  bench_proxy launch    proxy-launch.png         launch-to-HEALTHY, one point per launch
  agent_bench start     agent-start.png          desired-to-RUNNING per task, stacked by step
  agent_bench propagation
                        agent-propagation.png    endpoint propagation per web proxy (box plots)
  agent_bench sweep (or idle)
                        agent-memory.png         agent memory (and CPU) against task count

Each plot carries a caption with the machine, the load average during the run and the date.

Needs gnuplot with the pngcairo terminal: Debian's `gnuplot-nox` (apt-get install gnuplot-nox);
only python3's standard library otherwise. `--help` works without it.

Example (the files committed under bench/results/):
  python3 bench/plot.py --out docs/benchmarks bench/results/*.json
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

GNUPLOT_PACKAGE = "gnuplot-nox"
# One colour per path or step, readable on white and for the common colour-vision deficiencies
# (Okabe-Ito).
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
WIDE = (1500, 520)
NORMAL = (1000, 560)


def q(text):
    """A gnuplot double-quoted string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def load_range(samples, series):
    """'a–b' over the 1-minute load averages taken with the plotted samples (each run, task, round or
    step records one); the file's start and end values only when the samples have none (agent_bench's
    end value follows its cleanup, which is not measured)."""
    vals = [e["loadavg"][0] for e in series if e.get("loadavg")]
    if not vals:
        vals = [samples[k][0] for k in ("loadavg_start", "loadavg_end") if samples.get(k)]
    if not vals:
        return "unknown"
    return f"{min(vals):.1f}–{max(vals):.1f}"


def caption(samples, series, command, note=""):
    h = samples.get("host", {})
    machine = f"{h.get('cpus', '?')} vCPUs ({h.get('cpu_model', '?')}), Linux {h.get('kernel', '?')}"
    start, end = samples.get("started_utc", "?"), samples.get("finished_utc", "?")
    when = f"{start[:10]} {start[11:16]}–{end[11:16]} UTC" if len(start) >= 16 and len(end) >= 16 else start
    commit = ""
    if h.get("commit"):
        commit = f", commit {h['commit']}" + ("" if h.get("worktree_clean", True) else " with local changes")
    return (f"{machine}; load average (1 min) {load_range(samples, series)} on the shared machine; "
            f"{when}{commit}\n{command}" + (f"\n{note}" if note else ""))


class Plot:
    """One PNG: data blocks written to a temporary directory and a gnuplot script."""

    def __init__(self, workdir, out, size, cap):
        self.workdir, self.out = workdir, out
        self.lines = [f"set terminal pngcairo size {size[0]},{size[1]} font 'DejaVu Sans,10' noenhanced",
                      f"set output {q(out)}", "set encoding utf8", "set border lw 1", "set grid lc rgb '#dddddd'",
                      "set key noopaque", "set bmargin 8",
                      f"set label 99 {q(cap)} at screen 0.01, screen {44 / size[1]:.4f} font ',8' tc rgb '#444444'"]
        self.n = 0

    def data(self, rows):
        """Writes rows (lists of values; None = a blank line, which breaks a line) and returns the path."""
        self.n += 1
        path = os.path.join(self.workdir, f"{os.path.basename(self.out)}.{self.n}.dat")
        with open(path, "w") as f:
            for r in rows:
                f.write("\n" if r is None else " ".join("NaN" if v is None else str(v) for v in r) + "\n")
        return path

    def add(self, *lines):
        self.lines += lines

    def render(self):
        script = "\n".join(self.lines) + "\nunset output\n"
        with open(os.path.join(self.workdir, os.path.basename(self.out) + ".gp"), "w") as f:
            f.write(script)
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if r.returncode != 0:
            sys.exit(f"plot.py: gnuplot failed for {self.out}:\n{r.stderr}")
        print(f"wrote {self.out}")


# ---------------------------------------------------------------------------------------------
# bench_proxy

def percentile_axis(p):
    """x axis of a percentile plot: 1 / (1 - p), on a log scale, labelled with p."""
    p.add("set logscale x", "set xrange [1:20000]",
          "set xtics ('50 %%' 2, '90 %%' 10, '99 %%' 100, '99.9 %%' 1000, '99.99 %%' 10000)",
          "set logscale y", "set ylabel 'latency (µs)'", "set xlabel 'percentile of requests'")


def quantile_rows(runs):
    """Rows (x, us) of each run, runs separated by blank lines; x = 1/(1-p)."""
    rows = []
    for e in runs:
        pts = [(0.0, e["min_us"])] + [tuple(v) for v in e.get("quantiles", [])]
        for pc, us in pts:
            if pc < 100 and us > 0:
                rows.append([round(1 / (1 - pc / 100), 4), us])
        rows.append(None)
    return rows


def median_curve(runs):
    """The median over runs at each percentile of the grid (bold line)."""
    by_p = {}
    for e in runs:
        for pc, us in [(0.0, e["min_us"])] + [tuple(v) for v in e.get("quantiles", [])]:
            by_p.setdefault(pc, []).append(us)
    return [[round(1 / (1 - pc / 100), 4), statistics.median(v)] for pc, v in sorted(by_p.items())
            if pc < 100 and all(x > 0 for x in v)]


def faded(colour):
    return "#B0" + colour[1:]


def latency_panels(p, samples, panels, paths):
    """`panels`: [(title, [runs of that panel])]; one line colour per path."""
    p.add(f"set multiplot layout 1,{len(panels)}")
    for i, (title, runs) in enumerate(panels):
        p.add(f"set title {q(title)}", "set key bottom right")
        plots = []
        for j, path in enumerate(paths):
            mine = [e for e in runs if e["path"] == path and e.get("quantiles")]
            if not mine:
                continue
            c = COLOURS[j % len(COLOURS)]
            plots.append(f"{q(p.data(quantile_rows(mine)))} using 1:2 with lines lw 1 lc rgb {q(faded(c))} notitle")
            plots.append(f"{q(p.data(median_curve(mine)))} using 1:2 with lines lw 2.5 lc rgb {q(c)} "
                         f"title {q(f'{path} (median of {len(mine)} runs)')}")
        if plots:
            p.add("plot " + ", \\\n  ".join(plots))
        if i == 0:
            p.add("unset label 99")
    p.add("unset multiplot")


def plot_traffic(samples, out, workdir):
    runs = samples["runs"]
    lat = [e for e in runs if e["measure"] == "latency"]
    if not lat:
        return
    rounds, secs = len({e["round"] for e in lat}), lat[0]["seconds"]
    fixed = [e for e in runs if e["measure"] == "fixed-rate"]
    panels = [(f"closed loop, 1 connection (wrk -t1 -c1)", lat)]
    for c in sorted({e["connections"] for e in fixed}):
        mine = [e for e in fixed if e["connections"] == c]
        panels.append((f"~{1000 * c} req/s ({c} conn. with 1 ms think time)", mine))
    cmd = f"bench_proxy --samples-out FILE traffic {rounds} {secs}  ->  bench/plot.py"
    note = f"{rounds} interleaved rounds of {secs} s per path; 1 KiB responses; thin lines: single runs"
    p = Plot(workdir, os.path.join(out, "proxy-latency.png"), WIDE, caption(samples, runs, cmd, note))
    p.add("set label 98 'Proxy: request latency per path (wrk percentiles)' at screen 0.5, screen 0.975 center "
          "font ',12'", "set tmargin 4")
    percentile_axis(p)
    latency_panels(p, samples, panels, ["direct", "one-proxy", "two-proxies"])
    p.render()


def plot_egress(samples, out, workdir):
    runs = samples["runs"]
    keep = [e for e in runs if e["measure"] == "egress-keepalive"]
    fresh = [e for e in runs if e["measure"] == "egress-new-connection"]
    if not keep:
        return
    rounds, secs = len({e["round"] for e in keep}), keep[0]["seconds"]
    paths = list(dict.fromkeys(e["path"] for e in keep))
    cmd = f"bench_proxy --samples-out FILE egress {rounds} {secs}  ->  bench/plot.py"
    note = f"{rounds} interleaved rounds of {secs} s per path; 1 KiB responses; thin lines: single runs"
    p = Plot(workdir, os.path.join(out, "proxy-egress-latency.png"), WIDE, caption(samples, runs, cmd, note))
    p.add("set label 98 'Proxy: egress paths, request latency (wrk percentiles)' at screen 0.5, screen 0.975 "
          "center font ',12'", "set tmargin 4")
    percentile_axis(p)
    latency_panels(p, samples, [("keep-alive (one connection)", keep),
                                ("a new connection per request (Connection: close)", fresh)], paths)
    p.render()


def plot_launch(samples, out, workdir):
    runs = [e for e in samples["runs"] if e["measure"] == "launch"]
    if not runs:
        return
    v = runs[0]["launch_ms"]
    cmd = f"bench_proxy --samples-out FILE launch {len(v)}  ->  bench/plot.py"
    p = Plot(workdir, os.path.join(out, "proxy-launch.png"), NORMAL, caption(samples, runs, cmd))
    med = statistics.median(v)
    p.add("set title 'Proxy: launch to HEALTHY, one launch after another' font ',12'",
          "set xlabel 'launch'", "set ylabel 'launch to HEALTHY (ms)'", "set yrange [0:*]", "set key top right",
          f"set arrow 1 from graph 0, first {med} to graph 1, first {med} nohead dt 2 lc rgb '#444444'")
    d = p.data([[i + 1, x] for i, x in enumerate(v)])
    p.add(f"plot {q(d)} using 1:2 with linespoints pt 7 ps 0.8 lc rgb {q(COLOURS[0])} "
          f"title {q(f'one launch (median {med:.1f} ms, dashed)')}")
    p.render()


# ---------------------------------------------------------------------------------------------
# agent_bench

def agent_cmd(samples, options):
    """The agent_bench command line that wrote `samples`, with the options that shaped this plot."""
    a = samples.get("args", {})
    words = ["sudo python3 bench/agent_bench.py", f"--phases {a.get('phases', '?')}"]
    for opt in options:
        if opt in a:
            words.append(f"--{opt.replace('_', '-')} {a[opt]}")
    return " ".join(words + ["--samples-out FILE  ->  bench/plot.py"])


def plot_start(samples, out, workdir):
    st = samples.get("start")
    if not st or not st.get("tasks"):
        return
    tasks = st["tasks"]
    steps = [("update_to_first_line_ms", "UpdateService → agent's first log line"),
             ("sandbox", "sandbox (PROVISIONING → PENDING)"),
             ("proxy to HEALTHY", "proxy to HEALTHY (PENDING → ACTIVATING)"),
             ("app", "app (ACTIVATING → RUNNING)"),
             ("running_to_describe_ms", "task RUNNING → DescribeTasks shows it")]

    def val(t, k):
        return t.get(k) if k.endswith("_ms") else (t.get("steps_ms") or {}).get(k)

    rows = [[t["i"]] + [val(t, k) if val(t, k) is not None else 0 for k, _ in steps] for t in tasks]
    note = "a bar sums to UpdateService returned → DescribeTasks first shows the task RUNNING+HEALTHY"
    p = Plot(workdir, os.path.join(out, "agent-start.png"), NORMAL,
             caption(samples, tasks, agent_cmd(samples, ["start_tasks"]), note))
    d = p.data(rows)
    p.add("set title 'Host agent: desired-to-RUNNING per task, by step (each task started alone)' font ',12'",
          "set style data histograms", "set style histogram rowstacked", "set boxwidth 0.75",
          "set style fill solid 0.9 border rgb '#ffffff'", "set xlabel 'task (in start order)'",
          "set ylabel 'time (ms)'", "set yrange [0:*]", "set offsets 0, 0, graph 0.45, 0", "set key top left Left reverse", "set grid ytics")
    base = st.get("baseline_launch_ms") or []
    if base:
        med = statistics.median(base)
    plots = []
    for j, (_, title) in enumerate(steps):
        src = q(d) if j == 0 else "''"
        xt = ":xtic(1)" if j == 0 else ""
        plots.append(f"{src} using {j + 2}{xt} lc rgb {q(COLOURS[j])} title {q(title)}")
    if base:
        med = statistics.median(base)
        plots.append(f"{med} with lines dt 2 lw 1.5 lc rgb '#000000' "
                     f"title {q(f'baseline: bare proxy launch to HEALTHY, median of {len(base)} ({med:.0f} ms)')}")
    p.add("plot " + ", \\\n  ".join(plots))
    p.render()


def plot_propagation(samples, out, workdir):
    pr = samples.get("propagation")
    if not pr or not pr.get("rounds"):
        return
    rounds = pr["rounds"]
    n = len(pr["web_proxies"])
    note = ("boxes: quartiles and median, whiskers: 1.5 IQR, dots: rounds beyond; web proxies in task-id order "
            "(ListTasks' order)")
    p = Plot(workdir, os.path.join(out, "agent-propagation.png"), WIDE,
             caption(samples, rounds, agent_cmd(samples, ["web", "rounds"]), note))
    p.add("set label 98 'Host agent: endpoint propagation to each client proxy' at screen 0.5, screen 0.975 "
          "center font ',12'", "set tmargin 4",
          "set style data boxplot", "set style boxplot outliers pointtype 7", "set pointsize 0.6",
          "set style fill solid 0.35 border", "set boxwidth 0.6", "set yrange [0:*]", "set key off",
          "set ylabel 'time (ms)'", "set grid ytics", "set offsets 0, 0, graph 0.05, 0", "set multiplot layout 1,2")
    for i, (key, all_key, extra_key, extra_title, title) in enumerate([
            ("added_ms_per_proxy", "added_all_ms", "added_cloud_map_ms", "Cloud\nMap",
             f"added: the new db task's 'task RUNNING' → listed by web proxy k ({len(rounds)} rounds)"),
            ("removed_ms_per_proxy", "removed_all_ms", None, None,
             f"removed: UpdateService (db −1) returned → out of rotation in web proxy k")]):
        cols = [[r.get(key, [None] * n)[k] if r.get(key) else None for k in range(n)] +
                [r.get(all_key)] + ([r.get(extra_key)] if extra_key else []) for r in rounds]
        labels = [f"{k + 1}" for k in range(n)] + ["slowest"] + ([extra_title] if extra_key else [])
        d = p.data(cols)
        tics = ", ".join(f"{q(l)} {k + 1}" for k, l in enumerate(labels))
        p.add(f"set title {q(title)}", f"set xtics ({tics})", f"set xrange [0.3:{len(labels) + 0.7}]",
              "set xlabel 'web proxy k  (slowest: the last of them to list it, per round)'", "set xtics font ',9'")
        plots = []
        for k in range(len(labels)):
            c = COLOURS[0] if k < n else COLOURS[3] if k == n else COLOURS[2]
            plots.append(f"{q(d)} using ({k + 1}):{k + 1} lc rgb {q(c)}")
        p.add("plot " + ", \\\n  ".join(plots))
        if i == 0:
            p.add("unset label 99")
    p.add("unset multiplot")
    p.render()


def lsq(xs, ys):
    """Least-squares line: (intercept, slope)."""
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - b * mx, b


def plot_memory(samples, out, workdir):
    src = samples.get("sweep") or samples.get("idle")
    if not src or len(src.get("points", [])) < 2:
        return
    pts = sorted(src["points"], key=lambda x: x["tasks"])
    rows = []
    for x in pts:
        v = x["vmrss_kib"]
        rows.append([x["tasks"], statistics.median(v) / 1024, min(v) / 1024, max(v) / 1024,
                     x["rss_anon_kib"] / 1024, x["rss_file_kib"] / 1024, 100 * x["cpu_share"],
                     x.get("proxy_vmrss_kib", 0) / 1024 or None])
    a, b = lsq([r[0] for r in rows], [r[1] for r in rows])
    secs = pts[-1]["seconds"]
    opts = ["sweep_counts", "sweep_settle", "sweep_seconds"] if samples.get("sweep") else ["idle_tasks", "idle_seconds"]
    note = f"each point: {secs:.0f} s with nothing changing; the counts run upwards in one agent"
    p = Plot(workdir, os.path.join(out, "agent-memory.png"), WIDE, caption(samples, pts, agent_cmd(samples, opts), note))
    d = p.data(rows)
    p.add("set label 98 'Host agent: memory and idle CPU against the number of tasks' at screen 0.5, "
          "screen 0.975 center font ',12'", "set tmargin 4", "set multiplot layout 1,2",
          "set xlabel 'tasks on the host (Service Connect, each with an egress of all tasks)'",
          "set xrange [-5:*]", "set yrange [0:*]", "set key top left",
          "set title 'agent memory (VmRSS: median, min–max over the window)'", "set ylabel 'MiB'")
    fit = f"{a:.1f} MiB + {1024 * b:.0f} KiB per task"
    p.add(f"plot {q(d)} using 1:2:3:4 with yerrorlines pt 7 lw 2 lc rgb {q(COLOURS[0])} title 'VmRSS', "
          f"{q(d)} using 1:5 with linespoints pt 5 lc rgb {q(COLOURS[1])} title 'RssAnon (heap)', "
          f"{q(d)} using 1:6 with linespoints pt 9 lc rgb {q(COLOURS[2])} title 'RssFile (binary, libraries)', "
          f"{a} + {b} * x with lines dt 2 lc rgb '#444444' title {q('least squares: ' + fit)}, "
          f"{q(d)} using 1:8 with points pt 6 ps 1.2 lc rgb {q(COLOURS[3])} title 'one task proxy, VmRSS'")
    p.add("unset label 99", "set title 'agent CPU over the same window (utime + stime, 10 ms ticks)'",
          "set ylabel '% of one core'", "set key top left")
    p.add(f"plot {q(d)} using 1:7 with linespoints pt 7 lw 2 lc rgb {q(COLOURS[3])} title 'agent CPU'")
    p.add("unset multiplot")
    p.render()


# ---------------------------------------------------------------------------------------------

def plot_file(path, out, workdir):
    with open(path) as f:
        samples = json.load(f)
    prog = samples.get("program")
    if prog == "bench_proxy":
        {"traffic": plot_traffic, "egress": plot_egress, "launch": plot_launch}.get(
            samples.get("mode"), lambda *_: print(f"{path}: nothing to plot"))(samples, out, workdir)
    elif prog == "agent_bench":
        for fn in (plot_start, plot_propagation, plot_memory):
            fn(samples, out, workdir)
    else:
        sys.exit(f"plot.py: {path}: not a samples file of bench_proxy or agent_bench")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", metavar="SAMPLES.json", help="files written by --samples-out")
    ap.add_argument("--out", default="docs/benchmarks", help="directory for the PNGs (default docs/benchmarks)")
    ap.add_argument("--keep-scripts", metavar="DIR", help="also keep the gnuplot scripts and data here")
    args = ap.parse_args()
    if shutil.which("gnuplot") is None:
        sys.exit(f"plot.py: gnuplot not found; install Debian's {GNUPLOT_PACKAGE} (apt-get install {GNUPLOT_PACKAGE})")
    os.makedirs(args.out, exist_ok=True)
    if args.keep_scripts:
        os.makedirs(args.keep_scripts, exist_ok=True)
        for path in args.files:
            plot_file(path, args.out, args.keep_scripts)
        return
    with tempfile.TemporaryDirectory(prefix="scplot-") as workdir:
        for path in args.files:
            plot_file(path, args.out, workdir)


if __name__ == "__main__":
    main()
