"""Model selection (ml/search.py): candidates, the hard time budget, a better choice than a bad base."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from unit.ml.test_train_entry import argv_for, make_job, tiny_frame

from ml.features import Hyperparameters
from ml.search import STRONG_BASELINE, candidates, rung_rows, sagemaker_ranges, search


def _data(n: int = 240) -> tuple[list[str], list[str]]:
    frame = tiny_frame(n, classes=("negative", "neutral", "positive"))
    return frame["text"].tolist(), frame["label"].tolist()


def test_candidates_hold_the_base_and_the_strong_baseline() -> None:
    base = Hyperparameters(classifier="sgd", C=3.0, min_df=2)
    found = candidates(base, 18, seed=0)
    assert len(found) == 18
    assert found[0] == base
    assert any(all(getattr(hp, k) == v for k, v in STRONG_BASELINE.items()) for hp in found)
    keys = {tuple(sorted(hp.to_dict().items())) for hp in found}
    assert len(keys) == 18  # distinct
    assert {hp.classifier for hp in found} == {"logreg", "linear_svm", "sgd", "nblr"}
    assert candidates(base, 18, seed=0) == found  # reproducible


def test_rungs_end_on_every_row() -> None:
    assert rung_rows(9000, 18) == [1000, 3000, 9000]
    assert rung_rows(200, 18) == [200]  # tiny data: one rung on every row


class _FakeClock:
    """Every reading advances 0.25 s: fits 'take time' without using any."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


def test_search_stops_at_its_budget() -> None:
    texts, labels = _data()
    clock = _FakeClock()
    result = search(Hyperparameters(min_df=1), texts, labels, budget_seconds=3.0, n_candidates=18, clock=clock)
    assert result.stopped_by_budget
    # hard budget: nothing starts after the deadline (the last check and its fit add a few readings at most)
    assert result.elapsed_seconds <= 3.0 + 1.0
    statuses = {t.status for t in result.trials}
    assert "budget" in statuses
    assert result.summary()["stopped_by_budget"] is True


def test_search_with_no_time_keeps_the_base() -> None:
    texts, labels = _data()
    base = Hyperparameters(classifier="sgd", C=3.0, min_df=1)
    result = search(base, texts, labels, budget_seconds=0.0)
    assert result.winner == base and result.winner_trial is None and result.stopped_by_budget


