"""A profile with no labels at all: empty seed map, clusters of unscored inputs, first classes by a person."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from include.profiles import Profile, get_profile
from ml.categories import category_map as cm
from ml.categories.decisions import OPTION_IGNORE, OPTION_NEW, apply_decisions, options_for, parse_response
from ml.categories.pool import UNSCORED, load_unscored_pool
from ml.categories.report import render_html
from ml.categories.run import find_candidates, record_decisions, review_requests


def _unlabelled(name: str = "tickets") -> Profile:
    data = get_profile("cfpb_complaints").model_dump()
    return Profile.model_validate({**data, "name": name, "labels": {}})


def _answer(option: str, name: str = "") -> dict:
    user = {"id": "ana", "name": "ana"}
    return {"chosen_options": [option], "params_input": {"name": name}, "responded_by_user": user,
            "responded_at": "2026-02-01T10:00:00+00:00"}  # fmt: skip


def test_a_profile_may_have_no_labels_but_not_one_class() -> None:
    profile = _unlabelled()
    assert profile.bootstrap and profile.classes == []
    assert not get_profile("cfpb_complaints").bootstrap
    with pytest.raises(ValidationError, match="at least two classes"):
        Profile.model_validate({**profile.model_dump(), "labels": {"a": "x", "b": "x"}})


def test_empty_seed_map_grows_by_decisions_and_is_trainable_from_two_classes(tmp_path) -> None:
    profile = _unlabelled()
    models_uri = (tmp_path / "models" / profile.name).as_uri()
    seed = cm.current_map(profile, models_uri)
    assert seed.version == 0 and seed.classes == [] and not seed.trainable
    assert options_for(seed.classes) == [OPTION_NEW, OPTION_IGNORE]  # nothing to belong to yet

    one = [parse_response(_answer(OPTION_NEW, "mortgage"), cluster=0, size=9, run_key="r1", classes=[])]
    _, v1 = apply_decisions(profile, models_uri, one, expected_version=0, created_at="t1")
    assert v1 is not None and v1.classes == ["mortgage"] and not v1.trainable
    two = [parse_response(_answer(OPTION_NEW, "student loan"), cluster=1, size=9, run_key="r2", classes=v1.classes)]
    _, v2 = apply_decisions(profile, models_uri, two, expected_version=1, created_at="t2")
    assert v2 is not None and v2.classes == ["mortgage", "student loan"] and v2.trainable
    assert cm.current_map(profile, models_uri).version == 2
    # only the seed may be empty; a written version with no class is refused when read
    with pytest.raises(cm.CategoryMapError, match="has no classes"):
        cm.CategoryMap.from_dict({**v2.to_dict(), "classes": [], "labels": {}}, where="x")


def _validated(tmp_path, texts: list[str]) -> str:
    """Validated rows as batch inference's validation writes them (one Parquet per source file)."""
    uri = tmp_path / "validated"
    uri.mkdir()
    pd.DataFrame(
        {
            "_row_id": [f"id{i}" for i in range(len(texts))],
            "_source_uri": ["file:///in/a.csv"] * len(texts),
            "_source_record": list(range(1, len(texts) + 1)),
            "Consumer complaint narrative": texts,
        }
    ).to_parquet(uri / "part-0.parquet")
    return uri.as_uri()


def test_unscored_inputs_are_clustered_without_a_champion(tmp_path) -> None:
    profile = _unlabelled()
    mortgage = [f"my mortgage servicer refused the loan modification and started foreclosure {i}" for i in range(30)]
    student = [f"the student loan servicer denied forgiveness and capitalised interest {i}" for i in range(30)]
    validated = _validated(tmp_path, mortgage + student)
    pool = load_unscored_pool(validated, text_fields=profile.fields.text, separator=profile.fields.text_separator)
    assert pool.n == 60 and set(pool.predicted) == {UNSCORED} and set(pool.batches) == {"file:///in/a.csv"}

    kw = {
        "results_uri": (tmp_path / "results").as_uri(),
        "models_uri": (tmp_path / "models").as_uri(),
        "reports_uri": (tmp_path / "reports").as_uri(),
        "run_key": "r1",
        "champion_classes": [],
        "champion_version": None,
        "min_sample": 20,
        "max_texts": 100,
        "lookback_batches": 3,
        "k_max": 3,
    }
    with pytest.raises(ValueError, match="without a champion"):
        find_candidates(profile, champion=object(), unscored_uri=validated, **kw)
    out = find_candidates(profile, champion=None, unscored_uri=validated, **kw)
    assert out["status"] == "review" and out["source"] == "unscored inputs" and out["n_scored"] == 60
    assert sorted(c["size"] for c in out["clusters"]) == [30, 30]
    forms = review_requests(out)
    assert forms[0]["options"] == [OPTION_NEW, OPTION_IGNORE]
    assert "No champion yet" in forms[0]["body"] and "Nearest existing category" not in forms[0]["body"]
    html = (tmp_path / "reports" / "categories" / profile.name / "r1" / "index.html").read_text()
    assert "no champion yet" in html and "unscored inputs" in html
    assert render_html({"clusters": [], "champion_version": None}).count("none yet") == 1

    # one named cluster: the map has one class, recorded but not trainable (no retrain event)
    answers = [_answer(OPTION_NEW, "mortgage"), _answer(OPTION_IGNORE)]
    rec = dict(
        candidates=out, models_uri=kw["models_uri"], processed_uri=(tmp_path / "processed").as_uri(),
        reports_uri=kw["reports_uri"], threshold=0.0, now="2026-02-01T10:05:00+00:00",
    )  # fmt: skip
    first = record_decisions(profile, responses=answers, **rec)
    assert first["changed"] and not first["trainable"] and first["classes"] == ["mortgage"]
    assert first["pseudo_labels"] == 30
