"""The operator factory: one call per stage, the target (local|aws) picks the implementation.

DAG files call these and never branch on the target themselves, so the DAG graph and
task ids are the same on every target. Provider operators (slow to import) are imported
only inside the branch that needs them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from include.profiles import Profile
    from include.settings import Settings


class TargetNotAvailableError(NotImplementedError):
    """The configured target has no implementation of this stage yet."""


def _aws_missing(stage: str) -> TargetNotAvailableError:
    return TargetNotAvailableError(
        f"NLPOPS_TARGET=aws: the {stage} stage has no aws implementation in this version; use NLPOPS_TARGET=local"
    )


def etl_operator(
    *,
    task_id: str,
    profile: Profile,
    settings: Settings,
    input_uris: str,
    output_uri: str,
    run_key: str,
    **kwargs: Any,
) -> BaseOperator:
    """The Spark ETL (``etl/jobs/prepare_text.py``): local subprocess or Glue."""
    if settings.target == "local":
        from nlpops.operators.spark_job import LocalSparkJobOperator

        return LocalSparkJobOperator(
            task_id=task_id,
            job_module="etl.jobs.prepare_text",
            script_args={
                "profile_json": profile.to_json(),
                "input_uris": input_uris,
                "output_uri": output_uri,
                "run_key": run_key,
            },
            spark_master=settings.spark_master,
            execution_timeout=kwargs.pop("execution_timeout", timedelta(minutes=45)),
            **kwargs,
        )
    raise _aws_missing("ETL")


def training_operator(
    *,
    task_id: str,
    profile: Profile,
    settings: Settings,
    hyperparameters: dict[str, Any],
    lineage: dict[str, Any] | None = None,
    **kwargs: Any,
) -> BaseOperator:
    """The training job (``ml/train.py``, SageMaker script mode): local subprocess or SageMaker."""
    if settings.target == "local":
        from nlpops.operators.training import LocalTrainingOperator

        return LocalTrainingOperator(
            task_id=task_id,
            profile_name=profile.name,
            processed_uri=settings.zone_uri("processed", profile.name),
            output_uri=settings.zone_uri("models", profile.name),
            hyperparameters=hyperparameters,
            lineage=lineage,
            execution_timeout=kwargs.pop(
                "execution_timeout", timedelta(minutes=profile.model.training_timeout_minutes + 5)
            ),
            **kwargs,
        )
    raise _aws_missing("training")


def transform_operator(
    *,
    task_id: str,
    profile: Profile,
    settings: Settings,
    objects: str,
    model_artifact_uri: str,
    model_version: str,
    **kwargs: Any,
) -> BaseOperator:
    """Batch scoring with the champion (``ml/inference.py``): local Batch Transform or SageMaker."""
    if settings.target == "local":
        from nlpops.operators.transform import LocalBatchTransformOperator

        return LocalBatchTransformOperator(
            task_id=task_id,
            profile_name=profile.name,
            objects=objects,
            model_artifact_uri=model_artifact_uri,
            model_version=model_version,
            output_uri=settings.zone_uri("inference-output", profile.name),
            max_payload_mb=profile.inference.max_payload_mb,
            execution_timeout=kwargs.pop("execution_timeout", timedelta(hours=1)),
            **kwargs,
        )
    raise _aws_missing("batch transform")
