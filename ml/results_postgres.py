"""Publish scored batches and drift decisions into PostgreSQL for dashboards (optional).

Pure functions over a DB-API connection (psycopg 3 or psycopg2: what Airflow's Postgres
provider hands out); the Airflow side (``nlpops.operators.postgres_publish``) opens it from the
connection ``NLPOPS_RESULTS_POSTGRES_CONN_ID``. No Airflow here.

:func:`load_predictions` reads the batch's result Parquet files with DuckDB, writes them as
CSV and, in **one transaction**: creates the tables if absent (``include/sql/postgres/
schema.sql``), ``COPY``s the rows into a temporary staging table, deletes the rows of the
same input objects and model version that the batch no longer has, and upserts the staged
rows keyed by ``(source_uri, source_record, model_version)``
(``include/sql/postgres/upsert_predictions.sql``). A retry or a re-run therefore rewrites its
rows and never adds a second copy; a failure half-way leaves the table as it was.
:func:`load_drift_decision` upserts one decision keyed by ``(profile, run_key)``.
The dashboard queries are ``include/sql/postgres/queries/*.sql`` (:func:`dashboard_query`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from string import Template
from typing import Any

SQL_DIR = Path(__file__).resolve().parent.parent / "include" / "sql" / "postgres"
TABLE = "nlpops_predictions"
DECISIONS = "nlpops_drift_decisions"
STAGE = "nlpops_predictions_stage"
#: Columns of the staging COPY, in the order the CSV is written.
STAGE_COLUMNS = (
    "source_uri",
    "source_record",
    "model_version",
    "id",
    "profile",
    "label",
    "confidence",
    "probabilities",
    "scored_date",
    "source_key",
    "source_etag",
    "job_name",
    "run_key",
)


class PostgresPublishError(ValueError):
    """The batch or decision cannot be published; the message names the file or value."""


def sql_file(name: str, **values: str) -> str:
    """``include/sql/postgres/<name>.sql`` with ``${…}`` filled from ``values``."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise PostgresPublishError(f"no SQL file {path}")
    return Template(path.read_text(encoding="utf-8")).substitute(values)


def dashboard_query(name: str) -> str:
    """A dashboard query of ``include/sql/postgres/queries/`` (``%(profile)s``-style parameters)."""
    return sql_file(f"queries/{name}")


def ensure_schema(conn: Any) -> None:
    """Create the tables and indexes if absent (idempotent; runs in the caller's transaction)."""
    with closing(conn.cursor()) as cur:
        cur.execute(sql_file("schema"))


def batch_csv(
    result_files: Sequence[str],
    dest: str,
    *,
    profile: str,
    model_version: str,
    scored_date: str,
    run_key: str,
) -> int:
    """Write the rows of ``result_files`` (results Parquet URIs) as staging CSV to ``dest``; returns the row count."""
    import duckdb

    from include import lake

    if not result_files:
        Path(dest).write_bytes(b"")
        return 0
    with tempfile.TemporaryDirectory(prefix="nlpops-pg-") as tmp:
        local: list[str] = []
        for n, uri in enumerate(result_files):
            if not lake.exists(uri):
                raise PostgresPublishError(f"result file {uri} is missing: re-run the batch's publish_results task")
            if uri.startswith("file://"):
                local.append(lake.local_path(uri))
            else:
                fs, path = lake.filesystem(uri)
                local.append(os.path.join(tmp, f"{n}.parquet"))
                fs.get_file(path, local[-1])
        con = duckdb.connect()
        try:
            con.execute("CREATE TEMP TABLE r AS SELECT * FROM read_parquet(?, union_by_name = true)", [local])
            missing = {"id", "label", "confidence", "probabilities", "source_uri", "source_record"} - {
                str(row[0]) for row in con.execute("DESCRIBE r").fetchall()
            }
            if missing:
                raise PostgresPublishError(
                    f"result files {list(result_files)[:3]} lack column(s) {sorted(missing)} "
                    "(docs/CONTRACTS.md, Results)"
                )
            con.execute(
                """CREATE TEMP TABLE staged AS
                   SELECT source_uri, source_record, ?::VARCHAR AS model_version, id, ?::VARCHAR AS profile, label,
                          confidence, to_json(probabilities) AS probabilities, ?::DATE AS scored_date, source_key,
                          source_etag, job_name, ?::VARCHAR AS run_key
                   FROM r""",
                [str(model_version), profile, scored_date, run_key],
            )
            quoted = "'" + dest.replace("'", "''") + "'"
            con.execute(f"COPY staged TO {quoted} (FORMAT csv, HEADER false)")
            count = con.execute("SELECT count(*) FROM r").fetchone()
        finally:
            con.close()
    return int(count[0]) if count else 0


