"""Drift metrics of a scored batch against the model's baseline (plain functions, no Airflow).

Each metric is "larger = more drift" so that one policy compares them all to thresholds:

- ``length_psi``: population stability index of text length (characters) in the
  baseline's quantile bins; ``token_length_psi`` the same for token counts.
- ``oov_rate``, ``oov_rate_delta``: share of tokens outside the baseline vocabulary, and
  its increase over the baseline's own (Good–Turing) expected OOV rate.
- ``token_js``: Jensen–Shannon distance (base 2, in [0, 1]) of token frequency profiles;
  ``token_js_null`` its expected value for two samples of these sizes from one source
  (multinomial simulation) and ``token_js_excess`` the difference — the JS distance of
  two finite samples is never 0 and shrinks with sample size, so only the excess is
  comparable across batch sizes.
- ``domain_auc``: cross-validated ROC-AUC of a TF-IDF + logistic regression classifier
  telling reference sample texts from current texts (0.5 = indistinguishable).
- ``prediction_psi`` and the chi-square tests of the predicted class distribution.
- ``confidence_drop`` (mean top-class probability, baseline − current) and
  ``low_confidence_delta`` (share below the profile's low-confidence threshold).
- with labels: ``accuracy``, ``macro_f1`` and their drops from the model's test figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from ml.drift.baseline import _compute, histogram, token_counts, tokenize

#: Probability floor of an empty bin in PSI (a bin empty on one side would give ln 0).
PSI_EPSILON = 1e-4
#: Texts per side of the domain classifier: caps its cost, whatever the batch size.
DOMAIN_SAMPLE = 1_000
DOMAIN_FOLDS = 3
JS_NULL_REPEATS = 5


class DriftInputError(ValueError):
    """The batch or the baseline cannot be compared (wrong shape, classes or version)."""


def psi(reference: Sequence[float], current: Sequence[float], *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index ``Σ (c − r) · ln(c / r)`` of two proportion vectors.

    Proportions are floored at ``epsilon`` (and renormalised) so empty bins stay finite.
    """
    r = np.clip(np.asarray(reference, dtype=float), epsilon, None)
    c = np.clip(np.asarray(current, dtype=float), epsilon, None)
    if r.shape != c.shape:
        raise DriftInputError(f"PSI needs the same bins on both sides, got {r.shape} and {c.shape}")
    r, c = r / r.sum(), c / c.sum()
    return float(np.sum((c - r) * np.log(c / r)))


def length_psi(reference_stats: Mapping[str, Any], lengths: np.ndarray) -> float:
    """PSI of ``lengths`` histogrammed in the reference's bins against the reference proportions."""
    return psi(reference_stats["proportions"], histogram(np.asarray(lengths, dtype=float), reference_stats["edges"]))


def token_profile_vectors(
    baseline: Mapping[str, Any], current: Counter[str]
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Aligned frequency vectors over the baseline's top tokens plus one "other" bucket.

    The baseline's "other" mass is its expected OOV rate for new text (not its in-sample
    remainder, which is near 0 when the vocabulary covers the whole reference).
    Returns ``(p_reference, q_current, reference_tokens, current_tokens)``.
    """
    top: Mapping[str, float] = baseline["tokens"]["top"]
    words = list(top)
    p_top = np.fromiter((top[w] for w in words), dtype=float, count=len(words))
    other = float(baseline["oov"]["rate"])
    p = np.append(p_top / p_top.sum() * (1.0 - other) if p_top.sum() else p_top, other)
    n_cur = int(sum(current.values()))
    q_top = np.fromiter((current.get(w, 0) for w in words), dtype=float, count=len(words))
    q = np.append(q_top, n_cur - q_top.sum())
    q = q / n_cur if n_cur else q
    return p, q, int(baseline["tokens"]["total"]), n_cur


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance, base 2 (0 = identical, 1 = disjoint supports)."""
    if not p.sum() or not q.sum():
        return 1.0 if p.sum() != q.sum() else 0.0
    return float(jensenshannon(p, q, base=2))


def js_null(p: np.ndarray, n_reference: int, n_current: int, *, seed: int = 0, repeats: int = JS_NULL_REPEATS) -> float:
    """Expected JS distance between two multinomial samples of these sizes drawn from ``p``.

    The analytic stand-in for a permutation test: it removes the sampling floor of the JS
    distance, which at 5,000 tokens is far from 0 and depends on the batch size.
    """
    if n_reference <= 0 or n_current <= 0:
        return 0.0
    rng = np.random.default_rng(seed)
    p = p / p.sum()
    draws = [
        js_distance(rng.multinomial(n_reference, p).astype(float), rng.multinomial(n_current, p).astype(float))
        for _ in range(repeats)
    ]
    return float(np.mean(draws))


