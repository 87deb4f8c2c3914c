"""One corpus through every path: validation, the Spark ETL and the inference handler agree.

The text of a record ("combine title + text": clean each field, join the non-empty ones),
its content hash and its row id are defined once, in ``ml/textnorm.py``. This test does not
compare pattern strings: it feeds the same raw file through

* validation (``etl.validation``): which records are judged blank, which ids they get;
* the Spark ETL (``etl.transforms.text.prepare``) on the validated rows: text, hash, id;
* the inference handler (``ml.inference.predict_fn``) on the same file: the texts it scores;

and compares every output with the one definition, record by record.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from unit.validation.validation_helpers import profile, validate

from include import lake as lk
from ml.inference import CSV, InputLayout, Model, input_fn, predict_fn
from ml.records import split_records
from ml.textnorm import combine_text_fields, content_hash_of, row_id

# (title, text): tags, entities, NFC, every kind of whitespace, control characters, empty and
# markup-only fields, embedded newlines, a repeated line.
CORPUS = [
    ("Great<br />product", "I &lt;3 it &amp; more"),
    ("", "only a body, no title"),
    ("Cafe\u0301  ", "  line one\r\n\tline\u00a0two\u2028 end"),
    ("<b></b>", "zero\u200bwidth\ufeff and \x07bell"),
    ("a \x01 b", "<!-- hidden\ncomment -->shown text"),
    ("&nbsp;", "<p> </p>"),  # nothing left after normalisation: blank
    ("Title only", ""),
    ("@united \u2708\ufe0f \U0001f621", "emoji survive"),
    ("Great<br />product", "I &lt;3 it &amp; more"),  # the first line again
]


class _Recorder:
    """A stand-in pipeline: records the texts the handler scores."""

    classes_ = np.asarray(["negative", "positive"])

    def __init__(self) -> None:
        self.texts: list[str] = []

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.texts += list(texts)
        return np.tile([0.5, 0.5], (len(texts), 1))


def _corpus_file() -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for i, (title, text) in enumerate(CORPUS):
        writer.writerow(["2" if i % 2 else "1", title, text])
    return buf.getvalue().encode("utf-8")


def test_one_corpus_through_validation_spark_etl_and_handler(lake: str, spark: Any) -> None:
    from etl.transforms.text import prepare

    prof = profile("amazon_polarity", min_text_chars=1)
    data = _corpus_file()
    expected = [combine_text_fields([t, x], prof.fields.text_separator) for t, x in CORPUS]
    raws = [raw for _, raw, _ in split_records(data)]
    assert len(raws) == len(CORPUS)

    # validation: exactly the records the one rule leaves empty are quarantined as blank
    run = validate(prof, {"corpus.csv": data})
    uri = run.file("corpus.csv")["uri"]
    blank = sorted(r["record"] for r in run.rows)
    assert blank == [i + 1 for i, t in enumerate(expected) if not t], run.rows
    assert all("blank" in r["reasons"][0] or "empty" in r["reasons"][0] for r in run.rows)
    ids = {r["_source_record"]: r["_row_id"] for r in run.valid}
    for number, rid in ids.items():
        assert rid == row_id(raws[number - 1], source_uri=uri, record=number)

    # the Spark ETL on the validated rows: same text, same hash, same id, nothing dropped as empty
    df = spark.read.parquet(lk.local_path(run.validated_uri))
    rows = {r["id"]: r for r in prepare(df, prof, ingest_run="r1").collect()}
    by_record = {number: rows.get(rid) for number, rid in ids.items()}
    kept = [n for n, r in by_record.items() if r is not None]
    assert len(kept) == len({expected[n - 1] for n in ids})  # one row per distinct text
    for number in kept:
        row = by_record[number]
        assert row is not None
        assert row["text"] == expected[number - 1], (number, row["text"])
        assert row["content_hash"] == content_hash_of(expected[number - 1])

    # the inference handler on the same file scores the same texts, in order
    recorder = _Recorder()
    model = Model(recorder, ["negative", "positive"], InputLayout.from_profile(json.loads(prof.to_json())), "t")
    preds = predict_fn(input_fn(data, CSV), model)
    assert len(preds) == len(CORPUS)
    assert recorder.texts == [t for t in expected if t]
    assert [i + 1 for i, p in enumerate(preds) if "error" in p] == blank
    assert [p["id"] for p in preds] == [row_id(r) for r in raws]  # no file known: the rule without source


def test_the_rule_itself(tmp_path: Path) -> None:
    del tmp_path
    assert combine_text_fields(["Great<br />product", "I &lt;3 it"], " . ") == "Great product . I <3 it"
    assert combine_text_fields(["", "<br>"], " . ") == ""
    assert row_id("a,b\r\n", source_uri="s3://b/k", record=2) == row_id("a,b", source_uri="s3://b/k", record=2)
    assert row_id("a,b", source_uri="s3://b/k", record=2) != row_id("a,b", source_uri="s3://b/k", record=3)
