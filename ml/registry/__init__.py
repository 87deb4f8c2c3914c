"""Model registry clients: MLflow on SQLite (local target); SageMaker Model Registry (aws)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ml.registry.base import (
    APPROVED,
    CHALLENGER,
    CHAMPION,
    PENDING,
    REJECTED,
    STATUSES,
    ModelRegistry,
    ModelVersion,
    RegistryError,
)

#: Builds the boto3 SageMaker client of the aws registry from the settings; the Airflow side
#: installs one that uses its AWS connection (``nlpops.aws.registry``). None: boto3's default chain.
SageMakerClientFactory = Callable[[Any], Any]
_sagemaker_client_factory: SageMakerClientFactory | None = None


def set_sagemaker_client_factory(factory: SageMakerClientFactory | None) -> None:
    """Register how :func:`get_registry` builds its SageMaker client on aws (``None``: boto3 defaults)."""
    global _sagemaker_client_factory
    _sagemaker_client_factory = factory


def get_registry(settings: Any, *, sagemaker_client: Any = None) -> ModelRegistry:
    """The registry of ``settings.target``: :class:`MlflowRegistry` locally, :class:`SageMakerRegistry` on aws.

    On aws the SageMaker client is ``sagemaker_client``, else the installed factory's, else
    boto3's default credential chain in ``settings.aws_region``.
    """
    if settings.target == "local":
        from ml.registry.mlflow_registry import MlflowRegistry

        artifact_root = settings.zone_uri("models", "_mlflow")
        return MlflowRegistry(settings.mlflow_tracking_uri, artifact_root)
    if settings.target == "aws":
        from include.aws_images import DEFAULT_VERSION, sagemaker_image_uri
        from ml.registry.sagemaker_registry import SageMakerRegistry

        client = sagemaker_client
        if client is None and _sagemaker_client_factory is not None:
            client = _sagemaker_client_factory(settings)
        if client is None:
            import boto3

            client = boto3.client("sagemaker", region_name=settings.aws_region)
        return SageMakerRegistry(
            client,
            image_uri=sagemaker_image_uri(settings.aws_region, DEFAULT_VERSION, settings.sagemaker_image_uri),
        )
    raise NotImplementedError(f"NLPOPS_TARGET={settings.target}: no model registry for this target")


__all__ = [
    "APPROVED",
    "CHALLENGER",
    "CHAMPION",
    "PENDING",
    "REJECTED",
    "STATUSES",
    "ModelRegistry",
    "ModelVersion",
    "RegistryError",
    "get_registry",
    "set_sagemaker_client_factory",
]
