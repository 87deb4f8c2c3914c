"""Throughput and memory of the local batch transform (read, split, handler, write).

Usage: python benchmarks/bench_transform.py --rows 200000 --workers 1 2 --large-mb 200

For each N: a seeded generator writes N records in the amazon_polarity layout (no header,
``label,"title","text"`` with quoted commas, ``""`` escapes, embedded newlines and HTML
entities) and each model of ``MODELS`` is trained on 2,000 other rows: a small word TF-IDF +
logistic regression, and the project's default pipeline (word + character n-grams).
Measured: docs/s of ``pipeline.predict_proba`` on the same texts in this process (the
ceiling) and docs/s of the whole ``ml.transform.BatchTransform`` path with each worker
count; their ratio is the cost of the file semantics. Then the peak RSS of the whole
process tree (this process + workers, sampled every 50 ms) while scoring one large file.
Writes ``benchmarks/results/transform.json`` and ``transform.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "benchmarks" / "results"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

POS = ["great", "love", "perfect", "excellent", "fast", "recommend", "durable", "happy", "works", "five", "stars"]
NEG = ["terrible", "hate", "broken", "slow", "waste", "refund", "poor", "flimsy", "awful", "return", "never", "again"]
COMMON = [
    "the",
    "product",
    "item",
    "battery",
    "screen",
    "sound",
    "price",
    "delivery",
    "seller",
    "box",
    "cable",
    "charger",
    "it",
    "was",
    "and",
    "but",
]


def make_rows(n: int, seed: int) -> list[tuple[str, str, str]]:
    """``(label, title, text)`` rows: sentiment words mixed with common words, some CSV-hostile text."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        positive = rng.random() < 0.5
        words = POS if positive else NEG
        title = " ".join(rng.choice(words if rng.random() < 0.6 else COMMON) for _ in range(rng.randint(2, 5)))
        body = [rng.choice(words if rng.random() < 0.3 else COMMON) for _ in range(rng.randint(15, 60))]
        if i % 7 == 0:
            body.insert(3, '"quoted", with comma')
        if i % 11 == 0:
            body.insert(5, "&amp; line\nbreak")
        rows.append(("2" if positive else "1", title, " ".join(body)))
    return rows


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).writerows(rows)