def _copy_in(cur: Any, sql: str, path: str) -> None:
    with open(path, "rb") as fh:
        if hasattr(cur, "copy"):  # psycopg 3
            with cur.copy(sql) as copy:
                while block := fh.read(1 << 20):
                    copy.write(block)
        else:  # psycopg2
            cur.copy_expert(sql, fh)


def load_predictions(
    conn: Any,
    result_files: Sequence[str],
    *,
    profile: str,
    model_version: str,
    scored_date: str,
    run_key: str,
) -> dict[str, int]:
    """Load one scored batch (its result Parquet files) into ``nlpops_predictions``; see the module docstring.

    Returns ``{"rows": staged rows, "upserted": rows inserted or updated, "removed": stale rows deleted}``.
    Commits on success, rolls back on any error (the table is then unchanged).
    """
    with tempfile.TemporaryDirectory(prefix="nlpops-pg-") as tmp:
        csv_path = os.path.join(tmp, "batch.csv")
        rows = batch_csv(
            result_files,
            csv_path,
            profile=profile,
            model_version=model_version,
            scored_date=scored_date,
            run_key=run_key,
        )
        try:
            ensure_schema(conn)
            with closing(conn.cursor()) as cur:
                cur.execute(f"CREATE TEMP TABLE {STAGE} (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DROP")
                _copy_in(cur, f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", csv_path)
                delete_sql, upsert_sql = _statements(sql_file("upsert_predictions", stage=STAGE))
                cur.execute(delete_sql)
                removed = cur.rowcount
                cur.execute(upsert_sql)
                upserted = cur.rowcount
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return {"rows": rows, "upserted": int(upserted), "removed": int(removed)}


def _statements(script: str) -> list[str]:
    """The statements of a script of ours (no ';' inside literals), comments dropped."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def load_drift_decision(conn: Any, profile: str, decision: Mapping[str, Any]) -> None:
    """Upsert one drift decision (``Decision.to_dict()`` plus ``model_version``, ``inference_run_key``,
    ``report``) into ``nlpops_drift_decisions``, keyed by ``(profile, run_key)``; commits."""
    try:
        row = {
            "profile": profile,
            "run_key": str(decision["run_key"]),
            "decided_at": str(decision["time"]),
            "status": str(decision["status"]),
            "retrain": bool(decision["retrain"]),
            "n": int(decision["n"]),
            "model_version": decision.get("model_version"),
            "inference_run_key": decision.get("inference_run_key"),
            "metrics": json.dumps(decision.get("metrics") or {}),
            "metrics_over": list(decision.get("metrics_over") or []),
            "reasons": list(decision.get("reasons") or []),
            "report_uri": decision.get("report"),
        }
    except KeyError as exc:
        raise PostgresPublishError(f"drift decision of {profile!r} lacks {exc}: pass Decision.to_dict()") from None
    if not row["run_key"]:
        raise PostgresPublishError(f"drift decision of {profile!r} has no run_key: it is the key of the row")
    columns = ", ".join(row)
    values = ", ".join(f"%({k})s" for k in row)
    updates = ", ".join(f"{k} = EXCLUDED.{k}" for k in row if k not in {"profile", "run_key"})
    try:
        ensure_schema(conn)
        with closing(conn.cursor()) as cur:
            cur.execute(
                f"INSERT INTO {DECISIONS} ({columns}) VALUES ({values}) "  # noqa: S608 - names are ours
                f"ON CONFLICT ON CONSTRAINT nlpops_drift_decisions_pkey DO UPDATE SET {updates}, loaded_at = now()",
                row,
            )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


__all__ = [
    "DECISIONS",
    "STAGE_COLUMNS",
    "TABLE",
    "PostgresPublishError",
    "batch_csv",
    "dashboard_query",
    "ensure_schema",
    "load_drift_decision",
    "load_predictions",
]
