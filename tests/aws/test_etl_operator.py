"""The aws branch of ``factory.etl_operator``: Glue by default, EMR Serverless by setting; code packaging."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest

pytestmark = pytest.mark.aws

LAKE = "s3://nlpops-etl-test"
ROLE = "arn:aws:iam::123456789012:role/nlpops-glue-job"


def _settings(**extra: str) -> Any:
    from include.settings import load_settings

    return load_settings(
        {"NLPOPS_TARGET": "aws", "NLPOPS_LAKE_URI": LAKE, "NLPOPS_PROFILES": "amazon_polarity", **extra}
    )


def _etl(settings: Any) -> Any:
    from include.profiles import get_profile
    from nlpops.factory import etl_operator

    return etl_operator(
        task_id="prepare_text",
        profile=get_profile("amazon_polarity", settings),
        settings=settings,
        input_uris=f"{LAKE}/validated/amazon_polarity/k1",
        output_uri=f"{LAKE}/processed/amazon_polarity/run=k1",
        run_key="k1",
    )


def test_code_zip_is_deterministic_and_carries_the_jobs_imports() -> None:
    from nlpops.aws.etl import code_zip

    first, second = code_zip(), code_zip()
    assert first == second  # same code, same bytes, same digest: uploaded once
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert (
        "etl/jobs/prepare_text.py" in names
        and "include/lake.py" in names
        and "include/profiles/amazon_polarity.yaml" in names
    )
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_glue_is_the_default_backend_with_workers_from_the_profile() -> None:
    from include.profiles import get_profile
    from nlpops.aws.etl import GlueEtlJobOperator

    s = _settings(NLPOPS_GLUE_ROLE_ARN=ROLE)
    op = _etl(s)
    aws = get_profile("amazon_polarity", s).aws
    assert isinstance(op, GlueEtlJobOperator)
    assert op.deferrable and op.verbose and op.iam_role_arn == ROLE
    assert op.job_name.startswith("nlpops-amazon_polarity-prepare_text")
    assert (op.job_config["GlueVersion"], op.job_config["WorkerType"], op.job_config["NumberOfWorkers"]) == (
        aws.glue_version,
        aws.glue_worker_type,
        aws.glue_workers,
    )
    assert op.job_config["SecurityConfiguration"] == "nlpops-kms"
    assert op.job_config["DefaultArguments"]["--TempDir"] == "s3://nlpops-etl-test-artifacts/glue-temp/"
    assert set(op.script_args) == {"--profile_json", "--input_uris", "--output_uri", "--run_key"}


def test_missing_role_names_the_setting() -> None:
    from include.settings import SettingsError

    with pytest.raises(SettingsError, match="NLPOPS_GLUE_ROLE_ARN"):
        _etl(_settings())
    with pytest.raises(SettingsError, match="NLPOPS_EMR_APPLICATION_ID and NLPOPS_EMR_ROLE_ARN"):
        _etl(_settings(NLPOPS_SPARK_BACKEND="emr-serverless"))
    with pytest.raises(SettingsError, match="NLPOPS_SPARK_BACKEND"):
        _settings(NLPOPS_SPARK_BACKEND="dataproc")


@pytest.fixture
def emr_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    from include.settings import get_settings
    from nlpops.aws import session

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("NLPOPS_TARGET", "aws")
    monkeypatch.setenv("NLPOPS_LAKE_URI", LAKE)
    get_settings.cache_clear()
    session.clear_cache()
    session.install()
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket="nlpops-etl-test-artifacts")
    emr = boto3.client("emr-serverless", endpoint_url=moto_server, region_name="us-east-1")
    # a release after 7.x: every 7.x release runs Spark 3.5, which the ETL cannot use (refused below)
    app = emr.create_application(name="nlpops", releaseLabel="emr-8.0.0", type="SPARK")["applicationId"]
    yield moto_server, app
    session.clear_cache()
    get_settings.cache_clear()


def _emr_settings(app: str) -> Any:
    return _settings(
        NLPOPS_SPARK_BACKEND="emr-serverless",
        NLPOPS_EMR_APPLICATION_ID=app,
        NLPOPS_EMR_ROLE_ARN="arn:aws:iam::123456789012:role/nlpops-emr",
        NLPOPS_KMS_KEY_ARN="arn:aws:kms:us-east-1:123456789012:key/abc",
    )


def test_emr_serverless_refuses_an_application_on_spark_3_5_before_paying(emr_env, context) -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    endpoint, _ = emr_env
    emr = boto3.client("emr-serverless", endpoint_url=endpoint, region_name="us-east-1")
    old = emr.create_application(name="old", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    op = _etl(_emr_settings(old))
    op.deferrable, op.wait_for_completion = False, False
    starts = mock.patch.object(op.hook.conn, "start_job_run", wraps=op.hook.conn.start_job_run)
    with (
        starts as start,
        pytest.raises(AirflowException, match=r"runs emr-7\.5\.0 .*Spark >= 4\.1.*SPARK_BACKEND=glue"),
    ):
        op.execute(context)
    assert start.call_count == 0  # no job started
    assert "Contents" not in boto3.client("s3", endpoint_url=endpoint).list_objects_v2(
        Bucket="nlpops-etl-test-artifacts"
    )  # nothing uploaded


def test_emr_application_problem_names_what_is_wrong() -> None:
    from nlpops.aws.etl import emr_application_problem

    ok = {"applicationId": "a1", "type": "Spark", "releaseLabel": "emr-8.1.0"}
    assert emr_application_problem(ok) is None
    assert "not SPARK" in (emr_application_problem({**ok, "type": "HIVE"}) or "")
    assert "Spark 3.5" in (emr_application_problem({**ok, "releaseLabel": "emr-7.12.0"}) or "")
    assert "Spark 3.5" in (emr_application_problem({**ok, "releaseLabel": "emr-6.15.0"}) or "")
    assert "not emr-<major>.<minor>" in (emr_application_problem({**ok, "releaseLabel": "latest"}) or "")


def test_emr_serverless_runs_the_same_script_with_a_deterministic_name(emr_env, context) -> None:
    from nlpops.aws.etl import EmrServerlessEtlOperator

    endpoint, app = emr_env
    s = _emr_settings(app)
    op = _etl(s)
    assert isinstance(op, EmrServerlessEtlOperator)
    op.deferrable, op.wait_for_completion = False, False
    job_run_id = op.execute(context)

    emr = boto3.client("emr-serverless", endpoint_url=endpoint, region_name="us-east-1")
    run = emr.get_job_run(applicationId=app, jobRunId=job_run_id)["jobRun"]
    assert run["name"] == op.client_request_token and run["name"].startswith("nlpops-") and len(run["name"]) <= 63
    submit = run["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"].startswith("s3://nlpops-etl-test-artifacts/glue/")
    assert submit["entryPoint"].endswith("/prepare_text.py")
    assert "spark.submit.pyFiles=s3://nlpops-etl-test-artifacts/glue/" in submit["sparkSubmitParameters"]
    args = submit["entryPointArguments"]
    assert args[:2] == ["--JOB_NAME", run["name"]]
    assert json.loads(args[args.index("--profile_json") + 1])["name"] == "amazon_polarity"
    monitoring = op.configuration_overrides["monitoringConfiguration"]["s3MonitoringConfiguration"]
    assert monitoring["encryptionKeyArn"].startswith("arn:aws:kms:")
    # the code was uploaded where the job reads it
    bucket, key = submit["entryPoint"][len("s3://") :].split("/", 1)
    assert (
        boto3.client("s3", endpoint_url=endpoint).get_object(Bucket=bucket, Key=key)["Body"].read().startswith(b'"""')
    )

    # a retry computes the same name and token: EMR Serverless answers with the run it started
    again = _etl(s)
    again.deferrable, again.wait_for_completion = False, False
    again.execute(context)
    assert again.client_request_token == op.client_request_token
