"""Per-class decision offsets (ml/decision.py): tuned on out-of-fold scores, accuracy protected, exported exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from unit.ml.test_train_entry import argv_for, make_job, tiny_frame

from ml.decision import Decision, cross_fitted_scores, export, metric_value, raw_classifier, tune_bias
from ml.features import Hyperparameters, build_features


def _skewed(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a model that under-predicts a 10 % minority class (index 1) by a margin of 0.8."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    d = np.where(y == 1, 0.4, -1.6) + rng.normal(0, 0.6, n)  # true boundary at -0.6, the model's at 0
    return np.stack([np.zeros(n), d], axis=1), y


def test_metric_value_matches_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(1)
    y, pred = rng.integers(0, 4, 200), rng.integers(0, 3, 200)  # class 3 never predicted
    assert metric_value("accuracy", y, pred, 4) == pytest.approx(accuracy_score(y, pred))
    assert metric_value("macro_f1", y, pred, 4) == pytest.approx(f1_score(y, pred, average="macro"))


def test_offsets_raise_macro_f1_and_keep_accuracy_within_one_standard_error() -> None:
    scores, y = _skewed()
    bias = tune_bias(scores, y, "macro_f1")
    assert bias[0] == 0.0 and bias[1] > 0  # the minority class's boundary moves towards the majority
    before, after = scores.argmax(1), (scores + bias).argmax(1)
    assert metric_value("macro_f1", y, after, 2) > metric_value("macro_f1", y, before, 2) + 0.02
    acc0 = metric_value("accuracy", y, before, 2)
    assert metric_value("accuracy", y, after, 2) >= acc0 - math.sqrt(acc0 * (1 - acc0) / len(y))


def test_offsets_never_buy_f1_with_accuracy() -> None:
    """Where every gain in macro-F1 costs more than one standard error of accuracy, no offset is applied."""
    n = 1000
    y = np.array([1] * 50 + [0] * 950)
    # minority rows are indistinguishable from 300 majority rows: calling them costs 300 errors for 50 hits
    d = np.concatenate([np.full(50, -0.5), np.full(300, -0.5), np.full(650, -3.0)])
    scores = np.stack([np.zeros(n), d], axis=1)
    assert tune_bias(scores, y, "macro_f1").tolist() == [0.0, 0.0]


def test_cross_fitted_scores_tune_on_the_other_folds_only() -> None:
    scores, y = _skewed(600)
    folds = [(scores[i::3], y[i::3]) for i in range(3)]
    primary, other = cross_fitted_scores("macro_f1", folds, 2)
    assert len(primary) == len(other) == 3
    b0 = tune_bias(np.concatenate([scores[1::3], scores[2::3]]), np.concatenate([y[1::3], y[2::3]]), "macro_f1")
    assert primary[0] == pytest.approx(metric_value("macro_f1", y[0::3], (scores[0::3] + b0).argmax(1), 2))


@pytest.mark.parametrize(
    ("classifier", "classes"),
    [
        ("logreg", ("negative", "positive")),
        ("linear_svm", ("negative", "neutral", "positive")),
        ("sgd", ("a", "b")),
        ("nblr", ("negative", "positive")),
        ("nblr", ("negative", "neutral", "positive")),
    ],
)
def test_export_is_the_shifted_linear_model(classifier: str, classes: tuple[str, ...]) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = tiny_frame(90, classes=("negative", "neutral", "positive")[: len(classes)])
    texts = frame["text"].tolist()
    labels = [classes[("negative", "neutral", "positive").index(v)] for v in frame["label"]]
    hp = Hyperparameters(classifier=classifier, min_df=1, char_ngram_max=0)  # type: ignore[arg-type]
    x = build_features(hp).fit_transform(texts)
    clf = raw_classifier(hp, n_samples=len(texts)).fit(x, labels)
    d = clf.decision_function(x)
    scores = np.stack([np.zeros_like(d), d], 1) if d.ndim == 1 else d
    bias = np.linspace(0.0, 0.7, len(classes))
    out = export(clf, Decision(classes, tuple(bias), 2.5 if classifier != "logreg" else 1.0))
    assert type(out) is LogisticRegression
    assert out.predict(x).tolist() == np.asarray(classes)[(scores + bias).argmax(1)].tolist()
    proba = out.predict_proba(x)
    assert np.allclose(proba.sum(1), 1.0)
    if classifier == "logreg":  # a prior shift of the fitted probabilities: p' ∝ p · exp(b)
        shifted = clf.predict_proba(x) * np.exp(bias)
        assert np.allclose(proba, shifted / shifted.sum(1, keepdims=True))
    with pytest.raises(ValueError, match="applied to a model of"):
        export(clf, Decision(("x", *classes[1:]), tuple(bias)))


def test_train_entry_pinned_tuned_bias_records_offsets_and_loads(tmp_path: Path) -> None:
    from ml.artefact import META_FILE, MODEL_FILE, load_pipeline
    from ml.train import main

    paths = make_job(tmp_path, classes=("negative", "neutral", "positive"))
    argv = argv_for(paths, "--decision_bias", "tuned", "--classifier", "linear_svm", "--min_df", "1")
    assert main(argv) == 0
    meta = json.loads((paths["model"] / META_FILE).read_text())
    assert meta["hyperparameters"]["decision_bias"] == "tuned"
    assert set(meta["decision"]["bias"]) == {"negative", "neutral", "positive"}
    assert meta["decision"]["temperature"] > 0
    pipe = load_pipeline(paths["model"] / MODEL_FILE)  # only trusted types: a plain LogisticRegression
    assert type(pipe.named_steps["clf"]).__name__ == "LogisticRegression"
    assert set(pipe.predict(["the product was item"])) <= {"negative", "neutral", "positive"}


def test_nblr_trains_and_ships_as_a_plain_logistic_regression(tmp_path: Path) -> None:
    from ml.artefact import MODEL_FILE, load_pipeline
    from ml.train import main

    paths = make_job(tmp_path, classes=("negative", "neutral", "positive"))
    assert main(argv_for(paths, "--classifier", "nblr", "--C", "2.0")) == 0
    pipe = load_pipeline(paths["model"] / MODEL_FILE)
    assert type(pipe.named_steps["clf"]).__name__ == "LogisticRegression"
    frame = tiny_frame(24, seed=2, classes=("negative", "neutral", "positive"))
    assert (pipe.predict(frame["text"].tolist()) == frame["label"].to_numpy()).mean() > 0.9


def test_nblr_weights_features_by_their_log_count_ratio() -> None:
    """A feature seen only in positive documents gets a larger weight than in plain logistic regression."""
    import scipy.sparse as sp

    from ml.nbsvm import NBLogisticRegression

    x = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]], dtype=float))
    y = np.array(["pos", "pos", "neg", "neg"])
    nb = NBLogisticRegression(C=1.0).fit(x, y)
    p, q = np.array([2, 0, 2]) + 1.0, np.array([0, 2, 2]) + 1.0
    r = np.log((p / p.sum()) / (q / q.sum()))
    assert r[0] > 0 > r[1] and r[2] == pytest.approx(0.0)
    assert nb.predict(x).tolist() == y.tolist()
    assert nb.coef_.shape == (1, 3) and nb.coef_[0, 2] == pytest.approx(0.0)  # shared feature: no weight


def test_hyperparameters_reject_an_unknown_decision_bias() -> None:
    with pytest.raises(ValueError, match="decision_bias"):
        Hyperparameters(decision_bias="always")  # type: ignore[arg-type]
