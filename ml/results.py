"""The results table: scored records as Parquet, queried with DuckDB (local) or Athena (aws).

:func:`publish_results` reads the ``<input key>.out`` jsonlines of a transform job with
DuckDB and writes one Parquet file per input object at

    results/<profile>/date=<YYYY-MM-DD>/model_version=<v>/<input key hash>-<checksum>.parquet

The name depends only on (input object key, its etag/checksum) and the folder on the model
version, so scoring the same input again replaces the same file (in whatever date folder
it was before) and never duplicates rows. Error records (``error`` in the ``.out`` line)
are not results; they are counted and live in the job's ``errors/`` files.

Every row traces back to its input: ``source_uri`` is the user's input object (not the
staged ``.jsonl`` the transform read), ``source_record`` the 1-based record number in it
(header and preamble lines are not records), ``id`` the row id of ``ml.textnorm.row_id``
(unique per file and record), so ``(source_uri, source_record, model_version)`` is the key
of a prediction.

The SQL lives in ``include/sql/``: ``results_duckdb.sql`` (a view over the files),
``results_athena.sql`` (the external table) and ``queries/*.sql``, written in the SQL that
DuckDB and Athena (Trino) share, with ``${table}`` for the table and ``?`` parameters.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from datetime import date as Date
from pathlib import Path
from string import Template
from typing import Any

SQL_DIR = Path(__file__).resolve().parent.parent / "include" / "sql"
VIEW = "nlpops_results"
#: The shared summary queries, in the order they are reported.
SUMMARY_QUERIES = ("class_distribution_per_day", "low_confidence_share", "volume_per_source_file")
OUT_COLUMNS = (
    "{'id': 'VARCHAR', 'source_uri': 'VARCHAR', 'source_record': 'BIGINT', 'label': 'VARCHAR', "
    "'confidence': 'DOUBLE', 'probabilities': 'MAP(VARCHAR, DOUBLE)', 'model_version': 'VARCHAR', "
    "'error': 'VARCHAR'}"
)
#: Columns of a results file, in order (docs/CONTRACTS.md "Results").
RESULT_COLUMNS = (
    "id",
    "label",
    "confidence",
    "probabilities",
    "source_uri",
    "source_record",
    "source_key",
    "source_etag",
    "job_name",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Per-run batch manifests under the results prefix (not a partition: Athena and DuckDB skip it).
BATCHES_DIR = "_batches"


class ResultsError(ValueError):
    """The results cannot be published or queried; the message names the file or setting."""


def load_sql(name: str, **values: str) -> str:
    """The text of ``include/sql/<name>.sql`` with ``${…}`` placeholders filled from ``values``."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise ResultsError(f"no SQL file {path}")
    try:
        return Template(path.read_text(encoding="utf-8")).substitute(values)
    except KeyError as exc:
        raise ResultsError(f"{path}: placeholder ${{{exc.args[0]}}} needs a value") from None


def results_file_name(key: str, etag: str) -> str:
    """``<sha1(key)[:16]>-<checksum>.parquet``: the same input object always maps to the same file."""
    key_hash = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]  # noqa: S324 - a name, not security
    checksum = _UNSAFE.sub("", etag)[:40] or "nochecksum"
    return f"{key_hash}-{checksum}.parquet"


