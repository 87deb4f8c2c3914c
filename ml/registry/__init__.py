"""Model registry clients: MLflow on SQLite (local target); SageMaker Model Registry (aws, later)."""

from __future__ import annotations

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


def get_registry(settings: Any) -> ModelRegistry:
    """The registry of ``settings.target``: :class:`MlflowRegistry` for ``local``."""
    if settings.target == "local":
        from ml.registry.mlflow_registry import MlflowRegistry

        artifact_root = settings.zone_uri("models", "_mlflow")
        return MlflowRegistry(settings.mlflow_tracking_uri, artifact_root)
    raise NotImplementedError(
        f"NLPOPS_TARGET={settings.target}: the SageMaker Model Registry client is not implemented yet; "
        "use NLPOPS_TARGET=local (MLflow on SQLite) for training and registration"
    )


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
]
