"""Parse cost of every DAG file: time added after `airflow.sdk` is already imported.

Each file is imported in a fresh interpreter (so caches do not help it), `repeat` times,
and the median is reported. Usage: python benchmarks/bench_dag_import.py --out benchmarks/results/dag_import.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

PROBE = """
import time, importlib.util, json, sys
t0 = time.perf_counter(); import airflow.sdk; from airflow.sdk import DAG, Param, task, Asset  # noqa
t1 = time.perf_counter()
spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
t2 = time.perf_counter()
print(json.dumps({"sdk_s": t1 - t0, "dag_file_s": t2 - t1}))
"""


def measure(path: Path, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "dag_file_s_median": statistics.median(r["dag_file_s"] for r in runs),
        "sdk_s_median": statistics.median(r["sdk_s"] for r in runs),
        "repeat": repeat,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "results" / "dag_import.json")
    args = ap.parse_args()
    results = {p.name: measure(p, args.repeat) for p in sorted((PROJECT / "dags").glob("*.py"))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print("| DAG file | parse time after airflow.sdk (median) | airflow.sdk import |")
    print("|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['dag_file_s_median'] * 1000:.0f} ms | {r['sdk_s_median']:.2f} s |")


if __name__ == "__main__":
    main()
