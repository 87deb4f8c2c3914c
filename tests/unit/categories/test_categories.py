"""ml/categories: the versioned map, clustering of a new category, decisions, pseudo-labels, the gate."""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest

from include.profiles import get_profile
from ml.categories import category_map as cm
from ml.categories.clusters import cluster_pool
from ml.categories.decisions import (
    OPTION_IGNORE,
    OPTION_NEW,
    DecisionError,
    apply_decisions,
    options_for,
    parse_response,
    pseudo_label_rows,
    publish_pseudo_labels,
)
from ml.categories.gate import decide
from ml.categories.pool import Pool, weighted_sample
from ml.categories.report import render_html
from ml.generator import DriftKnobs, generate


@pytest.fixture
def models_uri(tmp_path) -> str:
    return (tmp_path / "models" / "amazon_polarity").as_uri()


def _response(option: str, name: str = "", user: str = "ana") -> dict:
    return {
        "chosen_options": [option],
        "params_input": {"name": name},
        "responded_by_user": {"id": user, "name": user},
        "responded_at": "2026-02-01T10:00:00+00:00",
    }


def test_map_versions_are_written_once_listed_and_diffable(models_uri: str) -> None:
    profile = get_profile("amazon_polarity")
    seed = cm.current_map(profile, models_uri)
    assert (seed.version, seed.classes) == (0, ["negative", "positive"])
    assert cm.list_versions(models_uri) == []
    d = parse_response(_response(OPTION_NEW, "counterfeit"), cluster=1, size=10, run_key="r1", classes=seed.classes)
    old, new = apply_decisions(profile, models_uri, [d], expected_version=0, created_at="t")
    assert new is not None and new.version == 1 and new.classes == ["negative", "positive", "counterfeit"]
    assert new.added["counterfeit"]["by"] == "ana" and new.added["counterfeit"]["decision_id"] == "r1/cluster-1"
    assert cm.list_versions(models_uri) == [1]
    assert cm.current_map(profile, models_uri) == new
    assert cm.diff(old, new)["added_classes"] == ["counterfeit"]
    # the same decisions again (a task retry) find their own version
    assert apply_decisions(profile, models_uri, [d], expected_version=0, created_at="t")[1] == new
    # another review opened against v0 cannot write over v1
    other = parse_response(_response(OPTION_NEW, "fake"), cluster=0, size=3, run_key="r2", classes=seed.classes)
    with pytest.raises(DecisionError, match="moved from v0 to v1"):
        apply_decisions(profile, models_uri, [other], expected_version=0, created_at="t")
    # the same class again is refused, with the fix in the message
    with pytest.raises(DecisionError, match="belongs to counterfeit"):
        apply_decisions(profile, models_uri, [d], expected_version=1, created_at="t")
    # a different version 2 already on disk is never overwritten
    cm.write_next(
        new,
        models_uri,
        classes=[*new.classes, "x"],
        labels=new.labels,
        added={},
        created_at="",
        created_by="",
        reason="",
    )
    with pytest.raises(cm.CategoryMapError, match="already exists"):
        cm.write_next(
            new,
            models_uri,
            classes=[*new.classes, "y"],
            labels=new.labels,
            added={},
            created_at="",
            created_by="",
            reason="",
        )


def test_ignore_and_timeout_change_nothing(models_uri: str) -> None:
    profile = get_profile("amazon_polarity")
    ign = parse_response(_response(OPTION_IGNORE), cluster=0, size=5, run_key="r", classes=profile.classes)
    none = parse_response(None, cluster=1, size=5, run_key="r", classes=profile.classes)
    assert none.timed_out and none.action == "ignore"
    _, new = apply_decisions(profile, models_uri, [ign, none], expected_version=0, created_at="t")
    assert new is None and cm.list_versions(models_uri) == []
    with pytest.raises(DecisionError, match="without a name"):
        parse_response(_response(OPTION_NEW, ""), cluster=2, size=5, run_key="r", classes=profile.classes)
    assert options_for(["a", "b"]) == [OPTION_NEW, "belongs to a", "belongs to b", OPTION_IGNORE]


