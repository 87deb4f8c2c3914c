"""OpenLineage facets of the project's operators: the datasets each run reports, and that they serialise.

The walk through real emitted events (result row → … → raw file) is the last stage of
tests/e2e/test_pipeline_dags.py; these tests pin each operator's part of it without Airflow runs.
"""

from __future__ import annotations

import json

from include import lake as lk
from nlpops.lineage import JOB_FACET, dataset_name


def _serialised(lineage) -> dict:
    from openlineage.client.serde import Serde

    return {
        "inputs": [json.loads(Serde.to_json(d)) for d in lineage.inputs],
        "outputs": [json.loads(Serde.to_json(d)) for d in lineage.outputs],
        "run": {k: json.loads(Serde.to_json(v)) for k, v in lineage.run_facets.items()},
    }


def _names(datasets: list[dict]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def test_dataset_names_follow_openlineage_conventions() -> None:
    assert dataset_name("file:///lake/raw/p/a.csv") == ("file", "/lake/raw/p/a.csv")
    assert dataset_name("s3://bucket/raw/p/a.csv") == ("s3://bucket", "raw/p/a.csv")
    assert dataset_name("s3://bucket/processed/p/run=k/") == ("s3://bucket", "processed/p/run=k")


def test_etl_reports_the_raw_files_behind_the_validated_run_and_the_processed_run(lake: str) -> None:
    from nlpops.operators.spark_job import LocalSparkJobOperator

    validated = f"{lake}/validated/p/k1"
    lk.write_json(
        f"{validated}/_manifest.json",
        {
            "files": [
                {"uri": f"{lake}/raw/p/a.csv", "status": "ok"},
                {"uri": f"{lake}/raw/p/b.csv", "status": "refused"},
            ]
        },
    )
    op = LocalSparkJobOperator(
        task_id="prepare_text",
        job_module="etl.jobs.prepare_text",
        script_args={"input_uris": validated, "output_uri": f"{lake}/processed/p/run=k1"},
    )
    op._ran = "etl-job-1"
    got = _serialised(op.get_openlineage_facets_on_complete(None))
    root = lk.local_path(lake)
    assert _names(got["inputs"]) == [("file", f"{root}/raw/p/a.csv"), ("file", f"{root}/validated/p/k1")]
    assert _names(got["outputs"]) == [("file", f"{root}/processed/p/run=k1")]
    assert got["run"][JOB_FACET]["job_name"] == "etl-job-1" and got["run"][JOB_FACET]["kind"] == "etl"


def test_training_reports_the_processed_runs_in_and_the_artefact_out(lake: str) -> None:
    from nlpops.operators.training import LocalTrainingOperator

    op = LocalTrainingOperator(
        task_id="train", profile_name="p", processed_uri=f"{lake}/processed/p", output_uri=f"{lake}/models/p",
        hyperparameters={},
    )  # fmt: skip
    op._ran = {
        "job_name": "train-1",
        "artifact_uri": f"{lake}/models/p/train-1/output/model.tar.gz",
        "run_keys": ["k1", "k2"],
    }
    got = _serialised(op.get_openlineage_facets_on_complete(None))
    root = lk.local_path(lake)
    assert _names(got["inputs"]) == [("file", f"{root}/processed/p/run=k1"), ("file", f"{root}/processed/p/run=k2")]
    assert _names(got["outputs"]) == [("file", f"{root}/models/p/train-1/output/model.tar.gz")]
    assert (got["run"][JOB_FACET]["job_name"], got["run"][JOB_FACET]["kind"]) == ("train-1", "training")


def test_scoring_reports_the_model_version_as_a_dataset_and_the_users_input(lake: str) -> None:
    from nlpops.operators.transform import LocalBatchTransformOperator

    artefact = f"{lake}/models/p/train-1/output/model.tar.gz"
    op = LocalBatchTransformOperator(
        task_id="transform", profile_name="p", objects=[], model_artifact_uri=artefact, model_version="3"
    )
    staged = f"{lake}/validated/p-inference/k-transform-input/a.csv.jsonl"
    op._ran = {
        "job_name": "score-1",
        "job_uri": f"{lake}/inference-output/p/score-1",
        "objects": [{"uri": staged, "source_uri": f"{lake}/inference-input/p/a.csv"}],
    }
    got = _serialised(op.get_openlineage_facets_on_complete(None))
    root = lk.local_path(lake)
    model, *data = got["inputs"]
    assert model["name"] == "p/versions/3" and model["namespace"].startswith("mlflow+sqlite:///")
    assert model["facets"]["symlinks"]["identifiers"] == [
        {"namespace": "file", "name": f"{root}/models/p/train-1/output/model.tar.gz", "type": "ARTIFACT"}
    ]
    assert _names(data) == [("file", f"{root}/inference-input/p/a.csv"), ("file", lk.local_path(staged))]
    assert _names(got["outputs"]) == [("file", f"{root}/inference-output/p/score-1")]
    assert got["run"][JOB_FACET]["job_name"] == "score-1"


def test_the_registry_namespace_names_the_store() -> None:
    from include.settings import load_settings
    from nlpops.lineage import registry_namespace

    local = registry_namespace(load_settings({"NLPOPS_LAKE_URI": "file:///l", "AIRFLOW_HOME": "/af"}))
    assert local == "mlflow+sqlite:////af/mlflow.db"
    assert (
        registry_namespace(load_settings({"NLPOPS_TARGET": "aws", "NLPOPS_LAKE_URI": "s3://b"}))
        == "sagemaker://us-east-1"
    )