def _safe_version(version: str) -> str:
    safe = _UNSAFE.sub("-", str(version)).strip("-")
    if not safe:
        raise ResultsError(f"model version {version!r} cannot name a partition folder")
    return safe


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish_results(
    job_output_uri: str,
    inputs: Sequence[Mapping[str, Any]],
    *,
    results_uri: str,
    model_version: str,
    date: Date | str,
    job_name: str = "",
) -> dict[str, Any]:
    """Publish the predictions of a transform job as Parquet under ``results_uri`` (``results/<profile>``).

    ``inputs`` are the objects the job scored (``uri``, ``key``, ``etag``); ``date`` is the
    run's logical date (never "now": a re-run lands in the same partition). Returns
    ``{"files": [{"uri", "rows", "errors", "source_key"}], "rows", "errors"}``.
    """
    import duckdb

    from include import lake

    day = date if isinstance(date, str) else date.isoformat()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        raise ResultsError(f"date={day!r}: use YYYY-MM-DD (the run's logical date)")
    version = _safe_version(model_version)
    partition = lake.join(results_uri, f"date={day}", f"model_version={version}")
    published: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="nlpops-results-") as tmp:
        con = duckdb.connect()
        try:
            for obj in inputs:
                key = str(obj.get("key") or posixpath.basename(str(obj["uri"])))
                out_uri = lake.join(job_output_uri, f"{key}.out")
                if not lake.exists(out_uri):
                    raise ResultsError(f"{out_uri} is missing: was {key!r} scored by job {job_output_uri}?")
                local_out = _local_copy(out_uri, tmp)
                name = results_file_name(key, str(obj.get("etag") or ""))
                staged = os.path.join(tmp, f"{uuid.uuid4().hex}.parquet")
                reader = f"read_json({_quote(local_out)}, format='newline_delimited', columns={OUT_COLUMNS})"
                # A table keeps the file's order in rowid: line i of a .out answers data record i of
                # its input, the record number of inputs that did not carry source_record themselves.
                con.execute(f"CREATE OR REPLACE TEMP TABLE scored AS SELECT * FROM {reader}")  # noqa: S608
                counts = "count(*) FILTER (WHERE error IS NULL), count(*) FILTER (WHERE error IS NOT NULL)"
                rows, errors = con.execute(f"SELECT {counts} FROM scored").fetchone() or (0, 0)  # noqa: S608
                # The user's input object: the staged copy names it (ml.transform_input), else the object itself.
                user_uri = str(obj.get("source_uri") or obj["uri"])
                con.execute(
                    f"""COPY (
                        SELECT id, label, confidence, probabilities,
                               coalesce(source_uri, {_quote(user_uri)}) AS source_uri,
                               coalesce(source_record, rowid + 1) AS source_record,
                               {_quote(key)} AS source_key,
                               {_quote(str(obj.get("etag") or ""))} AS source_etag, {_quote(job_name)} AS job_name
                        FROM scored WHERE error IS NULL ORDER BY rowid
                    ) TO {_quote(staged)} (FORMAT parquet, COMPRESSION zstd)"""  # noqa: S608 - values are quoted
                )
                target = lake.join(partition, name)
                _remove_elsewhere(results_uri, version, name, keep=target)
                _put_file(staged, target)
                published.append({"uri": target, "rows": int(rows), "errors": int(errors), "source_key": key})
        finally:
            con.close()
    return {
        "partition_uri": partition,
        "files": published,
        "rows": sum(f["rows"] for f in published),
        "errors": sum(f["errors"] for f in published),
    }


def _local_copy(uri: str, tmp: str) -> str:
    from include import lake

    if uri.startswith("file://"):
        return lake.local_path(uri)
    fs, path = lake.filesystem(uri)
    local = os.path.join(tmp, f"{uuid.uuid4().hex}.jsonl")
    fs.get_file(path, local)
    return local


def _remove_elsewhere(results_uri: str, version: str, name: str, *, keep: str) -> None:
    """The same input scored by the same model on another day: drop that copy (no duplicate rows)."""
    from include import lake

    fs, root = lake.filesystem(results_uri)
    _, keep_path = lake.filesystem(keep)
    for path in fs.glob(f"{root}/date=*/model_version={version}/{name}"):
        if path.rstrip("/") != keep_path.rstrip("/"):
            fs.rm(path)


