"""Training entry point, SageMaker script-mode contract (runs unchanged in the scikit-learn container).

Inputs: Parquet under ``SM_CHANNEL_TRAIN`` and ``SM_CHANNEL_VALIDATION`` (optional
``SM_CHANNEL_TEST``), hyper-parameters as ``--name value`` arguments (the fields of
``include.profiles.ModelSpec`` plus ``--profile``, ``--classes``, ``--lineage`` …).
Outputs: ``SM_MODEL_DIR/{model.skops, model.json, baseline.json}`` and
``SM_OUTPUT_DATA_DIR/{metrics.json, evaluation.json, confusion_test.png, search.json}``.
Progress goes to stdout as ``[train] <elapsed>s …`` lines; the objective metrics also as
``validation:macro_f1=0.8123;`` lines, the format of the SageMaker metric definitions
(:data:`METRIC_REGEX`) that a hyper-parameter tuning job optimises.

With ``--search_budget_seconds N`` (> 0) the configuration is chosen by ``ml.search``
(successive halving, k-fold CV, within N seconds) before the final fit; the choice, every
trial and the winner's k-fold mean ± sd go to ``model.json`` (``selection``) and ``search.json``.
BLAS/OpenMP pools are held to one thread: on a 2-core machine shared with Airflow and Spark,
two spinning BLAS threads made a LogisticRegression fit 20 times slower (sparse linear models
gain nothing from them).

    python -m ml.train --profile airline_tweets --C 2.0 --classifier logreg
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from ml.features import Hyperparameters

_START = time.monotonic()
_BOOL_FALSE = {"0", "false", "no", "off", ""}
#: SageMaker metric definitions for the lines :func:`emit_metric` prints: ``{split}:{metric}=value;``.
METRIC_REGEX = r"{split}:{metric}=([0-9.eE+-]+);"


def emit_metric(split: str, metric: str, value: float) -> None:
    """One line SageMaker's metric definitions parse (``METRIC_REGEX``), e.g. ``validation:macro_f1=0.8123;``."""
    print(f"{split}:{metric}={value:.6f};", flush=True)


