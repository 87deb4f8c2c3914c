"""Score the real Tweets.csv (label column dropped) with a model trained here on a small sample."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_inference_support import train_tiny_pipeline

from include import lake as lk


@pytest.mark.realdata
def test_score_real_tweets_without_labels(lake: str, tmp_path: Path, shared_datasets: Path) -> None:
    from include.profiles import get_profile
    from ml.artefact import save_pipeline
    from ml.transform import BatchTransform

    source = shared_datasets / "airline_tweets" / "Tweets.csv"
    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sample = rows[::10]  # a small training sample (about 1.5k tweets)
    pipe = train_tiny_pipeline([r["text"] for r in sample], [r["airline_sentiment"] for r in sample])
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    save_pipeline(pipe, model_dir / "model.skops")
    profile = json.loads(get_profile("airline_tweets").to_json())
    (model_dir / "model.json").write_text(
        json.dumps({"classes": list(pipe.classes_), "profile": profile, "version": "1"})
    )

    # The file as it would arrive for scoring: same CSV dialect, the label column removed.
    key = "tweets_unlabelled.csv"
    path = Path(lk.local_path(lake)) / "inference-input" / "airline_tweets" / key
    path.parent.mkdir(parents=True)
    with source.open(encoding="utf-8", newline="") as src, path.open("w", encoding="utf-8", newline="") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst, lineterminator="\n")
        header = next(reader)
        drop = header.index("airline_sentiment")
        for row in [header, *reader]:
            writer.writerow(row[:drop] + row[drop + 1 :])
    objects = [o.to_dict() for o in lk.list_objects(lake + "/inference-input/airline_tweets")]
    summary = BatchTransform(model_dir, max_payload_mb=0.5, workers=0).run(
        objects, lake + "/inference-output/airline_tweets/real", "real"
    )
    assert summary.records_in == len(rows) and summary.requests >= 4
    out = [json.loads(x) for x in lk.read_bytes(summary.file_results[0].output_uri).decode().splitlines()]
    assert [o["id"] for o in out] == [r["tweet_id"] for r in rows]  # 18-digit ids kept as text, in order
    errors = [o for o in out if "error" in o]
    assert summary.errors == len(errors) < 0.01 * len(rows)
    # Trained on 10% of the data, the model must still beat the majority class on the rest.
    truth = {r["tweet_id"]: r["airline_sentiment"] for r in rows}
    scored = [o for o in out if "label" in o]
    accuracy = sum(o["label"] == truth[o["id"]] for o in scored) / len(scored)
    assert accuracy > 0.68, accuracy
