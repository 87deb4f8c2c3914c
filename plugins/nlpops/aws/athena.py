"""The results SQL of the aws target: Glue Data Catalog tables and the summary queries through Athena.

One task runs, in order, the statements of :func:`ml.results.athena_statements`: the
catalog DDL (database, results and processed external tables from ``include/sql/``), the
results partitions the run wrote (added by name), the processed partitions (``MSCK
REPAIR TABLE``), then the shared summary queries, whose rows are logged and returned like
the local DuckDB twin's (:class:`nlpops.operators.results_query.LocalResultsQueryOperator`).

It is the provider's ``AthenaOperator`` run once per statement, in the workgroup from the
settings, with the results location and its SSE-KMS encryption set explicitly (the
workgroup also enforces them). Every statement is idempotent (``IF NOT EXISTS``, ``ADD IF
NOT EXISTS``, ``MSCK``, ``SELECT``), so a retry simply runs them again. The statements are
seconds each, so the operator polls instead of deferring once per statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.athena import AthenaOperator

from nlpops.operators.results_query import as_dict, jsonable

if TYPE_CHECKING:
    from airflow.sdk import Context


def result_rows(response: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of an Athena ``GetQueryResults`` response as dicts (the header row of a SELECT dropped)."""
    if not response:
        return []
    result_set = response.get("ResultSet", {})
    columns = [c["Name"] for c in result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
    rows = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in result_set.get("Rows", [])]
    if rows and rows[0] == columns:
        rows = rows[1:]
    return [dict(zip(columns, row, strict=False)) for row in rows]


class AthenaResultsOperator(AthenaOperator):
    """Refresh the catalog tables of a profile and run the summary queries in Athena.

    :param profile_name: the dataset profile (names the tables ``<profile>_results`` / ``_processed``)
    :param database: Glue Data Catalog database (``NLPOPS_GLUE_DATABASE``)
    :param results_uri: ``results/<profile>`` on S3
    :param processed_uri: ``processed/<profile>`` on S3
    :param published: what the results task returned: its ``partitions`` are added (templated)
    :param low_confidence: threshold of the low-confidence share (templated)
    :param kms_key_arn: the lake key; query results are written SSE-KMS with it
    Every other argument is ``AthenaOperator``'s (``workgroup``, ``output_location``, ``sleep_time`` …).
    """

    template_fields: Sequence[str] = (*AthenaOperator.template_fields, "published", "low_confidence")

    def __init__(
        self,
        *,
        profile_name: str,
        database: str,
        results_uri: str,
        processed_uri: str,
        published: dict[str, Any] | str | None = None,
        low_confidence: float | str = 0.6,
        kms_key_arn: str = "",
        **kwargs: Any,
    ) -> None:
        encryption = (
            {"EncryptionOption": "SSE_KMS", "KmsKey": kms_key_arn} if kms_key_arn else {"EncryptionOption": "SSE_S3"}
        )
        kwargs.setdefault("result_configuration", {"EncryptionConfiguration": encryption})
        super().__init__(query="", deferrable=False, **kwargs)
        self.profile_name = profile_name
        self.catalog_database = database
        self.results_uri = results_uri
        self.processed_uri = processed_uri
        self.published = published
        self.low_confidence = low_confidence
        self.kms_key_arn = kms_key_arn

    # Returns the summary like the local twin, not one query id: several statements run.
    def execute(self, context: Context) -> dict[str, Any]:  # type: ignore[override]
        from ml.results import SUMMARY_QUERIES, athena_statements, format_summary

        published = as_dict(self.published)
        statements = athena_statements(
            database=self.catalog_database,
            profile_name=self.profile_name,
            results_uri=self.results_uri,
            processed_uri=self.processed_uri,
            partitions=published.get("partitions") or [],
            low_confidence=float(self.low_confidence),
        )
        executions: list[dict[str, str]] = []
        summary: list[tuple[str, list[dict[str, Any]]]] = []
        for name, sql in statements:
            self.query = sql
            self.query_execution_context = {}  # names are qualified; the database may not exist yet
            query_id = str(super().execute(context))
            executions.append({"name": name, "query_execution_id": query_id})
            if name in SUMMARY_QUERIES:
                summary.append((name, result_rows(self.hook.get_query_results(query_id))))
        self.log.info(
            "results summary of %s (Athena, workgroup %s):\n%s",
            self.profile_name,
            self.workgroup,
            format_summary(summary),
        )
        return {
            "engine": "athena",
            "queries": {name: jsonable(rows) for name, rows in summary},
            "executions": executions,
            "workgroup": self.workgroup,
            "output_location": self.output_location,
        }
