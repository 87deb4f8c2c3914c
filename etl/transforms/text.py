"""Pure text transforms of the ETL: Spark DataFrame in, DataFrame out, no I/O.

The order of :func:`clean_text` is deliberate: real tags are stripped first (so ``<br />``
becomes a space), then entities are decoded (so an escaped ``&lt;3`` stays as the text
``<3`` instead of being mistaken for a tag), then Unicode is composed (NFC) and
whitespace is normalised last (decoding can produce new whitespace).

Work is done by built-in Spark functions (JVM, no Python round trip) except HTML entity
decoding and NFC, which Spark has no function for: those run as vectorised Arrow UDFs
that call Python (``html.unescape``, ``unicodedata.normalize``) only on the values that
need it (containing ``&``; not pure ASCII). The hashes are SHA-256 based, so
:func:`content_hash_of` and :func:`split_of` reproduce them in plain Python, on any machine, in any run.

Column names are raw names from the profile (``reviews.text``, CFPB's unnamed ``""``):
every reference goes through :func:`col`, which backtick-quotes the name.
"""

from __future__ import annotations

import hashlib
import html
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf
from pyspark.sql.types import StringType

# The one definition of the text rules is ml/textnorm.py (plain Python, shared with validation and
# the inference handler); its patterns are written in the syntax Java regex and RE2 (DuckDB)
# share, so Spark (and the DuckDB benchmark transform) run the very same strings: a tag (must
# start with a letter, so "I <3 you" survives) or comment → space; whitespace runs → one space;
# control characters, zero-width space and stray BOMs → removed.
from ml.textnorm import CONTENT_HASH_HEX_CHARS, CONTROL_PATTERN, TAG_PATTERN, WHITESPACE_PATTERN, content_hash_of

if TYPE_CHECKING:
    from include.profiles import Profile, SplitSpec

#: Final columns of the processed zone (docs/CONTRACTS.md "Processed"), in order.
OUTPUT_COLUMNS = ("id", "text", "label", "content_hash", "source_uri", "ingest_run", "split")
SPLITS = ("train", "validation", "test")
#: The content hash: ``ml.textnorm.content_hash_of`` (16 hex of SHA-256), computed here by Spark's sha2.
HASH_HEX_CHARS = CONTENT_HASH_HEX_CHARS


def quote(name: str) -> str:
    """``name`` backtick-quoted for Spark (dots and empty names are literal column names)."""
    return "`" + name.replace("`", "``") + "`"


def col(name: str) -> Column:
    """The column called exactly ``name`` (``reviews.rating`` is one column, not a struct field)."""
    return F.col(quote(name))


def _require(df: DataFrame, *names: str) -> None:
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ValueError(
            f"input has no column(s) {missing}; it has {df.columns}. Check the profile's fields "
            "against the validated data (docs/CONTRACTS.md 'Validated')."
        )


# --- text cleaning -------------------------------------------------------------------------


@arrow_udf(StringType())  # type: ignore[call-overload]
def _html_unescape(values: pa.Array) -> pa.Array:
    # Most texts have no entity: decode in Python only the values that contain '&'.
    mask = pc.fill_null(pc.match_substring(values, "&"), False)
    n = pc.sum(mask).as_py() or 0
    if n == 0:
        return values
    decoded = [html.unescape(s) for s in pc.filter(values, mask).to_pylist()]
    return pc.replace_with_mask(values, mask, pa.array(decoded, type=values.type))


@arrow_udf(StringType())  # type: ignore[call-overload]
def _nfc(values: pa.Array) -> pa.Array:
    # Not pc.utf8_normalize: pyarrow 25 returns NFD whatever `form` says (checked 2026-11).
    # ASCII is always NFC, so only the other values go through Python.
    mask = pc.invert(pc.fill_null(pc.string_is_ascii(values), True))
    n = pc.sum(mask).as_py() or 0
    if n == 0:
        return values
    composed = [unicodedata.normalize("NFC", s) for s in pc.filter(values, mask).to_pylist()]
    return pc.replace_with_mask(values, mask, pa.array(composed, type=values.type))


def strip_html_tags(df: DataFrame, column: str) -> DataFrame:
    """Replace HTML tags and comments in ``column`` by a space (``a<br/>b`` → ``a b``)."""
    return df.withColumn(column, F.regexp_replace(col(column), TAG_PATTERN, " "))


def unescape_html(df: DataFrame, column: str) -> DataFrame:
    """Decode HTML entities in ``column`` (``&amp;`` → ``&``, ``&#39;`` → ``'``), like ``html.unescape``."""
    return df.withColumn(column, _html_unescape(col(column)))


def normalize_unicode(df: DataFrame, column: str) -> DataFrame:
    """Compose ``column`` to Unicode NFC (``e`` + combining acute → ``é``), so equal texts hash equal."""
    return df.withColumn(column, _nfc(col(column)))


