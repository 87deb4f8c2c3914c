"""Drift report files and the new-topic clusters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np

from include import lake as lk
from include.profiles import DriftSpec
from ml.drift.baseline import compute_baseline
from ml.drift.metrics import compare
from ml.drift.policy import decide
from ml.drift.report import write_report
from ml.drift.topics import low_confidence_texts, new_topics

TOPICS = {
    "battery": ["battery", "charge", "charger", "drains", "hours", "power"],
    "shipping": ["delivery", "package", "courier", "late", "shipping", "arrived"],
    "screen": ["screen", "display", "pixels", "bright", "resolution", "glare"],
}


def _topic_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    topics = [names[i] for i in rng.integers(0, len(names), n)]
    return [" ".join(rng.choice(TOPICS[t], size=6)) for t in topics], topics


def test_new_topics_finds_the_planted_clusters() -> None:
    texts, _ = _topic_texts(150, 0)
    out = new_topics(texts, seed=0)
    assert out["k"] == 3
    for cluster in out["clusters"]:
        # every cluster's top terms come from one planted topic
        owners = {t for t, words in TOPICS.items() for w in cluster["top_terms"][:3] if w in words}
        assert len(owners) == 1
        assert len(cluster["examples"]) == 3
    assert sum(c["size"] for c in out["clusters"]) == 150
    assert new_topics(texts[:5])["clusters"] == []


def test_low_confidence_texts_filters_by_top_probability() -> None:
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.3, 0.7]])
    assert low_confidence_texts(["a", "b", "c"], proba, 0.6) == ["b"]


def test_write_report_json_and_html(lake: str) -> None:
    ref, _ = _topic_texts(400, 1)
    cur = [t + " <script>x</script> brand new words" for t in _topic_texts(400, 2)[0]]
    rng = np.random.default_rng(0)
    base = compute_baseline(ref, rng.dirichlet([3, 3], 400), ["neg", "pos"])
    result = compare(base, cur, rng.dirichlet([1, 1], 400), ["neg", "pos"])
    when = datetime(2026, 11, 23, tzinfo=UTC)
    decision = decide(result.metrics, 400, [], when, DriftSpec(), run_key="20261123T000000")
    topics = new_topics(cur, seed=0)
    uris = write_report("demo", decision, result, base, topics=topics)
    assert uris["decision"] == f"{lake}/reports/drift/demo/20261123T000000/decision.json"
    payload = lk.read_json(uris["decision"])
    assert payload["decision"]["status"] == decision.status
    assert payload["metrics"]["length_psi"] == result.metrics["length_psi"]
    assert payload["shifted_tokens"] and payload["topics"]["k"] >= 2
    page = lk.read_bytes(uris["report"]).decode()
    assert page.count("data:image/png;base64,") == 4
    assert "<script>x" not in page and "&lt;script&gt;" in page  # texts are escaped
    json.dumps(payload)
