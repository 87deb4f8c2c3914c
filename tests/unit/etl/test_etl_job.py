"""The Glue-compatible job end to end, in-process (the fixture's SparkSession, no second JVM)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.jobs import prepare_text as job
from include.profiles import load_profile
from include.settings import PROJECT_ROOT

pytestmark = pytest.mark.spark

PROFILES = PROJECT_ROOT / "include" / "profiles"


def _write_validated(root: Path, profile: str, run_key: str, columns: list[str], rows: list[dict], publish=True) -> str:
    """A validated-zone folder as docs/CONTRACTS.md describes it, written with pyarrow."""
    folder = root / "validated" / profile / run_key
    folder.mkdir(parents=True)
    data: dict[str, pa.Array] = {c: pa.array([r.get(c, "") for r in rows], pa.string()) for c in columns}
    data["_row_id"] = pa.array([r["_row_id"] for r in rows], pa.string())
    data["_source_uri"] = pa.array([r["_source_uri"] for r in rows], pa.string())
    data["_source_record"] = pa.array([r["_source_record"] for r in rows], pa.int64())
    data["_source_line"] = pa.array([r["_source_record"] + 1 for r in rows], pa.int64())
    pq.write_table(pa.table(data), folder / "part-00000.parquet")
    if publish:
        manifest = {"profile": profile, "run_key": run_key, "rows_in": len(rows), "rows_valid": len(rows)}
        (folder / "_manifest.json").write_text(json.dumps(manifest))
    return _uri(folder)


def _uri(path: Path) -> str:
    # Not Path.as_uri(): it percent-encodes '=' (run=k2), lake URIs keep it literal.
    return f"file://{path}"


def _cfpb_rows(uri: str, texts: list[tuple[str, str]], start: int = 1) -> list[dict]:
    return [
        {
            "": str(i),
            "Date received": "2024-01-01",
            "Product": product,
            "Consumer complaint narrative": text,
            "_row_id": f"{uri[-6:]}-{i}",
            "_source_uri": uri,
            "_source_record": i,
        }
        for i, (product, text) in enumerate(texts, start)
    ]


def _argv(profile, inputs: list[str], output: str, run_key: str) -> list[str]:
    return [
        "--JOB_NAME",
        f"test-prepare-text-{run_key}",
        "--profile_json",
        profile.to_json(),
        "--input_uris",
        ",".join(inputs),
        "--output_uri",
        output,
        "--run_key",
        run_key,
        "--job-bookmark-option",  # a Glue argument the job must ignore
        "job-bookmark-disable",
    ]


@pytest.fixture
def cfpb(tmp_path: Path):
    """Two validated runs of CFPB, one per export layout, with a duplicate across them."""
    profile = load_profile(PROFILES / "cfpb_complaints.yaml")
    classic = ["", "Product", "Consumer complaint narrative"]
    full = ["Date received", "Product", "Consumer complaint narrative", "Complaint ID"]
    texts_a = [("Mortgage", "Servicer lost my payment twice"), ("Credit card", "Charged twice &amp; no refund")]
    texts_b = [("Debt collection", "They call me   every day"), ("Mortgage", "Servicer lost my\npayment twice")]
    a = _write_validated(tmp_path, profile.name, "k1", classic, _cfpb_rows("file:///raw/a.csv", texts_a))
    b = _write_validated(tmp_path, profile.name, "k2", full, _cfpb_rows("file:///raw/b.csv", texts_b))
    out = _uri(tmp_path / "processed" / profile.name / "run=k2")
    return profile, [a, b], out, tmp_path


def test_job_end_to_end(spark, cfpb):
    profile, inputs, out, root = cfpb
    assert job.main(_argv(profile, inputs, out, "k2")) == 0

    folder = root / "processed" / profile.name / "run=k2"
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["profile"] == profile.name
    assert manifest["run_key"] == "k2"
    assert manifest["job_name"] == "test-prepare-text-k2"
    assert (manifest["rows_in"], manifest["rows_out"], manifest["duplicates_removed"]) == (4, 3, 1)
    assert sum(manifest["rows_per_split"].values()) == 3
    assert set(manifest["rows_per_split"]) == {"train", "validation", "test"}
    assert set(manifest["schema"]) == {"id", "text", "label", "content_hash", "source_uri", "ingest_run", "split"}
    assert [i["run_key"] for i in manifest["input"]] == ["k1", "k2"]

    parts = {p.name for p in folder.iterdir() if p.is_dir()}
    assert parts and parts <= {"split=train", "split=validation", "split=test"}
    assert {f"split={s}" for s, n in manifest["rows_per_split"].items() if n} == parts
    # atomic publish: nothing of the staging prefix is left beside the output
    assert [p.name for p in folder.parent.iterdir()] == ["run=k2"]

    table = pq.read_table(folder)  # hive partitioning gives the split column back
    rows = sorted(zip(table["label"].to_pylist(), table["text"].to_pylist(), table["ingest_run"].to_pylist()))
    assert rows == [
        ("Credit card or prepaid card", "Charged twice & no refund", "k1"),  # old name, 2017 taxonomy
        ("Debt collection", "They call me every day", "k2"),
        ("Mortgage", "Servicer lost my payment twice", "k1"),  # kept: smallest source uri
    ]


def test_job_retry_replaces_its_own_output(spark, cfpb):
    profile, inputs, out, root = cfpb
    assert job.main(_argv(profile, inputs, out, "k2")) == 0
    # the retry sees only the second input (e.g. the first was re-validated away)
    assert job.main(_argv(profile, inputs[1:], out, "k2")) == 0
    folder = root / "processed" / profile.name / "run=k2"
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"]) == (2, 2)
    assert pq.read_table(folder).num_rows == 2  # no file of the first attempt survives
    assert [p.name for p in folder.parent.iterdir()] == ["run=k2"]


def test_job_unknown_label_fails_without_output(spark, tmp_path, caplog):
    profile = load_profile(PROFILES / "cfpb_complaints.yaml")
    rows = _cfpb_rows("file:///raw/bad.csv", [("Mortgage", "fine text here"), ("Crypto thing", "unknown label row")])
    uri = _write_validated(tmp_path, profile.name, "k9", ["", "Product", "Consumer complaint narrative"], rows)
    out = _uri(tmp_path / "processed" / profile.name / "run=k9")
    with caplog.at_level(logging.ERROR, logger="etl.jobs.prepare_text"):
        assert job.main(_argv(profile, [uri], out, "k9")) == 1
    assert "label 'Crypto thing'" in caplog.text and "file:///raw/bad.csv line 3" in caplog.text
    processed = tmp_path / "processed" / profile.name
    assert not processed.exists() or list(processed.iterdir()) == []  # no output, no staging


def test_job_refuses_unpublished_input(spark, tmp_path, caplog):
    profile = load_profile(PROFILES / "cfpb_complaints.yaml")
    rows = _cfpb_rows("file:///raw/a.csv", [("Mortgage", "some complaint text")])
    uri = _write_validated(
        tmp_path, profile.name, "k3", ["", "Product", "Consumer complaint narrative"], rows, publish=False
    )
    out = _uri(tmp_path / "processed" / profile.name / "run=k3")
    with caplog.at_level(logging.ERROR, logger="etl.jobs.prepare_text"):
        assert job.main(_argv(profile, [uri], out, "k3")) == 1
    assert "not a published validated output" in caplog.text


def test_bad_arguments_exit_2(caplog):
    with caplog.at_level(logging.ERROR, logger="etl.jobs.prepare_text"):
        assert (
            job.main(
                [
                    "--JOB_NAME",
                    "x",
                    "--profile_json",
                    "{}",
                    "--input_uris",
                    "file:///a",
                    "--output_uri",
                    "file:///b",
                    "--run_key",
                    "k",
                ]
            )
            == 2
        )
    assert "--profile_json is not a valid profile" in caplog.text


def test_parse_args_and_paths():
    profile = load_profile(PROFILES / "amazon_polarity.yaml")
    args = job.parse_args(_argv(profile, ["file:///l/v/a", " file:///l/v/b "], "file:///l/p/run=k/", "k"))
    assert args.input_uris == ("file:///l/v/a", "file:///l/v/b")
    assert args.output_uri == "file:///l/p/run=k"
    assert args.profile == profile
    assert job.spark_path("s3://b/k") == "s3a://b/k"
    assert job.spark_path("s3://b/k", on_glue=True) == "s3://b/k"
    assert job.spark_path("file:///x") == "file:///x"
    with pytest.raises(job.JobError, match="not a URI"):
        job.parse_args(_argv(profile, ["/local/path"], "file:///o", "k"))


def test_job_on_empty_input_publishes_empty_output(spark, tmp_path):
    profile = load_profile(PROFILES / "cfpb_complaints.yaml")
    uri = _write_validated(tmp_path, profile.name, "k0", ["", "Product", "Consumer complaint narrative"], [])
    out = _uri(tmp_path / "processed" / profile.name / "run=k0")
    assert job.main(_argv(profile, [uri], out, "k0")) == 0
    manifest = json.loads((tmp_path / "processed" / profile.name / "run=k0" / "_manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_per_split"]["train"]) == (0, 0, 0)
