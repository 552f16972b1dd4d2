#!/usr/bin/env python3
"""Steady client load for the fault suite: runs inside a web task's network namespace
(`ip netns exec sc-<task> python3 loadgen.py URL RATE COUNT`, which also binds the task's hosts
file), sends GET URL at RATE requests per second (open loop, one request at a time, each with a
1 s timeout, so a fault shows as failures and gaps rather than as a slower rate), and prints one
JSON line per request: {"t": start (Unix s), "ok": bool, "ms": duration, "by": answering task}.
Stops after COUNT requests or on SIGTERM. Standard library only."""
import json
import signal
import sys
import time
import urllib.request

stop = False


def on_term(*_):
    global stop
    stop = True


def main():
    url, rate, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGTERM, on_term)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an http_proxy
    interval = 1.0 / rate
    next_at = time.monotonic()
    for _ in range(count):
        if stop:
            break
        start_wall, start = time.time(), time.monotonic()
        ok, by = False, ""
        try:
            with opener.open(url, timeout=1.0) as r:
                body = r.read(256).decode("utf-8", "replace").split()
                ok = r.status == 200
                by = body[-1] if body else ""
        except Exception:  # any failure is a failed request; the suite counts them
            pass
        ms = (time.monotonic() - start) * 1000.0
        print(json.dumps({"t": round(start_wall, 4), "ok": ok, "ms": round(ms, 2), "by": by}), flush=True)
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.monotonic()


if __name__ == "__main__":
    main()
