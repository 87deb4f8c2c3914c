"""Publish scored batches and drift decisions to PostgreSQL through Airflow's Postgres provider.

Optional: the DAGs add these tasks only when ``NLPOPS_RESULTS_POSTGRES_CONN_ID`` names a
Postgres connection (locally a Debian server on loopback; on AWS RDS/Aurora, with the
connection from Secrets Manager via Airflow's secrets backend). The loading logic —
``COPY`` into a staging table, then an idempotent upsert keyed by ``(source_uri,
source_record, model_version)`` in one transaction — is :mod:`ml.results_postgres`; these
operators only open the connection and pass the task's values.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from nlpops.operators.results_query import as_dict

if TYPE_CHECKING:
    from airflow.sdk import Context


def _connect(conn_id: str) -> Any:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=conn_id).get_conn()


class PublishBatchToPostgresOperator(BaseOperator):
    """Load one scored batch (its result files) into ``nlpops_predictions``; a retry rewrites, never duplicates.

    :param postgres_conn_id: Airflow Postgres connection
    :param profile_name: the dataset profile
    :param published: what ``publish_results`` returned (templated: ``files``, ``partitions``)
    :param model_version: the version that scored the batch (templated)
    :param run_key: the batch_inference run's key (templated)
    """

    template_fields: Sequence[str] = ("published", "model_version", "run_key")
    template_fields_renderers = {"published": "json"}
    ui_color = "#d6e4ff"

    def __init__(
        self,
        *,
        postgres_conn_id: str,
        profile_name: str,
        published: dict[str, Any] | str,
        model_version: str,
        run_key: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.postgres_conn_id = postgres_conn_id
        self.profile_name = profile_name
        self.published = published
        self.model_version = model_version
        self.run_key = run_key

    def execute(self, context: Context) -> dict[str, Any]:
        from ml.results_postgres import PostgresPublishError, load_predictions

        published = as_dict(self.published)
        partitions = published.get("partitions") or []
        if not partitions or "date" not in partitions[0]:
            raise PostgresPublishError(
                f"publish_results returned no partitions/date ({sorted(published)}): cannot date the batch"
            )
        with closing(_connect(self.postgres_conn_id)) as conn:
            loaded = load_predictions(
                conn,
                list(published.get("files") or []),
                profile=self.profile_name,
                model_version=str(self.model_version),
                scored_date=str(partitions[0]["date"]),
                run_key=str(self.run_key),
            )
        expected = int(published.get("rows") or 0)
        if loaded["rows"] != expected:
            raise PostgresPublishError(
                f"{loaded['rows']} rows read from the result files but publish_results reported {expected}: "
                "the files changed under this run; re-run the batch"
            )
        self.log.info(
            "PostgreSQL %s: batch %s of %s (model %s): %d rows staged, %d upserted, %d stale removed",
            self.postgres_conn_id, self.run_key, self.profile_name, self.model_version,
            loaded["rows"], loaded["upserted"], loaded["removed"],
        )  # fmt: skip
        return loaded


class PublishDriftDecisionToPostgresOperator(BaseOperator):
    """Upsert the drift decisions ``check_drift`` returned into ``nlpops_drift_decisions`` (one row each).

    :param postgres_conn_id: Airflow Postgres connection
    :param profile_name: the dataset profile
    :param decision: the decision dict (templated)
    """

    template_fields: Sequence[str] = ("decision",)
    template_fields_renderers = {"decision": "json"}
    ui_color = "#d6e4ff"

    def __init__(
        self, *, postgres_conn_id: str, profile_name: str, decision: dict[str, Any] | str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.postgres_conn_id = postgres_conn_id
        self.profile_name = profile_name
        self.decision = decision

    def execute(self, context: Context) -> list[str]:
        from ml.results_postgres import load_drift_decision

        summary = as_dict(self.decision)
        # check_drift returns one decision, or a run summary with one decision per batch ("batches")
        decisions = summary["batches"] if isinstance(summary.get("batches"), list) else [summary]
        with closing(_connect(self.postgres_conn_id)) as conn:
            for decision in decisions:
                load_drift_decision(conn, self.profile_name, decision)
                self.log.info("PostgreSQL %s: drift decision %s of %s (%s)", self.postgres_conn_id,
                              decision.get("run_key"), self.profile_name, decision.get("status"))  # fmt: skip
        return [str(d.get("run_key")) for d in decisions]