def normalize_whitespace(df: DataFrame, column: str) -> DataFrame:
    """Newlines, tabs and every Unicode space run → one space; other control characters
    removed; leading/trailing spaces stripped."""
    c = F.regexp_replace(col(column), WHITESPACE_PATTERN, " ")
    c = F.regexp_replace(c, CONTROL_PATTERN, "")
    # Removing a control char may join two spaces: collapse once more, then strip.
    c = F.trim(F.regexp_replace(c, "  +", " "))
    return df.withColumn(column, c)


def clean_text(df: DataFrame, column: str) -> DataFrame:
    """All text cleaning in order: tags, entities, NFC, whitespace."""
    df = strip_html_tags(df, column)
    df = unescape_html(df, column)
    df = normalize_unicode(df, column)
    return normalize_whitespace(df, column)


def combine_text_fields(df: DataFrame, fields: Sequence[str], separator: str, out: str = "text") -> DataFrame:
    """``out`` = the non-empty values of ``fields`` joined by ``separator`` (nulls and '' skipped).

    The Spark form of ``ml.textnorm.combine_text_fields`` (on fields already cleaned by
    :func:`clean_text`); ``tests/unit/test_text_rules_parity.py`` checks they agree on one corpus.
    """
    _require(df, *fields)
    parts = F.array(*[col(f) for f in fields])
    kept = F.filter(parts, lambda p: p.isNotNull() & (p != F.lit("")))
    return df.withColumn(out, F.array_join(kept, separator))


# --- labels ----------------------------------------------------------------------------------


def map_labels(df: DataFrame, profile: Profile, raw: str | None = None, out: str = "label") -> DataFrame:
    """``out`` = the canonical class of the raw label column (``profile.labels``).

    A value outside the label set fails the job (validation should have quarantined the row):
    the error names the value, the source file and line when known, and the profile to fix.
    The check runs inside the query (``raise_error``), so it costs no extra pass over the data.
    """
    raw = raw or profile.fields.label
    _require(df, raw)
    pairs: list[Column] = []
    for key, value in profile.labels.items():
        pairs += [F.lit(key), F.lit(value)]
    value_col = F.trim(col(raw))
    mapped = F.element_at(F.create_map(*pairs), value_col)
    where: list[Column | str] = []
    if "_source_uri" in df.columns:
        where += [" in ", F.coalesce(col("_source_uri"), F.lit("?"))]
    if "_source_line" in df.columns:
        where += [" line ", F.coalesce(col("_source_line").cast("string"), F.lit("?"))]
    message = F.concat(
        F.lit("UnknownLabel: label '"),
        F.coalesce(value_col, F.lit("<null>")),
        F.lit(f"' (column {raw!r})"),
        *[F.lit(w) if isinstance(w, str) else w for w in where],
        F.lit(
            f" is not one of the labels of profile {profile.name!r} ({sorted(profile.labels)}). "
            f"Validation should have quarantined this row: add the value under 'labels:' in "
            f"include/profiles/{profile.name}.yaml or fix the validation suite, then re-run."
        ),
    )
    return df.withColumn(out, F.when(mapped.isNull(), F.raise_error(message)).otherwise(mapped))


# --- hashes, dedup, split -----------------------------------------------------------------


def add_content_hash(df: DataFrame, column: str = "text", out: str = "content_hash") -> DataFrame:
    """``out`` = first 16 hex chars of SHA-256 of ``column`` (UTF-8): stable across runs and machines."""
    return df.withColumn(out, F.substring(F.sha2(col(column), 256), 1, HASH_HEX_CHARS))


def drop_duplicate_texts(
    df: DataFrame,
    key: str = "content_hash",
    order: Sequence[str] = ("_source_uri", "_source_record"),
) -> DataFrame:
    """Keep one row per ``key``: the one with the smallest ``order`` columns (then the rest).

    ``min`` over a struct compares field by field, so the kept row is the same whatever
    the partitioning or the order rows arrive in; ties on ``order`` are broken by the
    remaining columns, which makes the choice total.
    """
    _require(df, key, *order)
    rest = [c for c in df.columns if c != key and c not in order]
    fields = [*order, *rest]
    # Struct field names must not be empty or dotted for `.*` expansion: use positions.
    packed = F.struct(*[col(c).alias(f"f{i}") for i, c in enumerate(fields)])
    kept = df.groupBy(col(key).alias(key)).agg(F.min(packed).alias("_kept"))
    unpacked = kept.select(col(key), *[F.col(f"_kept.f{i}").alias(c) for i, c in enumerate(fields)])
    return unpacked.select(*[col(c) for c in df.columns])


def split_of(content_hash: str, spec: SplitSpec) -> str:
    """The split of one content hash, in plain Python (same rule as :func:`assign_split`)."""
    digest = hashlib.sha256(f"{spec.salt}|{content_hash}".encode()).hexdigest()
    u = int(digest[:8], 16) / 2**32
    if u < spec.train:
        return "train"
    if u < spec.train + spec.validation:
        return "validation"
    return "test"


