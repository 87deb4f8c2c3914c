"""The version life cycle on any :class:`ModelRegistry`: register as challenger, then promote or reject."""

from __future__ import annotations

from typing import Any

from ml.registry.base import APPROVED, CHALLENGER, CHAMPION, REJECTED, ModelRegistry, ModelVersion


def register_challenger(
    registry: ModelRegistry,
    profile: str,
    artifact_uri: str,
    metrics: dict[str, float],
    tags: dict[str, str],
    **kwargs: Any,
) -> ModelVersion:
    """Register a new version (PendingManualApproval) and point ``challenger`` at it."""
    mv = registry.register(profile, artifact_uri, metrics, tags, **kwargs)
    registry.set_alias(profile, CHALLENGER, mv.version)
    return mv


def promote(registry: ModelRegistry, profile: str, version: str, reason: str) -> ModelVersion | None:
    """Approve ``version`` and make it the champion; return the previous champion (or None)."""
    previous = registry.get_by_alias(profile, CHAMPION)
    registry.set_status(profile, version, APPROVED, reason)
    registry.set_alias(profile, CHAMPION, version)
    _drop_challenger(registry, profile, version)
    return previous


def reject(registry: ModelRegistry, profile: str, version: str, reason: str) -> None:
    """Mark ``version`` Rejected with ``reason``; the champion is left as it is."""
    registry.set_status(profile, version, REJECTED, reason)
    _drop_challenger(registry, profile, version)


def _drop_challenger(registry: ModelRegistry, profile: str, version: str) -> None:
    current = registry.get_by_alias(profile, CHALLENGER)
    delete = getattr(registry, "delete_alias", None)
    # Only the decided version loses the alias: a newer challenger registered meanwhile keeps it.
    if current is not None and current.version == str(version) and delete is not None:
        delete(profile, CHALLENGER)
