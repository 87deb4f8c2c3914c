"""Local real-time serving after a promotion: check the ``champion`` alias moved; ``make serve`` hot swaps.

The local server (``scripts/serve.py``, ``ml/serving/``) polls the registry's ``champion``
alias and swaps the model itself, so there is nothing to deploy: this task proves the alias
names the promoted version (the aws twin, :mod:`nlpops.aws.endpoint`, updates an endpoint),
keeping the train DAG's graph and task ids the same on both targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class LocalChampionServingOperator(BaseOperator):
    """Fail unless the registry's ``champion`` alias of ``profile_name`` is ``model_version``."""

    template_fields: Sequence[str] = ("model_version", "model_artifact_uri")
    ui_color = "#f9c74f"

    def __init__(self, *, profile_name: str, model_version: str, model_artifact_uri: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile_name = profile_name
        self.model_version = model_version
        self.model_artifact_uri = model_artifact_uri

    def execute(self, context: Context) -> dict[str, Any]:
        from include.settings import get_settings
        from ml.registry import get_registry
        from ml.registry.base import CHAMPION

        champion = get_registry(get_settings()).get_by_alias(self.profile_name, CHAMPION)
        if champion is None or str(champion.version) != str(self.model_version):
            raise ValueError(
                f"{self.task_id}: the {CHAMPION!r} alias of {self.profile_name} is "
                f"{None if champion is None else champion.version}, not the promoted version {self.model_version}"
            )
        self.log.info(
            "champion of %s is version %s: a running `make serve` picks it up at its next alias poll",
            self.profile_name,
            champion.version,
        )
        return {"model_version": str(champion.version), "artifact_uri": champion.artifact_uri, "target": "local"}


__all__ = ["LocalChampionServingOperator"]
