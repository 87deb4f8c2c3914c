"""Batch scoring on SageMaker: the CreateModel/CreateTransformJob builders, the source archive, the operator.

The builders are pure and checked against botocore's service model; the source archive's
entry is imported in a fresh interpreter the way the scikit-learn serving container does;
the operator runs against a moto server (moto completes a transform job at once), with the
create calls counted, so a retry is seen to reuse the job and the model.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest

from include.settings import SettingsError
from nlpops.aws import sagemaker_transform_config as smc

pytestmark = pytest.mark.aws

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/nlpops-sagemaker-execution"
KMS = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
#: the project image (docker/sagemaker): the aws target refuses the framework images
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/nlpops-sagemaker:test"
LAKE = "nlpops-unit-lake"
DAG_ID = "amazon_polarity_batch_inference"


def botocore_problems(operation: str, params: dict[str, Any]) -> str:
    """botocore's validation report of a SageMaker request ('' when valid)."""
    import botocore.session
    from botocore.validate import ParamValidator

    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def model_request(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": "nlpops-amazon-polarity-v3-0123abcd",
        "image_uri": IMAGE,
        "model_data_url": f"s3://{LAKE}/models/amazon_polarity/job/output/model.tar.gz",
        "submit_directory": f"s3://{LAKE}-artifacts/sagemaker/inference/sourcedir-abc.tar.gz",
        "role_arn": ROLE,
        "region": REGION,
        "model_version": "3",
    }
    return smc.inference_model_config(**(args | over))


def transform_request(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "job_name": "nlpops-amazon-polarity-batch-inference-transform-x-01234567",
        "model_name": "nlpops-amazon-polarity-v3-0123abcd",
        "input_uri": f"s3://{LAKE}/validated/amazon_polarity-inference/k-transform-input",
        "output_uri": f"s3://{LAKE}/inference-output/amazon_polarity/job",
        "kms_key_id": KMS,
        "instance_type": "ml.m5.large",
        "max_payload_mb": 6,
        "max_concurrent_transforms": 2,
    }
    return smc.transform_job_config(**(args | over))


# --- CreateModel ---------------------------------------------------------------------------------


def test_model_request_is_the_sdk_script_mode_contract():
    req = model_request()
    env = req["PrimaryContainer"]["Environment"]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"].endswith("/sourcedir-abc.tar.gz")
    assert env["SAGEMAKER_REGION"] == REGION and env["SAGEMAKER_CONTAINER_LOG_LEVEL"] == "20"
    assert env["NLPOPS_MODEL_VERSION"] == "3"
    assert req["PrimaryContainer"]["Image"] == IMAGE
    assert req["PrimaryContainer"]["ModelDataUrl"].endswith("/output/model.tar.gz")
    assert req["ExecutionRoleArn"] == ROLE and req["EnableNetworkIsolation"] is False
    assert botocore_problems("CreateModel", req) == ""


def test_model_request_refuses_what_sagemaker_would():
    with pytest.raises(SettingsError, match="NLPOPS_SAGEMAKER_ROLE_ARN"):
        model_request(role_arn="")
    with pytest.raises(ValueError, match=r"model\.tar\.gz"):
        model_request(model_data_url="file:///tmp/model.tar.gz")
    with pytest.raises(ValueError, match="/opt/ml/model/code"):
        model_request(network_isolation=True)
    isolated = model_request(network_isolation=True, submit_directory=smc.ISOLATED_CODE_DIR)
    assert isolated["EnableNetworkIsolation"] is True
    assert isolated["PrimaryContainer"]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"


def test_model_name_is_per_version_and_code_and_always_valid():
    from include.naming import is_valid_job_name

    a = smc.inference_model_name("amazon_polarity", "3", fingerprint="artefact|code-1")
    assert a == smc.inference_model_name("amazon_polarity", "3", fingerprint="artefact|code-1")
    assert a.startswith("nlpops-amazon-polarity-v3-")
    others = {
        smc.inference_model_name("amazon_polarity", "4", fingerprint="artefact|code-1"),
        smc.inference_model_name("amazon_polarity", "3", fingerprint="artefact|code-2"),
        smc.inference_model_name("amazon_ratings", "3", fingerprint="artefact|code-1"),
    }
    assert a not in others and len(others) == 3
    long = smc.inference_model_name("p" * 40, "1.2.3+build.77" * 4, fingerprint="x")
    assert is_valid_job_name(long) and len(long) <= 63


# --- CreateTransformJob ----------------------------------------------------------------------------


