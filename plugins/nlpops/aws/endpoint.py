"""Serve the champion on a SageMaker real-time endpoint: create it once, then blue/green per promotion.

:class:`SageMakerChampionEndpointOperator` is the provider's :class:`SageMakerEndpointOperator`
with what it lacks for a promotion pipeline:

* the model is the champion's ``CreateModel`` shared with Batch Transform
  (:class:`~nlpops.aws.transform.ChampionModelMixin`: one model per version and code), created
  only when absent;
* one endpoint config per model: ``<endpoint>-v<version>-<digest>`` (digest of the model name,
  instance type and count; configs are immutable), created only when absent;
* the endpoint is created when absent, else updated with a blue/green ``DeploymentConfig``
  (all traffic at once after ``WaitIntervalInSeconds`` of baking, the old fleet kept
  ``TerminationWaitInSeconds``) whose ``AutoRollbackConfiguration.Alarms`` are the profile's
  ``serving.rollback_alarms``: SageMaker rolls back to the old config when one fires;
* before any of that, the endpoint's own CloudWatch alarms are put (``PutMetricAlarm`` is an
  upsert by name: a retry or the next promotion rewrites them with the profile's current
  thresholds): ``<endpoint>-invocation-5xx`` (``Invocation5XXErrors``) and
  ``<endpoint>-model-latency-p99`` (``ModelLatency`` p99) on the ``champion`` variant, from the
  profile's ``serving.alarms``; the update's rollback watches them and ``serving.rollback_alarms``;
* a retry finds the endpoint on (or moving to) this config and only waits: never a second
  config, never a second update;
* the endpoint ends ``InService`` on another config (a rollback) → the task fails, naming the alarms.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerEndpointOperator
from airflow.providers.common.compat.sdk import AirflowException
from botocore.exceptions import ClientError

from nlpops.aws.transform import ChampionModelMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

MAX_NAME = 63
#: The one production variant of every endpoint config (the alarms' ``VariantName`` dimension).
VARIANT = "champion"


def endpoint_name(profile_name: str) -> str:
    """``nlpops-<profile>``: one real-time endpoint per profile."""
    return re.sub(r"[^a-zA-Z0-9]+", "-", f"nlpops-{profile_name}").strip("-")[:MAX_NAME].rstrip("-")


def endpoint_config_name(endpoint: str, model_version: str, *, fingerprint: str) -> str:
    """``<endpoint>-v<version>-<digest>``: one endpoint config per served model (configs are immutable)."""
    digest = hashlib.sha1(f"{endpoint}|{model_version}|{fingerprint}".encode()).hexdigest()[:8]  # noqa: S324
    version = re.sub(r"[^a-zA-Z0-9]+", "-", str(model_version)).strip("-") or "0"
    head = f"{endpoint}-v{version}"[: MAX_NAME - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"


def endpoint_config_request(
    *,
    name: str,
    model_name: str,
    instance_type: str,
    instance_count: int,
    kms_key_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``CreateEndpointConfig``: one production variant ``champion`` serving ``model_name``."""
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": VARIANT,
                "ModelName": model_name,
                "InstanceType": instance_type,
                "InitialInstanceCount": int(instance_count),
                "InitialVariantWeight": 1.0,
            }
        ],
        "Tags": [{"Key": k, "Value": str(v)} for k, v in sorted((tags or {}).items())],
    }
    if kms_key_id:
        request["KmsKeyId"] = kms_key_id
    return request


def deployment_config(
    alarms: Sequence[str], *, wait_seconds: int, termination_wait_seconds: int, maximum_execution_seconds: int
) -> dict[str, Any]:
    """``UpdateEndpoint.DeploymentConfig``: blue/green, all at once, rolled back when an alarm fires."""
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": int(wait_seconds)},
            "TerminationWaitInSeconds": int(termination_wait_seconds),
            "MaximumExecutionTimeoutInSeconds": int(maximum_execution_seconds),
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def endpoint_alarm_requests(
    endpoint: str,
    *,
    errors_5xx: int,
    latency_p99_ms: float,
    period_seconds: int,
    evaluation_periods: int,
    tags: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """``PutMetricAlarm`` requests: 5XX errors and p99 model latency of ``endpoint``'s variant.

    Both need every one of ``evaluation_periods`` periods breaching; missing data (no traffic)
    is not breaching, so an idle endpoint stays ``OK``. ``ModelLatency`` is in microseconds.
    """
    common: dict[str, Any] = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT}],
        "Period": int(period_seconds),
        "EvaluationPeriods": int(evaluation_periods),
        "DatapointsToAlarm": int(evaluation_periods),
        "TreatMissingData": "notBreaching",
        "Tags": [{"Key": k, "Value": str(v)} for k, v in sorted((tags or {}).items())],
    }
    return [
        {
            "AlarmName": f"{endpoint}-invocation-5xx",
            "AlarmDescription": f"{endpoint}: >= {errors_5xx} 5XX responses per {period_seconds} s; "
            "rolls a blue/green update back (nlpops serving.alarms.errors_5xx)",
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Sum",
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": float(errors_5xx),
            **common,
        },
        {
            "AlarmName": f"{endpoint}-model-latency-p99",
            "AlarmDescription": f"{endpoint}: ModelLatency p99 above {latency_p99_ms} ms per {period_seconds} s; "
            "rolls a blue/green update back (nlpops serving.alarms.latency_p99_ms)",
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Unit": "Microseconds",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": float(latency_p99_ms) * 1000.0,
            **common,
        },
    ]


