"""Load on the web app over loopback: N clients POST /api/plan for D seconds; p50/p95 latency.

Usage: python benchmarks/web_load.py [SECONDS]. Starts `gpuplan web` on a free port on
127.0.0.1 with a throw-away store, waits until it answers (and its plan workers are up), runs
1 and 20 clients with cached plans (every request the same scenario) and uncached ones (every
request a new traffic level, so nothing comes from the cache), stops it. A 503 (queue full) is
counted apart, its ``Retry-After`` honoured (at most :data:`MAX_BACKOFF_S`), and its
``queue_length`` kept. Bounded in count and time; only loopback traffic.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAX_REQUESTS_PER_CLIENT = 100_000
#: Longest a client sleeps on a 503's Retry-After [s].
MAX_BACKOFF_S = 2.0
#: Longest the server may take to start and answer [s].
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server() -> Iterator[int]:
    """`gpuplan web` on a free loopback port with a throw-away store; yields the port."""
    port = _free_port()
    exe = ROOT / ".venv" / "bin" / "gpuplan"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([str(exe), "web", "--port", str(port), "--db",
                                 f"sqlite:///{tmp}/load.db"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            deadline = time.time() + START_TIMEOUT_S
            while time.time() < deadline:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    c.request("GET", "/api/pool")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _quantiles(lat: list[float]) -> tuple[float, float]:
    if len(lat) < 2:
        return (lat[0], lat[0]) if lat else (float("nan"), float("nan"))
    q = statistics.quantiles(sorted(lat), n=100)
    return q[49], q[94]


def run(port: int, clients: int = 20, seconds: float = 30.0, unique: bool = False,
        start: int = 0) -> dict[str, Any]:
    """``unique``: every request a different scenario (no cache hits); else the same one."""
    base_text = (ROOT / "examples" / "enterprise-70b.yaml").read_text()
    counter = iter(range(start, start + 10**9))
    counter_lock = threading.Lock()

    def body() -> bytes:
        text = base_text
        if unique:  # a different traffic level each time: nothing can come from the cache
            with counter_lock:
                n = next(counter)
            text = text.replace("rate: 20", f"rate: {20 + n * 0.001:.3f}")
        return json.dumps({"yaml": text}).encode()

    lat: list[float] = []
    counts = {"ok": 0, "busy": 0, "errors": 0}
    queue_lengths: list[int] = []
    lock = threading.Lock()
    stop = time.time() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.time() >= stop:
                break
            t0 = time.perf_counter()
            status, retry, qlen = 0, 0.0, None
            try:
                conn.request("POST", "/api/plan", body=body(),
                             headers={"Content-Type": "application/json",
                                      "Host": f"127.0.0.1:{port}"})
                r = conn.getresponse()
                data = r.read()
                status = r.status
                if status == 503:
                    retry = float(r.getheader("retry-after") or 1)
                    qlen = json.loads(data).get("queue_length")
            except OSError:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
            dt = time.perf_counter() - t0
            with lock:
                if status == 200:
                    counts["ok"] += 1
                    lat.append(dt)
                elif status == 503:
                    counts["busy"] += 1
                    if qlen is not None:
                        queue_lengths.append(int(qlen))
                else:
                    counts["errors"] += 1
            if retry:
                time.sleep(min(retry, MAX_BACKOFF_S, max(stop - time.time(), 0.0)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p50, p95 = _quantiles(lat)
    return {"clients": clients, "seconds": seconds, "unique": unique, "requests": counts["ok"],
            "busy_503": counts["busy"], "errors": counts["errors"], "p50_s": p50, "p95_s": p95,
            "throughput_per_s": counts["ok"] / seconds,
            "max_queue_length": max(queue_lengths, default=0)}


def run_all(seconds: float = 20.0) -> list[dict[str, Any]]:
    """1 and 20 clients, cached and uncached plans, on one server."""
    out = []
    with server() as port:
        run(port, 1, 2.0)  # warm: the cached plan exists, every worker has planned once
        start = 0
        for unique in (False, True):
            for clients in (1, 20):
                out.append(run(port, clients, seconds, unique=unique, start=start))
                start += 10**6
    return out


def describe(w: dict[str, Any]) -> str:
    kind = "uncached (each request a new scenario)" if w["unique"] else "cached (same scenario)"
    busy = (f", {w['busy_503']} answered 503 queue full (queue length up to "
            f"{w['max_queue_length']})" if w["busy_503"] else "")
    return (f"web: POST /api/plan, {w['clients']:>2} client(s) x {w['seconds']:.0f} s, {kind}: "
            f"p50 {w['p50_s'] * 1e3:,.0f} ms, p95 {w['p95_s'] * 1e3:,.0f} ms, "
            f"{w['requests']:,} planned, {w['throughput_per_s']:.1f}/s, {w['errors']} errors"
            f"{busy}")


if __name__ == "__main__":
    s = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    for w in run_all(s):
        print(describe(w))
