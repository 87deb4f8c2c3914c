"""The split on thousands of rows: fractions, stability across runs, duplicates in one split."""

from __future__ import annotations

import functools
import random

import pytest

from etl.transforms import text as T
from include.profiles import load_profile
from include.settings import PROJECT_ROOT

pytestmark = pytest.mark.spark

N = 5000


@functools.cache
def _profile():
    return load_profile(PROJECT_ROOT / "include" / "profiles" / "amazon_polarity.yaml")


def _rows(seed: int) -> list[tuple]:
    """N distinct texts in two files, plus 500 re-formatted duplicates (extra spaces, entities)."""
    rng = random.Random(seed)
    words = ["good", "bad", "fast", "slow", "cheap", "broken", "love", "hate", "ok", "great"]
    rows = []
    for i in range(N):
        text = f"review {i} " + " ".join(rng.choice(words) for _ in range(5))
        rows.append((rng.choice("12"), f"title {i}", text, f"r{i}", f"file:///raw/{i % 2}.csv", i + 1, i + 1))
    for j, i in enumerate(rng.sample(range(N), 500)):
        label, title, text, *_ = rows[i]
        rows.append(
            (
                label,
                f" {title}",
                text.replace(" ", "&nbsp;", 1).replace(" ", "  "),
                f"d{j}",
                "file:///raw/9.csv",
                j + 1,
                j + 1,
            )
        )
    return rows


def _df(spark, rows, partitions: int):
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType(
        [StructField(c, StringType()) for c in ("polarity", "title", "text", "_row_id", "_source_uri")]
        + [StructField("_source_record", LongType()), StructField("_source_line", LongType())]
    )
    return spark.createDataFrame(rows, schema).repartition(partitions)


@pytest.fixture(scope="module")
def first_run(spark):
    out, metrics = T.prepare_with_metrics(_df(spark, _rows(0), 3), _profile(), ingest_run="run1")
    rows = {r["content_hash"]: (r["split"], r["text"]) for r in out.collect()}
    return rows, metrics.as_dict()


def test_duplicates_removed_and_counted(first_run):
    rows, metrics = first_run
    assert len(rows) == N
    assert len({text for _, text in rows.values()}) == N
    assert metrics["duplicates_removed"] == 500
    assert metrics["rows_out"] == N
    assert sum(metrics["rows_per_split"].values()) == N


def test_split_fractions_roughly_respected(first_run):
    _, metrics = first_run
    spec = _profile().split
    for split, share in (("train", spec.train), ("validation", spec.validation), ("test", spec.test)):
        got = metrics["rows_per_split"][split] / N
        # 5k draws: the standard error of a 10% share is 0.4 points; allow about 5 sigma.
        assert abs(got - share) < 0.02, (split, got)


def test_split_stable_across_runs(spark, first_run):
    rows, _ = first_run
    shuffled = _rows(0)
    random.Random(1).shuffle(shuffled)
    again = T.prepare(_df(spark, shuffled, 5), _profile(), ingest_run="run2")
    second = {r["content_hash"]: (r["split"], r["text"]) for r in again.collect()}
    assert second == rows
    # and the rule is the documented one, reproducible without Spark
    assert all(split == T.split_of(h, _profile().split) for h, (split, _) in rows.items())


def test_duplicates_never_straddle_splits(spark):
    """Before dedup, every copy of a text already gets the same split (split is a function of the text)."""
    from pyspark.sql import functions as F

    df = _df(spark, _rows(0), 3)
    cleaned = df.select("title", "text")
    for c in ("title", "text"):
        cleaned = T.clean_text(cleaned, c)
    combined = T.combine_text_fields(cleaned, ["title", "text"], " . ")
    split = T.assign_split(T.add_content_hash(combined), _profile().split)
    per_hash = split.groupBy("content_hash").agg(F.count("*").alias("n"), F.countDistinct("split").alias("splits"))
    stats = per_hash.agg(
        F.max("splits").alias("max_splits"), F.sum(F.when(F.col("n") > 1, 1).otherwise(0)).alias("dups")
    ).first()
    assert stats["dups"] == 500
    assert stats["max_splits"] == 1
