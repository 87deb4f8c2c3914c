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


def _sagemaker_wait(settings: Settings, job_seconds: int) -> dict[str, Any]:
    """Connection and deferral arguments of a SageMaker job operator that waits ``job_seconds`` at most."""
    poll = settings.aws_poll_seconds
    return {
        "aws_conn_id": settings.aws_conn_id,
        "region_name": settings.aws_region,
        "deferrable": True,
        "check_interval": poll,
        # the trigger's attempts must outlast the job (provider default: 60 polls)
        "max_attempts": job_seconds // poll + 60,
    }


def _sagemaker_image(profile: Profile, settings: Settings) -> str:
    """The training and serving image: ``NLPOPS_SAGEMAKER_IMAGE_URI``, else the profile's framework image."""
    from include.aws_images import sagemaker_image_uri

    return sagemaker_image_uri(settings.aws_region, profile.aws.framework_version, settings.sagemaker_image_uri)


def _champion_model(profile: Profile, settings: Settings) -> dict[str, Any]:
    """What the SageMaker model of a champion is built from (Batch Transform and the endpoint share it)."""
    return {
        "code_uri": settings.artifacts("sagemaker", "inference"),
        "profile_json": profile.to_json(),
        "model_settings": {
            "image_uri": _sagemaker_image(profile, settings),
            "role_arn": settings.sagemaker_role_arn,
            "region": settings.aws_region,
            "network_isolation": settings.sagemaker_network_isolation,
        },
    }


def etl_operator(
    *,
    task_id: str,
    profile: Profile,
    settings: Settings,
    input_uris: str,
    output_uri: str,
    run_key: str,
    profile_json: str | None = None,
    **kwargs: Any,
) -> BaseOperator:
    """The Spark ETL (``etl/jobs/prepare_text.py``): local subprocess, Glue, or EMR Serverless (by setting).

    ``profile_json`` (templated) overrides the parse-time profile, e.g. with the labels of the
    current category-map version that validation used.
    """
    # the job's named arguments (Glue's `--key value`), the same on every target
    script_args = {
        "profile_json": profile_json or profile.to_json(),
        "input_uris": input_uris,
        "output_uri": output_uri,
        "run_key": run_key,
    }
    if settings.target == "local":
        from nlpops.operators.spark_job import LocalSparkJobOperator

        return LocalSparkJobOperator(
            task_id=task_id,
            job_module="etl.jobs.prepare_text",
            script_args=script_args,
            spark_master=settings.spark_master,
            execution_timeout=kwargs.pop("execution_timeout", timedelta(minutes=45)),
            **kwargs,
        )
    # aws: the same script on Glue, or on EMR Serverless by NLPOPS_SPARK_BACKEND.
    from nlpops.aws.etl import emr_serverless_etl_operator, glue_etl_operator

    build = emr_serverless_etl_operator if settings.spark_backend == "emr-serverless" else glue_etl_operator
    return build(
        task_id=task_id,
        profile=profile,
        settings=settings,
        job_module="etl.jobs.prepare_text",
        script_args=script_args,
        execution_timeout=kwargs.pop("execution_timeout", timedelta(minutes=profile.aws.glue_timeout_minutes + 15)),
        **kwargs,
    )


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
    from nlpops.aws.training import SageMakerScriptModeTrainingOperator

    aws, run_seconds = profile.aws, profile.model.training_timeout_minutes * 60
    wait_seconds = (aws.training_max_wait_minutes * 60 or 2 * run_seconds) if aws.training_spot else run_seconds
    job_settings = {
        "image_uri": _sagemaker_image(profile, settings),
        "role_arn": settings.sagemaker_role_arn,
        "region": settings.aws_region,
        "kms_key_id": settings.kms_key_arn,
        "instance_type": aws.training_instance_type,
        "instance_count": aws.training_instance_count,
        "volume_size_gb": aws.training_volume_gb,
        "max_runtime_seconds": run_seconds,
        "network_isolation": settings.sagemaker_network_isolation,
        "spot": aws.training_spot,
        "max_wait_seconds": wait_seconds if aws.training_spot else None,
    }
    budget = settings.search_budget(profile.model.search_budget_seconds)
    if budget > 0:
        # Model selection as a SageMaker tuning job over ml/search.py's space (locally it runs inside ml/train.py).
        from nlpops.aws.tuning import SageMakerScriptModeTuningOperator

        waits = {k: v for k, v in _sagemaker_wait(settings, budget + wait_seconds).items() if k != "max_attempts"}
        return SageMakerScriptModeTuningOperator(
            task_id=task_id,
            profile_name=profile.name,
            processed_uri=settings.zone_uri("processed", profile.name),
            output_uri=settings.zone_uri("models", profile.name),
            code_uri=settings.artifacts("sagemaker", "training"),
            hyperparameters=hyperparameters,
            lineage=lineage,
            job_settings=job_settings,
            primary_metric=profile.model.primary_metric,
            max_jobs=profile.model.search_candidates,
            max_parallel=2,
            job_tags={"nlpops:owner": settings.owner},
            **waits,
            execution_timeout=kwargs.pop("execution_timeout", timedelta(seconds=budget + wait_seconds + 30 * 60)),
            **kwargs,
        )
    return SageMakerScriptModeTrainingOperator(
        task_id=task_id,
        profile_name=profile.name,
        processed_uri=settings.zone_uri("processed", profile.name),
        output_uri=settings.zone_uri("models", profile.name),
        code_uri=settings.artifacts("sagemaker", "training"),
        hyperparameters=hyperparameters,
        lineage=lineage,
        job_settings=job_settings,
        job_tags={"nlpops:owner": settings.owner},
        **_sagemaker_wait(settings, wait_seconds),
        print_log=False,  # the job's log is in CloudWatch (/aws/sagemaker/TrainingJobs)
        execution_timeout=kwargs.pop("execution_timeout", timedelta(seconds=wait_seconds + 30 * 60)),
        **kwargs,
    )


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
    from nlpops.aws.transform import SageMakerBatchTransformOperator

    timeout = kwargs.pop("execution_timeout", timedelta(hours=2))
    return SageMakerBatchTransformOperator(
        task_id=task_id,
        profile_name=profile.name,
        objects=objects,
        model_artifact_uri=model_artifact_uri,
        model_version=model_version,
        output_uri=settings.zone_uri("inference-output", profile.name),
        **_champion_model(profile, settings),
        transform_settings={
            "kms_key_id": settings.kms_key_arn,
            "instance_type": profile.inference.instance_type,
            "max_payload_mb": profile.inference.max_payload_mb,
            "max_concurrent_transforms": profile.inference.max_concurrent_transforms,
        },
        job_tags={"nlpops:owner": settings.owner},
        **_sagemaker_wait(settings, int(timeout.total_seconds())),
        execution_timeout=timeout,
        **kwargs,
    )