def write_large_csv(path: Path, target_mb: int, seed: int) -> int:
    """Append generated chunks until the file reaches ``target_mb``; returns the record count."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
        chunk = 0
        while fh.tell() < target_mb * 1024 * 1024:
            rows = make_rows(50_000, seed + chunk)
            writer.writerows(rows)
            count += len(rows)
            chunk += 1
    return count


#: The models scored: ``simple`` (word 1–2-gram TF-IDF + LR, the fastest predict, so the handler's
#: per-record work weighs most) and ``project`` (``ml.features.build_pipeline`` with the default
#: hyper-parameters: word 1–2 + char 2–5-gram TF-IDF + LR, what the train DAG fits by default).
MODELS = ("simple", "project")


def model_dir(tmp: Path, kind: str = "simple") -> Path:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from include.profiles import get_profile
    from ml.artefact import save_pipeline
    from ml.features import Hyperparameters, build_pipeline
    from ml.textnorm import combine_text_fields

    train = make_rows(2000, seed=99)
    labels = ["positive" if r[0] == "2" else "negative" for r in train]
    texts = [combine_text_fields([r[1], r[2]], " . ") for r in train]
    if kind == "project":
        pipe = build_pipeline(Hyperparameters(), n_samples=len(texts))
    else:
        pipe = Pipeline(
            [("features", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)), ("clf", LogisticRegression())]
        )
    pipe.fit(texts, labels)
    out = tmp / f"model-{kind}"
    out.mkdir()
    save_pipeline(pipe, out / "model.skops")
    profile = json.loads(get_profile("amazon_polarity").to_json())
    (out / "model.json").write_text(json.dumps({"classes": list(pipe.classes_), "profile": profile, "version": "1"}))
    return out


class TreeRss:
    """Peak resident memory of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self) -> TreeRss:
        self.baseline = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def run_transform(
    model: Path, lake_root: Path, key: str, workers: int, payload_mb: float, tag: str = "simple"
) -> dict[str, Any]:
    from ml.transform import BatchTransform

    uri = (lake_root / "inference-input" / key).as_uri()
    obj = {"uri": uri, "key": key, "etag": "bench"}
    job = f"bench-{tag}-{key.replace('.', '-')}-w{workers}"
    out = (lake_root / "inference-output" / job).as_uri()
    start = time.perf_counter()
    summary = BatchTransform(model, max_payload_mb=payload_mb, workers=workers).run([obj], out, job)
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 2),
        "records": summary.records_in,
        "errors": summary.errors,
        "requests": summary.requests,
        "model_load_s": summary.model_load_seconds,  # per worker, measured inside it
        "startup_s": summary.startup_seconds,  # job start -> first worker has its model
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, nargs="+", default=[200_000])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--payload-mb", type=float, default=6)
    p.add_argument("--large-mb", type=int, default=200, help="size of the file for the memory run (0 = skip)")
    p.add_argument("--large-workers", type=int, default=2)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="models scored (see MODELS)")
    p.add_argument("--out", type=Path, default=RESULTS / "transform.json")
    args = p.parse_args(argv)

    from ml.textnorm import combine_text_fields

    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "payload_mb": args.payload_mb,
        "throughput": [],
    }
    with tempfile.TemporaryDirectory(prefix="nlpops-bench-transform-") as tmpname:
        tmp = Path(tmpname)
        from ml.artefact import load_pipeline

        lake_root = tmp / "lake"
        (lake_root / "inference-input").mkdir(parents=True)
        for kind, n in [(kind, n) for kind in args.models for n in args.rows]:
            model = model_dir(tmp, kind) if not (tmp / f"model-{kind}").exists() else tmp / f"model-{kind}"
            pipeline = load_pipeline(model / "model.skops")
            rows = make_rows(n, seed=n)
            key = f"rows-{n}.csv"
            if not (lake_root / "inference-input" / key).exists():
                write_csv(lake_root / "inference-input" / key, rows)
            texts = [combine_text_fields([r[1], r[2]], " . ") for r in rows]
            start = time.perf_counter()
            for i in range(0, n, 10_000):  # batches, as the handler scores them
                pipeline.predict_proba(texts[i : i + 10_000])
            raw = time.perf_counter() - start
            entry: dict[str, Any] = {
                "model": kind,
                "rows": n,
                "file_mb": round((lake_root / "inference-input" / key).stat().st_size / 2**20, 1),
                "raw_predict_proba_docs_per_s": round(n / raw),
                "transform": {},
            }
            for w in args.workers:
                res = run_transform(model, lake_root, key, w, args.payload_mb, tag=kind)
                res["docs_per_s"] = round(n / res["seconds"])
                res["ratio_to_raw"] = round(res["docs_per_s"] / entry["raw_predict_proba_docs_per_s"], 3)
                steady = max(1e-9, res["seconds"] - res["startup_s"])
                res["steady_ratio_to_raw"] = round(n / steady / entry["raw_predict_proba_docs_per_s"], 3)
                one = entry["transform"].get("1")
                res["speedup_vs_1_worker"] = round(one["seconds"] / res["seconds"], 2) if one else None
                entry["transform"][str(w)] = res
                print(f"[bench] model={kind} rows={n} workers={w}: {res}", flush=True)
            report["throughput"].append(entry)
            del rows, texts
        if args.large_mb:
            key = f"large-{args.large_mb}mb.csv"
            records = write_large_csv(lake_root / "inference-input" / key, args.large_mb, seed=7)
            model = tmp / f"model-{args.models[0]}"
            with TreeRss() as rss:
                res = run_transform(model, lake_root, key, args.large_workers, args.payload_mb, tag=args.models[0])
            report["memory"] = {
                "file_mb": round((lake_root / "inference-input" / key).stat().st_size / 2**20, 1),
                "records": records,
                "workers": args.large_workers,
                "model": args.models[0],
                "peak_tree_rss_mb": round(rss.peak / 2**20, 1),
                "rss_before_mb": round(rss.baseline / 2**20, 1),
                **res,
            }
            print(f"[bench] memory: {report['memory']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(to_markdown(report), encoding="utf-8")
    print(to_markdown(report))
    return 0


def to_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Local batch transform",
        "",
        f"Python {m['python']}, {m['cpus']} CPUs, MaxPayloadInMB={report['payload_mb']}. "
        "`ratio` = transform docs/s ÷ raw `predict_proba` docs/s on the same texts in one process; "
        "`steady` leaves out the start-up (pool start, imports, model load until the first worker is ready); "
        "`× 1 worker` = one-worker time ÷ this time.",
        "",
        "| model | rows | file MB | raw docs/s | workers | transform docs/s | ratio | steady ratio | × 1 worker "
        "| model load s per worker | start-up s | requests | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for e in report["throughput"]:
        for w, r in e["transform"].items():
            lines.append(
                f"| {e.get('model', 'simple')} | {e['rows']:,} | {e['file_mb']} | "
                f"{e['raw_predict_proba_docs_per_s']:,} | {w} | "
                f"{r['docs_per_s']:,} | {r['ratio_to_raw']} | {r.get('steady_ratio_to_raw')} | "
                f"{r.get('speedup_vs_1_worker') or '-'} | {', '.join(f'{x:.2f}' for x in r.get('model_load_s', []))} | "
                f"{r.get('startup_s')} | {r['requests']} | {r['errors']} |"
            )
    if "memory" in report:
        mem = report["memory"]
        lines += [
            "",
            f"Memory ({mem.get('model', 'simple')} model): a {mem['file_mb']} MB file ({mem['records']:,} records) "
            f"with {mem['workers']} workers: "
            f"peak RSS of the process tree {mem['peak_tree_rss_mb']} MB (before: {mem['rss_before_mb']} MB), "
            f"{mem['seconds']} s, {mem['requests']} requests.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
