"""Reference statistics of a scored text sample: the drift baseline (and the "current" stats).

Training applies :func:`compute_baseline` to the validation split scored by the fitted
model and stores the result as ``baseline.json`` beside the model. The drift check applies
the same function to a scored batch, passing the baseline as ``reference`` so that the
histograms share the baseline's bin edges and the out-of-vocabulary rate is measured
against the baseline's vocabulary. Everything returned is JSON-serialisable.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

BASELINE_VERSION = 1
#: Tokens kept in the frequency profile and used as the vocabulary for the OOV rate.
TOP_TOKENS = 5_000
#: Quantile-based bins of the length histograms (deciles of the reference).
LENGTH_BINS = 10
CONFIDENCE_EDGES = [round(x, 1) for x in np.linspace(0.0, 1.0, 11)]

# Lowercase runs of letters/digits (any script), apostrophes inside words kept ("don't").
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """The one tokenizer of the drift module: lowercase words of letters and digits."""
    return _TOKEN.findall(text.lower())


def quantile_edges(values: np.ndarray, bins: int = LENGTH_BINS) -> list[float]:
    """Interior cut points at the quantiles of ``values`` (repeats dropped).

    Bins are ``(-inf, e0], (e0, e1], …, (e_last, inf)``, so any value has a bin and a
    current batch can be histogrammed with the reference's edges.
    """
    if len(values) == 0:
        return []
    qs = np.quantile(values.astype(float), np.linspace(0, 1, bins + 1)[1:-1])
    return [float(x) for x in np.unique(qs)]


def histogram(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Proportions of ``values`` in the bins defined by interior ``edges`` (len(edges) + 1 bins)."""
    counts = np.bincount(np.searchsorted(np.asarray(edges, dtype=float), values, side="left"), minlength=len(edges) + 1)
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def _length_stats(values: np.ndarray, edges: Sequence[float] | None) -> dict[str, Any]:
    edges = quantile_edges(values) if edges is None else list(edges)
    return {
        "edges": edges,
        "proportions": histogram(values, edges),
        "mean": float(values.mean()) if len(values) else 0.0,
        "median": float(np.median(values)) if len(values) else 0.0,
    }


def token_counts(tokenised: Iterable[list[str]]) -> Counter[str]:
    """Token frequencies over a corpus of tokenised texts."""
    counts: Counter[str] = Counter()
    for toks in tokenised:
        counts.update(toks)
    return counts


def oov_rate(counts: Counter[str], vocabulary: set[str]) -> float:
    """Share of token occurrences whose token is not in ``vocabulary``."""
    total = sum(counts.values())
    if not total:
        return 0.0
    return float(sum(c for t, c in counts.items() if t not in vocabulary) / total)


def expected_oov_rate(counts: Counter[str], vocabulary: set[str]) -> float:
    """Good–Turing estimate of the OOV rate of *new* text from the same source.

    Measured in-sample, the OOV rate of a corpus against its own top tokens is biased low:
    unseen words of the next batch are missing. Good–Turing gives the probability mass of
    types seen ``r`` times as ``(r + 1)·N(r+1) / N`` and of unseen types as ``N(1) / N``;
    the mass outside the vocabulary is the unseen mass plus the adjusted mass of the
    out-of-vocabulary types seen in the sample.
    """
    total = sum(counts.values())
    if not total:
        return 0.0
    n_r = Counter(counts.values())
    outside_r = Counter(c for t, c in counts.items() if t not in vocabulary)
    mass = n_r.get(1, 0) / total
    for r, k in outside_r.items():
        # Smooth where N(r+1) is empty (large r): fall back to the plain estimate r / N.
        adjusted = (r + 1) * n_r[r + 1] / total if n_r.get(r + 1) else r * n_r[r] / total
        mass += adjusted * k / n_r[r]
    return float(min(mass, 1.0))


