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


def test_uci_sentences_tab_separated_unquoted(lake, shared_datasets):
    """No header, no quoting: unbalanced quotes stay text, NEL (U+0085) does not end a line, 850 rows a file."""
    names = [f"uci_sentences/{n}_labelled.txt" for n in ("amazon_cells", "imdb", "yelp")]
    run = validate(profile("uci_sentences"), _files(shared_datasets, *names))
    for name in ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt"):
        assert run.file(name)["rows_in"] == 850, name
    assert run.manifest["rows_in"] == 2_550
    # the three files share a few sentences with different labels: only those are quarantined
    assert run.manifest["rows_quarantined"] == len(run.rows) and len(run.rows) <= 10
    assert all(r["reasons"][0].startswith("label conflict") for r in run.rows)
    assert set(Counter(r["label"] for r in run.valid)) == {"0", "1"}
    quoted = [r["sentence"] for r in run.valid if r["sentence"].count('"') % 2]
    assert quoted, "sentences with an unbalanced quote kept whole"
    assert any("\x85" in r["sentence"] for r in run.valid)
