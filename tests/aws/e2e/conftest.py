"""The aws end-to-end harness: ``airflow dags test`` with ``NLPOPS_TARGET=aws`` against moto.

One fixture per test module, :func:`aws_airflow` → :class:`AwsAirflow`:

* a ThreadedMotoServer on a free port, in this process (so the service players can patch
  its backends), reset to an empty account;
* every player of ``tests/aws/players`` installed (Glue; SageMaker training/transform when
  their files exist) and the :class:`~players.base.RequestRecorder` on;
* the lake (``nlpops.aws.lake_setup.ensure_lake``: SSE-KMS with a moto KMS key, versioning,
  TLS-only policy), the artefacts bucket, the Glue role and security configuration;
* a fresh SQLite Airflow home (``nlpops.runtime.airflow_environ``/``ensure_airflow_home``)
  whose DAGs folder is the project's ``dags/`` (the same files the local target uses), with
  ``NLPOPS_TARGET=aws`` and ``AIRFLOW_CONN_AWS_DEFAULT`` pointing at moto. The subprocess
  gets no ``AWS_ENDPOINT_URL``: a request that does not go through the connection would
  try the real AWS and fail.

Use in a test::

    def test_something(aws_airflow):
        aws_airflow.put(aws_airflow.settings().zone_uri("raw", "amazon_polarity", "a.csv"), data)
        run = aws_airflow.dags_test("amazon_polarity_ingest")
        assert run.returncode == 0, run.output[-5000:]
        reqs = aws_airflow.recorder.params("glue", "CreateJob")
        aws_airflow.shared["processed_run"] = ...  # for the next test of the module

``dags_test`` fails the test when a request the DAG made is invalid for botocore's model.
Tests of one module run in file order and share the moto state and ``shared``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from iam_enforce import IamEnforcer
from players import install_players, uninstall_players
from players.base import PLAYER_ACCESS_KEY, PLAYER_SECRET_KEY, RequestRecorder, ServicePlayer

REGION = "us-east-1"
#: the project image (docker/sagemaker): the aws target refuses the framework images
SAGEMAKER_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/nlpops-sagemaker:e2e"
ACCOUNT = "123456789012"
LAKE_BUCKET = "nlpops-e2e-lake"
PROFILE = "amazon_polarity"


@dataclass
class AirflowRun:
    returncode: int
    output: str
    seconds: float


@dataclass
class AwsAirflow:
    """The harness: moto endpoint, players, recorder, Airflow home, and helpers."""

    endpoint: str
    home: Path
    env: dict[str, str]
    tmp_path: Path
    recorder: RequestRecorder
    kms_key_arn: str
    glue_role_arn: str
    players: dict[str, ServicePlayer] = field(default_factory=dict)
    #: IAM on the moto server: each caller's role policies from include/infra/nlpops.yaml decide
    enforcer: IamEnforcer = field(default_factory=IamEnforcer)
    #: keys of the harness's own (administrator) user: setup and assertions, not the pipeline
    admin_key: str = PLAYER_ACCESS_KEY
    admin_secret: str = PLAYER_SECRET_KEY
    _role_credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    #: results handed from one test of the module to the next (e.g. the processed run key)
    shared: dict[str, Any] = field(default_factory=dict)
    _clock: int = 0
    _home_ready: bool = False

    # -- clients and objects (the harness's own calls are not recorded) --------------------------

    def player_client(self, service: str) -> Any:
        """A boto3 client on the moto server with the harness's administrator keys (not recorded)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.admin_key,
            aws_secret_access_key=self.admin_secret,
        )

    client = player_client

    def role_credentials(self, role_arn: str) -> dict[str, str]:
        """Temporary keys of ``role_arn`` (as the service that assumes it gets them); cached per role."""
        if role_arn not in self._role_credentials:
            creds = self.player_client("sts").assume_role(
                RoleArn=role_arn, RoleSessionName="nlpops-e2e", DurationSeconds=43200
            )["Credentials"]
            self._role_credentials[role_arn] = {
                "aws_access_key_id": creds["AccessKeyId"],
                "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"],
            }
        return self._role_credentials[role_arn]

    def role_client(self, role_arn: str, service: str) -> Any:
        """A boto3 client acting as ``role_arn``: what a job does on its role's behalf (not recorded)."""
        import boto3

        creds = self.role_credentials(role_arn)
        self.recorder.skip_keys.add(creds["aws_access_key_id"])
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **creds)

    def settings(self) -> Any:
        """The nlpops settings the DAGs see."""
        from include.settings import load_settings

        return load_settings(self.env)

    def put(self, uri: str, data: bytes) -> None:
        bucket, _, key = uri[len("s3://") :].partition("/")
        self.player_client("s3").put_object(Bucket=bucket, Key=key, Body=data)

    def get(self, uri: str) -> bytes:
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bytes(self.player_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())

    def keys(self, prefix_uri: str) -> list[str]:
        """Every key under ``prefix_uri`` (full keys, sorted)."""
        bucket, _, prefix = prefix_uri[len("s3://") :].partition("/")
        out: list[str] = []
        for page in self.player_client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    # -- Airflow ---------------------------------------------------------------------------------

    def dags_test(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        *,
        timeout: int = 900,
        logical_date: str | None = None,
        check_requests: bool = True,
    ) -> AirflowRun:
        """``airflow dags test <dag_id> <date>`` in a subprocess; each call gets a new logical date."""
        import time

        from nlpops.runtime import airflow_bin, ensure_airflow_home

        if not self._home_ready:  # migrated on first use: operator-level tests do not pay for it
            ensure_airflow_home(self.env)
            self._home_ready = True
        self._clock += 1
        date = logical_date or f"2026-03-01T{self._clock:02d}:00:00+00:00"
        cmd = [airflow_bin(), "dags", "test", dag_id, date]
        if conf:
            cmd += ["-c", json.dumps(conf)]
        started = time.monotonic()
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        run = AirflowRun(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
        if check_requests:
            self.recorder.assert_valid()
            self.enforcer.assert_no_denials()
        return run


STACK_ROLES = ("AirflowExecutionRole", "GlueJobRole", "SageMakerExecutionRole", "EmrServerlessJobRole")


def create_stack_roles(harness: AwsAirflow, settings: Any) -> dict[str, str]:
    """The four roles of include/infra/nlpops.yaml with its policies; an administrator user for the harness.

    Returns logical id -> role ARN. The harness's clients switch to the administrator's keys
    (moto access control needs real IAM keys); the players act with the job's role.
    """
    from test_infra import ROLES, load_template, role_policy

    iam = harness.player_client("iam")
    template = load_template()
    arns = {lid: f"arn:aws:iam::{ACCOUNT}:role/nlpops-{ROLES[lid]}" for lid in STACK_ROLES}
    values = {
        "${Region}": REGION,
        "${AccountId}": ACCOUNT,
        "${LakeBucketName}": LAKE_BUCKET,
        "${GlueDatabase}": settings.glue_database,
        "${AthenaWorkGroup}": settings.athena_workgroup,
        "${NotificationTopicArn}": f"arn:aws:sns:{REGION}:{ACCOUNT}:nlpops-notifications",
        "${LakeKeyArn}": harness.kms_key_arn,
        "${SageMakerExecutionRoleArn}": arns["SageMakerExecutionRole"],
        "${GlueJobRoleArn}": arns["GlueJobRole"],
        "${EmrServerlessJobRoleArn}": arns["EmrServerlessJobRole"],
        "${MwaaEnvironmentName}": "nlpops",
        "${MwaaSourceBucketName}": "airflow-nlpops",
    }
    for logical_id in STACK_ROLES:
        res = template["Resources"][logical_id]["Properties"]
        text = json.dumps(role_policy(template, logical_id))
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        assert "${" not in text, text
        name = res["RoleName"]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
        # The trust policy is the harness's (it stands in for the services the stack trusts).
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=text)
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.create_user(UserName="nlpops-e2e-admin")
    iam.put_user_policy(UserName="nlpops-e2e-admin", PolicyName="admin", PolicyDocument=json.dumps(everything))
    key = iam.create_access_key(UserName="nlpops-e2e-admin")["AccessKey"]
    harness.admin_key, harness.admin_secret = key["AccessKeyId"], key["SecretAccessKey"]
    harness.recorder.skip_keys.add(harness.admin_key)
    return arns


