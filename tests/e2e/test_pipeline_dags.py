"""The whole local pipeline through `airflow dags test`: ingest → train (promote, then reject)
→ batch inference (idempotent) → drift → the drift asset event queues the train DAG.

One Airflow home for the module and one test per stage, run in file order: every stage needs
the one before it (the ``stages`` record says which passed), so a failure names its stage and
the stages after it are skipped with the name of the one that failed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

STAGES = (
    "ingest",
    "first_model",
    "second_model",
    "batch_inference",
    "batch_rerun",
    "drifted_batch",
    "drift_queues_train",
)

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


@pytest.fixture(scope="module")
def pipeline(airflow_home) -> dict:
    """The module's shared state: the stages that passed and what later stages need."""
    from nlpops.runtime import airflow_bin

    env = airflow_home.env
    subprocess.run([airflow_bin(), "dags", "reserialize"], env=env, check=True, capture_output=True)
    # asset events only queue unpaused consumers
    for dag_id in ("amazon_polarity_train", "amazon_polarity_drift"):
        subprocess.run([airflow_bin(), "dags", "unpause", dag_id], env=env, check=True, capture_output=True)
    return {"passed": []}


def _stage(pipeline: dict, name: str) -> None:
    """Skip unless every stage before ``name`` passed (they run in file order)."""
    before = STAGES[: STAGES.index(name)]
    missing = [s for s in before if s not in pipeline["passed"]]
    if missing:
        pytest.skip(f"stage {name!r} needs stage {missing[0]!r}, which did not pass")


def _passed(pipeline: dict, name: str) -> None:
    pipeline["passed"].append(name)


def test_ingest(airflow_home, pipeline, write_raw):
    _stage(pipeline, "ingest")
    write_raw(airflow_home, "train-a.csv", 4000, seed=11)
    assert (r := airflow_home.dags_test("amazon_polarity_ingest", FAST)).returncode == 0, r.output[-4000:]
    _passed(pipeline, "ingest")


def test_first_model_is_promoted(airflow_home, pipeline):
    from ml.registry import get_registry

    _stage(pipeline, "first_model")
    assert (r := airflow_home.dags_test("amazon_polarity_train")).returncode == 0, r.output[-4000:]
    v1 = get_registry(airflow_home.settings()).get_by_alias("amazon_polarity", "champion")
    assert v1 is not None and v1.metrics["macro_f1"] > 0.7
    pipeline["v1"] = v1.version
    _passed(pipeline, "first_model")


def test_same_data_again_is_rejected(airflow_home, pipeline):
    """Not better by the margin: rejected with a reason, v1 stays champion."""
    from ml.registry import get_registry

    _stage(pipeline, "second_model")
    assert (r := airflow_home.dags_test("amazon_polarity_train")).returncode == 0, r.output[-4000:]
    registry = get_registry(airflow_home.settings())
    assert registry.get_by_alias("amazon_polarity", "champion").version == pipeline["v1"]
    v2 = [v for v in registry.list_versions("amazon_polarity") if v.version != pipeline["v1"]][-1]
    assert v2.status == "Rejected"
    _passed(pipeline, "second_model")


def test_batch_inference_scores_every_valid_row(airflow_home, pipeline, write_raw):
    _stage(pipeline, "batch_inference")
    write_raw(airflow_home, "batch-1.csv", 1500, seed=21, zone="inference-input", with_label=False)
    assert (r := airflow_home.dags_test("amazon_polarity_batch_inference", FAST)).returncode == 0, r.output[-4000:]
    assert _result_rows(airflow_home.settings().zone_uri("results", "amazon_polarity")) == 1500
    pipeline["first_batch_key"] = f"20260201T{airflow_home._clock:02d}0000"
    _passed(pipeline, "batch_inference")


def test_batch_inference_rerun_adds_nothing(airflow_home, pipeline):
    _stage(pipeline, "batch_rerun")
    assert (r := airflow_home.dags_test("amazon_polarity_batch_inference", FAST)).returncode == 0, r.output[-4000:]
    assert _result_rows(airflow_home.settings().zone_uri("results", "amazon_polarity")) == 1500
    _passed(pipeline, "batch_rerun")


