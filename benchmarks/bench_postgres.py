"""Results into PostgreSQL: rows/s of the idempotent load vs a plain COPY of the same Parquet.

    .venv/bin/python benchmarks/bench_postgres.py [--rows 200000] [--files 10] [--repeat 3]

A private PostgreSQL cluster on loopback (Debian's server, ``tests/pgcluster.py``) and a
results batch of ``--rows`` predictions in ``--files`` Parquet files with the results schema
(``ml.results.RESULT_COLUMNS``). Measured, best of ``--repeat``, each from the Parquet files:

* **plain COPY** (baseline): the same Parquet → CSV conversion, then ``COPY`` into a table
  with the same columns and no key or index;
* **load, empty table**: ``ml.results_postgres.load_predictions`` (COPY into a staging
  table, stale-row delete, upsert keyed by (source_uri, source_record, model_version), the
  dashboard indexes maintained, one transaction);
* **load, retry**: the same batch again over the loaded rows (every row an update).

Results: ``benchmarks/results/postgres.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PROJECT = Path(__file__).resolve().parent.parent


def make_batch(root: Path, rows: int, files: int) -> list[str]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    uris = []
    per = rows // files
    map_type = pa.map_(pa.string(), pa.float64())
    for f in range(files):
        p = rng.random(per)
        src = f"file:///lake/inference-input/amazon_polarity/batch-{f:03d}.csv"
        table = pa.table(
            {
                "id": [f"{f:03d}-{i:08d}" for i in range(per)],
                "label": np.where(p >= 0.5, "positive", "negative").tolist(),
                "confidence": np.maximum(p, 1 - p).round(6),
                "probabilities": pa.array(
                    [[("positive", float(x)), ("negative", float(1 - x))] for x in p.round(6)], type=map_type
                ),
                "source_uri": [src] * per,
                "source_record": pa.array(range(1, per + 1), type=pa.int64()),
                "source_key": [f"batch-{f:03d}.csv"] * per,
                "source_etag": ["etag"] * per,
                "job_name": ["bench-job"] * per,
            }
        )
        path = root / f"part-{f:03d}.parquet"
        pq.write_table(table, path, compression="zstd")
        uris.append(path.as_uri())
    return uris


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(PROJECT / "tests"))
    import psycopg
    from pgcluster import PgCluster

    from ml.results_postgres import STAGE_COLUMNS, _copy_in, batch_csv, load_predictions

    meta = {"profile": "amazon_polarity", "model_version": "7", "scored_date": "2026-11-23", "run_key": "bench"}
    out: dict[str, Any] = {"rows": args.rows, "files": args.files, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="nlpops-bench-pg-") as tmp, PgCluster() as pg:
        files = make_batch(Path(tmp), args.rows, args.files)
        rows = args.rows // args.files * args.files
        with psycopg.connect(pg.dsn) as conn:
            out["server"] = conn.execute("SHOW server_version").fetchone()[0]
            plain, empty, retry = [], [], []
            for _ in range(args.repeat):
                conn.execute("DROP TABLE IF EXISTS plain_copy, nlpops_predictions, nlpops_drift_decisions")
                conn.execute(
                    "CREATE TABLE plain_copy (source_uri text, source_record bigint, model_version text, id text, "
                    "profile text, label text, confidence double precision, probabilities jsonb, scored_date date, "
                    "source_key text, source_etag text, job_name text, run_key text)"
                )
                conn.commit()
                t = time.perf_counter()
                csv_path = os.path.join(tmp, "plain.csv")
                n = batch_csv(files, csv_path, **meta)
                with conn.cursor() as cur:
                    _copy_in(
                        cur, f"COPY plain_copy ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", csv_path
                    )
                conn.commit()
                plain.append(time.perf_counter() - t)
                assert n == rows
                t = time.perf_counter()
                first = load_predictions(conn, files, **meta)
                empty.append(time.perf_counter() - t)
                t = time.perf_counter()
                again = load_predictions(conn, files, **meta)
                retry.append(time.perf_counter() - t)
                count = conn.execute("SELECT count(*) FROM nlpops_predictions").fetchone()[0]
                assert first["upserted"] == again["upserted"] == count == rows, (first, again, count)
    best = {"plain_copy": min(plain), "load_empty": min(empty), "load_retry": min(retry)}
    out["seconds"] = best
    out["rows_per_second"] = {k: rows / v for k, v in best.items()}
    out["ratio_vs_plain_copy"] = {k: best["plain_copy"] / v for k, v in best.items()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "postgres.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    rps, ratio = out["rows_per_second"], out["ratio_vs_plain_copy"]
    md = (
        f"{rows:,} predictions in {args.files} Parquet files, PostgreSQL {out['server']} on loopback "
        f"(private cluster, fsync off), best of {args.repeat}; every timing starts from the Parquet files.\n\n"
        "| load | seconds | rows/s | throughput vs plain COPY |\n|---|---:|---:|---:|\n"
        f"| plain COPY into an unkeyed, unindexed table (baseline) | {best['plain_copy']:.2f} | "
        f"{rps['plain_copy']:,.0f} | 1.00 |\n"
        f"| `load_predictions`, empty table (staging COPY + keyed upsert + 4 indexes) | {best['load_empty']:.2f} | "
        f"{rps['load_empty']:,.0f} | {ratio['load_empty']:.2f} |\n"
        f"| `load_predictions` again (retry: every row an update) | {best['load_retry']:.2f} | "
        f"{rps['load_retry']:,.0f} | {ratio['load_retry']:.2f} |\n\n"
        "The idempotent load pays for the staging table, the primary key, the dashboard indexes and,\n"
        "on a retry, rewriting every row; in exchange a retry never duplicates a prediction.\n"
    )
    (RESULTS / "postgres.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