def test_search_beats_a_bad_base_in_real_time() -> None:
    texts, labels = _data(450)
    # skewed 3:1:1 (every "neutral" and "positive" row but one in three dropped)
    keep = [i for i, y in enumerate(labels) if y == "negative" or (i // 3) % 3 == 0]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    # barely any regularisation budget: C tiny -> predicts the majority class (macro-F1 ~ 0.29 on 3 classes)
    base = Hyperparameters(classifier="logreg", C=1e-4, min_df=1, char_ngram_max=0, class_weight="none")
    result = search(base, texts, labels, budget_seconds=120.0, n_candidates=6)
    assert not result.stopped_by_budget
    base_trial = next(t for t in result.trials if t.config["C"] == 1e-4 and t.config["classifier"] == "logreg")
    assert result.cv_mean is not None and result.cv_mean > base_trial.mean + 0.3
    assert result.winner != base
    summary = result.summary()
    assert summary["winner"]["C"] == result.winner.C and summary["cv_rows"] == len(texts)
    assert result.elapsed_seconds < 120.0


def test_sagemaker_ranges_cover_the_local_space() -> None:
    ranges = sagemaker_ranges()
    names = {r["Name"] for kind in ranges.values() for r in kind}
    assert names == {"classifier", "word_ngram_max", "char_ngram_max", "min_df", "class_weight", "decision_bias", "C"}
    for r in ranges["CategoricalParameterRanges"]:
        assert all(isinstance(v, str) for v in r["Values"])  # the API takes strings


def test_train_entry_searches_records_and_prints_objective(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ml.artefact import META_FILE
    from ml.train import METRIC_REGEX, main

    paths = make_job(tmp_path, classes=("negative", "neutral", "positive"))
    argv = argv_for(paths, "--C", "0.0001", "--search_budget_seconds", "60", "--search_candidates", "4")
    assert main(argv) == 0
    meta = json.loads((paths["model"] / META_FILE).read_text())
    selection = meta["selection"]
    assert selection["candidates"] == 4 and selection["cv_mean"] is not None
    assert meta["hyperparameters"]["C"] == selection["winner"]["C"]  # the model is the winner, refitted
    trials = json.loads((paths["output"] / "search.json").read_text())["trials"]
    assert len(trials) >= 4
    metrics = json.loads((paths["output"] / "metrics.json").read_text())
    assert metrics["cv_macro_f1_mean"] == selection["cv_mean"]
    out = capsys.readouterr().out
    found = re.search(METRIC_REGEX.format(split="validation", metric="macro_f1"), out)
    assert found and float(found.group(1)) == pytest.approx(metrics["validation_macro_f1"], abs=1e-6)


def test_selection_reaches_report_and_registry_tags() -> None:
    from ml.evaluate import evaluate, render_html
    from ml.features import build_pipeline
    from ml.search import selection_tags

    texts, labels = _data(120)
    result = search(Hyperparameters(min_df=1, char_ngram_max=0), texts, labels, budget_seconds=60, n_candidates=3)
    summary = result.summary()
    tags = selection_tags(summary)
    assert f"C={result.winner.C}" in tags["selection_winner"].split()
    assert tags["cv_macro_f1"].startswith(f"{summary['cv_mean']:.4f} +/- ")
    # SageMaker's CustomerMetadataProperties value pattern (letters, digits, spaces, _.:/=+-@)
    assert all(re.fullmatch(r"[\w\s.:/=+\-@]{1,256}", v) for v in tags.values()), tags
    assert selection_tags(None) == {}
    pipe = build_pipeline(result.winner).fit(texts, labels)
    challenger = {**evaluate(pipe, texts, labels, sorted(set(labels))), "selection": summary}
    page = render_html(challenger, None, {})
    assert "<h2>Model selection</h2>" in page and f"{summary['cv_mean']:.4f} ±" in page
    assert "Model selection" not in render_html({**challenger, "selection": None}, None, {})


def test_base_and_strong_baseline_reach_the_last_rung(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranked last on every rung, both are still scored on every row (the others are halved away)."""
    import ml.search

    def ranks_them_last(metric, clf, x, y, classes) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        c = getattr(clf, "C", None) or getattr(getattr(clf, "estimator", None), "C", None)
        return (0.0, 0.0) if c in (1e-4, 0.5) and type(clf).__name__ != "SGDClassifier" else (1.0, 1.0)

    def tuned_last(metric, folds, k):  # type: ignore[no-untyped-def]
        return [0.0] * len(folds), [0.0] * len(folds)  # every tuned candidate ranks last too

    monkeypatch.setattr(ml.search, "_fold_scores", ranks_them_last)
    monkeypatch.setattr(ml.search, "cross_fitted_scores", tuned_last)
    texts, labels = _data(900)
    base = Hyperparameters(classifier="logreg", C=1e-4, min_df=1, char_ngram_max=0, class_weight="none")
    result = search(base, texts, labels, budget_seconds=300.0, n_candidates=9)
    last = max(t.rung for t in result.trials)
    assert last >= 1
    final = [t.config for t in result.trials if t.rung == last and t.status == "ok"]
    assert any(c["C"] == 1e-4 for c in final)
    assert any(all(c[k] == v for k, v in STRONG_BASELINE.items()) for c in final)
    strong_tuned = {**STRONG_BASELINE, "decision_bias": "tuned"}
    assert any(all(c[k] == v for k, v in strong_tuned.items()) for c in final)
    assert result.winner_trial is not None and result.winner_trial.rows == 900


def test_ties_within_one_standard_error_go_to_the_higher_accuracy() -> None:
    from ml.search import Trial, _choose

    def trial(scores: list[float], acc: float, c: float) -> Trial:
        return Trial(0, 100, {"C": c}, scores=scores, other=[acc] * len(scores))

    top = trial([0.70, 0.74, 0.72, 0.70, 0.74], 0.80, 1.0)  # mean 0.72, sd 0.0179, se 0.008
    close = trial([0.71, 0.72, 0.71, 0.72, 0.71], 0.85, 2.0)  # mean 0.714: within one se, more accurate
    far = trial([0.70, 0.71, 0.70, 0.71, 0.70], 0.95, 4.0)  # mean 0.704: within one sd but not one se
    assert _choose([top, far]) is top
    assert _choose([top, close, far]) is close
