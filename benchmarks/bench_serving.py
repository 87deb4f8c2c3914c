"""Real-time serving: single-record latency (p50/p99) and throughput at concurrency 1, 8, 32, vs raw predict_proba.

    .venv/bin/python benchmarks/bench_serving.py [--requests 2000] [--seconds 15] [--concurrency 1,8,32]

The model is the TF-IDF (1-2 grams) + logistic regression of ``bench_transform.py`` (2,000
generated amazon_polarity rows). The server is ``ml.serving.app`` under uvicorn in its own
process on 127.0.0.1 (one worker, uvloop + httptools, as ``make serve``), with its access log on
(through :func:`ml.serving.app.log_through_queue`, into a file whose line count is checked
against the requests sent). The load generator is this process: ``c`` threads, each with one
keep-alive ``http.client`` connection (the standard library's client: a few tens of µs per
request, where httpx costs several hundred and would be measured instead of the server),
sending one JSON-lines record per request; each connection first sends ``--warmup`` requests,
then all start together; bounded by ``--requests`` per level and ``--seconds`` per level. The
baseline, in the same run before the server starts: ``pipeline.predict_proba([text])`` on one
record, called in a loop by ``c`` threads in one process (no HTTP, no parsing, no normalisation).
Both share the machine's cores with whatever else runs on it: the load average (``uptime``)
before and after each part is in the results. Results: ``benchmarks/results/serving.{json,md}``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "bench-token-0123456789abcdef"


def serve(model: str, port: int, access_log: str) -> None:
    """Child process: the serving app over ``model`` on 127.0.0.1:``port``, access log into ``access_log``."""
    import logging

    import uvicorn

    from ml.serving.app import create_app, log_through_queue
    from ml.serving.champion import ChampionRef, ModelSlot, load_champion

    logging.basicConfig(level=logging.WARNING)
    log = logging.getLogger("ml.serving.access")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(logging.FileHandler(access_log, encoding="utf-8"))
    listener = log_through_queue(log)
    slot = ModelSlot(load_champion(ChampionRef("1", Path(model).as_uri())))
    try:
        uvicorn.run(
            create_app(slot, {TOKEN: "bench"}), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    finally:
        listener.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def load_average() -> str:
    """``uptime``'s line (the 1/5/15-minute load averages on this machine)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of process ``pid`` (default: this one), from ``/proc``."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_level(
    make_worker: Callable[[], Callable[[int], bool]],
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int,
    cpu_pid: int | None = None,
) -> dict[str, Any]:
    """``concurrency`` threads, each with its own ``work = make_worker()``, call ``work(i)``.

    Each thread first calls ``work`` ``warmup`` times (not measured), then all start together and
    stop after ``requests`` calls in all or ``seconds``, whichever comes first. ``cpu_ms_per_call``:
    the CPU time process ``cpu_pid`` (default: this one) spent per call, warm-up calls included
    (a figure the machine's other load disturbs much less than latency).
    """
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    errors = [0]
    window: dict[str, float] = {}

    def go() -> None:  # run by the barrier before it releases anyone: every thread sees the window
        window["start"] = time.perf_counter()
        window["deadline"] = window["start"] + seconds

    ready = threading.Barrier(concurrency, action=go)

    def worker() -> None:
        work = make_worker()
        for i in range(warmup):
            work(i)
        ready.wait()
        mine: list[float] = []
        failed = 0
        deadline = window["deadline"]
        while time.perf_counter() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            t = time.perf_counter()
            ok = work(i)
            mine.append(time.perf_counter() - t)
            failed += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    cpu_before = cpu_seconds(cpu_pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - window["start"]
    cpu = cpu_seconds(cpu_pid) - cpu_before
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "throughput_per_s": len(latencies) / wall,
        "cpu_ms_per_call": cpu / (len(latencies) + warmup * concurrency) * 1000,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=2000, help="requests per concurrency level (bound)")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds per concurrency level (bound)")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured requests per connection before each level")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--serve", nargs=3, metavar=("MODEL_DIR", "PORT", "LOG"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_transform import make_rows, model_dir

    from ml.inference import load_model
    from ml.textnorm import combine_text_fields

    levels = [int(c) for c in args.concurrency.split(",")]
    rows = make_rows(500, seed=7)
    records = [json.dumps({"id": str(i), "title": r[1], "text": r[2]}).encode() for i, r in enumerate(rows)]
    texts = [combine_text_fields([r[1], r[2]], " . ") for r in rows]
    report: dict[str, Any] = {
        "requests": args.requests,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "cpus": os.cpu_count(),
        "load": {"start": load_average()},
    }
    with tempfile.TemporaryDirectory(prefix="nlpops-bench-serve-") as tmp:
        model = model_dir(Path(tmp))
        pipeline = load_model(model).pipeline

        def raw_worker() -> Callable[[int], bool]:
            return lambda i: pipeline.predict_proba([texts[i % 500]]) is not None

        raw = {c: run_level(raw_worker, c, args.requests, args.seconds, args.warmup) for c in levels}
        report["load"]["after_raw"] = load_average()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        access_log = Path(tmp) / "access.log"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(model), str(port), str(access_log)])
        try:
            wait_for_server(port, server)
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/jsonlines"}

            def served_worker() -> Callable[[int], bool]:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

                def call(i: int) -> bool:
                    conn.request("POST", "/invocations", body=records[i % 500], headers=headers)
                    response = conn.getresponse()
                    response.read()
                    return response.status == 200

                return call

            served = {
                c: run_level(served_worker, c, args.requests, args.seconds, args.warmup, cpu_pid=server.pid)
                for c in levels
            }
            report["load"]["end"] = load_average()
        finally:
            server.terminate()
            server.wait(timeout=30)
        sent = sum(args.warmup * c + served[c]["requests"] for c in levels)
        logged = sum(1 for line in access_log.open(encoding="utf-8") if '"path":"/invocations"' in line)
        if logged != sent:
            raise RuntimeError(f"the access log holds {logged} /invocations lines for {sent} requests sent")
        report["access_log_lines"] = logged
    report["raw"], report["served"] = raw, served
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md = to_markdown(report, levels)
    (RESULTS / "serving.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


def wait_for_server(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the serving app did not start")
        time.sleep(0.2)


def to_markdown(report: dict[str, Any], levels: list[int]) -> str:
    raw, served = report["raw"], report["served"]
    lines = [
        f"Single-record requests (JSON lines, bearer token, access log on) to `ml.serving.app` under uvicorn "
        f"(1 worker) on 127.0.0.1; load generator in another process (one keep-alive `http.client` connection "
        f"per thread, {report['warmup']} warm-up requests per connection) on the same {report['cpus']} cores; "
        f"bounded to {report['requests']} requests or {report['seconds']:.0f} s per level. Baseline: "
        "`predict_proba([text])` called by as many threads, same run. Machine load (`uptime`) at the start: "
        f"`{report['load']['start']}`; at the end: `{report['load']['end']}`.",
        "",
        "| concurrency | requests | served p50 ms | served p99 ms | raw p50 ms | raw p99 ms | p99 ÷ raw p50 | "
        "served req/s | raw req/s | throughput ratio | server CPU ms/req | raw CPU ms/call | failed |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in levels:
        s, r = served[c], raw[c]
        lines.append(
            f"| {c} | {s['requests']} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | "
            f"{s['p99_ms'] / r['p50_ms']:.1f} | {s['throughput_per_s']:.0f} | {r['throughput_per_s']:.0f} | "
            f"{s['throughput_per_s'] / r['throughput_per_s']:.2f} | {s['cpu_ms_per_call']:.2f} | "
            f"{r['cpu_ms_per_call']:.2f} | {s['errors']} |"
        )
    one, eight = levels[0], 8 if 8 in levels else levels[-1]
    p99_ratio = served[one]["p99_ms"] / raw[one]["p50_ms"]
    tp_ratio = served[eight]["throughput_per_s"] / raw[eight]["throughput_per_s"]
    lines += [
        "",
        f"Goals (issue 16): p99 at concurrency {one} ≤ 3 × raw single-record predict time — measured "
        f"{p99_ratio:.1f} × ({'met' if p99_ratio <= 3 else 'not met'}); throughput at concurrency {eight} ≥ 0.7 × raw "
        f"— measured {tp_ratio:.2f} × ({'met' if tp_ratio >= 0.7 else 'not met'}).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