def endpoint_profiles(directory: Path) -> Path:
    """The shipped profile with ``serving.endpoint: true``: promotion deploys to a real-time endpoint.

    Generated from ``include/profiles/<PROFILE>.yaml`` (never a copy that drifts from it), so
    every promoting train run of the module goes on through ``deploy_endpoint`` (the endpoint
    player, the rollback alarms) under IAM enforcement.
    """
    import yaml

    from include.settings import PROJECT_ROOT

    data = yaml.safe_load((PROJECT_ROOT / "include" / "profiles" / f"{PROFILE}.yaml").read_text(encoding="utf-8"))
    data["serving"] = {**(data.get("serving") or {}), "endpoint": True}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{PROFILE}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return directory


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def aws_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsAirflow]:
    """moto server + players + lake + an aws-target Airflow home, for one test module."""
    from moto.server import ThreadedMotoServer

    from include.settings import get_settings, load_settings
    from nlpops.aws import session
    from nlpops.aws.lake_setup import bucket_policy, ensure_lake
    from nlpops.runtime import airflow_environ

    mp = pytest.MonkeyPatch()
    # This process (players, assertions, include.lake in tests) also reaches moto only
    # through explicit endpoints or the connection; never a real account.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        mp.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        mp.setenv(name, value)

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    tmp = tmp_path_factory.mktemp("aws-e2e")
    recorder = RequestRecorder()
    harness = AwsAirflow(
        endpoint=endpoint,
        home=tmp / "airflow",
        env={},
        tmp_path=tmp,
        recorder=recorder,
        kms_key_arn="",
        glue_role_arn="",
    )
    try:
        kms = harness.player_client("kms")
        harness.kms_key_arn = kms.create_key(Description="nlpops e2e lake key")["KeyMetadata"]["Arn"]
        # The stack's roles with the stack's policies; an administrator user for the harness;
        # from here on every request is judged by the caller's policies (tests/aws/iam_enforce.py).
        roles = create_stack_roles(
            harness, load_settings({"NLPOPS_TARGET": "aws", "NLPOPS_LAKE_URI": f"s3://{LAKE_BUCKET}"})
        )
        harness.glue_role_arn = roles["GlueJobRole"]
        sagemaker_role_arn = roles["SageMakerExecutionRole"]
        harness.enforcer.install()
        harness.player_client("glue").create_security_configuration(
            Name="nlpops-kms",
            EncryptionConfiguration={
                "S3Encryption": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": harness.kms_key_arn}],
                "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": harness.kms_key_arn},
                "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": harness.kms_key_arn},
            },
        )
        # Airflow's aws_default connection: the Airflow execution role's (temporary) keys
        airflow_creds = harness.role_credentials(roles["AirflowExecutionRole"])
        conn = {
            "conn_type": "aws",
            "login": airflow_creds["aws_access_key_id"],
            "password": airflow_creds["aws_secret_access_key"],
            "extra": {
                "region_name": REGION,
                "endpoint_url": endpoint,
                "aws_session_token": airflow_creds["aws_session_token"],
            },
        }
        env = airflow_environ(
            harness.home,
            NLPOPS_PROFILES=PROFILE,
            NLPOPS_PROFILES_DIR=str(endpoint_profiles(tmp / "profiles")),
            NLPOPS_TARGET="aws",
            NLPOPS_LAKE_URI=f"s3://{LAKE_BUCKET}",
            NLPOPS_KMS_KEY_ARN=harness.kms_key_arn,
            NLPOPS_GLUE_ROLE_ARN=harness.glue_role_arn,
            NLPOPS_SAGEMAKER_ROLE_ARN=sagemaker_role_arn,
            NLPOPS_SAGEMAKER_IMAGE_URI=SAGEMAKER_IMAGE,
            NLPOPS_AWS_POLL_SECONDS="1",
            NLPOPS_NOTIFY_DIR=str(tmp / "notifications"),
            AIRFLOW_CONN_AWS_DEFAULT=json.dumps(conn),
            AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE="True",
        )
        env.pop("AWS_ENDPOINT_URL", None)
        harness.env = env
        settings = load_settings(env)
        # The lake with its bucket policy, judged with its conditions by the enforcer (moto's own
        # check ignores conditions and is off): a writer without encryption headers must pass.
        ensure_lake(harness.player_client("s3"), settings, kms_key_arn=harness.kms_key_arn, region=REGION)
        artifacts_bucket = settings.artifacts()[len("s3://") :].split("/", 1)[0]
        s3 = harness.player_client("s3")
        s3.create_bucket(Bucket=artifacts_bucket)
        s3.put_bucket_encryption(
            Bucket=artifacts_bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": harness.kms_key_arn,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_bucket_policy(
            Bucket=artifacts_bucket, Policy=json.dumps(bucket_policy(artifacts_bucket, harness.kms_key_arn))
        )
        # The test process reads and writes the lake like a task does: settings and
        # credentials from the same environment as the subprocess.
        for name in (
            "NLPOPS_TARGET",
            "NLPOPS_LAKE_URI",
            "NLPOPS_PROFILES",
            "NLPOPS_PROFILES_DIR",
            "AIRFLOW_CONN_AWS_DEFAULT",
        ):
            mp.setenv(name, env[name])
        get_settings.cache_clear()
        session.clear_cache()
        session.install()
        recorder.install()
        harness.players = install_players(harness)
        yield harness
    finally:
        uninstall_players(harness.players)
        recorder.uninstall()
        harness.enforcer.uninstall()
        server.stop()
        mp.undo()
        get_settings.cache_clear()
        session.clear_cache()