def compute_baseline(
    texts: Sequence[str],
    proba: np.ndarray,
    classes: list[str],
    *,
    low_confidence: float = 0.6,
    max_sample_texts: int = 2000,
    seed: int = 0,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Statistics of ``texts`` scored as ``proba`` (n × k, columns in ``classes`` order).

    Returns a JSON-serialisable dict: ``n``; character and token length histograms with
    quantile bin edges; the top-5,000 token frequency profile (also the vocabulary for the
    OOV rate); the predicted class prior and mean probabilities; a 10-bin confidence
    histogram, mean confidence and low-confidence share; and a seeded sample of up to
    ``max_sample_texts`` texts (the reference of the domain classifier).

    With ``reference`` (a baseline from this function) the length histograms use the
    reference's bin edges and ``oov.rate`` is measured against the reference vocabulary:
    that is how the drift check computes the "current" statistics of a batch.
    """
    return _compute(
        [str(t) for t in texts],
        None,
        proba,
        None,
        classes,
        low_confidence=low_confidence,
        max_sample_texts=max_sample_texts,
        seed=seed,
        reference=reference,
    )


def _compute(
    texts: list[str],
    tokenised: list[list[str]] | None,
    proba: np.ndarray,
    counts: Counter[str] | None,
    classes: list[str],
    *,
    low_confidence: float,
    max_sample_texts: int,
    seed: int,
    reference: dict[str, Any] | None,
) -> dict[str, Any]:
    # Shared by the drift metrics, which pass their own tokenisation to tokenise only once.
    proba = np.asarray(proba, dtype=float)
    n = len(texts)
    if proba.ndim != 2 or proba.shape != (n, len(classes)):
        raise ValueError(
            f"proba has shape {proba.shape}; expected ({n}, {len(classes)}) = (number of texts, number of classes)"
        )
    if not 0 < low_confidence < 1:
        raise ValueError(f"low_confidence={low_confidence} must be between 0 and 1 (profile drift.low_confidence)")

    if tokenised is None:
        tokenised = [tokenize(t) for t in texts]
    char_len = np.fromiter((len(t) for t in texts), dtype=float, count=n)
    tok_len = np.fromiter((len(t) for t in tokenised), dtype=float, count=n)
    if counts is None:
        counts = token_counts(tokenised)
    total_tokens = int(sum(counts.values()))
    top = counts.most_common(TOP_TOKENS)

    if reference is None:
        vocabulary = {t for t, _ in top}
        oov = expected_oov_rate(counts, vocabulary)
        char_edges = tok_edges = None
    else:
        vocabulary = set(reference["tokens"]["top"])
        oov = oov_rate(counts, vocabulary)
        char_edges = reference["length_chars"]["edges"]
        tok_edges = reference["length_tokens"]["edges"]

    predicted = proba.argmax(axis=1) if n else np.array([], dtype=int)
    pred_counts = np.bincount(predicted, minlength=len(classes))
    confidence = proba.max(axis=1) if n else np.array([], dtype=float)
    conf_counts, _ = np.histogram(confidence, bins=CONFIDENCE_EDGES)

    rng = np.random.default_rng(seed)
    pick = rng.choice(n, size=min(n, max_sample_texts), replace=False) if n else np.array([], dtype=int)
    return {
        "version": BASELINE_VERSION,
        "n": n,
        "classes": [str(c) for c in classes],
        "low_confidence": float(low_confidence),
        "seed": seed,
        "length_chars": _length_stats(char_len, char_edges),
        "length_tokens": _length_stats(tok_len, tok_edges),
        "tokens": {
            "total": total_tokens,
            "distinct": len(counts),
            # relative frequencies of the most common tokens; ordered, most common first
            "top": {t: c / total_tokens for t, c in top},
        },
        "oov": {"rate": oov, "estimator": "good_turing" if reference is None else "observed"},
        "prediction": {
            "counts": {c: int(k) for c, k in zip(classes, pred_counts, strict=True)},
            "prior": {c: float(k / n) if n else 0.0 for c, k in zip(classes, pred_counts, strict=True)},
            "mean_proba": {c: float(proba[:, i].mean()) if n else 0.0 for i, c in enumerate(classes)},
        },
        "confidence": {
            "edges": CONFIDENCE_EDGES,
            "proportions": [float(c / n) if n else 0.0 for c in conf_counts],
            "mean": float(confidence.mean()) if n else 0.0,
            "low_share": float((confidence < low_confidence).mean()) if n else 0.0,
        },
        "sample_texts": [texts[i] for i in sorted(pick.tolist())],
    }


__all__ = ["compute_baseline", "expected_oov_rate", "histogram", "oov_rate", "quantile_edges", "tokenize"]
