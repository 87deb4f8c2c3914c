"""The ETL's ``prepare`` expressed in DuckDB SQL, for the Spark-vs-DuckDB benchmark.

Same rules as ``etl.transforms.text`` (the regex patterns are imported from it; Java
regex and RE2 share that syntax), so both engines must produce the same rows: the
benchmark checks it. HTML entity decoding has no DuckDB function, so it is a vectorised
Python (Arrow) UDF calling ``html.unescape`` as in Spark; NFC is DuckDB's built-in
``nfc_normalize``.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pyarrow as pa  # at module level: DuckDB evaluates the UDF's annotations
import pyarrow.compute as pc

from etl.transforms.text import CONTROL_PATTERN, HASH_HEX_CHARS, TAG_PATTERN, WHITESPACE_PATTERN

if TYPE_CHECKING:
    import duckdb

    from include.profiles import Profile


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unescape(values: pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):  # DuckDB hands over chunked arrays
        values = values.combine_chunks()
    mask = pc.fill_null(pc.match_substring(values, "&"), False)
    if not (pc.sum(mask).as_py() or 0):
        return values
    decoded = [html.unescape(s) for s in pc.filter(values, mask).to_pylist()]
    return pc.replace_with_mask(values, mask, pa.array(decoded, type=values.type))


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Register the ``py_html_unescape`` UDF (not ``html_unescape``: that name autoloads the inet extension)."""
    from duckdb.sqltypes import VARCHAR

    con.create_function("py_html_unescape", _unescape, [VARCHAR], VARCHAR, type="arrow", side_effects=False)


def _clean(expr: str) -> str:
    e = f"regexp_replace({expr}, {_sql_str(TAG_PATTERN)}, ' ', 'g')"
    e = f"nfc_normalize(py_html_unescape({e}))"
    e = f"regexp_replace({e}, {_sql_str(WHITESPACE_PATTERN)}, ' ', 'g')"
    e = f"regexp_replace({e}, {_sql_str(CONTROL_PATTERN)}, '', 'g')"
    return f"trim(regexp_replace({e}, '  +', ' ', 'g'))"


def prepare_sql(profile: Profile, source: str, ingest_run: str) -> str:
    """A SELECT giving the processed rows (id, text, label, content_hash, source_uri, ingest_run, split)."""
    sep = _sql_str(profile.fields.text_separator)
    parts = ", ".join(f"NULLIF({_clean(_ident(f))}, '')" for f in profile.fields.text)
    cases = " ".join(f"WHEN {_sql_str(k)} THEN {_sql_str(v)}" for k, v in profile.labels.items())
    label = (
        f"CASE trim({_ident(profile.fields.label)}) {cases} "
        f"ELSE error('UnknownLabel: ' || coalesce({_ident(profile.fields.label)}, '<null>')"
        " || ' in ' || _source_uri) END"
    )
    s = profile.split
    u = f"CAST('0x' || substr(sha256({_sql_str(s.salt + '|')} || content_hash), 1, 8) AS UBIGINT) / 4294967296.0"
    return f"""
WITH cleaned AS (
  SELECT CAST(_row_id AS VARCHAR) AS id, concat_ws({sep}, {parts}) AS text, {label} AS label,
         _source_uri AS source_uri, _source_record
  FROM {source}
), hashed AS (
  SELECT *, substr(sha256(text), 1, {HASH_HEX_CHARS}) AS content_hash FROM cleaned WHERE text <> ''
), kept AS (
  SELECT * FROM hashed
  QUALIFY row_number() OVER (PARTITION BY content_hash ORDER BY source_uri, _source_record, id, label) = 1
)
SELECT id, text, label, content_hash, source_uri, {_sql_str(ingest_run)} AS ingest_run,
       CASE WHEN {u} < {s.train} THEN 'train'
            WHEN {u} < {s.train + s.validation} THEN 'validation' ELSE 'test' END AS split
FROM kept
"""


def run(con: duckdb.DuckDBPyConnection, profile: Profile, input_glob: str, output_dir: str, ingest_run: str) -> Any:
    """Read validated Parquet at ``input_glob``, prepare, write Parquet partitioned by split."""
    register(con)
    source = f"read_parquet({_sql_str(input_glob)})"
    sql = prepare_sql(profile, source, ingest_run)
    con.execute(f"COPY ({sql}) TO {_sql_str(output_dir)} (FORMAT parquet, PARTITION_BY (split), OVERWRITE_OR_IGNORE)")
    written = _sql_str(output_dir + "/*/*.parquet")
    return con.sql(f"SELECT split, count(*) FROM read_parquet({written}, hive_partitioning=true) GROUP BY 1").fetchall()
