"""Every bad kind of raw file and row, validated in one run of a shared lake (one GX run, fast).

Each test looks at its own file of the bundle; the conservation rules are checked for the
whole run in ``validation_helpers.read_run``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from validation_helpers import Run, profile, validate

from include import lake as lake_mod
from include.settings import get_settings

GOOD = b'1,"Bad","It broke after a day"\n2,"Great","Works as described"\n'
EMOJI_TEXT = "😀 très bien — 日本語のレビュー, Привет, مرحبا"
FILES = {
    "good.csv": GOOD,
    "empty.csv": b"",
    "cols.csv": b'1,"t","body text"\n2,"only two"\n1,"a","b c",extra\n',
    "label_0.csv": b'0,"title","a fine body"\n',
    "label_3.csv": b'3,"title","a fine body"\n',
    "label_pos.csv": b'pos,"title","a fine body"\n',
    "nolabel.csv": b',"title","a fine body"\n',
    "null.csv": b"1,,\n" + GOOD,
    "blank.csv": b'1,"  ","\t  "\n' + GOOD,
    "big.csv": b'2,"title","' + b"x" * 1_000_000 + b'"\n' + GOOD,
    "short.csv": b'7,"","a"\n',
    "latin.csv": GOOD + b'1,"caf\xe9","latin-1 slipped in"\n' + GOOD,
    "image.csv": bytes(range(256)) * 8,
    "archive.csv": b"PK\x03\x04" + b"\x00" * 100,
    "reviews.csv": gzip.compress(GOOD),
    "reviews.csv.gz": gzip.compress(GOOD * 3),
    "plain.csv.gz": GOOD,
    "quote.csv": b'1,"ok","fine text"\n2,"oops, body text\n1,t,never seen\n',
    "midquote.csv": b'1,"ok","fine text"\n2,"bad"x,"y"\n1,"t","still read"\n',
    "newlines.csv": b'1,"t","line one\nline two\r\nline three"\n2,"t","next row"\n',
    "crlf.csv": GOOD.replace(b"\n", b"\r\n"),
    "nul.csv": b'1,"ti\x00tle","body text"\n' + GOOD + GOOD,
    "cut.csv": GOOD + b'1,"truncat',
    "cut2.csv": GOOD + b"1,title only",
    "nonl.csv": GOOD.rstrip(b"\n"),
    "données clients été 2024.csv": GOOD,
    "intl.csv": f'2,"👍 ok","{EMOJI_TEXT}"\n'.encode(),
}
PARTIAL = "partial last record: the file does not end with a newline (truncated upload?)"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("bundle") / "lake"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NLPOPS_LAKE_URI", root.as_uri())
        get_settings.cache_clear()
        yield validate(profile(), FILES)
    get_settings.cache_clear()


def whole(run: Run, name: str) -> str:
    entry = run.file(name)
    assert entry["status"] == "quarantined_whole"
    assert entry["rows_in"] == entry["rows_quarantined"] == 1 and entry["rows_valid"] == 0
    return entry["reason"]


def quarantine_files(run: Run) -> Path:
    return Path(lake_mod.local_path(run.quarantine_uri), "files")


def test_every_file_is_accounted_for(run):
    assert len(run.manifest["files"]) == len(FILES)
    assert run.manifest["rows_in"] == sum(f["rows_in"] for f in run.manifest["files"])
    assert "quarantined_whole" in run.manifest["counting_rule"]


def test_valid_file_rows_and_metadata(run):
    good = run.valid_of("good.csv")
    assert run.file("good.csv")["status"] == "ok" and len(good) == 2
    first = good[0]
    assert (first["polarity"], first["title"], first["text"]) == ("1", "Bad", "It broke after a day")
    assert first["_source_record"] == 1 and first["_source_line"] == 1
    assert first["_source_uri"].endswith("/raw/amazon_polarity/good.csv")
    assert len(first["_row_id"]) == 16 and first["_row_id"] != good[1]["_row_id"]


def test_zero_byte_file_quarantined_whole(run):
    assert "empty file (0 bytes)" in whole(run, "empty.csv")
    (reason_file,) = quarantine_files(run).glob("*_empty.csv.reason.json")
    assert json.loads(reason_file.read_text())["reason"] == run.file("empty.csv")["reason"]


def test_wrong_column_count(run):
    assert run.reasons(2, "cols.csv") == ["wrong column count: expected 3, got 2"]
    assert run.reasons(3, "cols.csv") == ["wrong column count: expected 3, got 4"]
    assert run.file("cols.csv")["rows_valid"] == 1


@pytest.mark.parametrize("label", ["0", "3", "pos"])
def test_label_outside_the_set(run, label):
    (row,) = run.rows_of(f"label_{label}.csv")
    (reason,) = row["reasons"]
    assert reason.startswith("expect_column_values_to_be_in_set(polarity)") and "['1', '2']" in reason
    assert row["raw"] == f'{label},"title","a fine body"\n'


def test_empty_label_is_null(run):
    (reason,) = run.reasons(1, "nolabel.csv")
    assert reason.startswith("expect_column_values_to_not_be_null(polarity)")


def test_null_text(run):
    assert run.reasons(1, "null.csv") == [
        "expect_column_values_to_not_be_null(_text): text (title, text) is null/empty"
    ]
    assert run.file("null.csv")["rows_valid"] == 2


def test_blank_text(run):
    reasons = run.reasons(1, "blank.csv")
    assert reasons[0] == "expect_column_values_to_not_match_regex(_text): text (title, text) is blank (only whitespace)"
    assert run.file("blank.csv")["rows_valid"] == 2


def test_text_of_one_megabyte_is_too_long(run):
    (reason,) = run.reasons(1, "big.csv")
    assert reason.startswith("expect_column_value_lengths_to_be_between(_text)") and "3..20000" in reason


def test_all_failed_rules_are_listed(run):
    reasons = run.reasons(1, "short.csv")
    assert len(reasons) == 2
    assert "be_in_set" in reasons[0] and "lengths_to_be_between" in reasons[1]


def test_non_utf8_bytes_quarantine_the_row_not_the_file(run):
    assert run.file("latin.csv")["status"] == "ok" and run.file("latin.csv")["rows_valid"] == 4
    (row,) = run.rows_of("latin.csv")
    assert row["record"] == 3 and row["line"] == 3
    assert row["reasons"] == ["expect_column_values_to_not_match_regex(_raw): non-UTF-8 bytes in the record"]
    assert "caf\\xe9" in row["raw"]


def test_binary_file_named_csv_refused_whole(run):
    assert whole(run, "image.csv").startswith("binary file:")
    assert "ZIP archive" in whole(run, "archive.csv")


def test_gzip_named_csv_refused_with_rename_hint(run):
    assert "rename it to 'reviews.csv.gz'" in whole(run, "reviews.csv")
    (copy,) = quarantine_files(run).glob("*_reviews.csv")
    assert gzip.decompress(copy.read_bytes()) == GOOD


def test_real_csv_gz_is_stream_decompressed(run):
    assert run.file("reviews.csv.gz")["status"] == "ok" and run.file("reviews.csv.gz")["rows_valid"] == 6


def test_csv_gz_that_is_not_gzip(run):
    assert "not gzip data" in whole(run, "plain.csv.gz")


def test_unbalanced_quote_takes_the_rest_of_the_file(run):
    assert run.file("quote.csv")["rows_in"] == 2 and run.file("quote.csv")["rows_valid"] == 1
    (row,) = run.rows_of("quote.csv")
    assert row["reasons"] == ["unbalanced quote: a quoted field is not closed before the end of the file"]
    assert row["line"] == 2 and row["raw"] == '2,"oops, body text\n1,t,never seen\n'


def test_malformed_quote_mid_file_only_costs_its_record(run):
    assert run.file("midquote.csv")["rows_valid"] == 2
    assert run.reasons(2, "midquote.csv")[0].startswith("malformed CSV:")


def test_embedded_newlines_are_valid(run):
    rows = run.valid_of("newlines.csv")
    assert len(rows) == 2 and rows[0]["text"] == "line one\nline two\r\nline three"
    assert rows[1]["_source_record"] == 2 and rows[1]["_source_line"] == 4


def test_crlf_line_endings(run):
    rows = run.valid_of("crlf.csv")
    assert [r["text"] for r in rows] == ["It broke after a day", "Works as described"]
    assert rows[1]["_source_line"] == 2


def test_nul_byte(run):
    assert run.file("nul.csv")["status"] == "ok"
    assert run.reasons(1, "nul.csv") == ["expect_column_values_to_not_match_regex(_raw): NUL byte in the record"]


def test_partial_last_record(run):
    assert run.reasons(3, "cut.csv") == [
        "unbalanced quote: a quoted field is not closed before the end of the file",
        PARTIAL,
    ]
    assert run.reasons(3, "cut2.csv") == ["wrong column count: expected 3, got 2", PARTIAL]


def test_last_line_without_newline_is_fine_when_complete(run):
    assert run.file("nonl.csv")["rows_valid"] == 2 and not run.rows_of("nonl.csv")


def test_file_name_with_spaces_and_non_ascii(run):
    entry = run.file("données clients été 2024.csv")
    assert entry["status"] == "ok" and entry["rows_valid"] == 2


def test_emoji_and_non_latin_text(run):
    (row,) = run.valid_of("intl.csv")
    assert row["text"] == EMOJI_TEXT and row["title"] == "👍 ok"


def test_report_json_and_data_docs(run):
    report_dir = Path(lake_mod.local_path(run.report_uri))
    report = json.loads((report_dir / "validation.json").read_text())
    assert report["manifest"] == run.manifest and report["suite"] == "amazon_polarity"
    by_type = {(e["type"], e["column"]): e for e in report["expectations"]}
    in_set = by_type[("expect_column_values_to_be_in_set", "polarity")]
    assert in_set["success"] is False and in_set["unexpected_count"] == 4  # 0, 3, pos, 7
    assert by_type[("expect_table_columns_to_match_set", None)]["success"] is True
    index = report_dir / "data_docs" / "index.html"
    assert run.manifest["report_uri"] == index.as_uri() and index.stat().st_size > 1000
    assert list((report_dir / "data_docs" / "validations").rglob("*.html"))
    # Published: each output carries the run's manifest.
    for uri in (run.validated_uri, run.quarantine_uri, run.report_uri):
        assert json.loads(Path(lake_mod.local_path(uri), "_manifest.json").read_text()) == run.manifest