def test_drifted_batch_is_scored(airflow_home, pipeline, write_raw):
    from ml.generator import DriftKnobs

    _stage(pipeline, "drifted_batch")
    knobs = DriftKnobs.from_magnitude(0.8)
    write_raw(airflow_home, "batch-2.csv", 3000, seed=22, zone="inference-input", with_label=False, drift=knobs)
    assert (r := airflow_home.dags_test("amazon_polarity_batch_inference", FAST)).returncode == 0, r.output[-4000:]
    assert 1500 < _result_rows(airflow_home.settings().zone_uri("results", "amazon_polarity")) <= 1500 + 3000
    pipeline["drifted_key"] = f"20260201T{airflow_home._clock:02d}0000"
    _passed(pipeline, "drifted_batch")


def test_drift_checks_both_batches_and_emits_the_asset_event_that_queues_train(airflow_home, pipeline):
    """Two scoring runs, then one drift run: both batches are checked (one decision each), none dropped."""
    from ml.drift.policy import history_uri, load_history

    _stage(pipeline, "drift_queues_train")
    assert _queued(airflow_home, "amazon_polarity_train") == 0
    first_key = pipeline["first_batch_key"]
    r = airflow_home.dags_test("amazon_polarity_drift")  # no Param: every batch without a decision
    assert r.returncode == 0, r.output[-4000:]
    assert "2 batch(es) checked, retrain=True" in r.output, r.output[-4000:]
    lines = {
        k: [ln for ln in r.output.splitlines() if f"batch {k}:" in ln] for k in (first_key, pipeline["drifted_key"])
    }
    assert len(lines[first_key]) == 1 and "(retrain=False)" in lines[first_key][0], lines
    assert len(lines[pipeline["drifted_key"]]) == 1 and "(retrain=True)" in lines[pipeline["drifted_key"]][0], lines
    history = load_history(history_uri("amazon_polarity", airflow_home.settings()))
    assert [h.batch for h in history] == [first_key, pipeline["drifted_key"]]
    assert _queued(airflow_home, "amazon_polarity_train") == 1
    _passed(pipeline, "drift_queues_train")


def test_lineage_follows_a_prediction_back_to_its_raw_file(airflow_home, pipeline):
    """Through the OpenLineage events the runs above emitted (file transport of nlpops.runtime):
    result row → scoring run → model version → training run → processed run → raw file."""
    import json
    from pathlib import Path

    import duckdb

    from include import lake
    from nlpops.lineage import JOB_FACET, dataset_name
    from nlpops.runtime import LINEAGE_EVENTS

    _stage(pipeline, "batch_rerun")
    events_file = airflow_home.home / LINEAGE_EVENTS
    assert events_file.is_file(), f"no OpenLineage events at {events_file}: is the file transport configured?"
    events = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    done = [e for e in events if e["eventType"] == "COMPLETE"]

    def ds(d: dict) -> tuple[str, str]:
        return d["namespace"], d["name"]

    def run_of(kind: str, **match) -> dict:
        found = [e for e in done if (e["run"].get("facets", {}).get(JOB_FACET) or {}).get("kind") == kind]
        found = [e for e in found if all(f(e) for f in match.values())]
        assert len(found) == 1, f"{len(found)} COMPLETE {kind} events match; jobs: {[e['job']['name'] for e in done]}"
        return found[0]

    results = lake.local_path(airflow_home.settings().zone_uri("results", "amazon_polarity"))
    row = duckdb.sql(
        f"SELECT source_uri, source_record, job_name, model_version FROM read_parquet('{results}/**/*.parquet', "
        "hive_partitioning=true) ORDER BY source_uri, source_record LIMIT 1"
    ).fetchall()[0]
    source_uri, _, job_name, version = row
    scoring = run_of("transform", job=lambda e: e["run"]["facets"][JOB_FACET]["job_name"] == job_name)
    assert dataset_name(source_uri) in {ds(d) for d in scoring["inputs"]}, "scoring did not read the row's input"
    model = [d for d in scoring["inputs"] if d["name"] == f"amazon_polarity/versions/{version}"]
    assert len(model) == 1 and model[0]["namespace"].startswith("mlflow+"), scoring["inputs"]
    artefact = ds(model[0]["facets"]["symlinks"]["identifiers"][0])
    training = run_of("training", out=lambda e: artefact in {ds(d) for d in e["outputs"]})
    processed = {ds(d) for d in training["inputs"]}
    assert processed and all("/processed/amazon_polarity/run=" in name for _, name in processed), processed
    etl = run_of("etl", out=lambda e: bool(processed & {ds(d) for d in e["outputs"]}))
    raw = [name for ns, name in map(ds, etl["inputs"]) if ns == "file" and "/raw/amazon_polarity/" in name]
    assert raw and all(Path(name).is_file() for name in raw), etl["inputs"]
