"""`airflow dags test amazon_polarity_ingest` on generated dirty data: the whole ingest path."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.e2e

FAST = {"quiet_seconds": 0, "wait_timeout_minutes": 0}


def test_ingest_dirty_corpus_end_to_end(airflow_home, write_raw, tmp_path):
    from include import lake
    from include.profiles import get_profile
    from ml.generator import generate_dirty_corpus

    s = airflow_home.settings()
    profile = get_profile("amazon_polarity", s)
    write_raw(airflow_home, "clean.csv", 3000, seed=3)
    dirty_dir = Path(lake.local_path(s.zone_uri("raw", profile.name, "dirty")))
    generate_dirty_corpus(profile, dirty_dir, seed=5, outside_dir=tmp_path / "outside")

    run = airflow_home.dags_test("amazon_polarity_ingest", FAST)
    assert run.returncode == 0, run.output[-5000:]

    [val_uri] = list(lake.published(s.zone_uri("validated", profile.name)))
    manifest = lake.read_json(lake.join(val_uri, lake.MANIFEST))
    assert manifest["rows_in"] == manifest["rows_valid"] + manifest["rows_quarantined"]
    assert manifest["rows_quarantined"] > 0
    # every quarantined row carries at least one reason
    run_key = val_uri.rsplit("/", 1)[-1]
    rows_file = Path(lake.local_path(s.zone_uri("quarantine", profile.name, run_key, "rows.jsonl")))
    bad = [json.loads(line) for line in rows_file.read_text(encoding="utf-8").splitlines()]
    assert bad and all(r["reasons"] for r in bad)
    whole = [f for f in manifest["files"] if f["status"] != "ok"]
    assert whole and all(f.get("reason") for f in whole)

    [proc_uri] = list(lake.published(s.zone_uri("processed", profile.name)))
    pm = lake.read_json(lake.join(proc_uri, lake.MANIFEST))
    table = pq.read_table(lake.local_path(proc_uri))
    assert table.num_rows == pm["rows_out"] == sum(pm["rows_per_split"].values())
    assert set(pm["rows_per_split"]) == {"train", "validation", "test"}
    assert pm["rows_out"] + pm["duplicates_removed"] == manifest["rows_valid"]
    assert set(table.column("label").to_pylist()) == {"negative", "positive"}
    # staging prefixes never stay visible
    assert not [
        p for p in Path(lake.local_path(s.zone_uri("processed", profile.name))).iterdir() if p.name.startswith("_tmp")
    ]

    # second run: nothing new -> the sensor skips, nothing is processed again
    again = airflow_home.dags_test("amazon_polarity_ingest", FAST)
    assert again.returncode == 0, again.output[-5000:]
    assert len(list(lake.published(s.zone_uri("processed", profile.name)))) == 1


def test_failing_task_makes_dags_test_exit_non_zero(airflow_home, write_raw):
    """Only garbage arrives: the quarantine circuit breaker fails `validate` and the CLI exits 1."""
    from include import lake

    s = airflow_home.settings()
    processed = s.zone_uri("processed", "amazon_polarity")
    published_before = len(list(lake.published(processed)))
    bad = Path(lake.local_path(s.zone_uri("raw", "amazon_polarity", "garbage.csv")))
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("".join(f'"7","title {i}","text {i}"\n' for i in range(50)), encoding="utf-8")
    run = airflow_home.dags_test("amazon_polarity_ingest", FAST)
    assert run.returncode != 0, run.output[-5000:]
    # failed for the breaker's reason (the message names the setting at fault) ...
    assert "QuarantineRateExceeded" in run.output, run.output[-5000:]
    assert "max_quarantine_rate" in run.output, run.output[-5000:]
    # ... and stopped there: nothing reached processed/
    assert len(list(lake.published(processed))) == published_before
