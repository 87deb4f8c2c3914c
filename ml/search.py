"""Model selection: successive halving over classifier family and hyper-parameters, within a time budget.

``search(base, texts, labels, budget_seconds=…)`` draws candidates from :data:`FEATURE_SPACE`
and :data:`CLASSIFIER_SPACE` (the profile's own configuration and :data:`STRONG_BASELINE` are
always among them), scores them with stratified k-fold cross-validation on a growing sample of
the training rows and keeps the best third at each rung (rows × 3, candidates ÷ 3) until the
last rung runs on every row. The base and the strong baseline are kept at every rung whatever
their rank, so the winner on all rows is at least as good as both by the k-fold estimate
(budget permitting). Candidates are grouped by their feature settings so that each fold's TF-IDF matrices
are computed once per group and shared by the group's classifiers.

The budget is hard: before each fit the search checks the clock and its estimate of the fit
(from the same candidate's previous rung), and stops rather than overrun it; at worst one
fit on a small rung runs past. The winner is the best mean score at the highest rung that a
candidate completed; if no candidate completed a rung, the base configuration wins.

scikit-learn's ``HalvingRandomSearchCV`` has no time budget and refits vectorizers per
candidate; this loop uses scikit-learn's folds, scorers and estimators (``ml.features``)
and adds only the budget and the shared features. It runs unchanged in SageMaker's
scikit-learn container (no extra packages); on the aws target a SageMaker tuning job
searches :func:`sagemaker_ranges` instead (``plugins/nlpops/aws/tuning.py``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ml.decision import Decision, cross_fitted_scores, decide, metric_value, raw_classifier, scores_matrix
from ml.features import Hyperparameters, build_classifier, build_features

#: The untuned baseline that beat hand-set profiles by about 0.02 (issue 14): word 1-2 + char_wb 2-5
#: sublinear TF-IDF into LinearSVC(C=0.5, class_weight="balanced"). Always a candidate.
STRONG_BASELINE: dict[str, Any] = {
    "classifier": "linear_svm",
    "C": 0.5,
    "word_ngram_max": 2,
    "char_ngram_min": 2,
    "char_ngram_max": 5,
    "min_df": 1,
    "class_weight": "balanced",
}

#: Feature settings searched (word n-gram max, char_wb n-gram range or none, min_df).
FEATURE_SPACE: dict[str, list[Any]] = {
    "word_ngram_max": [1, 2, 3],
    "char_ngrams": [(0, 0), (2, 5), (1, 4), (3, 6)],
    "min_df": [1, 2, 3],
}
#: Classifier settings searched; ``C`` is the inverse regularisation of every family
#: (SGD's ``alpha = 1 / (C · n)``, see ``ml.features.build_classifier``).
CLASSIFIER_SPACE: dict[str, dict[str, list[Any]]] = {
    "logreg": {"C": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]},
    "linear_svm": {"C": [0.1, 0.25, 0.5, 1.0, 2.0]},
    "sgd": {"C": [1.0, 4.0, 16.0, 64.0]},
    # NB-LR (ml.nbsvm): log-count-ratio scaled features, one-vs-rest
    "nblr": {"C": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]},
}
CLASS_WEIGHTS = ["balanced", "none"]
#: ``tuned``: per-class decision offsets chosen on out-of-fold scores (``ml.decision``).
DECISION_BIASES = ["none", "tuned"]
#: Fields a search sets (everything else comes from the base configuration).
SEARCHED = (
    "classifier",
    "C",
    "word_ngram_max",
    "char_ngram_min",
    "char_ngram_max",
    "min_df",
    "class_weight",
    "decision_bias",
)
FEATURE_KEYS = (
    "word_ngram_max",
    "char_ngram_min",
    "char_ngram_max",
    "min_df",
    "max_features_word",
    "max_features_char",
)
SCORERS = {"macro_f1": "f1_macro", "accuracy": "accuracy"}
ETA = 3  # successive halving: rows × 3 and candidates ÷ 3 per rung
MIN_ROWS = 300  # smallest sample a first rung scores on
#: Rungs of at most this many rows use at least 5 folds (the k-fold estimate of a few hundred
#: minority rows has a standard deviation as large as the gaps between candidates) ...
SMALL_ROWS = 5_000
#: ... and rungs of at most this many rows repeat the k-fold with a second shuffle.
TINY_ROWS = 1_500


@dataclass
class Trial:
    """One candidate scored (or skipped) at one rung."""

    rung: int
    rows: int
    config: dict[str, Any]
    scores: list[float] = field(default_factory=list)
    #: per-fold secondary metric: accuracy (macro-F1 when the primary metric is accuracy)
    other: list[float] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "ok"  # ok | budget | error: …

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else float("nan")

    @property
    def other_mean(self) -> float:
        return sum(self.other) / len(self.other) if self.other else float("nan")

    @property
    def std(self) -> float:
        if not self.scores:
            return float("nan")
        m = self.mean
        return math.sqrt(sum((s - m) ** 2 for s in self.scores) / len(self.scores))

    def to_dict(self) -> dict[str, Any]:
        mean, std = (round(self.mean, 6), round(self.std, 6)) if self.scores else (None, None)
        return {
            "rung": self.rung,
            "rows": self.rows,
            "config": self.config,
            "scores": [round(s, 6) for s in self.scores],
            "mean": mean,
            "std": std,
            "other_mean": round(self.other_mean, 6) if self.other else None,
            "seconds": round(self.seconds, 3),
            "status": self.status,
        }


@dataclass
class SearchResult:
    """The winning hyper-parameters and the record of how they were chosen."""

    winner: Hyperparameters
    metric: str
    folds: int
    budget_seconds: float
    elapsed_seconds: float
    trials: list[Trial]
    winner_trial: Trial | None
    stopped_by_budget: bool
    #: offsets of a ``decision_bias: tuned`` winner, from its pooled out-of-fold scores (else None)
    decision: Decision | None = None
    repeats: int = 1

    @property
    def cv_mean(self) -> float | None:
        return None if self.winner_trial is None else self.winner_trial.mean

    @property
    def cv_std(self) -> float | None:
        return None if self.winner_trial is None else self.winner_trial.std

    def summary(self) -> dict[str, Any]:
        """The part recorded with the model version (model.json ``selection``, registry tags, report)."""
        w = self.winner_trial
        return {
            "method": f"successive halving (eta={ETA}), stratified {self.folds}-fold CV"
            + (f" x {self.repeats} repeats" if self.repeats > 1 else "")
            + f"; ties within 1 standard error of the best {self.metric} go to the higher {_other(self.metric)}",
            "metric": self.metric,
            "winner": {k: getattr(self.winner, k) for k in SEARCHED},
            "cv_mean": None if w is None else round(w.mean, 6),
            "cv_std": None if w is None else round(w.std, 6),
            "cv_rows": None if w is None else w.rows,
            f"cv_{_other(self.metric)}_mean": None if w is None or not w.other else round(w.other_mean, 6),
            "decision": None if self.decision is None else self.decision.to_dict(),
            "candidates": len({_key(t.config) for t in self.trials}),
            "fits": sum(len(t.scores) for t in self.trials),
            "budget_seconds": self.budget_seconds,
            "elapsed_seconds": round(self.elapsed_seconds, 2),
            "stopped_by_budget": self.stopped_by_budget,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "trials": [t.to_dict() for t in self.trials]}


def _other(metric: str) -> str:
    """The metric that breaks ties: accuracy, or macro-F1 when the primary metric is accuracy."""
    return "macro_f1" if metric == "accuracy" else "accuracy"


def _key(config: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(config[k] for k in SEARCHED)


def _config(hp: Hyperparameters) -> dict[str, Any]:
    return {k: getattr(hp, k) for k in SEARCHED}


def candidates(base: Hyperparameters, n: int, seed: int = 0) -> list[Hyperparameters]:
    """``n`` distinct configurations: the base, :data:`STRONG_BASELINE` (as it is and with a tuned
    decision bias), then random draws.

    Draws share feature settings in groups of three classifiers, so a rung computes about
    ``n / 3`` sets of TF-IDF matrices rather than ``n``.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling, not security
    out: dict[tuple[Any, ...], Hyperparameters] = {}
    for hp in (base, replace(base, **STRONG_BASELINE), replace(base, **STRONG_BASELINE, decision_bias="tuned")):
        out.setdefault(_key(_config(hp)), hp)
    attempts = 0
    while len(out) < n and attempts < 50 * n:
        attempts += 1
        char_min, char_max = rng.choice(FEATURE_SPACE["char_ngrams"])
        features = {
            "word_ngram_max": rng.choice(FEATURE_SPACE["word_ngram_max"]),
            "char_ngram_min": char_min or base.char_ngram_min,
            "char_ngram_max": char_max,
            "min_df": rng.choice(FEATURE_SPACE["min_df"]),
        }
        for _ in range(3):
            family = rng.choice(sorted(CLASSIFIER_SPACE))
            clf: dict[str, Any] = {k: rng.choice(v) for k, v in CLASSIFIER_SPACE[family].items()}
            clf.update(
                classifier=family,
                class_weight=rng.choice(CLASS_WEIGHTS),
                decision_bias=rng.choice(DECISION_BIASES),
            )
            hp = replace(base, **features, **clf)
            out.setdefault(_key(_config(hp)), hp)
            if len(out) >= n:
                break
    return list(out.values())[:n]


