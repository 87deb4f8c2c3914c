"""The real downloaded files of ../shared/datasets validate with the shipped profiles."""

from __future__ import annotations

import gzip
from collections import Counter

import pytest
from validation_helpers import profile, validate

pytestmark = pytest.mark.realdata


def _files(shared_datasets, *relative: str) -> dict[str, bytes]:
    return {name.rsplit("/", 1)[1]: (shared_datasets / name).read_bytes() for name in relative}


def test_airline_tweets(lake, shared_datasets):
    run = validate(profile("airline_tweets"), _files(shared_datasets, "airline_tweets/Tweets.csv"))
    assert run.manifest["rows_in"] == 12_446
    # 21 tweets repeat a text with another sentiment ("@united thanks": neutral and positive): the
    # latest record's label wins (validation.label_conflicts=latest), the others are quarantined.
    conflicts = run.manifest["label_conflicts"]
    assert (
        conflicts["policy"] == "latest" and conflicts["rows_quarantined"] == 21 and conflicts["gx"]["unexpected_count"]
    )
    assert run.manifest["rows_valid"] == 12_425 and len(run.rows) == 21
    assert all(r["reasons"][0].startswith("label conflict") for r in run.rows)
    assert Counter(r["airline_sentiment"] for r in run.valid) == {"negative": 7804, "neutral": 2617, "positive": 2004}


def test_amazon_ratings(lake, shared_datasets):
    name = "amazon_ratings/Datafiniti_Amazon_Consumer_Reviews_of_Amazon_Products.csv"
    run = validate(profile("amazon_ratings"), _files(shared_datasets, name))
    assert run.manifest["rows_in"] == 4_244 and run.manifest["rows_quarantined"] == 0
    assert Counter(r["reviews.rating"] for r in run.valid) == {"1": 57, "2": 46, "3": 168, "4": 1025, "5": 2948}
    assert "id" in run.valid[0]  # the BOM is not part of the first column name


def test_cfpb_consumer_complaints(lake, shared_datasets):
    run = validate(profile("cfpb_complaints"), _files(shared_datasets, "cfpb_complaints/Consumer_Complaints.csv"))
    assert run.manifest["rows_in"] == 3_357 and run.manifest["rows_valid"] == 3_357


def test_cfpb_complaints_sample_without_narratives(lake, shared_datasets):
    # The shipped profile's own breaker threshold (0.9) is used: 77% quarantined is expected here.
    prof = profile("cfpb_complaints", max_quarantine_rate=0.9)
    run = validate(prof, _files(shared_datasets, "cfpb_complaints/complaints_sample.csv"))
    entry = run.file("complaints_sample.csv")
    assert entry["rows_in"] == 5_622 and entry["rows_quarantined"] == 4_324 and entry["rows_valid"] == 1_298
    assert entry["notes"] == ["skipped 2 preamble record(s) before the header"]
    assert {r for row in run.rows for r in row["reasons"]} == {
        "expect_column_values_to_not_be_null(_text): text (Consumer complaint narrative) is null/empty"
    }


def test_gzipped_real_file_gives_the_same_rows(lake, shared_datasets):
    source = shared_datasets / "airline_tweets" / "Tweets.csv"
    run = validate(profile("airline_tweets"), {"Tweets.csv.gz": gzip.compress(source.read_bytes(), 1)})
    assert run.manifest["rows_valid"] == 12_425 and run.manifest["label_conflicts"]["rows_quarantined"] == 21
