"""Drift metrics on hand-made distributions with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ml.drift.baseline import compute_baseline, expected_oov_rate, histogram, quantile_edges, tokenize
from ml.drift.metrics import (
    DriftInputError,
    compute_drift,
    domain_auc,
    js_distance,
    js_null,
    prediction_tests,
    psi,
)

WORDS_A = [f"alpha{i}" for i in range(60)]
WORDS_B = [f"beta{i}" for i in range(60)]


def _texts(words: list[str], n: int, seed: int, length: int = 8) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=int(rng.integers(length // 2, length * 2)))) for _ in range(n)]


def _proba(n: int, seed: int, k: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k) * 2, size=n)


def test_tokenize_lowercases_words_and_keeps_inner_apostrophes() -> None:
    assert tokenize("Don't STOP me_now 42x, café!") == ["don't", "stop", "me", "now", "42x", "café"]


def test_psi_identical_is_zero_and_hand_computed_value() -> None:
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0, abs=1e-12)
    # (0.25 - 0.5)·ln(0.25/0.5) + (0.75 - 0.5)·ln(0.75/0.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected, rel=1e-6)
    assert math.isfinite(psi([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))  # empty bins: epsilon, not inf


def test_psi_refuses_different_bins() -> None:
    with pytest.raises(DriftInputError, match="same bins"):
        psi([0.5, 0.5], [1.0])


def test_histogram_uses_interior_edges() -> None:
    values = np.array([1, 2, 3, 4, 10, 100])
    assert histogram(values, [2, 4]) == pytest.approx([2 / 6, 2 / 6, 2 / 6])
    assert len(quantile_edges(np.arange(1000.0))) == 9


def test_js_identical_zero_disjoint_one() -> None:
    p = np.array([0.2, 0.3, 0.5, 0.0])
    assert js_distance(p, p) == pytest.approx(0.0, abs=1e-9)
    assert js_distance(np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.5, 0.5])) == pytest.approx(1.0)


def test_js_null_shrinks_with_sample_size() -> None:
    p = np.full(1000, 1 / 1000)
    small, large = js_null(p, 10_000, 1_000), js_null(p, 10_000, 100_000)
    assert 0 < large < small < 1


def test_expected_oov_rate_counts_unseen_mass() -> None:
    from collections import Counter

    counts = Counter({"a": 5, "b": 3, "c": 1, "d": 1})  # N=10, two singletons
    # Vocabulary covers everything: only the unseen mass N1/N remains.
    assert expected_oov_rate(counts, {"a", "b", "c", "d"}) == pytest.approx(0.2)


def test_domain_auc_same_source_near_half_disjoint_near_one() -> None:
    ref, same, other = _texts(WORDS_A, 400, 1), _texts(WORDS_A, 400, 2), _texts(WORDS_B, 400, 3)
    assert abs(domain_auc(ref, same, seed=0) - 0.5) < 0.08
    assert domain_auc(ref, other, seed=0) > 0.99


def test_prediction_tests_two_sample_is_not_fooled_by_baseline_noise() -> None:
    same = prediction_tests([500, 500], [500, 500])
    assert same["prediction_psi"] == pytest.approx(0.0)
    assert same["prediction_chi2_p"] == pytest.approx(1.0)
    shifted = prediction_tests([500, 500], [300, 700])
    assert shifted["prediction_chi2_p"] < 1e-6 and shifted["prediction_chi2_2s_p"] < 1e-6
    assert shifted["prediction_psi"] == pytest.approx(psi([0.5, 0.5], [0.3, 0.7]))
    # A 52/48 baseline of 1,000 rows vs a 50/50 batch of 100,000: the one-sample test
    # rejects on baseline noise, the two-sample test does not.
    noisy = prediction_tests([520, 480], [50_000, 50_000])
    assert noisy["prediction_chi2_p"] < 1e-6 < 0.05 < noisy["prediction_chi2_2s_p"]


def test_baseline_is_json_and_shapes_are_checked() -> None:
    texts = _texts(WORDS_A, 300, 0)
    base = compute_baseline(texts, _proba(300, 0), ["neg", "pos"], max_sample_texts=50, seed=3)
    assert json.loads(json.dumps(base)) == base
    assert base["n"] == 300 and len(base["sample_texts"]) == 50
    assert sum(base["length_chars"]["proportions"]) == pytest.approx(1.0)
    assert sum(base["confidence"]["proportions"]) == pytest.approx(1.0)
    assert sum(base["prediction"]["prior"].values()) == pytest.approx(1.0)
    assert base == compute_baseline(texts, _proba(300, 0), ["neg", "pos"], max_sample_texts=50, seed=3)
    with pytest.raises(ValueError, match="expected \\(300, 3\\)"):
        compute_baseline(texts, _proba(300, 0), ["a", "b", "c"])


def test_compute_drift_same_source_quiet_shifted_source_loud() -> None:
    classes = ["neg", "pos"]
    base = compute_baseline(_texts(WORDS_A, 1000, 0), _proba(1000, 0), classes)
    same = compute_drift(base, _texts(WORDS_A, 1000, 1), _proba(1000, 1), classes, seed=0)
    assert same["length_psi"] < 0.05
    assert same["token_js_excess"] < 0.03
    assert abs(same["oov_rate_delta"]) < 0.01
    assert same["domain_auc"] < 0.6
    assert abs(same["confidence_drop"]) < 0.03
    # Longer texts from another vocabulary, scored with lower confidence.
    low_conf = np.full((1000, 2), 0.5) + np.random.default_rng(2).normal(0, 0.02, (1000, 1)) * [1, -1]
    moved = compute_drift(base, _texts(WORDS_B, 1000, 2, length=20), low_conf, classes, seed=0)
    assert moved["length_psi"] > 0.5
    assert moved["token_js"] > 0.95
    assert moved["oov_rate_delta"] > 0.9
    assert moved["domain_auc"] > 0.99
    assert moved["confidence_drop"] > 0.1


def test_compute_drift_reorders_classes_and_refuses_unknown_ones() -> None:
    texts = _texts(WORDS_A, 400, 0)
    proba = _proba(400, 0)
    base = compute_baseline(texts, proba, ["neg", "pos"])
    flipped = compute_drift(base, texts, proba[:, ::-1], ["pos", "neg"])
    assert flipped["prediction_psi"] == pytest.approx(0.0)
    with pytest.raises(DriftInputError, match="differ from the baseline"):
        compute_drift(base, texts, proba, ["neg", "other"])


def test_performance_drop_with_labels() -> None:
    texts = _texts(WORDS_A, 300, 0)
    proba = np.tile([[0.9, 0.1]], (300, 1))  # always "neg"
    base = compute_baseline(texts, proba, ["neg", "pos"])
    labels = ["neg"] * 150 + ["pos"] * 150
    m = compute_drift(base, texts, proba, ["neg", "pos"], labels=labels, reference_metrics={"accuracy": 0.9})
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["accuracy_drop"] == pytest.approx(0.4)
    assert "macro_f1_drop" not in m
