"""AWS console links of the aws-target operators (SageMaker training and transform jobs, Glue runs).

The provider persists its console links only on the path that starts a new job; the
idempotent operators (``nlpops.aws.idempotent``) also re-attach to or reuse a job, so these
links read the job name from the task's result (``return_value``: ``Training.TrainingJobName``
/ ``Transform.TransformJobName``) and the region from the operator, its AWS connection, or
``NLPOPS_AWS_REGION``. Glue runs keep the provider's ``GlueJobRunDetailsLink``, which
``_set_job_run_id`` persists on every path; :func:`glue_job_run_url` builds the same URL.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

DOMAINS = {"aws": "aws.amazon.com", "aws-cn": "amazonaws.cn", "aws-us-gov": "amazonaws-us-gov.com"}


def console_base(partition: str = "aws") -> str:
    """``https://console.<domain>`` of the partition (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    return f"https://console.{DOMAINS.get(partition, DOMAINS['aws'])}"


def sagemaker_training_job_url(region: str, job_name: str, partition: str = "aws") -> str:
    """Console page of a SageMaker training job."""
    q = urllib.parse.quote
    return f"{console_base(partition)}/sagemaker/home?region={q(region)}#/jobs/{q(job_name, safe='')}"


def sagemaker_transform_job_url(region: str, job_name: str, partition: str = "aws") -> str:
    """Console page of a SageMaker batch transform job."""
    q = urllib.parse.quote
    return f"{console_base(partition)}/sagemaker/home?region={q(region)}#/transform-jobs/{q(job_name, safe='')}"


def glue_job_run_url(region: str, job_name: str, run_id: str, partition: str = "aws") -> str:
    """Console page of one Glue job run (the provider's ``GlueJobRunDetailsLink`` format)."""
    q = urllib.parse.quote
    return (
        f"{console_base(partition)}/gluestudio/home?region={q(region)}"
        f"#/job/{q(job_name, safe='')}/run/{q(run_id, safe='')}"
    )


def operator_region(operator: Any) -> tuple[str, str]:
    """(region, partition) of ``operator``: its ``region_name``, else its connection's, else the settings'."""
    region = getattr(operator, "region_name", None)
    partition = "aws"
    hook = None
    try:
        hook = operator.hook
        region = region or hook.conn_region_name
        partition = hook.conn_partition or partition
    except Exception:  # no connection in this process: fall back to the deployment setting
        hook = None
    if not region:
        from include.settings import get_settings

        region = get_settings().aws_region
    return str(region), str(partition)


def _result(ti_key: TaskInstanceKey) -> Any:
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(key="return_value", ti_key=ti_key)


class _ResultConsoleLink(BaseOperatorLink):
    """A console link built from the job name in the task's result."""

    name: ClassVar[str]
    section: ClassVar[str]  # Training | Transform
    name_field: ClassVar[str]  # TrainingJobName | TransformJobName

    def job_name(self, result: Any) -> str:
        if not isinstance(result, dict):
            return ""
        return str((result.get(self.section) or {}).get(self.name_field) or "")

    def url(self, region: str, job_name: str, partition: str) -> str:
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        name = self.job_name(_result(ti_key))
        if not name:
            return ""
        region, partition = operator_region(operator)
        return self.url(region, name, partition)


class SageMakerTrainingJobConsoleLink(_ResultConsoleLink):
    """Training task (aws) → the SageMaker training job in the AWS console."""

    name = "SageMaker training job"
    section = "Training"
    name_field = "TrainingJobName"

    def url(self, region: str, job_name: str, partition: str) -> str:
        return sagemaker_training_job_url(region, job_name, partition)


class SageMakerTransformJobConsoleLink(_ResultConsoleLink):
    """Transform task (aws) → the SageMaker batch transform job in the AWS console."""

    name = "SageMaker transform job"
    section = "Transform"
    name_field = "TransformJobName"

    def url(self, region: str, job_name: str, partition: str) -> str:
        return sagemaker_transform_job_url(region, job_name, partition)


__all__ = [
    "SageMakerTrainingJobConsoleLink",
    "SageMakerTransformJobConsoleLink",
    "glue_job_run_url",
    "operator_region",
    "sagemaker_training_job_url",
    "sagemaker_transform_job_url",
]