def domain_auc(
    reference_texts: Sequence[str],
    current_texts: Sequence[str],
    *,
    seed: int = 0,
    max_per_side: int = DOMAIN_SAMPLE,
    folds: int = DOMAIN_FOLDS,
) -> float:
    """Cross-validated ROC-AUC of a classifier telling reference texts from current texts.

    Both sides are sampled (seeded) to the same size, at most ``max_per_side``, so the cost
    is bounded and the null value is 0.5 whatever the batch size. TF-IDF is fitted on the
    union without labels, then a logistic regression is cross-validated on it.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    m = min(len(reference_texts), len(current_texts), max_per_side)
    if m < folds * 2:
        return 0.5
    rng = np.random.default_rng(seed)
    ref = [reference_texts[i] for i in rng.choice(len(reference_texts), m, replace=False)]
    cur = [current_texts[i] for i in rng.choice(len(current_texts), m, replace=False)]
    y = np.r_[np.zeros(m), np.ones(m)]
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2, token_pattern=r"(?u)\b\w+\b")  # noqa: S106 - a regex
    try:
        x = vec.fit_transform(ref + cur)
    except ValueError:  # empty vocabulary (e.g. only one-off tokens): nothing separates the sides
        return 0.5
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(LogisticRegression(C=1.0, max_iter=200), x, y, cv=cv, method="decision_function")
    return float(roc_auc_score(y, scores))


def prediction_tests(reference_counts: Sequence[int], current_counts: Sequence[int]) -> dict[str, float]:
    """PSI and chi-square tests of the predicted class distribution.

    ``prediction_chi2_p``: ``scipy.stats.chisquare`` with expected counts from the baseline
    prior (treats the prior as exact). ``prediction_chi2_2s_p``: the two-sample test
    (``chi2_contingency``), which also accounts for the baseline being a sample; it is the
    one to trust for large batches, where the first rejects on baseline noise alone.
    """
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    n_cur = cur.sum()
    out = {"prediction_psi": psi(ref / ref.sum(), cur / n_cur) if n_cur and ref.sum() else 0.0}
    if n_cur and ref.sum():
        expected = np.clip(ref / ref.sum(), PSI_EPSILON, None)
        expected = expected / expected.sum() * n_cur
        out["prediction_chi2_p"] = float(stats.chisquare(cur, f_exp=expected).pvalue)
        table = np.vstack([ref, cur])
        table = table[:, table.sum(axis=0) > 0]
        out["prediction_chi2_2s_p"] = float(stats.chi2_contingency(table).pvalue) if table.shape[1] > 1 else 1.0
    else:
        out["prediction_chi2_p"] = out["prediction_chi2_2s_p"] = 1.0
    return out


def performance(
    labels: Sequence[str], predicted: Sequence[str], reference_metrics: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Accuracy and macro-F1 of a labelled batch, and their drops from the model's test figures."""
    from sklearn.metrics import accuracy_score, f1_score

    acc = float(accuracy_score(labels, predicted))
    f1 = float(f1_score(labels, predicted, average="macro", zero_division=0))
    out = {"accuracy": acc, "macro_f1": f1}
    ref = reference_metrics or {}
    for name, value in (("accuracy", acc), ("macro_f1", f1)):
        if name in ref:
            out[f"{name}_drop"] = float(ref[name]) - value
    return out


@dataclass
class DriftResult:
    """Metrics plus what the report shows: current stats and the most shifted tokens."""

    metrics: dict[str, float]
    current: dict[str, Any]
    shifted_tokens: list[tuple[str, float, float]] = field(default_factory=list)


def align_proba(proba: np.ndarray, classes: Sequence[str], baseline_classes: Sequence[str]) -> np.ndarray:
    """Columns of ``proba`` reordered to the baseline's class order (a new or missing class is an error)."""
    classes = [str(c) for c in classes]
    if list(classes) == list(baseline_classes):
        return np.asarray(proba, dtype=float)
    missing = sorted(set(baseline_classes) ^ set(classes))
    if missing:
        raise DriftInputError(
            f"the batch's classes {classes} differ from the baseline's {list(baseline_classes)} "
            f"(classes {missing}): score with the model whose baseline.json is used"
        )
    order = [classes.index(c) for c in baseline_classes]
    return np.asarray(proba, dtype=float)[:, order]


