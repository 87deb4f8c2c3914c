"""Throughput of the ETL: Spark ``prepare`` + partitioned write + publish, and the same
transform in DuckDB SQL, on the same validated-like Parquet input.

Usage: python benchmarks/bench_etl.py --rows 100000 1000000 --out benchmarks/results/etl.json

For each size N: a seeded generator writes N validated rows (amazon_polarity layout:
title + text, HTML tags and entities, accents in NFD, emoji, 5% re-formatted duplicates)
as 4 Parquet files with a manifest; then the real job code (``etl.jobs.prepare_text.run``)
and ``benchmarks/duckdb_transform.py`` each process it, and their outputs are compared
(same rows per split, same content hashes). The Spark session is started once and warmed
up on a small input first; its start time is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "benchmarks"))  # duckdb_transform beside this script

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

WORDS = (  # noqa: SIM905 - a readable word list
    "great good bad terrible love hate fast slow cheap expensive broken works battery screen "
    "sound quality price delivery refund return product item seller box manual charger cable "
    "would not buy again recommend five stars waste money excellent poor durable flimsy"
).split()
ODDITIES = ["<br />", "&amp;", "&quot;quoted&quot;", "caf" + unicodedata.normalize("NFD", "é"), "😀", "naïve", "\n\n"]
FILES = 4


def make_validated(folder: Path, rows: int, seed: int = 7) -> str:
    """Write ``rows`` validated-zone rows (amazon_polarity) under ``folder``; returns its URI."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    folder.mkdir(parents=True)
    distinct = rows - rows // 20
    per_file = -(-rows // FILES)
    batch: dict[str, list[Any]] = {k: [] for k in ("polarity", "title", "text", "_row_id", "_source_uri")}
    records: list[int] = []
    originals: list[tuple[str, str, str]] = []
    written = 0
    for i in range(rows):
        if i < distinct:
            n = rng.randint(8, 60)
            words = [rng.choice(WORDS) for _ in range(n)]
            if rng.random() < 0.3:
                words.insert(rng.randrange(n), rng.choice(ODDITIES))
            label = "2" if words.count("good") + words.count("great") >= words.count("bad") else "1"
            row = (label, " ".join(rng.choice(WORDS) for _ in range(3)).title(), f"{i} " + " ".join(words))
            if len(originals) < 50_000:
                originals.append(row)
        else:  # an exact duplicate once normalised: extra spaces, a leading blank
            label, title, text = rng.choice(originals)
            row = (label, f" {title}", text.replace(" ", "  ", 3))
        file_no = i // per_file
        uri = f"file:///bench/raw/part-{file_no}.csv"
        batch["polarity"].append(row[0])
        batch["title"].append(row[1])
        batch["text"].append(row[2])
        batch["_row_id"].append(f"r{i}")
        batch["_source_uri"].append(uri)
        records.append(i - file_no * per_file + 1)
        if len(records) == per_file or i == rows - 1:
            table = pa.table(
                {
                    **{k: pa.array(v, pa.string()) for k, v in batch.items()},
                    "_source_record": pa.array(records, pa.int64()),
                    "_source_line": pa.array(records, pa.int64()),
                }
            )
            pq.write_table(table, folder / f"part-{written:05d}.parquet")
            written += 1
            batch = {k: [] for k in batch}
            records = []
    (folder / "_manifest.json").write_text(json.dumps({"profile": "amazon_polarity", "rows_valid": rows}))
    return f"file://{folder}"


def bench_spark(spark: Any, profile: Any, input_uri: str, output_uri: str) -> tuple[float, dict[str, Any]]:
    from etl.jobs.prepare_text import JobArgs, run

    args = JobArgs("bench-etl", profile, (input_uri,), output_uri, "bench")
    t0 = time.perf_counter()
    manifest = run(spark, args)
    return time.perf_counter() - t0, manifest


def bench_duckdb(profile: Any, input_dir: Path, output_dir: Path) -> tuple[float, dict[str, int]]:
    import duckdb
    import duckdb_transform

    con = duckdb.connect()
    t0 = time.perf_counter()
    counts = duckdb_transform.run(con, profile, f"{input_dir}/*.parquet", str(output_dir), "bench")
    seconds = time.perf_counter() - t0
    con.close()
    return seconds, dict(counts)


def same_output(spark_dir: Path, duck_dir: Path) -> bool:
    """Both engines kept the same texts, labels and splits."""
    import duckdb

    q = "SELECT content_hash, label, split, text FROM read_parquet('{}/*/*.parquet', hive_partitioning=true)"
    con = duckdb.connect()
    diff = con.execute(
        f"SELECT count(*) FROM (({q.format(spark_dir)}) EXCEPT ALL ({q.format(duck_dir)})"
        f" UNION ALL (({q.format(duck_dir)}) EXCEPT ALL ({q.format(spark_dir)})))"
    ).fetchone()
    return diff is not None and diff[0] == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", default=str(PROJECT / "benchmarks" / "results" / "etl.json"))
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--master", default=os.environ.get("NLPOPS_SPARK_MASTER", "local[*]"))
    parser.add_argument("--skip-duckdb", action="store_true")
    opts = parser.parse_args(argv)

    from etl.spark import get_spark
    from include.profiles import load_profile

    profile = load_profile(PROJECT / "include" / "profiles" / "amazon_polarity.yaml")
    work = Path(opts.workdir or tempfile.mkdtemp(prefix="bench-etl-"))
    results: dict[str, Any] = {
        "benchmark": "etl",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "spark_master": opts.master},
        "profile": profile.name,
        "runs": [],
    }
    try:
        t0 = time.perf_counter()
        spark = get_spark("bench-etl", master=opts.master)
        spark.range(1).count()
        results["spark_start_s"] = round(time.perf_counter() - t0, 2)
        # Warm-up (JIT, Python workers) so the first measured size is not charged for it.
        warm = make_validated(work / "validated" / "warmup", 2_000)
        bench_spark(spark, profile, warm, f"file://{work}/processed/warmup")

        for n in opts.rows:
            src = work / "validated" / f"n{n}"
            t0 = time.perf_counter()
            uri = make_validated(src, n)
            gen_s = time.perf_counter() - t0
            spark_out = work / "processed" / f"spark-{n}"
            spark_s, manifest = bench_spark(spark, profile, uri, f"file://{spark_out}")
            run: dict[str, Any] = {
                "rows": n,
                "generate_s": round(gen_s, 2),
                "input_mb": round(sum(p.stat().st_size for p in src.glob("*.parquet")) / 1e6, 1),
                "spark_s": round(spark_s, 2),
                "spark_rows_per_s": round(n / spark_s),
                "rows_out": manifest["rows_out"],
                "duplicates_removed": manifest["duplicates_removed"],
                "rows_per_split": manifest["rows_per_split"],
            }
            if not opts.skip_duckdb:
                duck_out = work / "processed" / f"duckdb-{n}"
                duck_s, duck_counts = bench_duckdb(profile, src, duck_out)
                run |= {
                    "duckdb_s": round(duck_s, 2),
                    "duckdb_rows_per_s": round(n / duck_s),
                    "spark_over_duckdb_time": round(spark_s / duck_s, 2),
                    "outputs_match": duck_counts == manifest["rows_per_split"] and same_output(spark_out, duck_out),
                }
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
            shutil.rmtree(src, ignore_errors=True)
    finally:
        if not opts.workdir:
            shutil.rmtree(work, ignore_errors=True)

    runs = results["runs"]
    if len(runs) >= 2:
        small, big = runs[0], runs[-1]
        results["per_row_cost_ratio_spark"] = round(
            (big["spark_s"] / big["rows"]) / (small["spark_s"] / small["rows"]), 2
        )
        if "duckdb_s" in big:
            results["per_row_cost_ratio_duckdb"] = round(
                (big["duckdb_s"] / big["rows"]) / (small["duckdb_s"] / small["rows"]), 2
            )
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))

    print(f"\nSpark session start: {results['spark_start_s']} s ({opts.master}, {os.cpu_count()} CPUs)\n")
    print("| rows | Spark s | Spark rows/s | DuckDB s | DuckDB rows/s | Spark ÷ DuckDB (time) | outputs match |")
    print("|---:|---:|---:|---:|---:|---:|:---:|")
    for r in runs:
        print(
            f"| {r['rows']:,} | {r['spark_s']} | {r['spark_rows_per_s']:,} | {r.get('duckdb_s', '-')} | "
            f"{r.get('duckdb_rows_per_s', '-')} | {r.get('spark_over_duckdb_time', '-')} | "
            f"{r.get('outputs_match', '-')} |"
        )
    if "per_row_cost_ratio_spark" in results:
        print(
            f"\nper-row cost, {runs[-1]['rows']:,} ÷ {runs[0]['rows']:,} rows: Spark "
            f"{results['per_row_cost_ratio_spark']}, DuckDB {results.get('per_row_cost_ratio_duckdb', '-')}"
        )
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
