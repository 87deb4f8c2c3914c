"""The whole local pipeline through `airflow dags test`: ingest → train (promote, then reject)
→ batch inference (idempotent) → drift → the drift asset event queues the train DAG.

One Airflow home for the module; every step needs the previous one, so this is one test.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

FAST = {"quiet_seconds": 0, "wait_timeout_minutes": 0}


def _queued(af, dag_id: str) -> int:
    code = (
        "from airflow.utils.session import create_session\n"
        "from airflow.models.asset import AssetDagRunQueue\n"
        "with create_session() as s:\n"
        f"    print(s.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == {dag_id!r}).count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=af.env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def _result_rows(results_uri: str) -> int:
    import duckdb

    from include import lake

    glob = f"{lake.local_path(results_uri)}/**/*.parquet"
    return int(duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true)").fetchall()[0][0])


def test_pipeline_end_to_end(airflow_home, write_raw):
    from ml.generator import DriftKnobs
    from ml.registry import get_registry
    from nlpops.runtime import airflow_bin

    af = airflow_home
    s = af.settings()
    subprocess.run([airflow_bin(), "dags", "reserialize"], env=af.env, check=True, capture_output=True)
    # asset events only queue unpaused consumers
    for dag_id in ("amazon_polarity_train", "amazon_polarity_drift"):
        subprocess.run([airflow_bin(), "dags", "unpause", dag_id], env=af.env, check=True, capture_output=True)
    write_raw(af, "train-a.csv", 4000, seed=11)
    assert (r := af.dags_test("amazon_polarity_ingest", FAST)).returncode == 0, r.output[-4000:]

    # first model: promoted if it clears the floor
    assert (r := af.dags_test("amazon_polarity_train")).returncode == 0, r.output[-4000:]
    registry = get_registry(s)
    v1 = registry.get_by_alias("amazon_polarity", "champion")
    assert v1 is not None and v1.metrics["macro_f1"] > 0.7

    # same data again: not better by the margin -> rejected with a reason, v1 stays champion
    assert (r := af.dags_test("amazon_polarity_train")).returncode == 0, r.output[-4000:]
    assert registry.get_by_alias("amazon_polarity", "champion").version == v1.version
    v2 = [v for v in registry.list_versions("amazon_polarity") if v.version != v1.version][-1]
    assert v2.status == "Rejected"

    # batch inference: one prediction per valid row, and a re-run adds nothing
    write_raw(af, "batch-1.csv", 1500, seed=21, zone="inference-input", with_label=False)
    assert (r := af.dags_test("amazon_polarity_batch_inference", FAST)).returncode == 0, r.output[-4000:]
    results = s.zone_uri("results", "amazon_polarity")
    assert _result_rows(results) == 1500
    assert (r := af.dags_test("amazon_polarity_batch_inference", FAST)).returncode == 0, r.output[-4000:]
    assert _result_rows(results) == 1500

    # a drifted batch: scored, then the drift DAG emits the drift asset event -> train is queued
    write_raw(
        af,
        "batch-2.csv",
        3000,
        seed=22,
        zone="inference-input",
        with_label=False,
        drift=DriftKnobs.from_magnitude(0.8),
    )
    assert (r := af.dags_test("amazon_polarity_batch_inference", FAST)).returncode == 0, r.output[-4000:]
    drifted_key = f"20260201T{af._clock:02d}0000"
    assert _queued(af, "amazon_polarity_train") == 0
    assert (r := af.dags_test("amazon_polarity_drift", {"inference_run_key": drifted_key})).returncode == 0, r.output[
        -4000:
    ]
    assert "retrain=True" in r.output
    assert _queued(af, "amazon_polarity_train") == 1
