"""The SageMaker-style handler: content types, malformed records, refused model files."""

from __future__ import annotations

import csv
import io
import json
import pickle
from pathlib import Path

import pytest
from test_inference_support import make_model_dir

from ml.artefact import UntrustedModelError
from ml.inference import (
    CSV,
    JSONLINES,
    UnsupportedContentTypeError,
    handle,
    input_fn,
    load_model,
    model_fn,
    output_fn,
    predict_fn,
)
from ml.textnorm import row_id_of

TWEET_HEADER = (
    "tweet_id,airline_sentiment,airline_sentiment_confidence,negativereason,negativereason_confidence,airline,"
    "airline_sentiment_gold,name,negativereason_gold,retweet_count,text,tweet_coord,tweet_created,"
    "tweet_location,user_timezone"
)


def tweet_row(tweet_id: str, text: str, label: str | None = "neutral") -> str:
    values = [tweet_id, *([label] if label is not None else []), "1.0", "", "", "Delta", "", "bob", "", "0", text]
    values += ["", "2015-02-24 11:35:52 -0800", "", "Eastern Time (US & Canada)"]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


@pytest.fixture(scope="module")
def tweets_model(tmp_path_factory: pytest.TempPathFactory):
    return load_model(make_model_dir(tmp_path_factory.mktemp("tweets") / "model"))


@pytest.fixture(scope="module")
def polarity_model(tmp_path_factory: pytest.TempPathFactory):
    return load_model(make_model_dir(tmp_path_factory.mktemp("pol") / "model", "amazon_polarity", version=None))


def test_model_fn_reads_classes_profile_and_version(tmp_path: Path) -> None:
    model = model_fn(str(make_model_dir(tmp_path / "m")))
    assert model.classes == ["negative", "neutral", "positive"]
    assert model.version == "3"
    assert model.layout.id_field == "tweet_id" and model.layout.header is True


def test_model_fn_accepts_a_profile_name_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ml/train.py records the profile's name; the handler then looks the profile up.
    monkeypatch.setenv("NLPOPS_MODEL_VERSION", "7")
    model = model_fn(str(make_model_dir(tmp_path / "m", profile_as_name=True, version=None)))
    assert model.layout.name == "airline_tweets" and model.version == "7"


def test_csv_with_header_embedded_newline_and_no_label(tweets_model) -> None:
    body = TWEET_HEADER.replace("airline_sentiment,", "", 1) + "\n"
    body += tweet_row("570306133677760513", "@united lost my bag,\nterrible and delayed", label=None)
    body += tweet_row("570306133677760514", "love the crew &amp; great flight", label=None)
    out, _ = handle(body.encode(), CSV, JSONLINES, tweets_model)
    lines = [json.loads(x) for x in out.decode().splitlines()]
    assert [x["id"] for x in lines] == ["570306133677760513", "570306133677760514"]
    assert [x["label"] for x in lines] == ["negative", "positive"]
    first = lines[0]
    assert set(first["probabilities"]) == {"negative", "neutral", "positive"}
    assert first["confidence"] == max(first["probabilities"].values())
    assert abs(sum(first["probabilities"].values()) - 1) < 1e-4
    assert first["model_version"] == "3" and "error" not in first


def test_csv_without_header_in_a_later_request_maps_by_position(tweets_model) -> None:
    # Only the first mini-batch of a file carries the header: later ones are mapped by field count.
    body = tweet_row("1", "great flight thank you", label=None) + tweet_row("2", "worst service cancelled", label=None)
    preds = predict_fn(input_fn(body, "text/csv; charset=utf-8"), tweets_model)
    assert [(p["id"], p["label"]) for p in preds] == [("1", "positive"), ("2", "negative")]
    # One layout per request (the profile's, as most records fit it): a record of another width is an error.
    body += tweet_row("3", "great flight thank you")
    preds = predict_fn(input_fn(body, "text/csv; charset=utf-8"), tweets_model)
    assert [p.get("label") for p in preds[:2]] == ["positive", "negative"]
    assert "15 field(s)" in preds[2]["error"] and "expects 14 like the rest of the request" in preds[2]["error"]


def test_csv_profile_without_header_and_without_id_hashes_the_raw_record(polarity_model) -> None:
    body = '2,"Great","love it, best ever\r\nreally great"\r\n"1","Awful","terrible, delayed"\r\n"Only","title"\r\n'
    preds = predict_fn(input_fn(body.encode(), CSV), polarity_model)
    assert [p.get("label") for p in preds][:2] == ["positive", "negative"]
    assert "2 field(s)" in preds[2]["error"]  # the request's layout is (polarity, title, text)
    assert preds[0]["id"] == row_id_of('2,"Great","love it, best ever\r\nreally great"')
    assert preds[1]["id"] == row_id_of('"1","Awful","terrible, delayed"')
    assert preds[0]["model_version"] == "unversioned"