def _scored_pool(rows: int, share: float, seed: int) -> tuple[Pool, list[str]]:
    out, truth = io.BytesIO(), io.BytesIO()
    generate("amazon_polarity", rows, seed=seed, out=out, drift=DriftKnobs(new_category=share), truth_out=truth)
    recs = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    texts = [f"{r[1]} . {r[2]}" for r in recs]
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, len(texts))
    pool = Pool([f"id{i}" for i in range(len(texts))], texts, ["positive"] * len(texts), conf, ["b1"] * len(texts))
    return pool, truth.getvalue().decode().splitlines()


def test_new_category_forms_a_pure_cluster_and_becomes_pseudo_labels(tmp_path) -> None:
    pool, truth = _scored_pool(240, 0.25, seed=3)
    clustering = cluster_pool(pool, k_max=4, seed=0).to_dict()
    truth_of = {f"id{i}": t for i, t in enumerate(truth)}
    purity = []
    for c in clustering["clusters"]:
        labels = [truth_of[m["id"]] for m in c["members"]]
        purity.append((labels.count("counterfeit") / len(labels), labels.count("counterfeit"), c))
    best_purity, hits, best = max(purity, key=lambda p: p[0])
    assert best_purity >= 0.8 and hits >= 0.8 * truth.count("counterfeit")
    assert {"serial", "hologram", "authenticity", "seal"} & set(best["top_terms"])
    assert best["oov_share"] is None  # no champion given: nothing to call unseen
    page = render_html({"profile": "p", "clusters": clustering["clusters"], "classes": ["a", "b"]})
    assert not re.search(r"(src|href)=\"https?://", page)  # offline: no CDN assets
    assert "<script" not in page.lower() and "Cluster" in page

    profile = get_profile("amazon_polarity")
    d = parse_response(
        _response(OPTION_NEW, "counterfeit"),
        cluster=best["cluster"],
        size=best["size"],
        run_key="r9",
        classes=profile.classes,
    )
    rows = pseudo_label_rows(clustering["clusters"], [d], threshold=0.1)
    assert rows and all(r["pseudo_label"] and r["decision_id"] == f"r9/cluster-{best['cluster']}" for r in rows)
    assert all(r["label"] == "counterfeit" for r in rows)
    strict = pseudo_label_rows(clustering["clusters"], [d], threshold=0.99)
    assert len(strict) < len(rows)  # the threshold is applied

    from ml.data import read_processed

    processed = (tmp_path / "processed").as_uri()
    manifest = publish_pseudo_labels(rows, processed_uri=processed, run_key="r9", split_spec=profile.split, manifest={})
    frames, runs = read_processed(processed)
    assert runs == ["categories-r9"]
    assert sum(len(f) for f in frames.values()) == manifest["rows"] == len({r["text"] for r in rows})
    assert set(frames["train"]["decision_id"]) == {d.decision_id}


def test_weighted_sample_prefers_low_confidence() -> None:
    n = 2000
    conf = np.r_[np.full(1000, 0.55), np.full(1000, 0.99)]
    pool = Pool([str(i) for i in range(n)], ["t"] * n, ["a"] * n, conf, ["b"] * n)
    sample = weighted_sample(pool, 300, seed=0)
    low = int((sample.confidence < 0.6).sum())
    assert sample.n == 300 and low > 200  # weight 0.55 vs 0.11: about 5:1


def test_gate_compares_shared_classes_and_judges_new_ones_apart() -> None:
    kw = {"primary_metric": "macro_f1", "margin": 0.01, "floor": 0.6}
    ok = decide({"macro_f1": 0.90}, {"macro_f1": 0.905}, {"counterfeit": 0.92}, **kw)
    assert ok.promote and "new classes: counterfeit" in ok.reason
    assert decide({"macro_f1": 0.886}, {"macro_f1": 0.905}, {"counterfeit": 0.92}, **kw).promote  # within 0.02
    worse = decide({"macro_f1": 0.88}, {"macro_f1": 0.905}, {"counterfeit": 0.92}, **kw)
    assert not worse.promote and "shared classes" in worse.reason
    weak = decide({"macro_f1": 0.90}, {"macro_f1": 0.90}, {"counterfeit": 0.4}, **kw)
    assert not weak.promote and "counterfeit" in weak.reason
    # no new class: the usual gate (must beat the champion by the margin)
    same = decide({"macro_f1": 0.90}, {"macro_f1": 0.90}, {}, **kw)
    assert not same.promote