def log(message: str) -> None:
    """One progress line with seconds since start (flushed: the runner streams it live)."""
    print(f"[train] {time.monotonic() - _START:7.1f}s {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Hyper-parameters and paths; SageMaker passes every hyper-parameter as ``--key value`` strings."""
    p = argparse.ArgumentParser(prog="ml.train", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    defaults = Hyperparameters()
    for f in fields(Hyperparameters):
        default = getattr(defaults, f.name)
        # The SageMaker training toolkit passes one-letter hyper-parameters as `-C value`, longer ones as `--name`.
        flags = [f"--{f.name}", *([f"-{f.name}"] if len(f.name) == 1 else [])]
        p.add_argument(*flags, type=type(default), default=default, help=f"default {default!r}")
    p.add_argument("--profile", default="unnamed", help="profile name recorded in model.json")
    p.add_argument("--classes", default="", help="JSON list of the profile's classes (default: labels in train)")
    p.add_argument("--low_confidence", type=float, default=0.6, help="drift baseline low-confidence threshold")
    p.add_argument("--lineage", default="{}", help="JSON object recorded in model.json (data manifest, job name …)")
    p.add_argument("--code_version", default="unknown", help="code version recorded in model.json (set by the DAG)")
    p.add_argument("--model-dir", dest="model_dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    p.add_argument(
        "--output-data-dir", dest="output_dir", default=os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")
    )
    p.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    p.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
    p.add_argument("--test", default=os.environ.get("SM_CHANNEL_TEST", ""))
    args, unknown = p.parse_known_args(argv)
    if unknown:
        # SageMaker adds its own keys (sagemaker_program, …); note them, do not fail.
        log(f"ignoring unknown arguments {unknown}")
    return args


def hyperparameters(args: argparse.Namespace) -> Hyperparameters:
    return Hyperparameters(**{f.name: getattr(args, f.name) for f in fields(Hyperparameters)})


def stratified_sample(frame: Any, size: int, seed: int) -> Any:
    """At most ``size`` rows keeping class proportions (every class keeps ≥ 1 row)."""
    if size <= 0 or len(frame) <= size:
        return frame
    frac = size / len(frame)
    parts = [g.sample(n=max(1, round(len(g) * frac)), random_state=seed) for _, g in frame.groupby("label")]
    import pandas as pd

    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def cross_validate(hp: Hyperparameters, texts: list[str], labels: list[str]) -> dict[str, float]:
    """k-fold (stratified) macro-F1 and accuracy on the training split: mean and std."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold
    from sklearn.model_selection import cross_validate as sk_cv

    from ml.features import build_pipeline

    min_class = min(labels.count(c) for c in set(labels))
    folds = min(hp.cv_folds, min_class)
    if folds < 2:
        log(f"cross-validation skipped: smallest class has {min_class} rows")
        return {}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=hp.seed)
    pipe = build_pipeline(hp, n_samples=len(texts) * (folds - 1) // folds)
    scores = sk_cv(pipe, np.asarray(texts, dtype=object), labels, cv=cv, scoring=("f1_macro", "accuracy"))
    out = {
        "cv_folds": float(folds),
        "cv_macro_f1_mean": float(scores["test_f1_macro"].mean()),
        "cv_macro_f1_std": float(scores["test_f1_macro"].std()),
        "cv_accuracy_mean": float(scores["test_accuracy"].mean()),
        "cv_accuracy_std": float(scores["test_accuracy"].std()),
    }
    log(f"{folds}-fold CV macro-F1 {out['cv_macro_f1_mean']:.4f} ± {out['cv_macro_f1_std']:.4f}")
    return out


def tuned_decision(hp: Hyperparameters, texts: list[str], labels: list[str]) -> Any:
    """``decision_bias: tuned`` without a search (pinned, or one SageMaker tuning trial): k-fold offsets."""
    from ml.data import DataError
    from ml.decision import decide, out_of_fold

    min_class = min(labels.count(c) for c in set(labels))
    folds = min(hp.cv_folds if hp.cv_folds >= 2 else 5, min_class)
    if folds < 2:
        raise DataError(
            f"decision_bias=tuned needs k-fold scores but the smallest class has {min_class} training row(s); "
            "set the profile's model.decision_bias: none"
        )
    t0 = time.monotonic()
    classes, scores, y = out_of_fold(hp, texts, labels, folds)
    decision = decide(classes, scores, y, hp.primary_metric, hp.classifier)
    log(f"decision offsets from {folds}-fold scores in {time.monotonic() - t0:.1f}s")
    return decision


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fit, evaluate, save; return the metrics dict (also written to metrics.json)."""
    from ml.artefact import (
        BASELINE_FILE,
        DIGESTS_KEY,
        META_FILE,
        MODEL_FILE,
        file_digests,
        load_pipeline,
        save_pipeline,
    )
    from ml.data import DataError, read_channel
    from ml.evaluate import confusion_png, evaluate
    from ml.features import build_pipeline

    hp = hyperparameters(args)
    model_dir, output_dir = Path(args.model_dir), Path(args.output_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    log(f"profile={args.profile} hyper-parameters={json.dumps(hp.to_dict(), sort_keys=True)}")

    train = read_channel(args.train, name="train")
    validation = read_channel(args.validation, name="validation")
    test = read_channel(args.test, name="test") if args.test and Path(args.test).is_dir() else None
    log(f"read train={len(train)} validation={len(validation)} test={0 if test is None else len(test)} rows")

    classes = json.loads(args.classes) if args.classes else sorted(train["label"].astype(str).unique())
    classes = [str(c) for c in classes]
    for name, frame in (("train", train), ("validation", validation), ("test", test)):
        if frame is None:
            continue
        bad = frame[~frame["label"].astype(str).isin(classes)]
        if len(bad):
            row = bad.iloc[0]
            raise DataError(
                f"channel {name!r}: {len(bad)} row(s) have labels outside the profile's classes {classes}, "
                f"e.g. id={row.get('id')!r} label={row['label']!r}; fix the profile's labels: mapping"
            )
    present = set(train["label"].astype(str))
    if len(present) < 2:
        raise DataError(f"channel 'train' has only the class(es) {sorted(present)}: need at least two to train")
    missing = [c for c in classes if c not in present]
    if missing:
        log(f"WARNING classes without training rows (never predicted): {missing}")

    train = stratified_sample(train, hp.sample_size, hp.seed)
    texts = train["text"].astype(str).tolist()
    labels = train["label"].astype(str).tolist()

    metrics: dict[str, Any] = {}
    selection: dict[str, Any] | None = None
    decision = None
    if hp.search_budget_seconds > 0:
        from ml.search import search

        result = search(
            hp,
            texts,
            labels,
            budget_seconds=hp.search_budget_seconds,
            n_candidates=hp.search_candidates,
            folds=hp.cv_folds if hp.cv_folds >= 2 else 3,
            log=log,
        )
        hp = result.winner
        decision = result.decision
        selection = result.summary()
        (output_dir / "search.json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
        metrics["search_seconds"] = round(result.elapsed_seconds, 2)
        if result.cv_mean is not None and result.cv_std is not None:
            metrics[f"cv_{hp.primary_metric}_mean"] = round(result.cv_mean, 6)
            metrics[f"cv_{hp.primary_metric}_std"] = round(result.cv_std, 6)
            emit_metric("cv", hp.primary_metric, result.cv_mean)
    elif hp.cv_folds >= 2:
        metrics.update(cross_validate(hp, texts, labels))

    if hp.decision_bias == "tuned" and decision is None:
        decision = tuned_decision(hp, texts, labels)
    if decision is None and hp.classifier == "nblr":
        from ml.decision import Decision

        # NB-LR ships as the plain LogisticRegression it amounts to: no offsets, temperature 1
        names = tuple(sorted(set(labels)))
        decision = Decision(names, tuple(0.0 for _ in names), 1.0)
    t0 = time.monotonic()
    if decision is not None:
        from ml.decision import fit_tuned

        pipeline = fit_tuned(hp, texts, labels, decision)
        log(f"decision offsets {decision.to_dict()}")
    else:
        pipeline = build_pipeline(hp, n_samples=len(texts))
        pipeline.fit(texts, labels)
    metrics["train_seconds"] = round(time.monotonic() - t0, 3)
    n_features = len(pipeline.named_steps["features"].get_feature_names_out())
    log(f"fitted {hp.classifier} on {len(texts)} rows, {n_features} features in {metrics['train_seconds']}s")

    val_eval = evaluate(pipeline, validation["text"].astype(str).tolist(), validation["label"].astype(str), classes)
    metrics.update({f"validation_{k}": val_eval[k] for k in ("accuracy", "macro_f1", "roc_auc") if k in val_eval})
    log(f"validation accuracy={val_eval['accuracy']:.4f} macro_f1={val_eval['macro_f1']:.4f}")
    for key in ("accuracy", "macro_f1", "roc_auc"):
        if key in val_eval:
            emit_metric("validation", key, float(val_eval[key]))
    test_eval = None
    if test is not None and len(test):
        test_eval = evaluate(pipeline, test["text"].astype(str).tolist(), test["label"].astype(str), classes)
        metrics.update({f"test_{k}": test_eval[k] for k in ("accuracy", "macro_f1", "roc_auc") if k in test_eval})
        # The gate compares on the test split: expose its metrics under the plain names too.
        metrics.update({k: test_eval[k] for k in ("accuracy", "macro_f1", "roc_auc") if k in test_eval})
        log(f"test accuracy={test_eval['accuracy']:.4f} macro_f1={test_eval['macro_f1']:.4f}")
        for key in ("accuracy", "macro_f1", "roc_auc"):
            if key in test_eval:
                emit_metric("test", key, float(test_eval[key]))
        (output_dir / "confusion_test.png").write_bytes(confusion_png(test_eval, f"{args.profile}: test"))
    else:
        metrics.update({k: val_eval[k] for k in ("accuracy", "macro_f1", "roc_auc") if k in val_eval})

    baseline = _baseline(pipeline, validation["text"].astype(str).tolist(), args.low_confidence)

    # skops' import (1-6 s: it imports scikit-learn's estimator modules) is a once-per-process cost,
    # paid before the timer so save_seconds / load_seconds measure the artefact alone.
    import skops.io  # noqa: F401

    t0 = time.monotonic()
    save_pipeline(pipeline, model_dir / MODEL_FILE)
    metrics["save_seconds"] = round(time.monotonic() - t0, 3)
    # Load back through the trusted-types check now, so an unloadable model fails training, not scoring.
    t0 = time.monotonic()
    load_pipeline(model_dir / MODEL_FILE)
    metrics["load_seconds"] = round(time.monotonic() - t0, 3)
    log(f"saved in {metrics['save_seconds']}s, loaded back in {metrics['load_seconds']}s")
    meta = {
        "profile": args.profile,
        "classes": [str(c) for c in pipeline.classes_],
        "profile_classes": classes,
        "hyperparameters": hp.to_dict(),
        "selection": selection,
        "decision": None if decision is None else decision.to_dict(),
        "metrics": metrics,
        "n_features": n_features,
        "rows": {"train": len(train), "validation": len(validation), "test": 0 if test is None else len(test)},
        "data": json.loads(args.lineage or "{}"),
        "code_version": args.code_version,
        "python": platform.python_version(),
        "sklearn": __import__("sklearn").__version__,
    }
    (model_dir / BASELINE_FILE).write_text(json.dumps(baseline, sort_keys=True), encoding="utf-8")
    # Written last, with the digests of the files it describes: loading refuses altered files.
    meta[DIGESTS_KEY] = file_digests(model_dir, [MODEL_FILE, BASELINE_FILE])
    (model_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    # metrics.json carries the selection summary too: the train DAG shows it in the report and registry tags.
    (output_dir / "metrics.json").write_text(
        json.dumps({**metrics, "selection": selection} if selection else metrics, indent=2, sort_keys=True),
        encoding="utf-8",
    )
    evaluation = {"validation": val_eval, "test": test_eval}
    (output_dir / "evaluation.json").write_text(json.dumps(evaluation, indent=2), encoding="utf-8")
    log(f"wrote {MODEL_FILE}, {META_FILE}, {BASELINE_FILE} to {model_dir}")
    return metrics


def _baseline(pipeline: Any, texts: list[str], low_confidence: float) -> dict[str, Any]:
    """Drift reference stats of the validation split (ml.drift.baseline, imported when needed)."""
    import numpy as np

    from ml.drift.baseline import compute_baseline

    proba = np.asarray(pipeline.predict_proba(texts))
    classes = [str(c) for c in pipeline.classes_]
    return dict(compute_baseline(texts, proba, classes, low_confidence=low_confidence))


def main(argv: list[str] | None = None) -> int:
    """CLI entry; exit code 0 on success, 1 with a one-line reason (and the failure file) otherwise."""
    from threadpoolctl import threadpool_limits

    args = parse_args(argv)
    try:
        with threadpool_limits(limits=1):
            run(args)
    except Exception as exc:
        # SageMaker shows /opt/ml/output/failure as the job's FailureReason.
        failure = Path(args.output_dir).parent / "failure"
        try:
            failure.parent.mkdir(parents=True, exist_ok=True)
            failure.write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        except OSError:
            pass
        log(f"FAILED {type(exc).__name__}: {exc}")
        raise
    log(f"done (python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
