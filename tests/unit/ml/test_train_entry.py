"""The script-mode training entry on tiny data, with a fake /opt/ml layout in tmp."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from ml.artefact import BASELINE_FILE, META_FILE, MODEL_FILE, UntrustedModelError, load_pipeline, save_pipeline

POS = ["great", "excellent", "love", "wonderful", "perfect", "happy"]
NEG = ["awful", "terrible", "hate", "broken", "refund", "angry"]
NEU = ["okay", "average", "fine", "normal", "usual", "neutral"]


def tiny_frame(n: int, seed: int = 0, classes: tuple[str, ...] = ("negative", "positive")) -> pd.DataFrame:
    """``n`` short texts whose class is carried by its vocabulary (learnable, deterministic)."""
    vocab = {"positive": POS, "negative": NEG, "neutral": NEU}
    rows = []
    for i in range(n):
        label = classes[(i + seed) % len(classes)]
        words = vocab[label]
        text = f"the product was {words[i % 6]} and {words[(i * 7 + seed) % 6]} item {i + 1000 * seed}"
        rows.append({"id": f"r{seed}-{i}", "text": text, "label": label, "content_hash": f"{seed:02d}{i:014d}"})
    return pd.DataFrame(rows)


def make_job(tmp_path: Path, classes: tuple[str, ...] = ("negative", "positive")) -> dict[str, Path]:
    """A SageMaker-like /opt/ml tree with train/validation/test channels."""
    root = tmp_path / "opt_ml"
    paths = {c: root / "input" / "data" / c for c in ("train", "validation", "test")}
    for i, (channel, path) in enumerate(paths.items()):
        path.mkdir(parents=True)
        tiny_frame({"train": 60, "validation": 24, "test": 24}[channel], seed=i, classes=classes).to_parquet(
            path / "part-0.parquet"
        )
    paths["model"] = root / "model"
    paths["output"] = root / "output" / "data"
    return paths


def argv_for(paths: dict[str, Path], *extra: str) -> list[str]:
    return [
        "--train", str(paths["train"]), "--validation", str(paths["validation"]), "--test", str(paths["test"]),
        "--model-dir", str(paths["model"]), "--output-data-dir", str(paths["output"]),
        "--min_df", "1", "--char_ngram_max", "3", "--profile", "tiny", *extra,
    ]  # fmt: skip


def test_entry_writes_model_meta_baseline_and_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ml.train import main

    paths = make_job(tmp_path)
    assert main(argv_for(paths, "--C", "2.0", "--classes", '["negative", "positive"]')) == 0
    for name in (MODEL_FILE, META_FILE, BASELINE_FILE):
        assert (paths["model"] / name).is_file(), name
    meta = json.loads((paths["model"] / META_FILE).read_text())
    assert meta["profile"] == "tiny"
    assert meta["classes"] == ["negative", "positive"]
    assert meta["hyperparameters"]["C"] == 2.0
    metrics = json.loads((paths["output"] / "metrics.json").read_text())
    # The vocabulary decides the class: a working pipeline separates the test split.
    assert metrics["test_accuracy"] >= 0.9
    assert metrics["macro_f1"] == metrics["test_macro_f1"]
    assert "roc_auc" in metrics
    assert (paths["output"] / "confusion_test.png").read_bytes()[:4] == b"\x89PNG"
    pipe = load_pipeline(paths["model"] / MODEL_FILE)
    proba = pipe.predict_proba(["the product was great and perfect item 7"])
    assert proba.shape == (1, 2) and proba[0, 1] > 0.5
    out = capsys.readouterr().out
    assert "[train]" in out and "fitted logreg" in out


@pytest.mark.parametrize("classifier", ["linear_svm", "sgd"])
def test_entry_other_classifiers_multiclass_with_cv(tmp_path: Path, classifier: str) -> None:
    from ml.train import main

    paths = make_job(tmp_path, classes=("negative", "neutral", "positive"))
    assert main(argv_for(paths, "--classifier", classifier, "--cv_folds", "3", "--class_weight", "none")) == 0
    metrics = json.loads((paths["output"] / "metrics.json").read_text())
    assert metrics["cv_folds"] == 3.0 and 0 <= metrics["cv_macro_f1_std"] <= metrics["cv_macro_f1_mean"]
    assert "roc_auc" not in metrics
    assert load_pipeline(paths["model"] / MODEL_FILE).predict_proba(["x"]).shape == (1, 3)


def test_entry_refuses_labels_outside_the_classes(tmp_path: Path) -> None:
    from ml.data import DataError
    from ml.train import main

    paths = make_job(tmp_path)
    with pytest.raises(DataError, match=r"outside the profile's classes.*label='positive'"):
        main(argv_for(paths, "--classes", '["negative", "neutral"]'))
    assert "DataError" in (paths["output"].parent / "failure").read_text()


def test_missing_channel_names_the_variable(tmp_path: Path) -> None:
    from ml.data import DataError, read_channel

    with pytest.raises(DataError, match="SM_CHANNEL_VALIDATION"):
        read_channel(tmp_path / "nope", name="validation")


def test_sample_size_keeps_every_class(tmp_path: Path) -> None:
    from ml.train import stratified_sample

    frame = pd.concat([tiny_frame(90), tiny_frame(3, classes=("neutral",))], ignore_index=True)
    small = stratified_sample(frame, 20, seed=0)
    assert 18 <= len(small) <= 22
    assert set(small["label"]) == {"negative", "positive", "neutral"}


def test_skops_round_trip_and_pickle_refused(tmp_path: Path) -> None:
    from ml.features import Hyperparameters, build_pipeline

    data = tiny_frame(40)
    pipe = build_pipeline(Hyperparameters(min_df=1, classifier="linear_svm")).fit(data["text"], data["label"])
    path = tmp_path / MODEL_FILE
    save_pipeline(pipe, path)
    again = load_pipeline(path)
    assert (again.predict_proba(data["text"]) == pipe.predict_proba(data["text"])).all()

    class Boom:
        def __reduce__(self):  # what a crafted pickle does: call anything on load
            return (Path.write_text, (tmp_path / "pwned", "x"))

    (tmp_path / "evil.skops").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(UntrustedModelError, match="not a skops archive"):
        load_pipeline(tmp_path / "evil.skops")
    assert not (tmp_path / "pwned").exists()


def test_skops_file_with_untrusted_type_refused(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    data = tiny_frame(20)
    model = RandomForestClassifier(n_estimators=2, random_state=0).fit([[len(t)] for t in data["text"]], data["label"])
    sio.dump(model, tmp_path / "rf.skops")
    with pytest.raises(UntrustedModelError, match="untrusted types"):
        load_pipeline(tmp_path / "rf.skops")


def test_vocabulary_saved_compact_round_trips_and_stays_small(tmp_path: Path) -> None:
    """skops wrote one JSON node per vocabulary entry (minutes, 15x pickle): the file keeps arrays instead."""
    import random
    import zipfile

    from ml.features import Hyperparameters, build_pipeline

    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzé") for _ in range(rng.randint(2, 9))) for _ in range(3000)]
    texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(400)]
    labels = [("positive", "negative", "neutral")[i % 3] for i in range(400)]
    pipe = build_pipeline(Hyperparameters(min_df=1, C=1.0)).fit(texts, labels)
    word = pipe.named_steps["features"].transformer_list[0][1]
    before = dict(word.vocabulary_)
    assert len(before) > 3000
    path = tmp_path / MODEL_FILE
    save_pipeline(pipe, path)
    assert word.vocabulary_ == before  # the caller's pipeline is left as it was
    with zipfile.ZipFile(path) as zf:
        schema = zf.read("schema.json")
    assert len(schema) < 200_000, f"schema.json is {len(schema)} bytes: a node per vocabulary entry again?"
    assert path.stat().st_size <= 3 * len(pickle.dumps(pipe))
    again = load_pipeline(path)
    assert again.named_steps["features"].transformer_list[0][1].vocabulary_ == before
    assert (again.predict_proba(texts) == pipe.predict_proba(texts)).all()


def test_corrupt_compact_vocabulary_refused(tmp_path: Path) -> None:
    import numpy as np

    from ml.artefact import COMPACT_VOCABULARY
    from ml.features import Hyperparameters, build_pipeline

    data = tiny_frame(30)
    pipe = build_pipeline(Hyperparameters(min_df=1, char_ngram_max=0)).fit(data["text"], data["label"])
    word = pipe.named_steps["features"].transformer_list[0][1]
    del word.vocabulary_
    # offsets that run past the bytes: a crafted file must not turn into a silently wrong vocabulary
    setattr(word, COMPACT_VOCABULARY, (np.frombuffer(b"abc", dtype=np.uint8).copy(), np.array([0, 2, 9])))
    import skops.io as sio

    sio.dump(pipe, tmp_path / "bad.skops")
    with pytest.raises(UntrustedModelError, match=r"compact vocabulary .* corrupt"):
        load_pipeline(tmp_path / "bad.skops")
