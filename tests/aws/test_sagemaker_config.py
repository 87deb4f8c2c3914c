"""The CreateTrainingJob request (plugins/nlpops/aws/sagemaker_config.py): pure, checked against botocore."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile

import pytest

from include.aws_images import sklearn_image_uri
from include.settings import SettingsError
from nlpops.aws.sagemaker_config import (
    build_sourcedir,
    decode_hyperparameters,
    encode_hyperparameters,
    model_artifact_uri,
    sourcedir_name,
    toolkit_arguments,
    training_job_config,
)
from nlpops.aws.training import fit_lineage

KMS = "arn:aws:kms:us-east-1:123456789012:key/0e9f7c2a-1111-2222-3333-444455556666"
ROLE = "arn:aws:iam::123456789012:role/nlpops-sagemaker-execution"
JOB = "nlpops-amazon-polarity-train-train-20261123t020000-0a1b2c3d"


def config(**overrides):
    kwargs = {
        "job_name": JOB,
        "image_uri": sklearn_image_uri("eu-west-1"),
        "role_arn": ROLE,
        "region": "eu-west-1",
        "submit_directory": "s3://lake-artifacts/sagemaker/training/sourcedir-0123456789abcdef.tar.gz",
        "hyperparameters": {"C": 4.0, "classifier": "logreg", "classes": ["negative", "positive"], "profile": "p"},
        "channels": {c: f"s3://lake/models/p/{JOB}/input/data/{c}" for c in ("train", "validation", "test")},
        "output_path": "s3://lake/models/p/",
        "kms_key_id": KMS,
        "instance_type": "ml.m5.xlarge",
        "max_runtime_seconds": 3600,
        "tags": {"nlpops:profile": "p"},
    }
    return training_job_config(**(kwargs | overrides))


def test_request_is_valid_for_botocore_and_complete():
    import botocore.session
    from botocore.validate import ParamValidator

    request = config()
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateTrainingJob")
    report = ParamValidator().validate(request, shape.input_shape)
    assert not report.has_errors(), report.generate_report()
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "TrainingInputMode": "File",
    }
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://lake/models/p", "KmsKeyId": KMS}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": KMS,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train", "validation", "test"]
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].endswith("/input/data/train/")
    assert request["EnableNetworkIsolation"] is False and request["EnableManagedSpotTraining"] is False
    assert "CheckpointConfig" not in request
    assert {"Key": "nlpops:profile", "Value": "p"} in request["Tags"]
    assert model_artifact_uri(request["OutputDataConfig"]["S3OutputPath"], JOB) == (
        f"s3://lake/models/p/{JOB}/output/model.tar.gz"
    )


def test_hyperparameters_are_encoded_like_the_sdk_and_decoded_like_the_toolkit():
    hps = config()["HyperParameters"]
    # the SDK's Framework estimator: every value json.dumps'd, script-mode keys added
    assert hps["sagemaker_program"] == '"train.py"'
    assert hps["sagemaker_submit_directory"] == (
        '"s3://lake-artifacts/sagemaker/training/sourcedir-0123456789abcdef.tar.gz"'
    )
    assert hps["sagemaker_region"] == '"eu-west-1"'
    assert hps["sagemaker_job_name"] == json.dumps(JOB)
    assert hps["sagemaker_container_log_level"] == "20"
    assert hps["C"] == '"4.0"'
    # the toolkit: json.loads, drop sagemaker_*, sorted --key value; a JSON list survives as JSON
    args = toolkit_arguments(hps)
    assert args == ["-C", "4.0", "--classes", '["negative", "positive"]', "--classifier", "logreg", "--profile", "p"]
    assert decode_hyperparameters(encode_hyperparameters({"x": "[1]"})) == {"x": "[1]"}
    # ...and ml/train.py reads exactly those arguments (one-letter keys arrive as `-C`)
    from ml.train import parse_args

    parsed = parse_args(args)
    assert (parsed.C, parsed.classifier, json.loads(parsed.classes)) == (4.0, "logreg", ["negative", "positive"])


def test_spot_network_isolation_and_instance_store():
    request = config(
        spot=True,
        network_isolation=True,
        checkpoint_uri="s3://lake/models/p/j/checkpoints",
        instance_type="ml.m5d.large",
    )
    assert request["EnableManagedSpotTraining"] is True and request["EnableNetworkIsolation"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert request["CheckpointConfig"] == {
        "S3Uri": "s3://lake/models/p/j/checkpoints",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert "VolumeKmsKeyId" not in request["ResourceConfig"]  # m5d: NVMe instance store, SageMaker refuses a volume key
    with pytest.raises(ValueError, match="max_wait_seconds=60 must be >= max_runtime_seconds"):
        config(spot=True, max_wait_seconds=60)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role_arn": ""}, "NLPOPS_SAGEMAKER_ROLE_ARN"),
        ({"role_arn": "nlpops-role"}, "not an IAM role ARN"),
        ({"kms_key_id": ""}, "NLPOPS_KMS_KEY_ARN"),
        ({"job_name": "x" * 64}, "not a valid SageMaker name"),
        ({"output_path": "file:///tmp/lake"}, "s3:// URIs only"),
        ({"channels": {"train": "s3://b/t"}}, "'validation' is missing"),
        ({"hyperparameters": {"sagemaker_program": "x.py"}}, "reserved prefix"),
        ({"hyperparameters": {"lineage": "x" * 2600}}, "too long: \\['lineage'\\]"),
    ],
)
def test_refuses_what_sagemaker_would(overrides, message):
    with pytest.raises((ValueError, SettingsError), match=message):
        config(**overrides)


def test_sourcedir_is_reproducible_and_runs_train_py_unchanged(tmp_path):
    archive = build_sourcedir()
    assert archive == build_sourcedir(), "same code must give the same bytes (content-addressed upload)"
    assert re.fullmatch(r"sourcedir-[0-9a-f]{16}\.tar\.gz", sourcedir_name(archive))
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = tar.getnames()
        train = tar.extractfile("train.py").read()
        tar.extractall(tmp_path, filter="data")
    from include.settings import PROJECT_ROOT

    assert train == (PROJECT_ROOT / "ml" / "train.py").read_bytes()
    assert {"ml/__init__.py", "ml/features.py", "ml/artefact.py", "requirements.txt"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # the toolkit runs `python train.py` from the code dir: the packaged `ml` must import from there
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, '.'); import ml.features, ml.data; print(ml.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().startswith(str(tmp_path))


def test_lineage_is_summarised_past_the_hyperparameter_limit():
    small = {"profile": "p", "run_keys": ["20261101T000000"]}
    assert fit_lineage(small, "s3://x/lineage.json") == small
    big = {"profile": "p", "run_keys": [f"2026110{i % 10}T{i:06d}" for i in range(400)]}
    short = fit_lineage(big, "s3://x/lineage.json")
    assert short["run_keys_count"] == 400 and short["lineage_uri"] == "s3://x/lineage.json"
    assert "run_keys" not in short and len(json.dumps(json.dumps(short))) <= 2000
