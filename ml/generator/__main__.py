"""Command line of the synthetic data generator: ``python -m ml.generator --help``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.generator.core import generate
from ml.generator.dirty import generate_dirty_corpus
from ml.generator.knobs import DriftKnobs
from ml.generator.layouts import GeneratorError


def _unit(value: str) -> float:
    x = float(value)
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1]")
    return x


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ml.generator",
        description="Write seeded synthetic raw files of a dataset profile in its exact raw format "
        "(same seed -> same bytes). Prints one JSON line of statistics per file.",
    )
    p.add_argument("--profile", required=True, help="profile name (include/profiles/<name>.yaml), e.g. amazon_polarity")
    p.add_argument("--rows", type=int, default=1000, help="records per file (default 1000)")
    p.add_argument("--seed", type=int, default=42, help="random seed; file i of --files uses seed+i (default 42)")
    p.add_argument(
        "--out",
        required=True,
        help="output file path or URI (file://, s3:// through include.lake); a name ending .gz writes gzip. "
        "With --files > 1 or --dirty: a directory (a path ending '/' is always a directory)",
    )
    p.add_argument("--files", type=int, default=1, help="number of files to write (default 1)")
    p.add_argument("--no-label", action="store_true", help="omit the label column (inference input)")
    p.add_argument("--label-noise", type=float, default=0.05, help="share of rows with a swapped label (default 0.05)")
    p.add_argument(
        "--variant", default=None, help="export layout, cfpb_complaints: classic|complaints|complaints_unzip"
    )
    p.add_argument("--chunk-rows", type=int, default=50_000, help="rows formatted per write (memory bound)")
    p.add_argument(
        "--dirty",
        action="store_true",
        help="write the dirty corpus (every bad-input kind + _dirty_catalog.json) into the --out directory; "
        "--rows is then the rows per file",
    )
    p.add_argument(
        "--outside-dir", default=None, help="--dirty: where the escaping symlink points (default: a sibling)"
    )
    p.add_argument("--magnitude", type=_unit, default=None, help="one drift magnitude in [0, 1] scaling every knob")
    p.add_argument("--vocab-shift", type=_unit, default=0.0, help="share of words from a new-era vocabulary")
    p.add_argument("--length-shift", type=float, default=0.0, help="texts longer (>0, up to 1) or shorter (<0, to -1)")
    p.add_argument(
        "--label-prior-shift", type=_unit, default=0.0, help="skew of the class priors towards the rarest class"
    )
    p.add_argument("--new-topic", type=_unit, default=0.0, help="share of documents about a topic unseen in training")
    p.add_argument(
        "--new-category",
        type=_unit,
        default=0.0,
        help="share of documents of a class that did not exist in training (ml/generator/new_category.py)",
    )
    return p


def _file_targets(out: str, files: int, seed: int, profile: str) -> list[str]:
    is_dir = out.endswith("/") or files > 1 or ("://" not in out and Path(out).is_dir())
    if not is_dir:
        return [out]
    base = out.rstrip("/")
    return [f"{base}/{profile}-seed{seed + i}-part-{i:05d}.csv" for i in range(files)]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    manual = any((args.vocab_shift, args.length_shift, args.label_prior_shift, args.new_topic, args.new_category))
    if args.magnitude is not None and manual:
        print("error: use either --magnitude or the single knobs, not both", file=sys.stderr)
        return 2
    try:
        if args.magnitude is not None:
            knobs = DriftKnobs.from_magnitude(args.magnitude)
        else:
            knobs = DriftKnobs(
                args.vocab_shift, args.length_shift, args.label_prior_shift, args.new_topic, args.new_category
            )
        if args.dirty:
            if "://" in args.out and not args.out.startswith("file://"):
                raise GeneratorError("--dirty writes a local directory (symlinks): use a path or a file:// URI")
            dest = Path(args.out[len("file://") :] if args.out.startswith("file://") else args.out)
            files = generate_dirty_corpus(
                args.profile, dest, seed=args.seed, rows_per_file=args.rows, outside_dir=args.outside_dir,
                variant=args.variant,
            )  # fmt: skip
            print(json.dumps({"dirty_dir": str(dest), "files": len(files)}))
            return 0
        for i, target in enumerate(_file_targets(args.out, args.files, args.seed, args.profile)):
            stats = generate(
                args.profile,
                args.rows,
                seed=args.seed + i,
                out=target,
                with_label=not args.no_label,
                drift=knobs,
                label_noise=args.label_noise,
                variant=args.variant,
                chunk_rows=args.chunk_rows,
            )
            print(json.dumps(stats.to_dict(), sort_keys=True))
    except (GeneratorError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
