"""GX validation throughput: rows/s of the whole validation stage vs a plain pandas parse.

Generates N rows of the amazon_polarity raw format with the project's generator, then in
one run times (a) `pandas.read_csv` of the file (baseline: parse only) and (b)
`etl.validation.validate_objects` (sniff, RFC-4180 parse, GX expectations, quarantine,
Parquet, Data Docs). Usage: python benchmarks/bench_validation.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
PROJECT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "results" / "validation.json")
    args = ap.parse_args()

    import pandas as pd

    from etl.validation import validate_objects
    from include import lake
    from include.profiles import get_profile
    from ml.generator import generate

    profile = get_profile("amazon_polarity")
    with tempfile.TemporaryDirectory(prefix="nlpops-bench-val-") as tmp:
        root = Path(tmp) / "lake"
        raw = root / "raw" / "amazon_polarity"
        raw.mkdir(parents=True)
        path = raw / "bench.csv"
        generate(profile, args.rows, seed=args.seed, out=path)
        lake_uri = root.as_uri()
        objects = lake.list_objects(f"{lake_uri}/raw/amazon_polarity")

        t0 = time.perf_counter()
        frame = pd.read_csv(path, header=None, names=profile.input.columns, dtype=str, keep_default_na=False)
        t_pandas = time.perf_counter() - t0
        assert len(frame) == args.rows

        import great_expectations  # noqa: F401  (import cost measured apart)

        t0 = time.perf_counter()
        manifest = validate_objects(
            profile,
            objects,
            run_key="bench",
            validated_uri=f"{lake_uri}/validated/amazon_polarity/bench",
            quarantine_uri=f"{lake_uri}/quarantine/amazon_polarity/bench",
            report_uri=f"{lake_uri}/reports/validation/amazon_polarity/bench",
            lake_root_uri=lake_uri,
        )
        t_val = time.perf_counter() - t0
    result = {
        "rows": args.rows,
        "pandas_parse_s": t_pandas,
        "validation_s": t_val,
        "validation_rows_per_s": args.rows / t_val,
        "pandas_rows_per_s": args.rows / t_pandas,
        "ratio_validation_to_parse": t_val / t_pandas,
        "rows_valid": manifest["rows_valid"],
        "rows_quarantined": manifest["rows_quarantined"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("| rows | validation (GX, quarantine, Parquet, Data Docs) | rows/s | pandas.read_csv only | time ratio |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {args.rows:,} | {t_val:.1f} s | {args.rows / t_val:,.0f} | {t_pandas:.2f} s "
        f"({args.rows / t_pandas:,.0f} rows/s) | {t_val / t_pandas:.1f}× |"
    )


if __name__ == "__main__":
    main()