def compare(
    baseline: Mapping[str, Any],
    texts: Sequence[str],
    proba: np.ndarray,
    classes: Sequence[str],
    *,
    seed: int = 0,
    labels: Sequence[str] | None = None,
    reference_metrics: Mapping[str, float] | None = None,
    domain_sample: int = DOMAIN_SAMPLE,
    top_shifted: int = 20,
) -> DriftResult:
    """Every drift metric of the scored batch (``texts``, ``proba``) against ``baseline``."""
    if baseline.get("version") != 1:
        raise DriftInputError(f"baseline version {baseline.get('version')!r} is not supported (expected 1): retrain")
    base_classes = list(baseline["classes"])
    proba = align_proba(proba, classes, base_classes)
    texts = [str(t) for t in texts]
    tokenised = [tokenize(t) for t in texts]
    counts = token_counts(tokenised)
    current = _compute(
        texts,
        tokenised,
        proba,
        counts,
        base_classes,
        low_confidence=float(baseline["low_confidence"]),
        max_sample_texts=0,
        seed=seed,
        reference=dict(baseline),
    )
    p, q, n_ref, n_cur = token_profile_vectors(baseline, counts)
    js = js_distance(p, q)
    js0 = js_null(p, n_ref, n_cur, seed=seed)
    char_len = np.fromiter((len(t) for t in texts), dtype=float, count=len(texts))
    metrics: dict[str, float] = {
        "n": float(len(texts)),
        "length_psi": length_psi(baseline["length_chars"], char_len),
        "token_length_psi": psi(baseline["length_tokens"]["proportions"], current["length_tokens"]["proportions"]),
        "oov_rate": float(current["oov"]["rate"]),
        "oov_rate_delta": float(current["oov"]["rate"]) - float(baseline["oov"]["rate"]),
        "token_js": js,
        "token_js_null": js0,
        "token_js_excess": js - js0,
        "domain_auc": domain_auc(baseline["sample_texts"], texts, seed=seed, max_per_side=domain_sample),
        "confidence_mean": float(current["confidence"]["mean"]),
        "confidence_drop": float(baseline["confidence"]["mean"]) - float(current["confidence"]["mean"]),
        "low_confidence_share": float(current["confidence"]["low_share"]),
        "low_confidence_delta": float(current["confidence"]["low_share"]) - float(baseline["confidence"]["low_share"]),
    }
    metrics.update(
        prediction_tests(
            [baseline["prediction"]["counts"][c] for c in base_classes],
            [current["prediction"]["counts"][c] for c in base_classes],
        )
    )
    if labels is not None:
        if len(labels) != len(texts):
            raise DriftInputError(f"{len(labels)} labels for {len(texts)} texts: one label per scored row")
        predicted = [base_classes[i] for i in proba.argmax(axis=1)]
        metrics.update(performance([str(x) for x in labels], predicted, reference_metrics))
    words = list(baseline["tokens"]["top"])
    shift = [(w, p[i], q[i]) for i, w in enumerate(words)]
    shift += [(w, 0.0, c / n_cur) for w, c in counts.most_common(top_shifted * 5) if w not in baseline["tokens"]["top"]]
    shift.sort(key=lambda x: abs(x[2] - x[1]), reverse=True)
    shifted = [(w, float(a), float(b)) for w, a, b in shift[:top_shifted]]
    return DriftResult(metrics=metrics, current=current, shifted_tokens=shifted)


def compute_drift(
    baseline: Mapping[str, Any],
    current_texts: Sequence[str],
    current_proba: np.ndarray,
    classes: Sequence[str],
    *,
    seed: int = 0,
    labels: Sequence[str] | None = None,
    reference_metrics: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """All drift metrics of a scored batch against ``baseline`` (see the module docstring)."""
    return compare(
        baseline, current_texts, current_proba, classes, seed=seed, labels=labels, reference_metrics=reference_metrics
    ).metrics


__all__ = [
    "DriftInputError",
    "DriftResult",
    "compare",
    "compute_drift",
    "domain_auc",
    "js_distance",
    "js_null",
    "length_psi",
    "performance",
    "prediction_tests",
    "psi",
]
