"""The aws model registry's SageMaker client comes from the Airflow AWS connection.

``ml.registry.get_registry(settings)`` (no Airflow in ``ml/``) asks the factory installed
here for its boto3 client; tasks therefore reach the SageMaker Model Registry with the
connection's credentials, role, region and endpoint, as every provider hook does.
Installed by :func:`nlpops.aws.session.use_airflow_connection` (cheap: the provider is imported on first use).
"""

from __future__ import annotations

from typing import Any


def sagemaker_client(settings: Any) -> Any:
    """A boto3 SageMaker client from the connection ``settings.aws_conn_id`` (``aws_default``)."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerHook(aws_conn_id=settings.aws_conn_id, region_name=settings.aws_region).conn


def install() -> None:
    """Make ``ml.registry.get_registry`` build its SageMaker client with :func:`sagemaker_client`."""
    from ml.registry import set_sagemaker_client_factory

    set_sagemaker_client_factory(sagemaker_client)


__all__ = ["install", "sagemaker_client"]
