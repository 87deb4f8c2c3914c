"""The SageMaker transform player against a moto server, without Airflow: the statuses and outputs it produces.

The e2e tests trust this double; here it is held to the service's behaviour: ``InProgress``
while scoring, ``<input>.out`` files equal to the local transform's, ``Stopped`` on
``StopTransformJob``, ``Failed`` with a reason, and SageMaker's refusals that moto lacks.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from players.base import PLAYER_ACCESS_KEY, PLAYER_SECRET_KEY
from players.sagemaker_transform import SageMakerTransformPlayer
from test_sagemaker_transform import IMAGE, KMS, REGION, ROLE, _tiny_model_archive

from nlpops.aws import sagemaker_transform_config as smc

pytestmark = pytest.mark.aws

BUCKET = "nlpops-player-lake"
PREFIX = "validated/amazon_polarity-inference/k-transform-input"
ROWS = [{"id": f"r{i}", "title": "t", "text": ("great, love it " if i % 2 else "awful, broke ") * 3} for i in range(40)]


@dataclass
class Harness:
    endpoint: str
    tmp_path: Path

    def player_client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=PLAYER_ACCESS_KEY,
            aws_secret_access_key=PLAYER_SECRET_KEY,
        )


@pytest.fixture
def played(moto_server, tmp_path):
    from include.profiles import get_profile

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    harness = Harness(moto_server, tmp_path)
    player = SageMakerTransformPlayer(harness)
    player.install()
    s3 = harness.player_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="models/m/model.tar.gz", Body=_tiny_model_archive(tmp_path))
    code = smc.build_inference_sourcedir(get_profile("amazon_polarity").to_json())
    s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=code)
    body = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/a.csv.jsonl", Body=body)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/day/b.csv.jsonl", Body=body[: len(body) // 2])
    sm = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_server)
    sm.create_model(
        **smc.inference_model_config(
            name="nlpops-m-v5-00000000",
            image_uri=IMAGE,
            model_data_url=f"s3://{BUCKET}/models/m/model.tar.gz",
            submit_directory=f"s3://{BUCKET}/code/sourcedir.tar.gz",
            role_arn=ROLE,
            region=REGION,
            model_version="5",
        )
    )
    try:
        yield player, sm, s3
    finally:
        player.uninstall()


def _job(name: str, **over: Any) -> dict[str, Any]:
    return smc.transform_job_config(
        **{
            "job_name": name,
            "model_name": "nlpops-m-v5-00000000",
            "input_uri": f"s3://{BUCKET}/{PREFIX}",
            "output_uri": f"s3://{BUCKET}/inference-output/{name}",
            "kms_key_id": KMS,
            "instance_type": "ml.m5.large",
            "max_payload_mb": 1,
            "max_concurrent_transforms": 1,
        }
        | over
    )


def _status(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sm.describe_transform_job(TransformJobName=name)
        if desc["TransformJobStatus"] not in ("InProgress", "Stopping"):
            return dict(desc)
        time.sleep(0.2)
    raise AssertionError(f"{name} still running after {timeout}s")


def test_job_runs_the_uploaded_code_and_writes_one_out_line_per_record(played):
    player, sm, s3 = played
    with player.hold():
        sm.create_transform_job(**_job("job-ok"))
        assert sm.describe_transform_job(TransformJobName="job-ok")["TransformJobStatus"] == "InProgress"
    desc = _status(sm, "job-ok")
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="inference-output/job-ok/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        "inference-output/job-ok/a.csv.jsonl.out",
        "inference-output/job-ok/day/b.csv.jsonl.out",
    ]
    head = s3.head_object(Bucket=BUCKET, Key="inference-output/job-ok/a.csv.jsonl.out")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == KMS
    lines = s3.get_object(Bucket=BUCKET, Key="inference-output/job-ok/a.csv.jsonl.out")["Body"].read().splitlines()
    out = [json.loads(line) for line in lines]
    assert [o["id"] for o in out] == [r["id"] for r in ROWS]  # AssembleWith=Line, in order
    assert {o["model_version"] for o in out} == {"5"}  # NLPOPS_MODEL_VERSION from the model's Environment
    assert {o["label"] for o in out} == {"positive", "negative"}


def test_stop_ends_stopped_and_a_bad_model_fails_with_a_reason(played):
    player, sm, _ = played
    with player.hold():
        sm.create_transform_job(**_job("job-stop"))
        sm.stop_transform_job(TransformJobName="job-stop")
        assert _status(sm, "job-stop")["TransformJobStatus"] == "Stopped"
    player.fail_next("ClientError: injected")
    sm.create_transform_job(**_job("job-fail"))
    failed = _status(sm, "job-fail")
    assert (failed["TransformJobStatus"], failed["FailureReason"]) == ("Failed", "ClientError: injected")
    with pytest.raises(ClientError, match="ResourceInUse"):
        sm.create_transform_job(**_job("job-fail"))
    with pytest.raises(ClientError, match="Could not find model"):
        sm.create_transform_job(**_job("job-nomodel", model_name="nlpops-missing-00000000"))
    with pytest.raises(ClientError, match="Could not find"):
        sm.stop_transform_job(TransformJobName="job-unknown")