def _scorer(metric: str, n_classes: int) -> Any:
    from sklearn.metrics import get_scorer

    if metric == "roc_auc":
        return get_scorer("roc_auc" if n_classes == 2 else "roc_auc_ovr")
    return get_scorer(SCORERS[metric])


def _subsample(labels: Sequence[str], rows: int, seed: int) -> list[int]:
    """Indices of a stratified sample of ``rows`` rows (all rows when ``rows`` >= len)."""
    n = len(labels)
    if rows >= n:
        return list(range(n))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(list(range(n)), train_size=rows, stratify=list(labels), random_state=seed)
    return sorted(keep)


def rung_rows(n_rows: int, n_candidates: int) -> list[int]:
    """Rows scored at each rung: the last rung uses every row, each earlier one a third as many."""
    rungs = max(1, math.ceil(math.log(max(n_candidates, 1), ETA)))
    sizes = [max(min(n_rows, MIN_ROWS), n_rows // ETA ** (rungs - 1 - r)) for r in range(rungs)]
    return sorted(set(sizes))


def search(
    base: Hyperparameters,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    budget_seconds: float,
    n_candidates: int = 18,
    folds: int = 3,
    log: Callable[[str], None] = lambda _m: None,
    clock: Callable[[], float] = time.monotonic,
) -> SearchResult:
    """Choose hyper-parameters by successive halving within ``budget_seconds`` (see the module doc)."""
    from threadpoolctl import threadpool_limits

    # one BLAS/OpenMP thread: spinning pools on a busy 2-core machine made fits 20x slower (ml/train.py)
    with threadpool_limits(limits=1):
        return _search(base, texts, labels, budget_seconds, n_candidates, folds, log, clock)


def _search(
    base: Hyperparameters,
    texts: Sequence[str],
    labels: Sequence[str],
    budget_seconds: float,
    n_candidates: int,
    folds: int,
    log: Callable[[str], None],
    clock: Callable[[], float],
) -> SearchResult:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    start = clock()
    deadline = start + budget_seconds
    metric = base.primary_metric
    texts_arr = np.asarray(list(texts), dtype=object)
    labels_arr = np.asarray([str(y) for y in labels], dtype=object)
    classes = sorted(set(labels_arr.tolist()))
    y_all = np.searchsorted(np.asarray(classes, dtype=object), labels_arr)
    smallest = min(int((labels_arr == c).sum()) for c in classes)
    alive = candidates(base, n_candidates, seed=base.seed)
    if metric == "roc_auc":  # offsets do not change a ranking metric: only untuned candidates
        alive = [hp for hp in alive if hp.decision_bias == "none"] or [replace(base, decision_bias="none")]
    protected = alive[:3]  # the base and STRONG_BASELINE (plain and tuned): candidates() puts them first
    sizes = rung_rows(len(texts_arr), len(alive))
    trials: list[Trial] = []
    last_cost: dict[tuple[Any, ...], float] = {}  # candidate -> classifier seconds (all folds) at its last rung
    feature_cost: dict[tuple[Any, ...], float] = {}  # feature group -> seconds per fold at its last rung
    # candidate -> held-out (scores, class index, repeat) per fold at its last rung: tuned candidates' offsets
    held_out: dict[tuple[Any, ...], list[tuple[Any, Any, int]]] = {}
    stopped = False
    best: Trial | None = None
    plan: dict[int, tuple[int, int]] = {}  # rung -> (folds, repeats)
    log(f"search: {len(alive)} candidates, rungs of {sizes} rows, budget {budget_seconds:.0f}s")
    for rung, rows in enumerate(sizes):
        idx = _subsample(labels_arr.tolist(), rows, base.seed + rung)
        x, y, y_idx = texts_arr[idx], labels_arr[idx], y_all[idx]
        k = max(2, min(max(folds, 5) if len(idx) <= SMALL_ROWS else folds, smallest))
        repeats = 2 if len(idx) <= TINY_ROWS else 1
        plan[rung] = (k, repeats)
        splits = [
            (r, train_i, test_i)
            for r in range(repeats)
            for train_i, test_i in StratifiedKFold(n_splits=k, shuffle=True, random_state=base.seed + r).split(x, y)
        ]
        groups: dict[tuple[Any, ...], list[Hyperparameters]] = {}
        for hp in alive:
            groups.setdefault(tuple(getattr(hp, key) for key in FEATURE_KEYS), []).append(hp)
        done: list[Trial] = []
        growth = rows / sizes[rung - 1] if rung else 1.0
        for group, members in groups.items():
            pending = [Trial(rung, len(idx), _config(hp)) for hp in members]
            kept_scores: list[list[tuple[Any, Any, int]]] = [[] for _ in members]
            for r, train_i, test_i in splits:
                if stopped:
                    break
                t0 = clock()
                if t0 + feature_cost.get(group, 0.0) * growth >= deadline:
                    stopped = True
                    break
                features = build_features(members[0])
                x_train = features.fit_transform(x[train_i])
                x_test = features.transform(x[test_i])
                feature_cost[group] = clock() - t0
                share = feature_cost[group] / len(members)
                for hp, trial, kept in zip(members, pending, kept_scores, strict=True):
                    if trial.status != "ok":
                        continue
                    now = clock()
                    estimate = last_cost.get(_key(trial.config), 0.0) * growth / len(splits)
                    if now >= deadline or now + estimate > deadline:
                        trial.status = "budget"
                        continue
                    try:
                        if hp.decision_bias == "tuned":
                            clf = raw_classifier(hp, n_samples=len(train_i)).fit(x_train, y[train_i])
                            if [str(c) for c in clf.classes_] != classes:
                                raise ValueError("a training fold lacks a class")
                            kept.append((scores_matrix(clf, x_test), y_idx[test_i], r))
                        else:
                            clf = build_classifier(hp, n_samples=len(train_i)).fit(x_train, y[train_i])
                            primary, other = _fold_scores(metric, clf, x_test, y[test_i], classes)
                            trial.scores.append(primary)
                            trial.other.append(other)
                    except Exception as exc:  # a candidate that cannot fit loses; the search goes on
                        trial.status = f"error: {type(exc).__name__}: {exc}"[:300]
                    trial.seconds += share + clock() - now
            for trial, kept in zip(pending, kept_scores, strict=True):
                if trial.status == "ok" and trial.config["decision_bias"] == "tuned":
                    if len(kept) < len(splits):
                        trial.status = "budget"
                    else:
                        # each fold scored with offsets tuned on the other folds of its repeat only
                        for r in range(repeats):
                            part = [(s, t) for s, t, rr in kept if rr == r]
                            fold_primary, fold_other = cross_fitted_scores(metric, part, len(classes))
                            trial.scores += fold_primary
                            trial.other += fold_other
                        held_out[_key(trial.config)] = kept
                if trial.status == "ok" and len(trial.scores) < len(splits):
                    trial.status = "budget"
                trials.append(trial)
                if trial.status == "ok":
                    done.append(trial)
                    last_cost[_key(trial.config)] = trial.seconds
        done.sort(key=lambda t: t.mean, reverse=True)
        if done:
            best = _choose(done)
            log(
                f"search rung {rung}: {len(done)} scored on {len(idx)} rows ({k}-fold x {repeats}), best "
                f"{best.mean:.4f} ± {best.std:.4f} ({_other(metric)} {best.other_mean:.4f}) {best.config} "
                f"({clock() - start:.0f}s)"
            )
        if stopped or not done or rung == len(sizes) - 1:
            stopped = stopped or any(t.status == "budget" for t in trials if t.rung == rung)
            break
        by_key = {_key(_config(hp)): hp for hp in alive}
        kept_hp = [by_key[_key(t.config)] for t in done[: max(1, math.ceil(len(done) / ETA))]]
        # The base and the strong baselines always reach the full data: a small first rung ranks
        # candidates differently from all rows (airline tweets: the baseline was dropped at 1k rows).
        alive = kept_hp + [hp for hp in protected if hp in by_key.values() and hp not in kept_hp]
    winner = base if best is None else replace(base, **best.config)
    decision = None
    if best is not None and winner.decision_bias == "tuned":
        pooled = held_out[_key(best.config)]
        decision = decide(
            classes,
            np.concatenate([s for s, _, _ in pooled]),
            np.concatenate([t for _, t, _ in pooled]),
            metric,
            winner.classifier,
        )
    elapsed = clock() - start
    log(f"search: winner {_config(winner)} after {elapsed:.0f}s{' (budget reached)' if stopped else ''}")
    k, repeats = plan.get(best.rung if best is not None else 0, (folds, 1))
    return SearchResult(winner, metric, k, budget_seconds, elapsed, trials, best, stopped, decision, repeats)


def _fold_scores(metric: str, clf: Any, x_test: Any, y_test: Any, classes: list[str]) -> tuple[float, float]:
    """One held-out fold's primary metric and secondary metric (accuracy, or macro-F1)."""
    import numpy as np

    names = np.asarray(classes, dtype=object)
    pred = np.searchsorted(names, np.asarray(clf.predict(x_test), dtype=object))
    truth = np.searchsorted(names, np.asarray(y_test, dtype=object))
    other = metric_value(_other(metric), truth, pred, len(classes))
    if metric == "roc_auc":
        return float(_scorer(metric, len(classes))(clf, x_test, y_test)), other
    return metric_value(metric, truth, pred, len(classes)), other


def _choose(done: list[Trial]) -> Trial:
    """The best mean of the primary metric; candidates within one standard error of it (the fold
    scores' sd / √folds) count as tied and the tie goes to the higher secondary metric (accuracy
    for macro-F1): k-fold noise alone should not trade one figure for the other. (One sd of the
    fold scores, 0.06 macro-F1 on 11 classes of a few thousand rows, tied nearly every candidate.)"""
    top = max(done, key=lambda t: t.mean)
    tied = [t for t in done if t.mean >= top.mean - top.std / math.sqrt(len(top.scores))]
    return max(tied, key=lambda t: (t.other_mean if t.other else float("-inf"), t.mean))


def selection_tags(selection: dict[str, Any] | None) -> dict[str, str]:
    """Registry tags of a :meth:`SearchResult.summary` (none when no search ran).

    Values keep to the characters SageMaker's ``CustomerMetadataProperties`` accept (letters,
    digits, spaces and ``_.:/=+-@``): ``key=value`` pairs, no JSON, no ``±``.
    """
    if not selection:
        return {}
    import re

    def safe(text: Any) -> str:
        return " ".join(re.sub(r"[^\w\s.:/=+\-@]", " ", str(text)).split())[:256]

    winner = selection.get("winner") or {}
    tags = {
        "selection_winner": safe(" ".join(f"{k}={v}" for k, v in winner.items())),
        "selection_method": safe(selection.get("method", "")),
        "selection_candidates": safe(selection.get("candidates", "")),
        "selection_seconds": safe(selection.get("elapsed_seconds", "")),
    }
    if selection.get("cv_mean") is not None:
        std = selection.get("cv_std")
        spread = "" if std is None else f" +/- {std:.4f}"
        rows = "" if selection.get("cv_rows") is None else f" rows={selection['cv_rows']}"
        tags[f"cv_{selection.get('metric', 'metric')}"] = safe(f"{selection['cv_mean']:.4f}{spread}{rows}")
    return {k: v for k, v in tags.items() if v}


def selection_html(selection: dict[str, Any] | None) -> str:
    """The evaluation report's "Model selection" section (empty when no search ran)."""
    if not selection:
        return ""
    import html

    winner = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in (selection.get("winner") or {}).items()
    )
    cv = (
        "no candidate completed a rung: the profile's configuration was trained"
        if selection.get("cv_mean") is None
        else f"{selection['cv_mean']:.4f} ± {selection.get('cv_std') or 0:.4f} on {selection.get('cv_rows')} rows"
    )
    budget = " (stopped by the budget)" if selection.get("stopped_by_budget") else ""
    return (
        f"<h2>Model selection</h2><p>{html.escape(str(selection.get('method', '')))}: "
        f"{selection.get('candidates')} candidates, {selection.get('fits')} fits in "
        f"{selection.get('elapsed_seconds')} s of a {selection.get('budget_seconds')} s budget{budget}. "
        f"Winner's k-fold {html.escape(str(selection.get('metric')))}: {html.escape(cv)}.</p>"
        f"<table><tr><th>hyper-parameter</th><th>winner</th></tr>{winner}</table>"
    )


def sagemaker_ranges() -> dict[str, Any]:
    """The same space as SageMaker ``ParameterRanges`` (categorical and continuous parameters).

    Categorical values are JSON-encoded strings, as the SageMaker Python SDK sends them for a
    framework (script-mode) estimator: the training toolkit JSON-decodes every hyper-parameter.
    """
    import json

    c_values = sorted({c for space in CLASSIFIER_SPACE.values() for c in space["C"]})

    def encoded(values: list[Any]) -> list[str]:
        return [json.dumps(str(v)) for v in values]

    return {
        "CategoricalParameterRanges": [
            {"Name": "classifier", "Values": encoded(sorted(CLASSIFIER_SPACE))},
            {"Name": "word_ngram_max", "Values": encoded(FEATURE_SPACE["word_ngram_max"])},
            {"Name": "char_ngram_max", "Values": encoded(sorted({v[1] for v in FEATURE_SPACE["char_ngrams"]}))},
            {"Name": "min_df", "Values": encoded(FEATURE_SPACE["min_df"])},
            {"Name": "class_weight", "Values": encoded(CLASS_WEIGHTS)},
            {"Name": "decision_bias", "Values": encoded(DECISION_BIASES)},
        ],
        "ContinuousParameterRanges": [
            {"Name": "C", "MinValue": str(min(c_values)), "MaxValue": str(max(c_values)), "ScalingType": "Logarithmic"}
        ],
        "IntegerParameterRanges": [],
    }