def assign_split(df: DataFrame, spec: SplitSpec, key: str = "content_hash", out: str = "split") -> DataFrame:
    """``out`` = train/validation/test from a salted SHA-256 of ``key``.

    The split depends only on the content hash and the salt, so a duplicate text can never
    land in two splits and the same text lands in the same split in every run.
    """
    _require(df, key)
    digest = F.sha2(F.concat(F.lit(f"{spec.salt}|"), col(key)), 256)
    u = F.conv(F.substring(digest, 1, 8), 16, 10).cast("double") / F.lit(float(2**32))
    split = (
        F.when(u < F.lit(spec.train), F.lit("train"))
        .when(u < F.lit(spec.train + spec.validation), F.lit("validation"))
        .otherwise(F.lit("test"))
    )
    return df.withColumn(out, split)


# --- the composed stage --------------------------------------------------------------------


@dataclass
class PrepareMetrics:
    """Counts gathered while :func:`prepare` runs (Spark ``Observation``: no extra pass).

    Read :meth:`as_dict` only after an action (e.g. the write) has run the query.
    """

    before_dedup: Observation
    after_dedup: Observation

    def as_dict(self) -> dict[str, Any]:
        """``rows_in``, ``rows_empty_text``, ``rows_out``, ``duplicates_removed``, ``rows_per_split``."""
        before = self.before_dedup.get
        after = self.after_dedup.get
        rows_in = int(before.get("rows_in") or 0)
        empty = int(before.get("rows_empty_text") or 0)
        per_split = {s: int(after.get(s) or 0) for s in SPLITS}
        rows_out = sum(per_split.values())
        return {
            "rows_in": rows_in,
            "rows_empty_text": empty,
            "rows_out": rows_out,
            "duplicates_removed": rows_in - empty - rows_out,
            "rows_per_split": per_split,
        }


def prepare_with_metrics(
    df: DataFrame, profile: Profile, *, ingest_run: str | None = None
) -> tuple[DataFrame, PrepareMetrics]:
    """:func:`prepare`, plus the counts for the manifest (see :class:`PrepareMetrics`)."""
    id_col = "_row_id" if "_row_id" in df.columns else profile.fields.id
    if not id_col:
        raise ValueError(
            f"profile {profile.name!r}: the input has no '_row_id' column and fields.id is null; "
            "prepare reads validated data (docs/CONTRACTS.md 'Validated'), which always has '_row_id'."
        )
    _require(df, id_col, "_source_uri", "_source_record", *profile.fields.text, profile.fields.label)
    if "_ingest_run" in df.columns:
        run_col = col("_ingest_run")
    elif ingest_run:
        run_col = F.lit(ingest_run)
    else:
        raise ValueError("prepare needs the validated run key: a '_ingest_run' column or ingest_run=")

    # Work on fixed internal names so raw names (dots, '') never reach later expressions.
    parts = [f"_t{i}" for i in range(len(profile.fields.text))]
    base = map_labels(df, profile, out="label").select(
        col(id_col).cast("string").alias("id"),
        *[col(f).alias(p) for f, p in zip(profile.fields.text, parts, strict=True)],
        col("label"),
        col("_source_uri").alias("source_uri"),
        col("_source_record").cast("long").alias("_source_record"),
        run_col.cast("string").alias("ingest_run"),
    )
    for p in parts:
        base = clean_text(base, p)
    base = combine_text_fields(base, parts, profile.fields.text_separator, out="text").drop(*parts)

    before = Observation(f"prepare_in_{profile.name}")
    base = base.observe(
        before,
        F.count(F.lit(1)).alias("rows_in"),
        F.sum(F.when(F.col("text") == "", 1).otherwise(0)).alias("rows_empty_text"),
    )
    # A text that was only markup or whitespace has nothing to learn from: counted, then dropped.
    base = add_content_hash(base.where(F.col("text") != ""))
    deduped = drop_duplicate_texts(base, order=("source_uri", "_source_record"))
    out = assign_split(deduped, profile.split).select(*OUTPUT_COLUMNS)

    after = Observation(f"prepare_out_{profile.name}")
    out = out.observe(after, *[F.sum(F.when(F.col("split") == s, 1).otherwise(0)).alias(s) for s in SPLITS])
    return out, PrepareMetrics(before, after)


def prepare(df: DataFrame, profile: Profile, *, ingest_run: str | None = None) -> DataFrame:
    """Validated rows → processed rows: clean and combine the text fields, map labels, hash,
    drop exact duplicates, assign the split.

    Columns out: ``id, text, label, content_hash, source_uri, ingest_run, split``.
    ``ingest_run`` (the validated run key) comes from a ``_ingest_run`` column when the
    input is a union of several validated runs, else from the argument.
    """
    out, _ = prepare_with_metrics(df, profile, ingest_run=ingest_run)
    return out


__all__ = [
    "OUTPUT_COLUMNS",
    "SPLITS",
    "PrepareMetrics",
    "add_content_hash",
    "assign_split",
    "clean_text",
    "col",
    "combine_text_fields",
    "content_hash_of",
    "drop_duplicate_texts",
    "map_labels",
    "normalize_unicode",
    "normalize_whitespace",
    "prepare",
    "prepare_with_metrics",
    "quote",
    "split_of",
    "strip_html_tags",
    "unescape_html",
]
