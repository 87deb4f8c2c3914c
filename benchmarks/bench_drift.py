"""Drift detection: false-alarm rate, power and cost of the drift check, per batch size.

    .venv/bin/python benchmarks/bench_drift.py [--trials 100] [--trials-50k 30] [--quick]

One model (word TF-IDF + logistic regression) is trained on reference data of the
``amazon_polarity`` profile from ``ml.generator`` (``DriftKnobs.from_magnitude``); if the
generator cannot be imported, a simple seeded sampler of this module with the same four
knobs stands in (the results say which source was used). The baseline is computed on a
held-out reference split of 5,000 rows, as training does on its validation split.
Then for drift magnitude 0 and increasing magnitudes, at batch sizes 500, 5,000 and
50,000, seeded batches are scored and checked; a trial alarms when the policy calls
the window over (``consecutive_windows=1``, the profile's default thresholds).
Also measured: drift-check time ÷ scoring time of the same batch, for this model and
for the profile's production pipeline (word + char n-grams), which costs more to score.
Results: ``benchmarks/results/drift.{json,md}`` and ``drift_power.png``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PROFILE = "amazon_polarity"
SIZES = (500, 5_000, 50_000)
MAGNITUDES = (0.0, 0.05, 0.1, 0.2, 0.3)
REFERENCE_ROWS = 5_000
FILLER = ("the", "a", "and", "it", "was", "is", "this", "i", "for", "of", "to", "with", "my", "but", "not", "very")
TRAIN_ROWS = 20_000


# --- data sources -----------------------------------------------------------------------


class GeneratorSource:
    """Batches from ``ml.generator.generate`` (raw CSV bytes parsed back, as ingest would)."""

    name = "ml.generator"

    def __init__(self) -> None:
        from ml.generator.core import generate
        from ml.generator.knobs import DriftKnobs

        self._generate, self._knobs = generate, DriftKnobs

    def sample(self, n: int, magnitude: float, seed: int) -> tuple[list[str], list[str]]:
        buf = io.BytesIO()
        self._generate(PROFILE, n, seed=seed, out=buf, drift=self._knobs.from_magnitude(magnitude))
        rows = list(csv.reader(io.StringIO(buf.getvalue().decode("utf-8-sig"))))
        return [f"{title} . {text}" for _, title, text in rows], [
            "negative" if p == "1" else "positive" for p, _, _ in rows
        ]


class SimpleSource:
    """A seeded two-class review sampler with the generator's four drift knobs.

    Words: Zipf-distributed topic words, class sentiment words, filler. At magnitude m:
    0.6·m of topic words come from a new vocabulary, texts are (1 + m)× longer, the class
    prior moves 0.6·m towards the rarer class, and 0.5·m of texts are about a new topic.
    """

    name = "simple sampler (ml.generator not importable)"

    def __init__(self) -> None:
        rng = np.random.default_rng(12345)

        def words(prefix: str, k: int) -> np.ndarray:
            return np.array([f"{prefix}{''.join(rng.choice(list('abcdefghijklmnopqrstuvwxyz'), 5))}" for _ in range(k)])

        self.topic, self.new_vocab, self.new_topic = words("t", 3000), words("n", 1500), words("x", 300)
        self.sentiment = {"negative": words("neg", 200), "positive": words("pos", 200)}
        self.filler = np.array(FILLER)
        zipf = 1.0 / np.arange(1, 3001) ** 1.1
        self.p_topic = zipf / zipf.sum()

    def sample(self, n: int, magnitude: float, seed: int) -> tuple[list[str], list[str]]:
        rng = np.random.default_rng(seed)
        shift = 0.6 * magnitude
        p_pos = (1 - shift) * 0.55 + shift * 0.0  # rarer class (negative) gains
        labels = np.where(rng.random(n) < p_pos, "positive", "negative")
        lengths = np.maximum(3, rng.lognormal(np.log(25 * (1 + magnitude)), 0.6, n)).astype(int)
        new_topic = rng.random(n) < 0.5 * magnitude
        texts = []
        for lab, length, nt in zip(labels, lengths, new_topic, strict=True):
            kinds = rng.choice(3, size=length, p=[0.5, 0.15, 0.35])
            topic = rng.choice(self.topic, size=length, p=self.p_topic)
            swap = rng.random(length) < 0.6 * magnitude
            topic = np.where(swap, rng.choice(self.new_vocab, size=length), topic)
            if nt:
                topic = np.where(rng.random(length) < 0.5, rng.choice(self.new_topic, size=length), topic)
            senti = rng.choice(self.sentiment[str(lab)], size=length)
            fill = rng.choice(self.filler, size=length)
            texts.append(" ".join(np.choose(kinds, [topic, senti, fill])))
        return texts, labels.tolist()


def make_source() -> Any:
    try:
        return GeneratorSource()
    except ImportError:
        return SimpleSource()


# --- the benchmark --------------------------------------------------------------------------


def train_model(texts: list[str], labels: list[str]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=200_000),
        LogisticRegression(C=4.0, max_iter=1_000),
    )
    return model.fit(texts, labels)


def production_pipeline(texts: list[str], labels: list[str]) -> Any:
    from include.profiles import get_profile
    from ml.features import Hyperparameters, build_pipeline

    hp = Hyperparameters.from_mapping(get_profile(PROFILE).model.model_dump())
    return build_pipeline(hp, n_samples=len(texts)).fit(texts, labels)


def run_trial(
    source: Any, model: Any, baseline: dict[str, Any], spec: Any, n: int, m: float, seed: int
) -> dict[str, Any]:
    from ml.drift.metrics import compute_drift
    from ml.drift.policy import decide

    texts, _ = source.sample(n, m, seed)
    t0 = time.perf_counter()
    proba = model.predict_proba(texts)
    t_score = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = compute_drift(baseline, texts, proba, list(model.classes_), seed=seed)
    t_drift = time.perf_counter() - t0
    d = decide(metrics, n, [], datetime(2026, 1, 1, tzinfo=UTC), spec)
    return {"alarm": d.over, "over": d.metrics_over, "metrics": metrics, "t_score": t_score, "t_drift": t_drift}


def summarise(trials: list[dict[str, Any]], thresholds: dict[str, float]) -> dict[str, Any]:
    alarms = [t["alarm"] for t in trials]
    out: dict[str, Any] = {
        "trials": len(trials),
        "alarm_rate": float(np.mean(alarms)),
        "score_seconds": float(np.median([t["t_score"] for t in trials])),
        "drift_seconds": float(np.median([t["t_drift"] for t in trials])),
        "metric_over_rate": {k: float(np.mean([k in t["over"] for t in trials])) for k in thresholds},
        "metric_p50": {k: float(np.median([t["metrics"][k] for t in trials])) for k in thresholds},
        "metric_p95": {k: float(np.quantile([t["metrics"][k] for t in trials], 0.95)) for k in thresholds},
    }
    out["drift_over_score"] = out["drift_seconds"] / out["score_seconds"]
    return out


def main(argv: list[str] | None = None) -> int:
    from include.profiles import DriftSpec, get_profile
    from ml.drift.baseline import compute_baseline

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--trials-50k", type=int, default=20, help="trials at 50,000 rows (slow)")
    ap.add_argument("--quick", action="store_true", help="10 trials, sizes 500 and 5,000 (smoke run)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)

    started = time.perf_counter()
    profile = get_profile(PROFILE)
    spec: DriftSpec = profile.drift.model_copy(update={"consecutive_windows": 1})
    source = make_source()
    print(f"source: {source.name}", flush=True)
    train_texts, train_labels = source.sample(TRAIN_ROWS, 0.0, seed=1)
    ref_texts, _ = source.sample(REFERENCE_ROWS, 0.0, seed=2)
    model = train_model(train_texts, train_labels)
    classes = [str(c) for c in model.classes_]
    baseline = compute_baseline(ref_texts, model.predict_proba(ref_texts), classes, low_confidence=spec.low_confidence)

    sizes = SIZES[:2] if args.quick else SIZES
    grid: dict[str, dict[str, Any]] = {}
    for n in sizes:
        trials = 10 if args.quick else (args.trials_50k if n >= 50_000 else args.trials)
        # At 50k only the null and moderate drift are needed for calibration (and they are slow).
        mags = (0.0, profile.drift.moderate_magnitude) if n >= 50_000 else MAGNITUDES
        for m in mags:
            t0 = time.perf_counter()
            # seeds never repeat across cells, nor collide with the training/reference seeds
            res = [
                run_trial(source, model, baseline, spec, n, m, 1_000_000 * (i + 1) + n + int(m * 1000))
                for i in range(trials)
            ]
            cell = summarise(res, spec.thresholds)
            grid[f"{n}|{m}"] = {"n": n, "magnitude": m, **cell}
            print(
                f"n={n:>6} m={m:.2f} trials={trials} alarm={cell['alarm_rate']:.2f} "
                f"drift/score={cell['drift_over_score']:.2f} ({time.perf_counter() - t0:.0f}s)",
                flush=True,
            )

    # Cost relative to the production pipeline (word + char n-grams) on a few batches.
    prod = production_pipeline(train_texts[:10_000], train_labels[:10_000])
    ratio_prod = {}
    for n in sizes:
        texts, _ = source.sample(n, 0.0, seed=7)
        t0 = time.perf_counter()
        proba = prod.predict_proba(texts)
        t_score = time.perf_counter() - t0
        from ml.drift.metrics import compute_drift

        t0 = time.perf_counter()
        compute_drift(baseline, texts, proba, [str(c) for c in prod.classes_], seed=7)
        ratio_prod[str(n)] = {"score_seconds": t_score, "drift_seconds": time.perf_counter() - t0}
        ratio_prod[str(n)]["drift_over_score"] = ratio_prod[str(n)]["drift_seconds"] / t_score

    result = {
        "source": source.name,
        "profile": PROFILE,
        "thresholds": spec.thresholds,
        "min_metrics_over": spec.min_metrics_over,
        "moderate_magnitude": profile.drift.moderate_magnitude,
        "reference_rows": REFERENCE_ROWS,
        "train_rows": TRAIN_ROWS,
        "grid": grid,
        "production_pipeline_cost": ratio_prod,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "seconds": time.perf_counter() - started,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "drift.md").write_text(markdown(result), encoding="utf-8")
    power_curve(result, out / "drift_power.png")
    print(markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Drift detection benchmark",
        "",
        f"Source: {r['source']}, profile `{r['profile']}`; reference (baseline) {r['reference_rows']} rows, "
        f"model trained on {r['train_rows']} rows. Alarm = at least {r['min_metrics_over']} metrics over "
        f"threshold in one window (`consecutive_windows=1`). Thresholds: "
        + ", ".join(f"`{k}` > {v:g}" for k, v in r["thresholds"].items())
        + f". Moderate magnitude: {r['moderate_magnitude']}. Total {r['seconds']:.0f} s.",
        "",
        "| rows | magnitude | trials | alarm rate | drift s | score s | drift ÷ score | most often over |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in r["grid"].values():
        top = sorted(c["metric_over_rate"].items(), key=lambda kv: -kv[1])[:3]
        over = ", ".join(f"{k} {v:.0%}" for k, v in top if v > 0) or "-"
        lines.append(
            f"| {c['n']} | {c['magnitude']:.2f} | {c['trials']} | {c['alarm_rate']:.2f} | {c['drift_seconds']:.3f} | "
            f"{c['score_seconds']:.3f} | {c['drift_over_score']:.2f} | {over} |"
        )
    lines += ["", "Against the profile's production pipeline (word + char n-grams), one batch each:", ""]
    lines += ["| rows | score s | drift s | drift ÷ score |", "|---:|---:|---:|---:|"]
    for n, c in r["production_pipeline_cost"].items():
        lines.append(f"| {n} | {c['score_seconds']:.3f} | {c['drift_seconds']:.3f} | {c['drift_over_score']:.2f} |")
    return "\n".join(lines) + "\n"


def power_curve(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for n in sorted({c["n"] for c in r["grid"].values()}):
        cells = sorted((c for c in r["grid"].values() if c["n"] == n), key=lambda c: c["magnitude"])
        ax.plot([c["magnitude"] for c in cells], [c["alarm_rate"] for c in cells], marker="o", label=f"{n} rows")
    ax.axhline(0.05, color="grey", ls=":", label="5% false alarms")
    ax.axhline(0.95, color="grey", ls="--", label="95% power")
    ax.axvline(r["moderate_magnitude"], color="red", ls=":", label="moderate magnitude")
    ax.set_xlabel("drift magnitude")
    ax.set_ylabel("alarm rate")
    ax.set_title(f"drift alarm rate ({r['source']})", fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
