"""Results Parquet: idempotent publish, and the shared SQL queries on DuckDB."""

from __future__ import annotations

import json
from datetime import date

import pytest

from include import lake as lk
from ml.results import load_sql, publish_results, results_file_name, run_summary_queries


def _job_output(root: str, key: str, lines: list[dict]) -> None:
    lk.write_text(lk.join(root, f"{key}.out"), "".join(json.dumps(x) + "\n" for x in lines))


def _pred(i: str, label: str, conf: float) -> dict:
    other = "negative" if label == "positive" else "positive"
    return {
        "id": i,
        "label": label,
        "confidence": conf,
        "probabilities": {label: conf, other: 1 - conf},
        "model_version": "5",
    }


@pytest.fixture
def job(lake: str) -> tuple[str, list[dict]]:
    out = lake + "/inference-output/amazon_polarity/job-1"
    _job_output(
        out, "a/x.csv", [_pred("1", "positive", 0.9), {"id": "2", "error": "bad"}, _pred("3", "negative", 0.55)]
    )
    _job_output(out, "y.jsonl", [_pred("4", "positive", 0.7)])
    objs = [
        {"uri": lake + "/inference-input/amazon_polarity/a/x.csv", "key": "a/x.csv", "etag": '"abc123"'},
        {"uri": lake + "/inference-input/amazon_polarity/y.jsonl", "key": "y.jsonl", "etag": "def"},
    ]
    return out, objs


def test_publish_is_idempotent_per_input_checksum_and_version(lake: str, job) -> None:
    out, objs = job
    results = lake + "/results/amazon_polarity"
    first = publish_results(out, objs, results_uri=results, model_version="5", date=date(2024, 5, 1), job_name="j")
    assert (first["rows"], first["errors"]) == (3, 1)
    assert first["files"][0]["uri"] == (
        f"{results}/date=2024-05-01/model_version=5/{results_file_name('a/x.csv', 'abc123')}"
    )
    # The same inputs again, even on another day: same files, same rows, nothing duplicated.
    publish_results(out, objs, results_uri=results, model_version="5", date="2024-05-01")
    publish_results(out, objs, results_uri=results, model_version="5", date="2024-05-02")
    import duckdb

    glob = lk.local_path(results) + "/**/*.parquet"
    rows = duckdb.connect().execute(f"SELECT count(*), count(DISTINCT id) FROM read_parquet('{glob}')").fetchone()
    assert rows == (3, 3)
    # Another model version is another partition (both are kept, as they are different predictions).
    publish_results(out, objs[:1], results_uri=results, model_version="6", date="2024-05-02")
    assert duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone() == (5,)


def test_summary_queries_on_duckdb(lake: str, job) -> None:
    out, objs = job
    results = lake + "/results/amazon_polarity"
    assert run_summary_queries(results) == [
        ("class_distribution_per_day", []),
        ("low_confidence_share", []),
        ("volume_per_source_file", []),
    ]
    publish_results(out, objs, results_uri=results, model_version="5", date="2024-05-01")
    got = dict(run_summary_queries(results, low_confidence=0.6))
    assert [(r["label"], r["predictions"]) for r in got["class_distribution_per_day"]] == [
        ("negative", 1),
        ("positive", 2),
    ]
    assert str(got["class_distribution_per_day"][0]["date"]) == "2024-05-01"
    low = got["low_confidence_share"]
    assert (
        len(low) == 1
        and low[0]["predictions"] == 3
        and low[0]["low_confidence_share"] == pytest.approx(1 / 3, abs=1e-4)
    )
    assert low[0]["model_version"] == "5"
    assert [(r["source_key"], r["predictions"]) for r in got["volume_per_source_file"]] == [
        ("a/x.csv", 2),
        ("y.jsonl", 1),
    ]
    assert (
        dict(run_summary_queries(results, low_confidence=0.95))["low_confidence_share"][0]["low_confidence_share"]
        == 1.0
    )


def test_athena_ddl_renders_and_missing_output_is_named(lake: str, job) -> None:
    ddl = load_sql(
        "results_athena", database="nlpops", table="amazon_polarity_results", location="s3://b/results/amazon_polarity"
    )
    assert "PARTITIONED BY (`date` string, model_version string)" in ddl and "s3://b/results/amazon_polarity/" in ddl
    out, _ = job
    from ml.results import ResultsError

    with pytest.raises(ResultsError, match=r"missing: was 'nope\.csv' scored"):
        publish_results(
            out,
            [{"uri": "file:///x/nope.csv", "key": "nope.csv"}],
            results_uri=lake + "/results/p",
            model_version="5",
            date="2024-05-01",
        )
