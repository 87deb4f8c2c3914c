"""Which embedding finds a new category best: TF-IDF fitted on the pool vs the champion's features.

A champion is trained on the two-class training era of amazon_polarity (generated); a scored
era carries a share of the generator's ``new_category`` (own vocabulary). Both embeddings go
through the same k-means/silhouette clustering (``ml.categories.clusters``); reported per
embedding and share: the best cluster's purity (share of its members that are the new
category), its recall (share of the new category's texts it holds), k and the wall time.

    .venv/bin/python benchmarks/bench_categories.py [--pool 600] [--shares 0.2,0.1]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from ml.categories.clusters import cluster_pool  # noqa: E402
from ml.categories.pool import Pool  # noqa: E402
from ml.features import Hyperparameters, build_pipeline  # noqa: E402
from ml.generator import DriftKnobs, generate  # noqa: E402
from ml.generator.new_category import NEW_CATEGORIES  # noqa: E402

NEW = NEW_CATEGORIES["reviews"].name


def _rows(n: int, seed: int, share: float) -> tuple[list[str], list[str], list[str]]:
    out, truth = io.BytesIO(), io.BytesIO()
    generate("amazon_polarity", n, seed=seed, out=out, drift=DriftKnobs(new_category=share), truth_out=truth)
    recs = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    return [f"{r[1]} . {r[2]}" for r in recs], [r[0] for r in recs], truth.getvalue().decode().splitlines()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=int, default=1500)
    p.add_argument("--pool", type=int, default=600)
    p.add_argument("--shares", default="0.2,0.1")
    p.add_argument("--k-max", type=int, default=8)
    args = p.parse_args(argv)
    texts, raw, _ = _rows(args.train, 1, 0.0)
    champion = build_pipeline(Hyperparameters(C=4.0))
    champion.fit(texts, [{"1": "negative", "2": "positive"}[x] for x in raw])
    results = []
    for share in (float(x) for x in args.shares.split(",")):
        pool_texts, _, truth = _rows(args.pool, 2, share)
        proba = champion.predict_proba(pool_texts)
        classes = list(champion.classes_)
        pool = Pool(
            [str(i) for i in range(len(pool_texts))],
            pool_texts,
            [classes[i] for i in proba.argmax(axis=1)],
            proba.max(axis=1),
            ["bench"] * len(pool_texts),
        )
        n_new = truth.count(NEW)
        for embedding in ("pool", "champion"):
            t0 = time.perf_counter()
            c = cluster_pool(pool, champion=champion, embedding=embedding, k_max=args.k_max, seed=0)  # type: ignore[arg-type]
            seconds = time.perf_counter() - t0
            best = (0.0, 0.0)
            for cl in c.clusters:
                ids = [int(m["id"]) for m in cl["members"]]
                hits = sum(truth[i] == NEW for i in ids)
                best = max(best, (hits / len(ids), hits / max(n_new, 1)))
            results.append(
                {"share": share, "embedding": embedding, "k": c.k, "purity": round(best[0], 3),
                 "recall": round(best[1], 3), "seconds": round(seconds, 1)}
            )  # fmt: skip
    print(f"### Category discovery: embedding (pool of {args.pool}, champion trained on {args.train})\n")
    print("| new-category share | embedding | k | best cluster purity | its recall | seconds |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['share']} | {r['embedding']} | {r['k']} | {r['purity']} | {r['recall']} | {r['seconds']} |")
    out = PROJECT / "benchmarks" / "results" / "categories.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