def test_transform_request_has_the_local_file_semantics_and_kms():
    req = transform_request()
    assert req["TransformInput"]["SplitType"] == "Line"
    assert req["TransformInput"]["ContentType"] == "application/jsonlines"
    assert req["TransformInput"]["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix",
        "S3Uri": f"s3://{LAKE}/validated/amazon_polarity-inference/k-transform-input/",
    }
    assert (req["BatchStrategy"], req["MaxPayloadInMB"], req["MaxConcurrentTransforms"]) == ("MultiRecord", 6, 2)
    assert req["TransformOutput"] == {
        "S3OutputPath": f"s3://{LAKE}/inference-output/amazon_polarity/job",
        "Accept": "application/jsonlines",
        "AssembleWith": "Line",
        "KmsKeyId": KMS,
    }
    assert req["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeKmsKeyId": KMS}
    assert botocore_problems("CreateTransformJob", req) == ""


def test_transform_request_limits():
    # instance-store types encrypt their own disks and refuse VolumeKmsKeyId
    assert "VolumeKmsKeyId" not in transform_request(instance_type="ml.m5d.large")["TransformResources"]
    with pytest.raises(ValueError, match=r"MaxConcurrentTransforms × MaxPayloadInMB = 20 × 6"):
        transform_request(max_concurrent_transforms=20)
    with pytest.raises(ValueError, match="MaxPayloadInMB=101"):
        transform_request(max_payload_mb=101, max_concurrent_transforms=1)
    with pytest.raises(SettingsError, match="NLPOPS_KMS_KEY_ARN"):
        transform_request(kms_key_id="")
    manifest = transform_request(input_type="ManifestFile", input_uri=f"s3://{LAKE}/m.manifest")
    assert manifest["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{LAKE}/m.manifest"


def test_input_prefix_keeps_output_names_equal_to_the_local_ones():
    prefix = f"s3://{LAKE}/validated/p-inference/k-transform-input"
    objects = [
        {"uri": f"{prefix}/a.csv.jsonl", "key": "a.csv.jsonl"},
        {"uri": f"{prefix}/sub/b.jsonl", "key": "sub/b.jsonl"},
    ]
    assert smc.transform_input_prefix(objects) == prefix
    with pytest.raises(ValueError, match="share one prefix"):
        smc.transform_input_prefix([*objects, {"uri": f"s3://{LAKE}/other/c.jsonl", "key": "c.jsonl"}])
    with pytest.raises(ValueError, match="s3://"):
        smc.transform_input_prefix([{"uri": "file:///x/a.jsonl", "key": "a.jsonl"}])


# --- the source archive ---------------------------------------------------------------------------


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _tiny_model_archive(tmp_path: Path) -> bytes:
    """A real model.tar.gz whose model.json names the profile only (as ml/train.py writes it)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from ml.artefact import pack_model_dir, save_pipeline

    texts = ["great product love it", "works great", "terrible broke fast", "awful waste of money"]
    pipe = Pipeline([("features", TfidfVectorizer()), ("clf", LogisticRegression())])
    pipe.fit(texts, ["positive", "positive", "negative", "negative"])
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    save_pipeline(pipe, model_dir / "model.skops")
    meta = {"profile": "amazon_polarity", "classes": [str(c) for c in pipe.classes_]}
    (model_dir / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    pack_model_dir(model_dir, tmp_path / "model.tar.gz")
    return (tmp_path / "model.tar.gz").read_bytes()


def test_sourcedir_is_reproducible_and_its_entry_scores_in_a_clean_interpreter(tmp_path):
    """What the serving container does: extract, import SAGEMAKER_PROGRAM, call the four functions."""
    from include.profiles import get_profile

    profile_json = get_profile("amazon_polarity").to_json()
    archive = smc.build_inference_sourcedir(profile_json)
    assert archive == smc.build_inference_sourcedir(profile_json)
    members = _members(archive)
    assert {"inference.py", "profile.json", "requirements.txt", "ml/inference.py", "ml/artefact.py"} <= set(members)
    assert json.loads(members["profile.json"]) == json.loads(profile_json)
    assert b"skops" in members["requirements.txt"]

    code = tmp_path / "code"
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(code, filter="data")
    model_dir = tmp_path / "opt-ml-model"
    with tarfile.open(fileobj=io.BytesIO(_tiny_model_archive(tmp_path)), mode="r:gz") as tar:
        tar.extractall(model_dir, filter="data")
    script = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(code)!r})\n"
        "entry = importlib.import_module('inference')\n"
        "assert entry.__file__.startswith(sys.path[0]), entry.__file__\n"
        "import ml.inference\n"
        "assert ml.inference.__file__.startswith(sys.path[0]), ml.inference.__file__\n"
        f"model = entry.model_fn({str(model_dir)!r})\n"
        'body = b\'{"id": "r1", "title": "great", "text": "love it, works great"}\\n\'\n'
        "out = entry.output_fn(entry.predict_fn(entry.input_fn(body, 'application/jsonlines'), model),"
        " 'application/jsonlines')\n"
        "print(out.decode().strip())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "NLPOPS_MODEL_VERSION": "7"}  # the CreateModel Environment
    done = subprocess.run([sys.executable, "-c", script], cwd=code, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["id"] == "r1" and line["label"] == "positive" and line["model_version"] == "7"


def test_repack_for_network_isolation_puts_the_code_under_code(tmp_path):
    model = _tiny_model_archive(tmp_path)
    code = smc.build_inference_sourcedir('{"name": "x"}')
    repacked = smc.repack_model_with_code(model, code)
    members = _members(repacked)
    wanted = {"model.skops", "model.json", "code/inference.py", "code/profile.json", "code/ml/inference.py"}
    assert wanted <= set(members)
    assert smc.repack_model_with_code(repacked, code) == repacked  # repacking again changes nothing


# --- the operator, against moto ------------------------------------------------------------------


@pytest.fixture
def aws_env(moto_server, monkeypatch, tmp_path):
    """aws-target settings on a moto server, with the lake and artefacts buckets and a staged batch."""
    from include.settings import get_settings
    from nlpops.aws import session

    for name, value in {
        "NLPOPS_TARGET": "aws",
        "NLPOPS_LAKE_URI": f"s3://{LAKE}",
        "NLPOPS_SAGEMAKER_ROLE_ARN": ROLE,
        "NLPOPS_SAGEMAKER_IMAGE_URI": IMAGE,
        "NLPOPS_KMS_KEY_ARN": KMS,
        "NLPOPS_AWS_POLL_SECONDS": "1",
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    session.clear_cache()
    session.install()
    # moto's backends are per process, not per server: start every test from an empty account
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_server)
    for bucket in (LAKE, f"{LAKE}-artifacts"):
        s3.create_bucket(Bucket=bucket)
    model_key = "models/amazon_polarity/nlpops-train-job/output/model.tar.gz"
    s3.put_object(Bucket=LAKE, Key=model_key, Body=_tiny_model_archive(tmp_path))
    prefix = "validated/amazon_polarity-inference/20261123T020000-transform-input"
    objects = []
    for key in ("batch-1.csv.jsonl", "day/batch-2.csv.jsonl"):
        body = b'{"id": "a", "title": "t", "text": "great"}\n'
        s3.put_object(Bucket=LAKE, Key=f"{prefix}/{key}", Body=body)
        objects.append({"uri": f"s3://{LAKE}/{prefix}/{key}", "key": key, "etag": "e1", "size": len(body)})
    yield {"s3": s3, "objects": objects, "artifact": f"s3://{LAKE}/{model_key}", "endpoint": moto_server}
    get_settings.cache_clear()
    session.clear_cache()


def _operator(env: dict[str, Any], version: str = "3") -> Any:
    from airflow.sdk import DAG

    from include.profiles import get_profile
    from include.settings import get_settings
    from nlpops.factory import transform_operator

    settings = get_settings()
    with DAG(DAG_ID, schedule=None):
        return transform_operator(
            task_id="transform",
            profile=get_profile("amazon_polarity", settings),
            settings=settings,
            objects=env["objects"],
            model_artifact_uri=env["artifact"],
            model_version=version,
        )


def _count(method: str):
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    real = getattr(SageMakerHook, method)
    return mock.patch.object(SageMakerHook, method, autospec=True, side_effect=real)


def test_operator_creates_model_and_job_once_and_returns_the_local_xcom_shape(aws_env, context):
    op = _operator(aws_env)
    with _count("create_model") as create_model, _count("create_transform_job") as create_job:
        first = op.execute(context)
        again = _operator(aws_env).execute(context)  # a retry: the job completed, reused
    assert create_model.call_count == 1 and create_job.call_count == 1
    model, job = create_model.call_args.args[1], create_job.call_args.args[1]
    assert botocore_problems("CreateModel", model) == "" and botocore_problems("CreateTransformJob", job) == ""
    assert job["ModelName"] == model["ModelName"] and model["ModelName"].startswith("nlpops-amazon-polarity-v3-")
    assert job["TransformJobName"].startswith("nlpops-amazon-polarity-batch-inference-transform-")
    assert job["MaxPayloadInMB"] == 6 and job["BatchStrategy"] == "MultiRecord"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformOutput"]["KmsKeyId"] == KMS and job["TransformResources"]["VolumeKmsKeyId"] == KMS
    submit = model["PrimaryContainer"]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]
    bucket, key = submit[len("s3://") :].split("/", 1)
    assert bucket == f"{LAKE}-artifacts" and key.startswith("sagemaker/inference/sourcedir-")
    aws_env["s3"].head_object(Bucket=bucket, Key=key)  # the archive was uploaded before the model
    # the local operator's keys, same meaning
    local_keys = {"Transform", "job_name", "output_uri", "model_version", "objects", "summary", "files"}
    assert local_keys <= set(first) and first["job_name"] == again["job_name"] == job["TransformJobName"]
    assert first["output_uri"] == job["TransformOutput"]["S3OutputPath"] == again["output_uri"]
    assert first["output_uri"] == f"s3://{LAKE}/inference-output/amazon_polarity/{job['TransformJobName']}"
    assert [f["output_uri"] for f in first["files"]] == [
        f"{first['output_uri']}/batch-1.csv.jsonl.out",
        f"{first['output_uri']}/day/batch-2.csv.jsonl.out",
    ]
    assert first["model_version"] == "3" and first["objects"] == aws_env["objects"]
    json.dumps(first)


def test_a_failed_job_gets_a_new_name_and_the_existing_model_is_reused(aws_env, context):
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    first = _operator(aws_env).execute(context)
    real = SageMakerHook.describe_transform_job

    def failed_first(self, name):
        desc = real(self, name)
        if name == first["job_name"]:
            return {**desc, "TransformJobStatus": "Failed", "FailureReason": "ClientError: bad record"}
        return desc

    with (
        mock.patch.object(SageMakerHook, "describe_transform_job", failed_first),
        _count("create_model") as create_model,
        _count("create_transform_job") as create_job,
    ):
        second = _operator(aws_env).execute(context)
    assert create_model.call_count == 0  # same version and code: the model exists
    from include.naming import run_key
    from nlpops.aws.idempotent import remote_job_name

    attempt_1 = remote_job_name(DAG_ID, "transform", run_key(context["run_id"], context["logical_date"]), attempt=1)
    assert create_job.call_count == 1 and second["job_name"] == attempt_1 and attempt_1.endswith("-a1")
    # an -a1 job writes where the failed one did: the run's output folder does not move
    assert second["output_uri"] == first["output_uri"]


def test_a_new_champion_version_is_a_new_model(aws_env, context):
    with _count("create_model") as create_model:
        _operator(aws_env, version="3").execute(context)
        _operator(aws_env, version="4").execute({**context, "run_id": "manual__x", "logical_date": None})
    names = [c.args[1]["ModelName"] for c in create_model.call_args_list]
    assert len(names) == 2 and names[0] != names[1] and "-v4-" in names[1]


def test_no_input_objects_starts_nothing(aws_env, context):
    from airflow.providers.common.compat.sdk import AirflowException

    op = _operator({**aws_env, "objects": []})
    with _count("create_transform_job") as create_job, pytest.raises(AirflowException, match="no input objects"):
        op.execute(context)
    assert create_job.call_count == 0


def test_job_seconds_from_the_provider_serialized_times():
    from nlpops.aws.transform import _seconds_between

    start = "datetime.datetime(2026, 3, 1, 2, 0, 1, 500000, tzinfo=tzlocal())"
    end = "datetime.datetime(2026, 3, 1, 2, 1, 3, tzinfo=tzlocal())"
    assert _seconds_between(start, end) == 61.5
    assert _seconds_between("2026-03-01T02:00:00+00:00", "2026-03-01T02:00:10+00:00") == 10.0
    assert _seconds_between(start, None) is None


def test_a_killed_transform_task_is_re_attached_on_retry_never_a_second_job(aws_env, context, moto_server, tmp_path):
    """The worker dies mid-job (no on_kill); the retry finds the running job, waits, one CreateTransformJob."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
    from airflow.sdk.exceptions import TaskDeferred
    from players.sagemaker_transform import SageMakerTransformPlayer
    from test_sagemaker_transform_player import Harness

    player = SageMakerTransformPlayer(Harness(moto_server, tmp_path))
    player.install()
    real = SageMakerHook.create_transform_job
    try:
        with (
            mock.patch.object(SageMakerHook, "create_transform_job", autospec=True, side_effect=real) as create,
            player.hold(),
        ):
            with pytest.raises(TaskDeferred) as first:
                _operator(aws_env).execute(context)
            name = first.value.trigger.job_name
            sm = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_server)
            assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "InProgress"
            retry = _operator(aws_env)
            with pytest.raises(TaskDeferred) as attached:
                retry.execute(context)
            assert attached.value.trigger.job_name == name
        player.wait_all(180)
        result = retry.execute_complete(context, {"status": "success", "job_name": name})
    finally:
        player.uninstall()
    assert create.call_count == 1
    assert result["job_name"] == name and result["Transform"]["TransformJobStatus"] == "Completed"
    out = aws_env["s3"].list_objects_v2(Bucket=LAKE, Prefix=f"inference-output/amazon_polarity/{name}/")
    assert sorted(o["Key"].rsplit("/", 1)[-1] for o in out.get("Contents", [])) == [
        "batch-1.csv.jsonl.out",
        "batch-2.csv.jsonl.out",
    ]
