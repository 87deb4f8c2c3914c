"""ml/categories/run.py: the minimum-sample guard, the review forms, recording the answers."""

from __future__ import annotations

import json

import pytest

from include import lake
from include.profiles import get_profile
from ml.categories.category_map import current_map
from ml.categories.decisions import OPTION_IGNORE, OPTION_NEW
from ml.categories.run import find_candidates, record_decisions, review_requests


def test_too_few_scored_texts_stop_before_clustering(tmp_path) -> None:
    profile = get_profile("amazon_polarity")
    out = find_candidates(
        profile,
        results_uri=(tmp_path / "results").as_uri(),
        models_uri=(tmp_path / "models").as_uri(),
        reports_uri=(tmp_path / "reports").as_uri(),
        run_key="r1",
        champion=None,
        champion_classes=profile.classes,
        champion_version=None,
        min_sample=10,
        max_texts=100,
        lookback_batches=3,
    )
    assert out["status"] == "insufficient_data" and out["n_scored"] == 0 and out["clusters"] == []
    assert not (tmp_path / "reports").exists()  # no report for nothing


def _candidates(tmp_path) -> dict:
    members = [{"id": f"m{i}", "batch": "b1", "text": f"fake hologram seal number {i}", "membership": 0.05 * i}
               for i in range(10)]  # fmt: skip
    others = [{"id": f"o{i}", "batch": "b1", "text": f"great value {i}", "membership": 0.5} for i in range(5)]
    example = {"id": "m9", "text": "fake hologram seal", "predicted": "negative", "confidence": 0.6, "membership": 0.45}
    summary = {"size": 10, "share": 0.66, "top_terms": ["hologram", "seal"], "novelty": 0.4,
               "nearest_category": "negative", "nearest_share": 0.7, "nearest_confidence": 0.6,
               "representative": [example]}  # fmt: skip
    clusters_uri = (tmp_path / "reports" / "categories" / "amazon_polarity" / "r1" / "clusters.json").as_uri()
    lake.write_json(
        clusters_uri,
        {"clusters": [{"cluster": 0, "members": members}, {"cluster": 1, "members": others}]},
    )
    return {
        "run_key": "r1",
        "clusters_uri": clusters_uri,
        "report": "file:///report.html",
        "category_map_version": 0,
        "classes": ["negative", "positive"],
        "n_clustered": 15,
        "clusters": [{**summary, "cluster": 0}, {**summary, "cluster": 1, "size": 5}],
    }


def test_review_forms_offer_every_class_and_default_to_ignore(tmp_path) -> None:
    forms = review_requests(_candidates(tmp_path))
    assert [f["subject"].split(":")[0] for f in forms] == ["Cluster 0", "Cluster 1"]
    assert forms[0]["options"] == [OPTION_NEW, "belongs to negative", "belongs to positive", OPTION_IGNORE]
    assert all(f["defaults"] == [OPTION_IGNORE] for f in forms)
    assert "hologram" in forms[0]["body"] and "file:///report.html" in forms[0]["body"]
    # in the UI the body links the report in the Model Ops view, at the cluster's own section
    linked = review_requests(_candidates(tmp_path), report_link="/nlpops/reports/categories/p/r1/index.html")
    assert "](/nlpops/reports/categories/p/r1/index.html#cluster-1)" in linked[1]["body"]


def test_answers_make_a_map_version_pseudo_labels_and_history(tmp_path) -> None:
    profile = get_profile("amazon_polarity")
    cand = _candidates(tmp_path)
    user = {"id": "ana", "name": "ana"}
    answers = [
        {"chosen_options": [OPTION_NEW], "params_input": {"name": "counterfeit"}, "responded_by_user": user,
         "responded_at": "2026-02-01T10:00:00+00:00"},
        None,  # no answer before the timeout: ignore
    ]  # fmt: skip
    kw = {
        "candidates": cand,
        "models_uri": (tmp_path / "models").as_uri(),
        "processed_uri": (tmp_path / "processed").as_uri(),
        "reports_uri": (tmp_path / "reports").as_uri(),
        "threshold": 0.2,
        "now": "2026-02-01T10:05:00+00:00",
    }
    with pytest.raises(ValueError, match="1 review answers for 2 clusters"):
        record_decisions(profile, responses=answers[:1], **kw)
    out = record_decisions(profile, responses=answers, **kw)
    assert out["changed"] and out["category_map_version"] == 1
    assert out["classes"] == ["negative", "positive", "counterfeit"]
    assert out["pseudo_labels"] == 6  # memberships 0.20 .. 0.45 of cluster 0; cluster 1 ignored
    assert [d["action"] for d in out["decisions"]] == ["new", "ignore"]
    assert out["decisions"][1]["timed_out"] and out["decisions"][0]["pseudo_labels"] == 6
    assert current_map(profile, kw["models_uri"]).added["counterfeit"]["by"] == "ana"
    history = (tmp_path / "reports" / "categories" / "amazon_polarity" / "decisions.jsonl").read_text()
    assert [json.loads(line)["run_key"] for line in history.splitlines()] == ["r1"]
    # a retry of the task (same answers) finds its own version: same result, no conflict, no v2
    again = record_decisions(profile, responses=answers, **kw)
    assert again["category_map_version"] == 1 and again["pseudo_labels"] == 6
    history = (tmp_path / "reports" / "categories" / "amazon_polarity" / "decisions.jsonl").read_text()
    assert len(history.splitlines()) == 1