def endpoint_operator(
    *,
    task_id: str,
    profile: Profile,
    settings: Settings,
    model_version: str,
    model_artifact_uri: str,
    **kwargs: Any,
) -> BaseOperator:
    """Real-time serving of a new champion (``serving.endpoint``): the local alias check, or a SageMaker endpoint."""
    if settings.target == "local":
        from nlpops.operators.serving import LocalChampionServingOperator

        return LocalChampionServingOperator(
            task_id=task_id,
            profile_name=profile.name,
            model_version=model_version,
            model_artifact_uri=model_artifact_uri,
            execution_timeout=kwargs.pop("execution_timeout", timedelta(minutes=5)),
            **kwargs,
        )
    from nlpops.aws.endpoint import SageMakerChampionEndpointOperator

    serving = profile.serving
    # creation, then a blue/green bake and the old fleet's termination wait
    wait_seconds = 30 * 60 + serving.bake_seconds + serving.termination_wait_seconds
    waits = {k: v for k, v in _sagemaker_wait(settings, wait_seconds).items() if k != "max_attempts"}
    return SageMakerChampionEndpointOperator(
        task_id=task_id,
        profile_name=profile.name,
        model_artifact_uri=model_artifact_uri,
        model_version=model_version,
        **_champion_model(profile, settings),
        instance_type=serving.instance_type,
        instance_count=serving.instance_count,
        alarms=serving.alarms.model_dump(exclude={"enabled"}) if serving.alarms.enabled else None,
        rollback_alarms=serving.rollback_alarms,
        bake_seconds=serving.bake_seconds,
        termination_wait_seconds=serving.termination_wait_seconds,
        kms_key_id=settings.kms_key_arn,
        tags={"nlpops:owner": settings.owner},
        max_ingestion_time=wait_seconds,
        **waits,
        execution_timeout=kwargs.pop("execution_timeout", timedelta(seconds=wait_seconds + 15 * 60)),
        **kwargs,
    )


def results_query_operator(
    *,
    task_id: str,
    profile: Profile,
    settings: Settings,
    published: str,
    low_confidence: str,
    **kwargs: Any,
) -> BaseOperator:
    """The results SQL (``include/sql/``): summary queries with DuckDB locally; catalog + Athena on aws.

    ``published`` is the results task's return value (templated), ``low_confidence`` the
    threshold of the low-confidence share (templated). Both implementations return
    ``{"engine", "queries": {name: rows}}``.
    """
    results_uri = settings.zone_uri("results", profile.name)
    timeout = kwargs.pop("execution_timeout", timedelta(minutes=20))
    if settings.target == "local":
        from nlpops.operators.results_query import LocalResultsQueryOperator

        return LocalResultsQueryOperator(
            task_id=task_id,
            profile_name=profile.name,
            results_uri=results_uri,
            published=published,
            low_confidence=low_confidence,
            execution_timeout=timeout,
            **kwargs,
        )
    from nlpops.aws.athena import AthenaResultsOperator

    return AthenaResultsOperator(
        task_id=task_id,
        profile_name=profile.name,
        database=settings.glue_database,
        results_uri=results_uri,
        processed_uri=settings.zone_uri("processed", profile.name),
        published=published,
        low_confidence=low_confidence,
        kms_key_arn=settings.kms_key_arn,
        workgroup=settings.athena_workgroup,
        output_location=settings.athena_output(),
        # DDL and small summaries take seconds: poll at most every 5 s, whatever the job poll interval.
        sleep_time=min(settings.aws_poll_seconds, 5),
        aws_conn_id=settings.aws_conn_id,
        region_name=settings.aws_region,
        execution_timeout=timeout,
        **kwargs,
    )