def test_jsonlines_id_text_and_raw_field_names(tweets_model) -> None:
    body = "\n".join(
        [
            json.dumps({"id": "a", "text": "awesome service thanks"}),
            json.dumps({"tweet_id": 42, "text": "lost my bag terrible", "airline": "United"}),
            json.dumps({"text": "which gate is it"}),
        ]
    )
    preds = predict_fn(input_fn(body, "application/jsonlines"), tweets_model)
    assert [p["id"] for p in preds] == ["a", "42", row_id_of(json.dumps({"text": "which gate is it"}))]
    assert [p["label"] for p in preds] == ["positive", "negative", "neutral"]


def test_malformed_records_are_named_and_do_not_lose_the_rest(tweets_model) -> None:
    body = "\n".join(
        [
            json.dumps({"id": "ok1", "text": "great flight"}),
            '{"id": "broken", "text": ',
            "[1, 2]",
            json.dumps({"id": "num", "text": 5}),
            json.dumps({"id": "empty", "text": "<br/> &nbsp; "}),
            json.dumps({"id": "none", "title": "x"}),
            json.dumps({"id": "ok2", "text": "delayed again awful"}),
        ]
    )
    preds = predict_fn(input_fn(body, JSONLINES), tweets_model)
    assert len(preds) == 7
    assert [p.get("label") for p in preds][::6] == ["positive", "negative"]
    errors = {i: p["error"] for i, p in enumerate(preds) if "error" in p}
    assert sorted(errors) == [1, 2, 3, 4, 5]
    assert errors[1].startswith("record 2 (line 2): not valid JSON")
    assert "JSON object is expected" in errors[2]
    assert "field 'text' is int" in errors[3]
    assert "empty text" in errors[4]
    assert "expected the field 'text'" in errors[5]
    assert preds[3]["id"] == "num"  # the id is kept when it could be read


def test_malformed_csv_records(polarity_model) -> None:
    body = b'2,"ok","great thanks"\n1,"bad"quote,"x"\n1,2,3,4\n\xff\xfe,"t","u"\n2,"unclosed,text\n'
    preds = predict_fn(input_fn(body, CSV), polarity_model)
    assert "label" in preds[0]
    assert "malformed CSV" in preds[1]["error"] and "record 2 (line 2)" in preds[1]["error"]
    assert "4 field(s), profile 'amazon_polarity' expects 3 like the rest" in preds[2]["error"]
    assert "not UTF-8" in preds[3]["error"]
    assert "never closed" in preds[4]["error"] and "line 5" in preds[4]["error"]


def test_unknown_content_and_accept_types_are_415(tweets_model) -> None:
    with pytest.raises(UnsupportedContentTypeError, match="415 Unsupported Media Type: 'application/x-parquet'"):
        input_fn(b"x", "application/x-parquet")
    with pytest.raises(UnsupportedContentTypeError, match="415"):
        output_fn([{"id": "1"}], "application/xml")


def test_csv_output_has_one_line_per_record_and_fixed_columns(tweets_model) -> None:
    body = "\n".join([json.dumps({"id": "e", "text": ""}), json.dumps({"id": "a", "text": "great flight"})])
    out, _ = handle(body, JSONLINES, "text/csv", tweets_model)
    rows = list(csv.reader(io.StringIO(out.decode())))
    assert len(rows) == 2 and len(rows[0]) == len(rows[1]) == 4 + 3 + 1
    assert rows[0][0] == "e" and rows[0][-1].startswith("record 1") and rows[0][1] == ""
    assert rows[1][:2] == ["a", "positive"] and rows[1][-1] == ""


def test_a_pickle_named_model_skops_is_refused(tmp_path: Path) -> None:
    model_dir = make_model_dir(tmp_path / "m")
    (model_dir / "model.skops").write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(UntrustedModelError, match="not a skops archive"):
        model_fn(str(model_dir))


def test_a_skops_file_with_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    import os

    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from ml.artefact import save_pipeline

    model_dir = make_model_dir(tmp_path / "m")
    # A "model" that would call os.system on its input: the file is valid skops, the type is not trusted.
    evil = Pipeline([("f", FunctionTransformer(os.system))])
    save_pipeline(evil, model_dir / "model.skops")
    with pytest.raises(UntrustedModelError, match=r"untrusted types .*system"):
        model_fn(str(model_dir))


def test_classes_in_model_json_must_match_the_pipeline(tmp_path: Path) -> None:
    from ml.inference import ModelLoadError

    model_dir = make_model_dir(tmp_path / "m")
    meta = json.loads((model_dir / "model.json").read_text())
    meta["classes"] = ["positive", "neutral", "negative"]
    (model_dir / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="differ from the pipeline"):
        model_fn(str(model_dir))
