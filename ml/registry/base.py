"""The registry interface both targets implement (docs/CONTRACTS.md, "Registry")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: Approval states, named as SageMaker Model Registry names them.
PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
STATUSES = (PENDING, APPROVED, REJECTED)

CHAMPION = "champion"
CHALLENGER = "challenger"


class RegistryError(RuntimeError):
    """A registry call failed or was given a value it cannot store; the message says which."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version: where its artefact is, how it scored, what it was trained on."""

    name: str
    version: str
    artifact_uri: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = PENDING
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "artifact_uri": self.artifact_uri,
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "status": self.status,
            "aliases": list(self.aliases),
        }


@runtime_checkable
class ModelRegistry(Protocol):
    """Registered model per profile; versions with metrics, lineage tags, status and aliases."""

    def register(
        self, profile: str, artifact_uri: str, metrics: dict[str, float], tags: dict[str, str]
    ) -> ModelVersion: ...

    def get_by_alias(self, profile: str, alias: str) -> ModelVersion | None: ...

    def get_version(self, profile: str, version: str) -> ModelVersion: ...

    def set_alias(self, profile: str, alias: str, version: str) -> None: ...

    def set_status(self, profile: str, version: str, status: str, reason: str) -> None: ...

    def list_versions(self, profile: str) -> list[ModelVersion]: ...
