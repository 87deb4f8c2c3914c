"""Results SQL on both targets: batch manifests, Athena statements, DDL vs the Parquet, the local query task."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from include import lake as lk
from ml.results import (
    SUMMARY_QUERIES,
    ResultsError,
    athena_statements,
    batch_manifest_uri,
    publish_results,
    read_batch_manifest,
    summary_sql,
    write_batch_manifest,
)

PROJECT = Path(__file__).resolve().parents[3]


def _published(lake: str) -> tuple[str, dict[str, Any]]:
    out = lake + "/inference-output/amazon_polarity/job-1"
    lines = [
        {"id": "1", "label": "positive", "confidence": 0.9, "probabilities": {"positive": 0.9, "negative": 0.1}},
        {"id": "2", "error": "bad record"},
        {"id": "3", "label": "negative", "confidence": 0.55, "probabilities": {"positive": 0.45, "negative": 0.55}},
    ]
    lk.write_text(lk.join(out, "x.csv.jsonl.out"), "".join(json.dumps(x) + "\n" for x in lines))
    objs = [{"uri": lake + "/validated/amazon_polarity-inference/k1-transform-input/x.csv.jsonl", "key": "x.csv.jsonl"}]
    results = lake + "/results/amazon_polarity"
    return results, publish_results(out, objs, results_uri=results, model_version="7", date="2026-03-01", job_name="j")


def test_batch_manifest_round_trip_lists_exactly_the_run_files(lake: str) -> None:
    results, published = _published(lake)
    uri = write_batch_manifest(
        results, "k1", published, model_version="7", date="2026-03-01", job_name="j", transform_input_uri="t"
    )
    assert uri == batch_manifest_uri(results, "k1") == f"{results}/_batches/k1.json"
    manifest = read_batch_manifest(results, "k1")
    assert manifest is not None
    assert manifest["result_files"] == [f["uri"] for f in published["files"]] and len(manifest["result_files"]) == 1
    assert (manifest["model_version"], manifest["rows"], manifest["errors"]) == ("7", 2, 1)
    assert read_batch_manifest(results, "k2") is None
    lk.write_json(batch_manifest_uri(results, "bad"), {"run_key": "bad"})
    with pytest.raises(ResultsError, match="not a batch manifest"):
        read_batch_manifest(results, "bad")
    with pytest.raises(lk.LakePathError):
        batch_manifest_uri(results, "../escape")


def test_summary_sql_keeps_or_inlines_the_threshold() -> None:
    duck = summary_sql("low_confidence_share", "v")
    assert "?" in duck and "--" not in duck and "FROM v" in duck
    athena = summary_sql("low_confidence_share", "db.t", low_confidence=0.65)
    assert "?" not in athena and "confidence < 0.65" in athena and "FROM db.t" in athena
    with pytest.raises(ResultsError, match="low_confidence"):
        summary_sql("low_confidence_share", "t", low_confidence=1.5)


def test_athena_statements_in_order_with_the_run_partition() -> None:
    statements = athena_statements(
        database="nlpops",
        profile_name="amazon_polarity",
        results_uri="s3://b/results/amazon_polarity",
        processed_uri="s3://b/processed/amazon_polarity",
        partitions=[{"date": "2026-03-01", "model_version": "7"}],
        low_confidence=0.6,
    )
    names = [n for n, _ in statements]
    assert names == [
        "create_database",
        "results_table",
        "processed_table",
        "results_partition",
        "processed_partitions",
        *SUMMARY_QUERIES,
    ]
    sql = dict(statements)
    assert sql["create_database"] == "CREATE DATABASE IF NOT EXISTS nlpops"
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS nlpops.amazon_polarity_results" in sql["results_table"]
    assert "LOCATION 's3://b/results/amazon_polarity/'" in sql["results_table"]
    assert "LOCATION 's3://b/processed/amazon_polarity/'" in sql["processed_table"]
    assert sql["results_partition"] == (
        "ALTER TABLE nlpops.amazon_polarity_results ADD IF NOT EXISTS PARTITION "
        "(`date` = '2026-03-01', model_version = '7') "
        "LOCATION 's3://b/results/amazon_polarity/date=2026-03-01/model_version=7/'"
    )
    assert sql["processed_partitions"] == "MSCK REPAIR TABLE nlpops.amazon_polarity_processed"
    assert all("nlpops.amazon_polarity_results" in sql[q] for q in SUMMARY_QUERIES)
    with pytest.raises(ResultsError, match="NLPOPS_GLUE_DATABASE"):
        athena_statements(database="bad-name", profile_name="p", results_uri="s3://b/r", processed_uri="s3://b/p")
    with pytest.raises(ResultsError, match="YYYY-MM-DD"):
        athena_statements(
            database="nlpops",
            profile_name="p",
            results_uri="s3://b/r",
            processed_uri="s3://b/p",
            partitions=[{"date": "yesterday", "model_version": "1"}],
        )


def _ddl_columns(ddl: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(columns with types, partition column names) of a CREATE EXTERNAL TABLE statement."""
    body = re.search(r"CREATE EXTERNAL TABLE[^(]*\((.*?)\)\s*PARTITIONED BY \((.*?)\)", ddl, re.S)
    assert body, ddl
    columns = [
        (m.group(1), re.sub(r"\s+", "", m.group(2)))
        for m in re.finditer(r"^\s*`?(\w+)`?\s+(\w+(?:<[^>]*>)?)\s*,?\s*$", body.group(1), re.M)
    ]
    parts = [m.group(1) for m in re.finditer(r"`?(\w+)`?\s+string", body.group(2))]
    return columns, parts


