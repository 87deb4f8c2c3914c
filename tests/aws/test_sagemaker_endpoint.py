"""Real-time serving after promotion: the SageMaker endpoint operator against moto + the endpoint player.

moto creates endpoint configs and endpoints; the player plays ``UpdateEndpoint`` (not in
moto) with blue/green and alarm rollback. Every request the operator makes is recorded and
validated against botocore's service model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
import test_sagemaker_transform as transform_tests

aws_env = transform_tests.aws_env  # the fixture: aws settings on a moto server, a champion artefact in the lake
REGION = transform_tests.REGION

pytestmark = pytest.mark.aws

ALARM = "nlpops-amazon-polarity-endpoint-5xx"
ROOT = Path(__file__).resolve().parents[2]


def _profile(**serving: Any) -> Any:
    from include.profiles import ServingSpec, get_profile
    from include.settings import get_settings

    profile = get_profile("amazon_polarity", get_settings())
    return profile.model_copy(update={"serving": ServingSpec(**serving)})


CREATED = ["nlpops-amazon-polarity-invocation-5xx", "nlpops-amazon-polarity-model-latency-p99"]


def _operator(env: dict[str, Any], version: str, **serving: Any) -> Any:
    from airflow.sdk import DAG

    from include.settings import get_settings
    from nlpops.factory import endpoint_operator

    serving = {"endpoint": True, "rollback_alarms": [ALARM], "bake_seconds": 60, **serving}
    with DAG("amazon_polarity_train", schedule=None):
        op = endpoint_operator(
            task_id="deploy_endpoint",
            profile=_profile(**serving),
            settings=get_settings(),
            model_version=version,
            model_artifact_uri=env["artifact"],
        )
    op.deferrable, op.check_interval = False, 1  # moto's endpoints are InService at once: wait in process
    return op


@pytest.fixture
def served(aws_env, moto_server, tmp_path):
    from players.base import RequestRecorder
    from players.sagemaker_endpoint import SageMakerEndpointPlayer

    player, recorder = SageMakerEndpointPlayer(), RequestRecorder()
    player.install()
    recorder.install()
    try:
        yield player, recorder, boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_server)
    finally:
        recorder.uninstall()
        player.uninstall()


def test_promotions_create_then_blue_green_update_and_retries_start_nothing(aws_env, served, context):
    from airflow.providers.common.compat.sdk import AirflowException

    player, recorder, sm = served
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=sm.meta.endpoint_url)
    first = _operator(aws_env, "3").execute(context)
    assert first["operation"] == "create" and first["model_version"] == "3"
    assert first["rollback_alarms"] == [*CREATED, ALARM]
    _assert_alarms(cloudwatch, errors=1, latency_us=1_000_000, periods=2)
    assert first["endpoint_name"] == "nlpops-amazon-polarity"
    assert first["endpoint_config_name"].startswith("nlpops-amazon-polarity-v3-")
    described = sm.describe_endpoint(EndpointName="nlpops-amazon-polarity")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == first["endpoint_config_name"]
    config = sm.describe_endpoint_config(EndpointConfigName=first["endpoint_config_name"])
    variant = config["ProductionVariants"][0]
    assert variant["ModelName"].startswith("nlpops-amazon-polarity-v3-") and variant["InstanceType"] == "ml.m5.large"
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == aws_env["artifact"]

    # a retry of the same promotion: the endpoint is on this version's config already
    assert _operator(aws_env, "3").execute(context)["endpoint_config_name"] == first["endpoint_config_name"]
    assert [len(recorder.calls("sagemaker", op)) for op in ("CreateModel", "CreateEndpointConfig")] == [1, 1]
    assert len(recorder.calls("sagemaker", "CreateEndpoint")) == 1 and not player.updates

    # the next promotion: a new config, a blue/green update that rolls back on the alarm
    second = _operator(aws_env, "4").execute(context)
    assert second["operation"] == "update" and second["endpoint_config_name"].startswith("nlpops-amazon-polarity-v4-")
    (update,) = recorder.params("sagemaker", "UpdateEndpoint")
    assert update["EndpointConfigName"] == second["endpoint_config_name"]
    assert update["DeploymentConfig"] == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60},
            "TerminationWaitInSeconds": 120,
            "MaximumExecutionTimeoutInSeconds": update["DeploymentConfig"]["BlueGreenUpdatePolicy"][
                "MaximumExecutionTimeoutInSeconds"
            ],
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in [*CREATED, ALARM]]},
    }
    assert 600 <= update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] <= 28800
    assert (
        sm.describe_endpoint(EndpointName="nlpops-amazon-polarity")["EndpointConfigName"]
        == (second["endpoint_config_name"])
    )

    # its retry: no second config, no second update; the alarms are put again (an upsert), still two
    _operator(aws_env, "4").execute(context)
    assert len(recorder.calls("sagemaker", "CreateEndpointConfig")) == 2 and len(player.updates) == 1
    assert len(recorder.calls("cloudwatch", "PutMetricAlarm")) == 8
    _assert_alarms(cloudwatch, errors=1, latency_us=1_000_000, periods=2)

    # a promotion whose bake meets the alarm: SageMaker rolls back, the task fails naming the alarm
    player.fire_alarm(CREATED[0])  # one of the alarms the operator created
    with pytest.raises(AirflowException, match=rf"rolled back \(alarms: {CREATED[0]}, .*alarm {CREATED[0]} went"):
        _operator(aws_env, "5").execute(context)
    assert (
        sm.describe_endpoint(EndpointName="nlpops-amazon-polarity")["EndpointConfigName"]
        == (second["endpoint_config_name"])
    )
    assert len(player.updates) == 2
    recorder.assert_valid()


def _assert_alarms(cloudwatch: Any, *, errors: float, latency_us: float, periods: int) -> None:
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix="nlpops-")["MetricAlarms"]}
    assert sorted(alarms) == CREATED  # the profile's own ALARM is the user's: not created here
    for alarm in alarms.values():
        assert alarm["Namespace"] == "AWS/SageMaker" and alarm["EvaluationPeriods"] == periods
        assert alarm["TreatMissingData"] == "notBreaching" and alarm["Period"] == 60
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions == {"EndpointName": "nlpops-amazon-polarity", "VariantName": "champion"}
    errors_alarm, latency_alarm = alarms[CREATED[0]], alarms[CREATED[1]]
    assert (errors_alarm["MetricName"], errors_alarm["Statistic"], errors_alarm["Threshold"]) == (
        "Invocation5XXErrors",
        "Sum",
        errors,
    )
    assert errors_alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (latency_alarm["MetricName"], latency_alarm["ExtendedStatistic"], latency_alarm["Threshold"]) == (
        "ModelLatency",
        "p99",
        latency_us,
    )


def test_alarm_thresholds_come_from_the_profile_and_a_change_updates_the_same_alarms(aws_env, served, context):
    _, recorder, sm = served
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=sm.meta.endpoint_url)
    alarms = {"errors_5xx": 5, "latency_p99_ms": 250.0, "evaluation_periods": 3}
    _operator(aws_env, "3", alarms=alarms).execute(context)
    _assert_alarms(cloudwatch, errors=5, latency_us=250_000, periods=3)
    _operator(aws_env, "3", alarms={**alarms, "latency_p99_ms": 400.0}).execute(context)
    _assert_alarms(cloudwatch, errors=5, latency_us=400_000, periods=3)

    off = _operator(aws_env, "4", alarms={"enabled": False}, rollback_alarms=[])
    assert off.rollback_alarms == [] and off.alarm_requests == []
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="multiple of 60"):
        _profile(endpoint=True, alarms={"period_seconds": 30})
    recorder.assert_valid()


def _train_dag(target: str, monkeypatch: pytest.MonkeyPatch, **serving: Any) -> Any:
    from include.settings import get_settings

    monkeypatch.setenv("NLPOPS_TARGET", target)
    get_settings.cache_clear()
    spec = importlib.util.spec_from_file_location("train_dag_file", ROOT / "dags" / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_train_dag(_profile(**serving), get_settings())


def test_train_dag_deploys_after_promote_only_when_the_profile_asks_same_graph_per_target(aws_env, monkeypatch):
    off = _train_dag("aws", monkeypatch)
    assert "deploy_endpoint" not in off.task_dict  # serving.endpoint false (default): no endpoint, no cost
    graphs = {}
    for target in ("aws", "local"):
        dag = _train_dag(target, monkeypatch, endpoint=True)
        task = dag.task_dict["deploy_endpoint"]
        assert task.upstream_task_ids == {"promote"}
        graphs[target] = ({t: sorted(dag.task_dict[t].downstream_task_ids) for t in dag.task_dict}, type(task).__name__)
    assert graphs["aws"][0] == graphs["local"][0]
    assert (graphs["aws"][1], graphs["local"][1]) == (
        "SageMakerChampionEndpointOperator",
        "LocalChampionServingOperator",
    )


def test_local_serving_task_fails_unless_the_champion_alias_names_the_promoted_version(context):
    from types import SimpleNamespace

    from nlpops.operators.serving import LocalChampionServingOperator

    op = LocalChampionServingOperator(task_id="deploy_endpoint", profile_name="amazon_polarity", model_version="4")
    registry = mock.MagicMock()
    with mock.patch("ml.registry.get_registry", return_value=registry):
        registry.get_by_alias.return_value = SimpleNamespace(version="4", artifact_uri="file:///m/4/model.tar.gz")
        assert op.execute(context)["model_version"] == "4"
        registry.get_by_alias.return_value = SimpleNamespace(version="3", artifact_uri="file:///m/3/model.tar.gz")
        with pytest.raises(ValueError, match="alias of amazon_polarity is 3, not the promoted version 4"):
            op.execute(context)


def test_deferred_promotion_resumes_on_a_fresh_operator_and_fails_when_rolled_back(aws_env, served, context):
    from airflow.providers.common.compat.sdk import AirflowException
    from airflow.sdk.exceptions import TaskDeferred

    player, recorder, _ = served
    done = {"status": "success", "job_name": "nlpops-amazon-polarity"}
    for version in ("3", "4"):
        op = _operator(aws_env, version)
        op.deferrable = True
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert deferred.value.trigger.job_name == "nlpops-amazon-polarity"
        resumed = _operator(aws_env, version).execute_complete(context, done)  # the worker re-creates the task
        assert resumed["endpoint_config_name"].startswith(f"nlpops-amazon-polarity-v{version}-")
    player.fire_alarm(ALARM)
    op = _operator(aws_env, "5")
    op.deferrable = True
    with pytest.raises(TaskDeferred):
        op.execute(context)
    with pytest.raises(AirflowException, match="rolled back"):  # the trigger saw InService: on the old config
        _operator(aws_env, "5").execute_complete(context, done)
    assert len(player.updates) == 2
    recorder.assert_valid()


def test_a_retry_while_the_update_is_under_way_waits_for_it_never_a_second_update(aws_env, served, context):
    from airflow.sdk.exceptions import TaskDeferred

    player, recorder, sm = served
    _operator(aws_env, "3").execute(context)
    with player.hold():
        first = _operator(aws_env, "4")
        first.deferrable = True
        with pytest.raises(TaskDeferred):
            first.execute(context)  # the worker dies here; SageMaker keeps updating
        described = sm.describe_endpoint(EndpointName="nlpops-amazon-polarity")
        assert described["EndpointStatus"] == "Updating"
        assert described["PendingDeploymentSummary"]["EndpointConfigName"] == first.wanted_config
        retry = _operator(aws_env, "4")
        retry.deferrable = True
        with pytest.raises(TaskDeferred):
            retry.execute(context)
    result = retry.execute_complete(context, {"status": "success", "job_name": "nlpops-amazon-polarity"})
    assert result["endpoint_config_name"] == first.wanted_config and len(player.updates) == 1
    recorder.assert_valid()
