"""Real-time serving: single-record latency (p50/p99) and throughput at concurrency 1, 8, 32, vs raw predict_proba.

    .venv/bin/python benchmarks/bench_serving.py [--requests 2000] [--seconds 15] [--concurrency 1,8,32]

The model is the TF-IDF (1-2 grams) + logistic regression of ``bench_transform.py`` (2,000
generated amazon_polarity rows). The server is ``ml.serving.app`` under uvicorn in its own
process on 127.0.0.1 (one worker, as ``make serve``); the load generator is this process:
``c`` threads, each with a keep-alive ``httpx`` client, sending one JSON-lines record per
request, bounded by ``--requests`` per level and ``--seconds`` per level. The baseline in the
same run: ``pipeline.predict_proba([text])`` on one record, called in a loop by ``c``
threads in one process (no HTTP, no parsing, no normalisation). Both share the machine's
cores with the other side (load generator or threads), as a laptop would.
Results: ``benchmarks/results/serving.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "bench-token-0123456789abcdef"


def serve(model: str, port: int) -> None:
    """Child process: the serving app over ``model`` on 127.0.0.1:``port``."""
    import logging

    import uvicorn

    from ml.serving.app import create_app
    from ml.serving.champion import ChampionRef, ModelSlot, load_champion

    logging.getLogger("ml.serving.access").setLevel(logging.WARNING)  # the access log is not what is measured
    slot = ModelSlot(load_champion(ChampionRef("1", Path(model).as_uri())))
    uvicorn.run(create_app(slot, {TOKEN: "bench"}), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_level(work: Any, concurrency: int, requests: int, seconds: float) -> dict[str, float]:
    """``concurrency`` threads call ``work(i)`` until ``requests`` calls or ``seconds`` have passed."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.perf_counter() + seconds
    errors = [0]

    def worker() -> None:
        mine: list[float] = []
        while time.perf_counter() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            t = time.perf_counter()
            if not work(i):
                errors[0] += 1
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "throughput_per_s": len(latencies) / wall,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=2000, help="requests per concurrency level (bound)")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds per concurrency level (bound)")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--serve", nargs=2, metavar=("MODEL_DIR", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    import httpx

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_transform import make_rows, model_dir

    from ml.inference import load_model
    from ml.textnorm import combine_text_fields

    levels = [int(c) for c in args.concurrency.split(",")]
    rows = make_rows(500, seed=7)
    records = [json.dumps({"id": str(i), "title": r[1], "text": r[2]}).encode() for i, r in enumerate(rows)]
    texts = [combine_text_fields([r[1], r[2]], " . ") for r in rows]
    report: dict[str, Any] = {"requests": args.requests, "seconds": args.seconds, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="nlpops-bench-serve-") as tmp:
        model = model_dir(Path(tmp))
        pipeline = load_model(model).pipeline
        pipeline.predict_proba(texts[:10])  # warm
        raw = {c: run_level(lambda i: pipeline.predict_proba([texts[i % 500]]) is not None, c, args.requests,
                            args.seconds) for c in levels}  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(model), str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the serving app did not start")
                time.sleep(0.2)
            local = threading.local()
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/jsonlines"}

            def call(i: int) -> bool:
                client = getattr(local, "client", None)
                if client is None:
                    client = local.client = httpx.Client(base_url=base, headers=headers, timeout=30)
                r = client.post("/invocations", content=records[i % 500])
                return r.status_code == 200

            for _ in range(50):
                call(0)  # warm
            served = {}
            for c in levels:
                local = threading.local()
                served[c] = run_level(call, c, args.requests, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report["raw"], report["served"] = raw, served
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md = to_markdown(report, levels)
    (RESULTS / "serving.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


def to_markdown(report: dict[str, Any], levels: list[int]) -> str:
    raw, served = report["raw"], report["served"]
    lines = [
        f"Single-record requests (JSON lines, bearer token) to `ml.serving.app` under uvicorn (1 worker) on "
        f"127.0.0.1; load generator in another process on the same {report['cpus']} cores; bounded to "
        f"{report['requests']} requests or {report['seconds']:.0f} s per level. Baseline: "
        "`predict_proba([text])` called by as many threads, same run.",
        "",
        "| concurrency | served p50 ms | served p99 ms | raw p50 ms | raw p99 ms | p99 ÷ raw p50 | "
        "served req/s | raw req/s | throughput ratio | failed |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in levels:
        s, r = served[c], raw[c]
        lines.append(
            f"| {c} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{s['p99_ms'] / r['p50_ms']:.1f} | {s['throughput_per_s']:.0f} | {r['throughput_per_s']:.0f} | "
            f"{s['throughput_per_s'] / r['throughput_per_s']:.2f} | {s['errors']} |"
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