class SageMakerChampionEndpointOperator(ChampionModelMixin, SageMakerEndpointOperator):
    """Put champion ``model_version`` behind the profile's real-time endpoint (create, or blue/green update).

    :param profile_name: the dataset profile (the endpoint is ``nlpops-<profile>``)
    :param model_artifact_uri: the champion's ``model.tar.gz`` (templated)
    :param model_version: its registry version (templated)
    :param code_uri: prefix the scoring source archive is uploaded to (content-addressed)
    :param profile_json: the profile (``Profile.to_json()``), shipped as ``profile.json``
    :param model_settings: ``image_uri``, ``role_arn``, ``region``, ``network_isolation``
    :param instance_type: / :param instance_count: the production variant
    :param alarms: thresholds of the alarms created per endpoint (the profile's ``serving.alarms``:
        ``errors_5xx``, ``latency_p99_ms``, ``period_seconds``, ``evaluation_periods``); None: none created
    :param rollback_alarms: further CloudWatch alarm names that roll an update back
    :param bake_seconds: ``WaitIntervalInSeconds`` (new fleet serves all traffic, old kept this long)
    :param termination_wait_seconds: ``TerminationWaitInSeconds``
    :param kms_key_id: key of the endpoint's ML storage volume
    Every other argument is the provider's (``deferrable``, ``check_interval``, ``max_ingestion_time`` …).
    """

    template_fields: Sequence[str] = (*SageMakerEndpointOperator.template_fields, "model_artifact_uri", "model_version")
    ui_color = "#f9c74f"

    def __init__(
        self,
        *,
        profile_name: str,
        model_artifact_uri: str,
        model_version: str,
        code_uri: str,
        profile_json: str,
        model_settings: dict[str, Any],
        instance_type: str,
        instance_count: int = 1,
        alarms: dict[str, Any] | None = None,
        rollback_alarms: Sequence[str] = (),
        bake_seconds: int = 300,
        termination_wait_seconds: int = 120,
        kms_key_id: str | None = None,
        tags: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config={}, **kwargs)
        self.profile_name = profile_name
        self.model_artifact_uri = model_artifact_uri
        self.model_version = model_version
        self.code_uri = code_uri.rstrip("/")
        self.profile_json = profile_json
        self.model_settings = model_settings
        self.instance_type = instance_type
        self.instance_count = instance_count
        self.endpoint_name = endpoint_name(profile_name)
        self.tags = tags or {}
        alarm_tags = {**self.tags, "nlpops:profile": profile_name}  # not the version: an alarm outlives it
        self.alarm_requests = (
            endpoint_alarm_requests(self.endpoint_name, tags=alarm_tags, **alarms) if alarms is not None else []
        )
        # the created alarms first, then the profile's own (duplicates dropped)
        self.rollback_alarms = list(dict.fromkeys([*(a["AlarmName"] for a in self.alarm_requests), *rollback_alarms]))
        if len(self.rollback_alarms) > 10:  # AutoRollbackConfiguration.Alarms holds at most 10
            raise ValueError(
                f"profile {profile_name}: {len(self.rollback_alarms)} rollback alarms "
                f"({', '.join(self.rollback_alarms)}); SageMaker watches at most 10: shorten serving.rollback_alarms"
            )
        self.bake_seconds = bake_seconds
        self.termination_wait_seconds = termination_wait_seconds
        self.kms_key_id = kms_key_id
        self.wanted_config = ""

    def _describe(self, what: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(getattr(self.hook.get_conn(), f"describe_{what}")(**{f"{_camel(what)}Name": name}))
        except ClientError as err:
            message = str(err.response.get("Error", {}).get("Message", "")).lower()
            if "could not find" in message or "not found" in message:
                return None
            raise

    def _tags(self) -> dict[str, str]:
        return {**self.tags, "nlpops:profile": self.profile_name, "nlpops:model_version": str(self.model_version)}

    def _wanted_model_and_config(self, tags: dict[str, str]) -> dict[str, Any]:
        """The champion's ``CreateModel``; sets :attr:`wanted_config`, the endpoint config name serving it."""
        model = self.champion_model_config(tags)
        self.wanted_config = endpoint_config_name(
            self.endpoint_name,
            str(self.model_version),
            fingerprint=f"{model['ModelName']}|{self.instance_type}|{self.instance_count}",
        )
        return model

    def build_config(self) -> dict[str, Any]:
        """The provider's ``config`` for this try: only what is absent, ``{}`` when the endpoint is already on it."""
        tags = self._tags()
        model = self._wanted_model_and_config(tags)
        model_name = str(model["ModelName"])
        config: dict[str, Any] = {}
        if self._describe("model", model_name) is None:
            config["Model"] = model
        else:
            self.log.info("SageMaker model %s exists (same version and code): reused", model_name)
        if self._describe("endpoint_config", self.wanted_config) is None:
            config["EndpointConfig"] = endpoint_config_request(
                name=self.wanted_config,
                model_name=model_name,
                instance_type=self.instance_type,
                instance_count=self.instance_count,
                kms_key_id=self.kms_key_id,
                tags=tags,
            )
        else:
            self.log.info("endpoint config %s exists: reused", self.wanted_config)
        current = self._describe("endpoint", self.endpoint_name)
        if current is None:
            self.operation = "create"
            config["Endpoint"] = {
                "EndpointName": self.endpoint_name,
                "EndpointConfigName": self.wanted_config,
                "Tags": [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())],
            }
        elif self.wanted_config in {
            current.get("EndpointConfigName"),
            (current.get("PendingDeploymentSummary") or {}).get("EndpointConfigName"),
        }:
            self.log.info(
                "endpoint %s is already %s on %s (a retry): nothing to start",
                self.endpoint_name,
                current.get("EndpointStatus"),
                self.wanted_config,
            )
            return {}
        else:
            self.operation = "update"
            self.log.info(
                "blue/green update of %s: %s -> %s (rollback alarms: %s)",
                self.endpoint_name,
                current.get("EndpointConfigName"),
                self.wanted_config,
                ", ".join(self.rollback_alarms) or "none",
            )
            config["Endpoint"] = {
                "EndpointName": self.endpoint_name,
                "EndpointConfigName": self.wanted_config,
                "DeploymentConfig": deployment_config(
                    self.rollback_alarms,
                    wait_seconds=self.bake_seconds,
                    termination_wait_seconds=self.termination_wait_seconds,
                    maximum_execution_seconds=max(600, min(28800, self.max_ingestion_time)),
                ),
            }
        return config

    def preprocess_config(self) -> None:
        """Before a new model is created: its source archive (and, isolated, the repacked artefact) in S3."""
        if "Model" in self.config:
            self._upload_code()
        super().preprocess_config()

    def put_alarms(self) -> None:
        """Create or update the endpoint's alarms (``PutMetricAlarm`` is an upsert) through the AWS connection."""
        if not self.alarm_requests:
            return
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        cloudwatch = AwsBaseHook(
            aws_conn_id=self.aws_conn_id,
            client_type="cloudwatch",
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        ).get_conn()
        for request in self.alarm_requests:
            cloudwatch.put_metric_alarm(**request)
        self.log.info("CloudWatch alarms put for %s: %s", self.endpoint_name, ", ".join(self.rollback_alarms))

    def execute(self, context: Context) -> dict[str, Any]:
        self.put_alarms()  # before any update that names them in its rollback configuration
        self.config = self.build_config()
        if not self.config:  # a retry: wait for what the first try started
            self.operation = "none"
            if self.deferrable:
                from nlpops.aws.idempotent import defer_to_sagemaker

                defer_to_sagemaker(
                    self, self.endpoint_name, "endpoint", timeout=timedelta(seconds=self.max_ingestion_time)
                )
            self.hook.get_waiter("endpoint_in_service").wait(
                EndpointName=self.endpoint_name,
                WaiterConfig={"Delay": self.check_interval, "MaxAttempts": self.max_ingestion_time},
            )
            return self._checked()
        super().execute(context)
        return self._checked()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        super().execute_complete(context, event)
        # a fresh operator instance resumes: what it wanted is recomputed (names are deterministic)
        self._wanted_model_and_config(self._tags())
        self.operation = "resumed"
        return self._checked()

    def _checked(self) -> dict[str, Any]:
        """The endpoint's description; fails when it serves another config than this version's (rolled back)."""
        described = self._describe("endpoint", self.endpoint_name) or {}
        serving = described.get("EndpointConfigName")
        if described.get("EndpointStatus") != "InService" or serving != self.wanted_config:
            raise AirflowException(
                f"endpoint {self.endpoint_name} is {described.get('EndpointStatus')} on {serving}, not on "
                f"{self.wanted_config} (model version {self.model_version}): the update was rolled back "
                f"(alarms: {', '.join(self.rollback_alarms) or 'none'}; reason: {described.get('FailureReason')})"
            )
        return {
            "endpoint_name": self.endpoint_name,
            "endpoint_config_name": serving,
            "model_version": str(self.model_version),
            "operation": self.operation,
            "status": described.get("EndpointStatus"),
            "endpoint_arn": described.get("EndpointArn"),
            "rollback_alarms": self.rollback_alarms,
        }


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


__all__ = [
    "SageMakerChampionEndpointOperator",
    "deployment_config",
    "endpoint_alarm_requests",
    "endpoint_config_name",
    "endpoint_config_request",
    "endpoint_name",
]
