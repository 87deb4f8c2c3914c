"""Local model registry: MLflow's Model Registry on an embedded SQLite store, fully offline.

One registered model per profile. Each version has a run holding the hyper-parameters
(params), metrics and lineage tags; the version's ``source`` is the ``model.tar.gz`` URI
in the lake (MLflow never copies the model). Aliases ``champion``/``challenger`` and an
``approval_status`` tag (SageMaker's PendingManualApproval / Approved / Rejected) with
its ``approval_reason`` mirror what the aws target keeps in SageMaker Model Registry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ml.registry.base import PENDING, STATUSES, ModelVersion, RegistryError

STATUS_TAG = "approval_status"
REASON_TAG = "approval_reason"
ARTIFACT_TAG = "artifact_uri"


def _offline() -> None:
    # MLflow 3 sends usage telemetry unless told not to; nlpops runs offline.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


class MlflowRegistry:
    """:class:`ml.registry.ModelRegistry` on MLflow (``tracking_uri`` e.g. ``sqlite:////…/mlflow.db``)."""

    def __init__(self, tracking_uri: str, artifact_root: str) -> None:
        _offline()
        from mlflow import MlflowClient

        if tracking_uri.startswith("sqlite:///"):
            Path(tracking_uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root.rstrip("/")
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # -- writes -------------------------------------------------------------------------
    def register(
        self,
        profile: str,
        artifact_uri: str,
        metrics: dict[str, float],
        tags: dict[str, str],
        *,
        params: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """A new version (status PendingManualApproval) of the profile's registered model."""
        from mlflow.exceptions import MlflowException

        experiment_id = self._experiment(profile)
        str_tags = {str(k): str(v) for k, v in tags.items()}
        run = self.client.create_run(experiment_id, tags=str_tags, run_name=str_tags.get("job_name"))
        run_id = run.info.run_id
        try:
            for key, value in (params or {}).items():
                self.client.log_param(run_id, key, value)
            for key, value in metrics.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.client.log_metric(run_id, key, float(value))
            self.client.set_terminated(run_id)
            try:
                self.client.get_registered_model(profile)
            except MlflowException:
                self.client.create_registered_model(profile, description=f"nlpops text classifier of profile {profile}")
            mv = self.client.create_model_version(
                profile,
                source=artifact_uri,
                run_id=run_id,
                tags={**str_tags, ARTIFACT_TAG: artifact_uri, STATUS_TAG: PENDING, REASON_TAG: "registered"},
            )
        except MlflowException as exc:
            self.client.set_terminated(run_id, status="FAILED")
            raise RegistryError(f"registering {artifact_uri} as a version of {profile!r} failed: {exc}") from exc
        return self._version(profile, str(mv.version))

    def set_alias(self, profile: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (moves it away from any other version)."""
        self.client.set_registered_model_alias(profile, alias, str(version))

    def delete_alias(self, profile: str, alias: str) -> None:
        if alias in self._aliases(profile):
            self.client.delete_registered_model_alias(profile, alias)

    def set_status(self, profile: str, version: str, status: str, reason: str) -> None:
        """Record the approval status and its reason on the version (tags)."""
        if status not in STATUSES:
            raise RegistryError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        self.client.set_model_version_tag(profile, str(version), STATUS_TAG, status)
        self.client.set_model_version_tag(profile, str(version), REASON_TAG, reason[:5000])

    # -- reads --------------------------------------------------------------------------
    def get_by_alias(self, profile: str, alias: str) -> ModelVersion | None:
        """The version ``alias`` points at, or None (no such model or alias yet)."""
        aliases = self._aliases(profile)
        if alias not in aliases:
            return None
        return self._version(profile, str(aliases[alias]))

    def get_version(self, profile: str, version: str) -> ModelVersion:
        return self._version(profile, str(version))

    def list_versions(self, profile: str) -> list[ModelVersion]:
        """Every version of the profile's model, oldest first."""
        found = self.client.search_model_versions(f"name = '{profile}'")
        return [self._version(profile, str(v.version)) for v in sorted(found, key=lambda v: int(v.version))]

    # -- helpers ------------------------------------------------------------------------
    def _experiment(self, profile: str) -> str:
        name = f"nlpops/{profile}"
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        return str(self.client.create_experiment(name, artifact_location=f"{self.artifact_root}/{profile}"))

    def _aliases(self, profile: str) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(profile)
        except MlflowException:
            return {}
        return {str(k): str(v) for k, v in (model.aliases or {}).items()}

    def _version(self, profile: str, version: str) -> ModelVersion:
        mv = self.client.get_model_version(profile, version)
        tags = dict(mv.tags or {})
        metrics: dict[str, float] = {}
        if mv.run_id:
            metrics = {k: float(v) for k, v in self.client.get_run(mv.run_id).data.metrics.items()}
        aliases = tuple(sorted(a for a, v in self._aliases(profile).items() if v == version))
        return ModelVersion(
            name=profile,
            version=version,
            artifact_uri=tags.get(ARTIFACT_TAG, str(mv.source)),
            metrics=metrics,
            tags={k: v for k, v in tags.items() if k not in {STATUS_TAG, ARTIFACT_TAG}},
            status=tags.get(STATUS_TAG, PENDING),
            aliases=aliases,
        )