def _put_file(local: str, target_uri: str) -> None:
    """Atomic for readers: rename within the target folder locally, one PUT on S3."""
    from include import lake

    fs, path = lake.filesystem(target_uri)
    if target_uri.startswith("file://"):
        parent = posixpath.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = posixpath.join(parent, f".{posixpath.basename(path)}.{uuid.uuid4().hex}.tmp")
        fs.put_file(local, tmp)
        os.replace(tmp, path)
    else:
        fs.put_file(local, path)


def batch_manifest_uri(results_uri: str, run_key: str) -> str:
    """``results/<profile>/_batches/<run key>.json``: which result files one batch inference run wrote."""
    from include import lake

    return lake.join(results_uri, BATCHES_DIR, f"{lake.safe_key(run_key)}.json")


def write_batch_manifest(
    results_uri: str,
    run_key: str,
    published: Mapping[str, Any],
    *,
    model_version: str,
    date: str,
    job_name: str,
    transform_input_uri: str,
) -> str:
    """Record the result files of one run (``published`` from :func:`publish_results`); returns its URI.

    The drift check of a run read by hand (its run key) opens this small JSON instead of
    scanning every results file. A retry of the run rewrites it (one object, one PUT).
    """
    from include import lake

    uri = batch_manifest_uri(results_uri, run_key)
    lake.write_json(
        uri,
        {
            "run_key": run_key,
            "model_version": str(model_version),
            "date": date,
            "job_name": job_name,
            "transform_input_uri": transform_input_uri,
            "partition_uri": published.get("partition_uri"),
            "rows": int(published.get("rows") or 0),
            "errors": int(published.get("errors") or 0),
            "result_files": [f["uri"] for f in published.get("files", [])],
        },
    )
    return uri


def read_batch_manifest(results_uri: str, run_key: str) -> dict[str, Any] | None:
    """The manifest :func:`write_batch_manifest` wrote for ``run_key``, or None if that run wrote none."""
    from include import lake

    uri = batch_manifest_uri(results_uri, run_key)
    if not lake.exists(uri):
        return None
    manifest = lake.read_json(uri)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("result_files"), list):
        raise ResultsError(f"{uri}: not a batch manifest (no result_files list); re-run that batch inference")
    return manifest


def summary_sql(name: str, table: str, *, low_confidence: float | None = None) -> str:
    """A shared summary query of ``include/sql/queries/`` without comments, for ``table``.

    With ``low_confidence`` its ``?`` parameter is written in as a number literal (Athena's
    ``StartQueryExecution`` through the provider takes no parameters); without it the
    ``?`` stays for DuckDB's prepared parameters.
    """
    sql = load_sql(f"queries/{name}", table=table)
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()
    if low_confidence is not None:
        if not 0 < float(low_confidence) < 1:
            raise ResultsError(f"low_confidence={low_confidence}: use a probability between 0 and 1")
        code = code.replace("?", repr(float(low_confidence)))
    return code


def athena_table_names(profile_name: str) -> dict[str, str]:
    """Glue Data Catalog table names of one profile: ``{"results": …, "processed": …}``."""
    return {"results": f"{profile_name}_results", "processed": f"{profile_name}_processed"}


