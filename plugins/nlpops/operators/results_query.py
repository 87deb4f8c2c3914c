"""The results SQL of the local target: the shared summary queries with DuckDB over the results Parquet.

The aws twin is :class:`nlpops.aws.athena.AthenaResultsOperator` (same arguments, same
XCom shape); :func:`nlpops.factory.results_query_operator` picks one. The queries live in
``include/sql/queries/`` and the engine code in :mod:`ml.results`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


def as_dict(value: dict[str, Any] | str | None) -> dict[str, Any]:
    """A templated dict argument, whether it rendered as a dict or as its JSON text."""
    if value is None or value == "":
        return {}
    return dict(json.loads(value) if isinstance(value, str) else value)


def jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with dates and decimals as text, so the XCom is plain JSON on every backend."""
    return list(json.loads(json.dumps(rows, default=str)))


class LocalResultsQueryOperator(BaseOperator):
    """Run the summary queries with DuckDB over ``results_uri`` and log them as small tables.

    :param profile_name: the dataset profile
    :param results_uri: ``results/<profile>`` (a ``file://`` URI)
    :param published: what the results task returned (templated; the local view reads every
        published file, so only the aws twin needs its partitions)
    :param low_confidence: threshold of the low-confidence share (templated)
    """

    template_fields: Sequence[str] = ("published", "low_confidence")
    template_fields_renderers = {"published": "json"}
    ui_color = "#fff1b8"

    def __init__(
        self,
        *,
        profile_name: str,
        results_uri: str,
        published: dict[str, Any] | str | None = None,
        low_confidence: float | str = 0.6,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.profile_name = profile_name
        self.results_uri = results_uri
        self.published = published
        self.low_confidence = low_confidence

    def execute(self, context: Context) -> dict[str, Any]:
        from ml.results import format_summary, run_summary_queries

        summary = run_summary_queries(self.results_uri, low_confidence=float(self.low_confidence))
        self.log.info("results summary of %s (DuckDB):\n%s", self.profile_name, format_summary(summary))
        return {"engine": "duckdb", "queries": {name: jsonable(rows) for name, rows in summary}}
