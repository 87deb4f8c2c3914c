"""Evaluation metrics and the challenger-vs-champion report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.evaluate import evaluate, write_report


class FixedModel:
    """A stand-in pipeline whose probabilities are given, so the expected metrics are known."""

    def __init__(self, classes: list[str], proba: list[list[float]]) -> None:
        self.classes_ = np.asarray(classes)
        self._proba = np.asarray(proba)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self._proba[: len(texts)]


def test_binary_metrics_match_hand_computed_values() -> None:
    model = FixedModel(["neg", "pos"], [[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]])
    ev = evaluate(model, ["a", "b", "c", "d"], ["neg", "neg", "pos", "pos"], ["neg", "pos"])
    # predictions: neg, pos, pos, neg → 2 of 4 right
    assert ev["accuracy"] == 0.5
    assert ev["confusion_matrix"] == [[1, 1], [1, 1]]
    assert ev["per_class"]["pos"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    # pos scores 0.1, 0.6 (true neg) vs 0.7, 0.2 (true pos): 3 of the 4 pairs are ordered right
    assert ev["roc_auc"] == 0.75
    assert ev["macro_f1"] == 0.5


def test_multiclass_order_follows_classes_and_has_no_auc() -> None:
    model = FixedModel(["a", "b", "c"], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    ev = evaluate(model, ["x", "y", "z"], ["c", "b", "c"], ["c", "b", "a"])
    assert ev["classes"] == ["c", "b", "a"]
    assert ev["confusion_matrix"] == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert "roc_auc" not in ev
    assert ev["per_class"]["a"]["support"] == 0


def test_unknown_label_is_an_error() -> None:
    model = FixedModel(["a", "b"], [[1, 0]])
    with pytest.raises(ValueError, match=r"\['zz'\]"):
        evaluate(model, ["x"], ["zz"], ["a", "b"])


def test_report_side_by_side(lake: str) -> None:
    from include import lake as lk
    from include.settings import get_settings

    model = FixedModel(["neg", "pos"], [[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]])
    better = FixedModel(["neg", "pos"], [[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    args = (["a", "b", "c", "d"], ["neg", "neg", "pos", "pos"], ["neg", "pos"])
    out = get_settings().zone_uri("reports", "evaluation", "p", "3")
    html_uri = write_report(evaluate(better, *args), evaluate(model, *args), out)
    saved = json.loads(lk.read_bytes(lk.join(out, "evaluation.json")))
    assert saved["challenger"]["accuracy"] == 1.0 and saved["champion"]["accuracy"] == 0.5
    page = lk.read_bytes(html_uri).decode()
    assert "+0.5000" in page and page.count("data:image/png;base64,") == 2
    assert lk.read_bytes(lk.join(out, "champion_confusion.png"))[:4] == b"\x89PNG"

    write_report(evaluate(better, *args), None, out)
    assert "No champion yet" in lk.read_bytes(html_uri).decode()


def test_macro_f1_averages_the_classes_present_and_lists_the_absent_ones() -> None:
    # Four classes in the profile, only 'a' and 'b' in the test split; both predicted perfectly.
    model = FixedModel(["a", "b", "c", "d"], [[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]])
    ev = evaluate(model, ["x", "y", "z"], ["a", "b", "a"], ["a", "b", "c", "d"])
    assert ev["macro_f1"] == 1.0  # what the gate compares: the model is perfect on what it was shown
    assert ev["classes_present"] == ["a", "b"] and ev["absent_classes"] == ["c", "d"]
    assert ev["macro_f1_all_classes"] == 0.5  # the old figure, counting absent classes as F1 = 0


def test_the_gate_is_not_failed_by_classes_the_test_split_lacks() -> None:
    from ml.gate import decide

    model = FixedModel(["a", "b", "c"], [[0.9, 0.1, 0], [0.2, 0.8, 0]])
    ev = evaluate(model, ["x", "y"], ["a", "b"], ["a", "b", "c"])
    decision = decide({"macro_f1": ev["macro_f1"]}, None, primary_metric="macro_f1", margin=0.005, floor=0.7)
    assert decision.promote, decision  # over all classes it would be 0.67 < floor 0.7


def test_cfpb_profile_maps_both_taxonomies_onto_one(shared_datasets) -> None:
    import csv

    from include.profiles import get_profile

    prof = get_profile("cfpb_complaints")
    new_taxonomy = {
        "Checking or savings account",
        "Credit card or prepaid card",
        "Credit reporting, credit repair services, or other personal consumer reports",
        "Debt collection",
        "Money transfer, virtual currency, or money service",
        "Mortgage",
        "Payday loan, title loan, or personal loan",
        "Student loan",
        "Vehicle loan or lease",
        "Debt or credit management",
    }
    assert set(prof.classes) == new_taxonomy
    per_file = {}
    for name, skip in (("Consumer_Complaints.csv", 0), ("complaints_sample.csv", 2)):
        with open(shared_datasets / "cfpb_complaints" / name, newline="", encoding="utf-8") as fh:
            for _ in range(skip):
                next(fh)
            raw = {row["Product"] for row in csv.DictReader(fh)}
        assert raw <= set(prof.labels), f"{name}: products {sorted(raw - set(prof.labels))} have no mapping"
        per_file[name] = {prof.labels[p] for p in raw}
    # The old export (2015-2017) and the new one (2019-2020) now share their classes.
    assert per_file["Consumer_Complaints.csv"] <= per_file["complaints_sample.csv"] | {"Vehicle loan or lease"}
    assert len(per_file["Consumer_Complaints.csv"] & per_file["complaints_sample.csv"]) >= 8


def test_report_names_what_was_evaluated_and_links_to_model_ops(lake: str) -> None:
    from include import lake as lk
    from include.settings import get_settings
    from ml.evaluate import add_version

    model = FixedModel(["neg", "pos"], [[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]])
    args = (["a", "b", "c", "d"], ["neg", "neg", "pos", "pos"], ["neg", "pos"])
    out = get_settings().zone_uri("reports", "evaluation", "p", "job-1")
    about = {
        "profile": "p",
        "job_name": "job-1",
        "run_id": "manual__2026-01-01",
        "training_data": "file:///lake/processed/p (runs r<1>)",
        "champion_version": "none yet",
    }
    html_uri = write_report(evaluate(model, *args), None, out, about=about, model_ops_url="/nlpops/#profile-p")
    page = lk.read_bytes(html_uri).decode()
    for shown in ("job-1", "manual__2026-01-01", "file:///lake/processed/p (runs r&lt;1&gt;)", "none yet"):
        assert shown in page
    assert '<a href="/nlpops/#profile-p">Model Ops</a>' in page
    assert "Model version" not in page  # not registered yet
    add_version(out, "7")  # what the register task does once the registry named it
    page = lk.read_bytes(html_uri).decode()
    assert "<th>Model version</th><td>7</td>" in page and "job-1" in page and "Model Ops" in page