def athena_statements(
    *,
    database: str,
    profile_name: str,
    results_uri: str,
    processed_uri: str,
    partitions: Sequence[Mapping[str, str]] = (),
    low_confidence: float = 0.6,
) -> list[tuple[str, str]]:
    """The Athena statements of one results refresh, in order: ``[(name, sql), …]``.

    Catalog (Glue Data Catalog through Athena DDL): the database, the results and processed
    external tables (``include/sql/*_athena.sql``), the results partitions this run wrote
    (``partitions``: ``{"date", "model_version", "location"}``, added by name, never by a
    scan) and the processed zone's partitions (``MSCK REPAIR TABLE``); then the shared
    summary queries against the results table.
    """
    if not re.fullmatch(r"[a-z0-9_]{1,255}", database):
        raise ResultsError(f"Glue database {database!r}: use lower-case letters, digits and _ (NLPOPS_GLUE_DATABASE)")
    tables = athena_table_names(profile_name)
    results_table = f"{database}.{tables['results']}"
    processed_table = f"{database}.{tables['processed']}"
    statements = [
        ("create_database", f"CREATE DATABASE IF NOT EXISTS {database}"),
        (
            "results_table",
            load_sql("results_athena", database=database, table=tables["results"], location=results_uri.rstrip("/")),
        ),
        (
            "processed_table",
            load_sql(
                "processed_athena", database=database, table=tables["processed"], location=processed_uri.rstrip("/")
            ),
        ),
    ]
    for part in partitions:
        day, version = str(part["date"]), _safe_version(str(part["model_version"]))
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise ResultsError(f"partition date={day!r}: use YYYY-MM-DD")
        location = str(part.get("location") or f"{results_uri.rstrip('/')}/date={day}/model_version={version}")
        where = _quote(location.rstrip("/") + "/")
        statements.append(
            (
                "results_partition",
                f"ALTER TABLE {results_table} ADD IF NOT EXISTS PARTITION "
                f"(`date` = {_quote(day)}, model_version = {_quote(version)}) LOCATION {where}",
            )
        )
    statements.append(("processed_partitions", f"MSCK REPAIR TABLE {processed_table}"))
    statements += [(name, summary_sql(name, results_table, low_confidence=low_confidence)) for name in SUMMARY_QUERIES]
    return statements


def connect_results(results_uri: str, con: Any = None) -> Any:
    """A DuckDB connection with the view ``nlpops_results`` over ``results_uri`` (a ``file://`` URI)."""
    import duckdb

    from include import lake

    con = con or duckdb.connect()
    location = lake.local_path(results_uri).rstrip("/")
    con.execute(load_sql("results_duckdb", table=VIEW, location=location.replace("'", "''")))
    return con


def run_summary_queries(results_uri: str, low_confidence: float = 0.6) -> list[tuple[str, list[dict[str, Any]]]]:
    """Run the shared summary queries on the local results: ``[(name, rows as dicts), …]``.

    ``low_confidence`` is the threshold of the low-confidence share (the profile's
    ``drift.low_confidence``). With no results published yet every query returns no rows.
    """
    from include import lake

    if not 0 < low_confidence < 1:
        raise ResultsError(f"low_confidence={low_confidence}: use a probability between 0 and 1")
    fs, root = lake.filesystem(results_uri)
    if not fs.exists(root) or not fs.glob(f"{root}/**/*.parquet"):
        return [(name, []) for name in SUMMARY_QUERIES]
    con = connect_results(results_uri)
    try:
        out: list[tuple[str, list[dict[str, Any]]]] = []
        for name in SUMMARY_QUERIES:
            code = summary_sql(name, VIEW)
            cur = con.execute(code, [low_confidence] * code.count("?"))
            columns = [d[0] for d in cur.description]
            out.append((name, [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]))
        return out
    finally:
        con.close()


def format_summary(results: list[tuple[str, list[dict[str, Any]]]], max_rows: int = 20) -> str:
    """The summary queries as small plain-text tables, for a task log."""
    lines: list[str] = []
    for name, rows in results:
        lines.append(f"== {name} ({len(rows)} rows)")
        if rows:
            cols = list(rows[0])
            lines.append(" | ".join(cols))
            lines += [" | ".join(str(r[c]) for c in cols) for r in rows[:max_rows]]
    return "\n".join(lines)


__all__ = [
    "BATCHES_DIR",
    "SUMMARY_QUERIES",
    "VIEW",
    "ResultsError",
    "athena_statements",
    "athena_table_names",
    "batch_manifest_uri",
    "connect_results",
    "format_summary",
    "load_sql",
    "publish_results",
    "read_batch_manifest",
    "results_file_name",
    "run_summary_queries",
    "summary_sql",
    "write_batch_manifest",
]
