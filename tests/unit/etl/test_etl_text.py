"""Each text transform alone, then the composed ``prepare`` on tiny DataFrames."""

from __future__ import annotations

import re

import pytest

from etl.transforms import text as T
from include.profiles import load_profile
from include.settings import PROJECT_ROOT

pytestmark = pytest.mark.spark

PROFILES = PROJECT_ROOT / "include" / "profiles"


def _profile(name: str):
    return load_profile(PROFILES / f"{name}.yaml")


def _strings(spark, name: str, values: list[str | None]):
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField("k", StringType()), StructField(name, StringType())])
    return spark.createDataFrame([(str(i), v) for i, v in enumerate(values)], schema)


def _apply(spark, fn, values: list[str | None]) -> list[str | None]:
    df = fn(_strings(spark, "t", values), "t")
    return [r["t"] for r in df.orderBy(df["k"].cast("int")).collect()]


def _validated(spark, columns: list[str], rows: list[tuple]):
    """A validated-zone-like DataFrame: raw columns (any names) + the four metadata columns."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    meta = [
        StructField("_row_id", StringType()),
        StructField("_source_uri", StringType()),
        StructField("_source_record", LongType()),
        StructField("_source_line", LongType()),
    ]
    schema = StructType([StructField(c, StringType()) for c in columns] + meta)
    return spark.createDataFrame(rows, schema)


def test_strip_html_tags(spark):
    out = _apply(
        spark,
        T.strip_html_tags,
        ["a<br/>b", '<p class="x">hi</p>', "I <3 you", "a < b > c", "x<!-- note\n -->y", None],
    )
    assert out == ["a b", " hi ", "I <3 you", "a < b > c", "x y", None]


def test_unescape_html(spark):
    out = _apply(spark, T.unescape_html, ["Tom &amp; Jerry", "it&#39;s", "&lt;3", "no entity", "&nbsp;", None])
    assert out == ["Tom & Jerry", "it's", "<3", "no entity", "\u00a0", None]


def test_normalize_unicode_composes_to_nfc(spark):
    decomposed = "Cafe\u0301 cre\u0300me"
    out = _apply(spark, T.normalize_unicode, [decomposed, "plain", None])
    assert out == ["Café crème", "plain", None]
    assert out[0] != decomposed


def test_normalize_whitespace(spark):
    out = _apply(
        spark,
        T.normalize_whitespace,
        ["  a\n\nb\tc\u00a0d  ", "line1\r\nline2", "bell\x07 and\x00nul", "zero\u200bwidth", "\n \t", None],
    )
    assert out == ["a b c d", "line1 line2", "bell andnul", "zerowidth", "", None]


def test_clean_text_order_keeps_escaped_markup_as_text(spark):
    out = _apply(spark, T.clean_text, ["&lt;b&gt;bold&lt;/b&gt; <i>real</i>\n tag", "A&amp;B<br />e\u0301"])
    assert out == ["<b>bold</b> real tag", "A&B é"]


def test_combine_text_fields_skips_empty_parts(spark):
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField("reviews.title", StringType()), StructField("reviews.text", StringType())])
    df = spark.createDataFrame([("Great", "Works well"), ("", "Only text"), (None, "Null title"), ("T", "")], schema)
    out = T.combine_text_fields(df, ["reviews.title", "reviews.text"], " . ")
    assert [r["text"] for r in out.collect()] == ["Great . Works well", "Only text", "Null title", "T"]


def test_map_labels_to_canonical(spark):
    df = _validated(
        spark,
        ["polarity", "title", "text"],
        [("1", "a", "b", "r1", "f.csv", 1, 1), ("2 ", "c", "d", "r2", "f.csv", 2, 3)],
    )
    out = T.map_labels(df, _profile("amazon_polarity"))
    assert [r["label"] for r in out.orderBy("_source_record").collect()] == ["negative", "positive"]


def test_map_labels_unknown_fails_loudly_naming_the_row(spark):
    df = _validated(
        spark,
        ["polarity", "title", "text"],
        [("1", "a", "b", "r1", "file:///l/raw/x.csv", 1, 1), ("7", "c", "d", "r2", "file:///l/raw/x.csv", 2, 9)],
    )
    with pytest.raises(Exception, match=r"label '7'.*file:///l/raw/x.csv line 9.*amazon_polarity"):
        T.map_labels(df, _profile("amazon_polarity")).collect()


def test_content_hash_is_16_hex_and_matches_python(spark):
    texts = ["hello world", "Café", "😀 emoji"]
    out = T.add_content_hash(_strings(spark, "text", texts)).orderBy("k").collect()
    for row, text in zip(out, texts, strict=True):
        assert re.fullmatch(r"[0-9a-f]{16}", row["content_hash"])
        assert row["content_hash"] == T.content_hash_of(text)
    # Pinned value: a change of hash function would silently re-split every dataset.
    assert T.content_hash_of("hello world") == "b94d27b9934d3e08"


def test_drop_duplicate_texts_keeps_smallest_source(spark):
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType(
        [
            StructField("content_hash", StringType()),
            StructField("_source_uri", StringType()),
            StructField("_source_record", LongType()),
            StructField("id", StringType()),
        ]
    )
    rows = [
        ("h1", "file:///b.csv", 1, "b1"),
        ("h1", "file:///a.csv", 5, "a5"),
        ("h1", "file:///a.csv", 2, "a2"),
        ("h2", "file:///b.csv", 3, "b3"),
    ]
    for parts in (1, 3):  # the kept row must not depend on partitioning or arrival order
        df = spark.createDataFrame(list(reversed(rows)) if parts == 3 else rows, schema).repartition(parts)
        out = {r["content_hash"]: r["id"] for r in T.drop_duplicate_texts(df).collect()}
        assert out == {"h1": "a2", "h2": "b3"}
        assert T.drop_duplicate_texts(df).columns == df.columns


def test_assign_split_matches_python_rule(spark):
    spec = _profile("amazon_polarity").split
    hashes = [T.content_hash_of(f"text {i}") for i in range(200)]
    df = T.assign_split(_strings(spark, "content_hash", hashes), spec)
    got = {r["content_hash"]: r["split"] for r in df.collect()}
    assert got == {h: T.split_of(h, spec) for h in hashes}
    assert set(got.values()) == {"train", "validation", "test"}


def test_prepare_dotted_columns_amazon_ratings(spark):
    profile = _profile("amazon_ratings")
    cols = list(profile.input.columns)
    base = dict.fromkeys(cols, "x")

    def row(rating, title, text, rec):
        r = dict(base, **{"reviews.rating": rating, "reviews.title": title, "reviews.text": text})
        return (*[r[c] for c in cols], f"id{rec}", "file:///raw/r.csv", rec, rec + 1)

    df = _validated(spark, cols, [row("5", "Love it", "Works &amp; charges<br />fast", 1), row("1", "", "Broke", 2)])
    out = T.prepare(df, profile, ingest_run="20260101T000000")
    assert out.columns == list(T.OUTPUT_COLUMNS)
    got = sorted((r["id"], r["text"], r["label"], r["ingest_run"]) for r in out.collect())
    assert got == [
        ("id1", "Love it . Works & charges fast", "5", "20260101T000000"),
        ("id2", "Broke", "1", "20260101T000000"),
    ]


def test_prepare_cfpb_unnamed_column(spark):
    profile = _profile("cfpb_complaints")
    df = _validated(
        spark,
        ["", "Product", "Consumer complaint narrative"],
        [
            ("0", "Mortgage", "My  mortgage\nservicer lost my payment", "r0", "file:///raw/c.csv", 1, 2),
            ("1", "Credit card", "Charged twice for one purchase", "r1", "file:///raw/c.csv", 2, 3),
        ],
    )
    out = T.prepare(df, profile, ingest_run="k")
    got = sorted((r["label"], r["text"]) for r in out.collect())
    assert got == [  # the old product name maps onto the 2017 taxonomy (include/profiles/cfpb_complaints.yaml)
        ("Credit card or prepaid card", "Charged twice for one purchase"),
        ("Mortgage", "My mortgage servicer lost my payment"),
    ]


def test_prepare_dedups_across_files_and_counts(spark):
    profile = _profile("amazon_polarity")
    rows = [
        ("2", "Nice", "Good  product", "r1", "file:///raw/b.csv", 1, 1),
        ("2", "Nice", "Good&nbsp;product", "r2", "file:///raw/a.csv", 7, 12),  # same text once normalised
        ("2", " Nice", "Good\nproduct ", "r3", "file:///raw/a.csv", 9, 15),
        ("1", "Bad", "Broke in a day", "r4", "file:///raw/a.csv", 1, 1),
        ("1", "<br/>", " ", "r5", "file:///raw/a.csv", 2, 2),  # only markup: empty after cleaning
    ]
    out, metrics = T.prepare_with_metrics(
        _validated(spark, ["polarity", "title", "text"], rows), profile, ingest_run="k"
    )
    result = {r["text"]: (r["id"], r["source_uri"]) for r in out.collect()}
    assert result == {
        "Nice . Good product": ("r2", "file:///raw/a.csv"),
        "Bad . Broke in a day": ("r4", "file:///raw/a.csv"),
    }
    m = metrics.as_dict()
    assert (m["rows_in"], m["rows_empty_text"], m["rows_out"], m["duplicates_removed"]) == (5, 1, 2, 2)
    assert sum(m["rows_per_split"].values()) == 2


def test_prepare_needs_the_ingest_run(spark):
    df = _validated(spark, ["polarity", "title", "text"], [("1", "a", "b", "r1", "f", 1, 1)])
    with pytest.raises(ValueError, match="ingest_run"):
        T.prepare(df, _profile("amazon_polarity"))


def test_prepare_missing_text_column_names_it(spark):
    df = _validated(spark, ["polarity", "title"], [("1", "a", "r1", "f", 1, 1)])
    with pytest.raises(ValueError, match=r"no column\(s\) \['text'\]"):
        T.prepare(df, _profile("amazon_polarity"), ingest_run="k")
