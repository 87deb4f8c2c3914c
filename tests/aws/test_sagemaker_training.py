"""SageMaker training on aws, operator level: the factory's operator, moto server and the training player.

The player (``players/sagemaker_training.py``) runs the uploaded ``sourcedir.tar.gz``'s
``train.py`` on the channels the operator staged, so these tests see the real status
sequence, the real artefacts in S3 and the requests botocore's model accepts.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

pytestmark = pytest.mark.aws

REGION = "us-east-1"
LAKE = "nlpops-unit-lake"
ROLE = "arn:aws:iam::123456789012:role/nlpops-sagemaker-execution"
#: the project image (docker/sagemaker): the aws target refuses the framework images
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/nlpops-sagemaker:test"
LOGICAL = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
RUN_ID = "scheduled__2026-11-23T02:00:00+00:00"


@pytest.fixture
def sm(moto_server, monkeypatch, tmp_path, publish_processed):
    """Lake + artefacts buckets on a moto server, the training player and the request recorder installed."""
    from players.base import PLAYER_ACCESS_KEY, PLAYER_SECRET_KEY, RequestRecorder
    from players.sagemaker_training import SageMakerTrainingPlayer

    from include.settings import get_settings, load_settings
    from nlpops.aws import session

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_server,
            region_name=REGION,
            aws_access_key_id=PLAYER_ACCESS_KEY,
            aws_secret_access_key=PLAYER_SECRET_KEY,
        )

    # moto's backends live in this process: forget the jobs and buckets of earlier tests
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    kms = client("kms").create_key()["KeyMetadata"]["Arn"]
    env = {
        "NLPOPS_TARGET": "aws",
        "NLPOPS_LAKE_URI": f"s3://{LAKE}",
        "NLPOPS_KMS_KEY_ARN": kms,
        "NLPOPS_SAGEMAKER_ROLE_ARN": ROLE,
        "NLPOPS_SAGEMAKER_IMAGE_URI": IMAGE,
        "NLPOPS_AWS_POLL_SECONDS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    session.clear_cache()
    session.install()
    for bucket in (LAKE, f"{LAKE}-artifacts"):
        client("s3").create_bucket(Bucket=bucket)
    harness = SimpleNamespace(tmp_path=tmp_path, player_client=client)
    player = SageMakerTrainingPlayer(harness)
    player.install()
    recorder = RequestRecorder()
    recorder.install()
    settings = load_settings()
    publish_processed(settings.zone_uri("processed", "amazon_polarity"), "20261101T000000", n=60)
    try:
        yield SimpleNamespace(player=player, recorder=recorder, settings=settings, client=client, kms=kms)
    finally:
        player.wait_all(120)
        recorder.uninstall()
        player.uninstall()
        get_settings.cache_clear()
        session.clear_cache()


def make_operator(settings, **hp: Any):
    from airflow.sdk import DAG

    from include.profiles import get_profile
    from nlpops.factory import training_operator

    profile = get_profile("amazon_polarity", settings)
    hyperparameters = {
        "profile": profile.name,
        "classes": profile.classes,
        "classifier": "logreg",
        "C": 2.0,
        "min_df": 1,
        "char_ngram_max": 0,
        "max_features_word": 1000,
        **hp,
    }
    with DAG("amazon_polarity_train", schedule=None, start_date=LOGICAL):
        op = training_operator(
            task_id="train", profile=profile, settings=settings, hyperparameters=hyperparameters, lineage={"x": 1}
        )
    return op


def context() -> dict[str, Any]:
    from unittest import mock

    return {"ti": mock.MagicMock(try_number=1, map_index=-1, run_id=RUN_ID), "run_id": RUN_ID, "logical_date": LOGICAL}


def test_trains_on_sagemaker_and_returns_the_local_xcom_shape(sm):
    from include import lake
    from ml.artefact import load_pipeline, read_meta, unpack_model_archive
    from nlpops.operators.training import LocalTrainingOperator  # noqa: F401 - same keys as the local result

    op = make_operator(sm.settings)
    op.deferrable = False  # wait in the task (the DAG's deferrable path runs in the e2e test)
    result = op.execute(context())

    [request] = sm.recorder.params("sagemaker", "CreateTrainingJob")
    sm.recorder.assert_valid()
    name = request["TrainingJobName"]
    assert name.startswith("nlpops-amazon-polarity-train-train-") and len(name) <= 63
    assert request["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert request["OutputDataConfig"]["KmsKeyId"] == sm.kms == request["ResourceConfig"]["VolumeKmsKeyId"]
    assert request["RoleArn"] == ROLE
    hps = request["HyperParameters"]
    assert json.loads(hps["sagemaker_program"]) == "train.py"
    submit = json.loads(hps["sagemaker_submit_directory"])
    assert submit.startswith(f"s3://{LAKE}-artifacts/sagemaker/training/sourcedir-")
    assert json.loads(json.loads(hps["classes"])) == ["negative", "positive"]

    assert set(result) == {
        "Training",
        "job_name",
        "job_uri",
        "model_artifact_uri",
        "output_data_uri",
        "test_channel_uri",
        "metrics",
        "lineage",
    }
    models = sm.settings.zone_uri("models", "amazon_polarity")
    assert result["job_name"] == name and result["job_uri"] == f"{models}/{name}"
    assert result["model_artifact_uri"] == f"{models}/{name}/output/model.tar.gz"
    assert result["test_channel_uri"] == f"{models}/{name}/input/data/test"
    assert result["Training"]["TrainingJobStatus"] == "Completed"
    assert result["Training"]["HyperParameters"]["C"] == "2.0"
    assert not [k for k in result["Training"]["HyperParameters"] if k.startswith("sagemaker_")]
    assert result["lineage"]["run_keys"] == ["20261101T000000"] and result["lineage"]["x"] == 1
    assert result["metrics"]["test_macro_f1"] > 0.9

    # what the player ran: the uploaded train.py, with the toolkit's arguments (one-letter `-C`)
    played = sm.player.jobs[name]
    assert played.info["cmd"][1] == "train.py" and "-C" in played.info["cmd"]
    meta_dir = unpack_model_archive(lake.read_bytes(result["model_artifact_uri"]), sm.player.harness.tmp_path / "m")
    meta = read_meta(meta_dir)
    assert meta["hyperparameters"]["C"] == 2.0, "a one-letter hyper-parameter must reach train.py"
    assert load_pipeline(meta_dir / "model.skops").predict(["great love perfect"])[0] == "positive"
    head = sm.client("s3").head_object(Bucket=LAKE, Key=result["model_artifact_uri"][len(f"s3://{LAKE}/") :])
    assert head["ServerSideEncryption"] == "aws:kms"

    # a retry after success reuses the job: nothing new is created, same result
    again = make_operator(sm.settings)
    again.deferrable = False
    assert again.execute(context())["model_artifact_uri"] == result["model_artifact_uri"]
    assert len(sm.recorder.params("sagemaker", "CreateTrainingJob")) == 1


def test_a_killed_try_is_re_attached_not_restarted(sm):
    with sm.player.hold():
        first = make_operator(sm.settings)
        with pytest.raises(TaskDeferred) as deferred:
            first.execute(context())
        name = deferred.value.trigger.job_name
        assert sm.client("sagemaker").describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress"
        # the worker died (no on_kill); the retry finds the running job and waits for it
        retry = make_operator(sm.settings)
        with pytest.raises(TaskDeferred) as attached:
            retry.execute(context())
        assert attached.value.trigger.job_name == name
    sm.player.wait_all(180)
    result = retry.execute_complete(context(), {"status": "success", "job_name": name})
    assert result["job_name"] == name and result["Training"]["TrainingJobStatus"] == "Completed"
    assert [p["TrainingJobName"] for p in sm.recorder.params("sagemaker", "CreateTrainingJob")] == [name]


def test_on_kill_stops_the_job(sm):
    with sm.player.hold():
        op = make_operator(sm.settings)
        with pytest.raises(TaskDeferred):
            op.execute(context())
        op.on_kill()
        sm.player.wait_all(60)
    [played] = sm.player.jobs.values()
    assert played.state == "STOPPED"
    status = sm.client("sagemaker").describe_training_job(TrainingJobName=played.key)["TrainingJobStatus"]
    assert status == "Stopped"
    assert sm.recorder.params("sagemaker", "StopTrainingJob") == [{"TrainingJobName": played.key}]


def test_a_failed_job_fails_the_task_with_its_failure_reason(sm):
    op = make_operator(sm.settings, classes=["good", "bad"])  # labels outside the classes: train.py refuses
    op.deferrable = False
    with pytest.raises(AirflowException, match=r"AlgorithmError: DataError: channel 'train'.*outside the profile"):
        op.execute(context())
    [played] = sm.player.jobs.values()
    described = sm.client("sagemaker").describe_training_job(TrainingJobName=played.key)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError: DataError")
    # the next try does not re-run the failed job in place: it gets the name `<name>-a1`
    retry = make_operator(sm.settings)
    with pytest.raises(TaskDeferred) as deferred:
        retry.execute(context())
    from include.naming import run_key
    from nlpops.aws.idempotent import remote_job_name

    run = run_key(RUN_ID, LOGICAL)
    assert played.key == remote_job_name("amazon_polarity_train", "train", run)
    assert deferred.value.trigger.job_name == remote_job_name("amazon_polarity_train", "train", run, attempt=1)
    sm.player.wait_all(180)


def test_sourcedir_is_uploaded_once_per_content(sm):
    from include import lake

    code = sm.settings.artifacts("sagemaker", "training")
    for _ in range(2):
        op = make_operator(sm.settings)
        op.config = {"TrainingJobName": "nlpops-probe"}
        op._upload_sourcedir()
    keys = [o.key for o in lake.list_objects(code)]
    assert len(keys) == 1 and keys[0].startswith("sourcedir-")


def test_local_copy_gives_evaluate_a_folder_for_an_s3_channel(sm, tmp_path):
    """dags/train.py's evaluate reads the job's test channel through include.lake.local_copy on both targets."""
    from pathlib import Path

    from include import lake
    from ml.data import read_channel

    processed = sm.settings.zone_uri("processed", "amazon_polarity", "run=20261101T000000", "split=test")
    with lake.local_copy(processed) as folder:
        files = sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())
        assert files == ["part-00000.parquet"]
        assert len(read_channel(folder, name="test")) == 30
    assert not Path(folder).exists(), "the download is removed after use"
    (tmp_path / "ch").mkdir()
    with lake.local_copy((tmp_path / "ch").as_uri()) as same:
        assert same == str(tmp_path / "ch")  # file:// is read in place
