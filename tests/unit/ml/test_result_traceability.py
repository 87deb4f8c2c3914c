"""Every prediction traces back to its input record: results join the input file by (source_uri, source_record).

The inference path as the DAG runs it (validation without label → staged JSON lines →
Batch Transform with the handler → results Parquet) for CSV and TSV, and the transform
alone for JSON lines and CSV objects that were not staged. Identical lines and a
quarantined record in the middle make sure ids are unique per (file, record) and record
numbers are the user's, not the staged copy's.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from test_inference_support import NEGATIVE, POSITIVE, make_model_dir
from unit.validation.validation_helpers import profile, validate

from include import lake as lk
from include.profiles import Profile
from include.settings import get_settings
from ml.results import publish_results
from ml.textnorm import row_id
from ml.transform import BatchTransform
from ml.transform_input import stage_transform_inputs

# (title, text, expected label); records 1 and 3 are the same line twice.
RECORDS = [
    ("Good", POSITIVE[0], "positive"),
    ("Bad", NEGATIVE[1], "negative"),
    ("Good", POSITIVE[0], "positive"),
    ("Bad", NEGATIVE[2], "negative"),
    ("Fine", POSITIVE[2], "positive"),
]
MALFORMED_AT = 3  # a record inserted as the 3rd one of the file: wrong column count, quarantined


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("trace") / "model", "amazon_polarity", version="5")


def _csv_file(delimiter: str, quoting: int) -> tuple[bytes, dict[int, str]]:
    """The file's bytes and, per 1-based record number, the expected label (None for the malformed one)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator="\r\n", escapechar="\\")
    expected: dict[int, str] = {}
    number = 0
    for i, (title, text, label) in enumerate(RECORDS, start=1):
        if i == MALFORMED_AT:
            writer.writerow(["2", "only", "x", "y"])  # 4 fields
            number += 1
        writer.writerow([title, text])  # inference input: no label column
        number += 1
        expected[number] = label
    return buf.getvalue().encode(), expected


def _score(model_dir: Path, objects: list[dict[str, Any]], prof: Profile, job: str) -> list[dict[str, Any]]:
    s = get_settings()
    out = lk.join(s.zone_uri("inference-output", prof.name), job)
    BatchTransform(model_dir, profile=json.loads(prof.to_json()), workers=0).run(objects, out, job)
    results_uri = s.zone_uri("results", prof.name)
    published = publish_results(
        out, objects, results_uri=results_uri, model_version="5", date="2026-01-02", job_name=job
    )
    rows: list[dict[str, Any]] = []
    for f in published["files"]:
        rows += pq.read_table(lk.local_path(f["uri"])).to_pylist()
    return rows


def _check_join(rows: list[dict[str, Any]], input_uri: str, expected: dict[int, str], *, staged: bool = True) -> None:
    assert rows, "no results"
    assert {r["source_uri"] for r in rows} == {input_uri}  # the user's object, not a staged .jsonl
    by_record = {r["source_record"]: r for r in rows}
    assert len(by_record) == len(rows), "two results claim the same input record"
    assert set(by_record) == set(expected), "results do not join the input records one to one"
    for number, label in expected.items():
        assert by_record[number]["label"] == label, f"record {number} joined the wrong prediction"
    if staged:
        assert len({r["id"] for r in rows}) == len(rows), "ids are not unique per (file, record)"


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("csv", "batch.csv"), ("tsv", "batch.tsv")],
)
def test_results_join_the_input_file_through_validation(lake: str, model_dir: Path, fmt: str, name: str) -> None:
    prof = profile("amazon_polarity")
    if fmt == "tsv":
        prof = prof.model_copy(update={"input": prof.input.model_copy(update={"format": "tsv", "quoting": "none"})})
        data, expected = _csv_file("\t", csv.QUOTE_NONE)
        data = data.replace(b"thank you", b'thank "you')  # a stray quote: TSV without quoting keeps it
    else:
        data, expected = _csv_file(",", csv.QUOTE_MINIMAL)
    run = validate(prof, {name: data}, require_label=False, run_key="inf1")
    assert run.manifest["rows_quarantined"] == 1 and run.rows[0]["record"] == MALFORMED_AT
    (obj,) = [o.to_dict() for o in lk.list_objects(lk.join(get_settings().zone_uri("raw", prof.name)))]
    staged = stage_transform_inputs(
        run.validated_uri, [obj], prof.fields.text, get_settings().zone_uri("validated", "x", "staged")
    )
    assert staged[0]["uri"].endswith(".jsonl")
    rows = _score(model_dir, staged, prof, f"job-{fmt}")
    _check_join(rows, obj["uri"], expected)
    # The id is the one rule's, from the user's file and record number.
    records = data.decode().split("\r\n")
    first = rows[[r["source_record"] for r in rows].index(1)]
    assert first["id"] == row_id(records[0], source_uri=obj["uri"], record=1)


def test_results_join_unstaged_json_lines_and_csv(lake: str, model_dir: Path) -> None:
    prof = profile("amazon_polarity")
    root = get_settings().zone_uri("inference-input", prof.name)
    lines = [json.dumps({"title": t, "text": x}) for t, x, _ in RECORDS]
    lines.insert(MALFORMED_AT - 1, '{"title": "broken", ')  # an error record: answered, not a result
    expected = {i: lab for i, (_, _, lab) in enumerate(RECORDS, start=1)}
    expected = {(n if n < MALFORMED_AT else n + 1): lab for n, lab in expected.items()}
    lk.write_text(lk.join(root, "batch.jsonl"), "\n".join(lines) + "\n")
    csv_data, csv_expected = _csv_file(",", csv.QUOTE_MINIMAL)
    lk.write_bytes(lk.join(root, "direct.csv"), csv_data)
    objects = {o.key: o.to_dict() for o in lk.list_objects(root)}
    rows = _score(model_dir, [objects["batch.jsonl"], objects["direct.csv"]], prof, "job-direct")
    # Not staged: the handler saw no file, so its ids are per content; the key is (source_uri, source_record).
    jsonl = [r for r in rows if r["source_key"] == "batch.jsonl"]
    _check_join(jsonl, objects["batch.jsonl"]["uri"], expected, staged=False)
    _check_join(
        [r for r in rows if r["source_key"] == "direct.csv"], objects["direct.csv"]["uri"], csv_expected, staged=False
    )