def _hive_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_float64(arrow_type):
        return "double"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_map(arrow_type):
        return f"map<{_hive_type(arrow_type.key_type)},{_hive_type(arrow_type.item_type)}>"
    raise AssertionError(f"no Athena type for {arrow_type}")


def test_results_ddl_matches_the_parquet_publish_results_writes(lake: str) -> None:
    import pyarrow.parquet as pq

    results, published = _published(lake)
    schema = pq.read_schema(lk.local_path(published["files"][0]["uri"]))
    ddl = dict(athena_statements(database="nlpops", profile_name="p", results_uri="s3://b/r", processed_uri="s3://b/p"))
    columns, partitions = _ddl_columns(ddl["results_table"])
    assert columns == [(f.name, _hive_type(f.type)) for f in schema]
    # the partition columns are the Hive folders publish_results writes
    rel = published["files"][0]["uri"][len(results) + 1 :]
    assert [seg.split("=")[0] for seg in rel.split("/")[:-1]] == partitions == ["date", "model_version"]


def test_processed_ddl_matches_the_etl_output_columns() -> None:
    ddl = dict(athena_statements(database="nlpops", profile_name="p", results_uri="s3://b/r", processed_uri="s3://b/p"))
    columns, partitions = _ddl_columns(ddl["processed_table"])
    # etl/transforms/text.py OUTPUT_COLUMNS (all strings, docs/CONTRACTS.md); split is a Hive folder, as is run=
    source = (PROJECT / "etl" / "transforms" / "text.py").read_text(encoding="utf-8")
    found = re.search(r"OUTPUT_COLUMNS = \(([^)]*)\)", source)
    assert found
    output_columns = [c.strip().strip('"') for c in found.group(1).split(",") if c.strip()]
    assert [c for c, _ in columns] == [c for c in output_columns if c != "split"]
    assert {t for _, t in columns} == {"string"} and partitions == ["run", "split"]


def test_local_results_query_operator_runs_the_shared_queries(lake: str) -> None:
    from nlpops.operators.results_query import LocalResultsQueryOperator

    results, _ = _published(lake)
    op = LocalResultsQueryOperator(
        task_id="query_results", profile_name="amazon_polarity", results_uri=results, low_confidence="0.6"
    )
    out = op.execute({})
    assert out["engine"] == "duckdb" and list(out["queries"]) == list(SUMMARY_QUERIES)
    share = out["queries"]["low_confidence_share"]
    assert share == [{"date": "2026-03-01", "model_version": "7", "predictions": 2, "low_confidence_share": 0.5}]
    json.dumps(out)


def test_drift_by_run_key_reads_the_batch_manifest_not_the_whole_zone(lake: str, monkeypatch) -> None:
    from include.settings import get_settings

    monkeypatch.setenv("NLPOPS_PROFILES", "amazon_polarity")
    get_settings.cache_clear()
    results, published = _published(lake)
    write_batch_manifest(
        results, "k1", published, model_version="7", date="2026-03-01", job_name="j", transform_input_uri="t"
    )
    # another run's file in the same partition must not be picked up
    lk.write_bytes(f"{results}/date=2026-03-01/model_version=7/other-run.parquet", b"not read")
    from ml.drift.check import BatchRef, batch_from_manifest

    batch = batch_from_manifest(results, "k1")
    assert batch == BatchRef("k1", tuple(f["uri"] for f in published["files"]), "7")
    assert batch_from_manifest(results, "k9") is None
