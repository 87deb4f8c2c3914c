"""Helpers shared by the inference, transform and results tests: a tiny real model on disk.

(Named ``test_inference_*`` so it lives with the tests it serves; it holds one sanity test.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from include.profiles import get_profile

POSITIVE = ["great flight, thank you", "love the crew", "awesome service thanks", "best airline ever, great"]
NEGATIVE = ["delayed again, awful", "lost my bag, terrible", "worst service, cancelled", "rude staff and delayed"]
NEUTRAL = ["what time is the flight", "is there wifi on board", "flight to boston tomorrow", "which gate is it"]


def train_tiny_pipeline(texts: Sequence[str], labels: Sequence[str]):
    """TfidfVectorizer + LogisticRegression fitted on ``texts`` (seconds, no ml.train needed)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([("features", TfidfVectorizer()), ("clf", LogisticRegression(max_iter=200))])
    return pipe.fit(list(texts), list(labels))


def make_model_dir(
    directory: Path,
    profile_name: str = "airline_tweets",
    *,
    texts: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    version: str | None = "3",
    profile_as_name: bool = False,
) -> Path:
    """``directory`` with ``model.skops`` + ``model.json`` (classes, profile JSON, version)."""
    from ml.artefact import save_pipeline

    if texts is None:
        texts = POSITIVE + NEGATIVE + NEUTRAL
        labels = ["positive"] * 4 + ["negative"] * 4 + ["neutral"] * 4
        if profile_name == "amazon_polarity":
            texts, labels = POSITIVE + NEGATIVE, ["positive"] * 4 + ["negative"] * 4
    assert labels is not None
    pipe = train_tiny_pipeline(texts, labels)
    directory.mkdir(parents=True, exist_ok=True)
    save_pipeline(pipe, directory / "model.skops")
    profile = get_profile(profile_name)
    meta = {
        "classes": [str(c) for c in pipe.classes_],
        "profile": profile_name if profile_as_name else json.loads(profile.to_json()),
    }
    if version is not None:
        meta["version"] = version
    (directory / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    return directory


def test_make_model_dir_writes_a_loadable_model(tmp_path: Path) -> None:
    from ml.inference import load_model

    model = load_model(make_model_dir(tmp_path / "m"))
    assert model.classes == ["negative", "neutral", "positive"]
    assert model.version == "3" and model.layout.name == "airline_tweets"
