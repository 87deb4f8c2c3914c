"""ml/textnorm.py mirrors the ETL's text cleaning (etl/transforms/text.py) and the row-id rule."""

from __future__ import annotations

import hashlib
import re

import pytest

from ml import textnorm
from ml.textnorm import CONTROL_RE, TAG_RE, WHITESPACE_RE, clean_text, combine_text_fields, row_id_of


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Great<br />product", "Great product"),  # tags become a space
        ("I &lt;3 it &amp; more", "I <3 it & more"),  # entities decoded after tags: "<3" survives
        ("a < b and c > d", "a < b and c > d"),  # not tags
        ("<!-- hidden\ncomment -->shown", "shown"),
        ("Cafe\u0301 ok", "Caf\u00e9 ok"),  # NFC
        ("  line one\r\n\tline\u00a0two\u2028 ", "line one line two"),  # every whitespace run → one space
        ("zero\u200bwidth\ufeff and \x07bell", "zerowidth and bell"),  # control chars removed
        ("a \x01 b", "a b"),  # removing a control char does not leave a double space
        ("&nbsp;", ""),
        ("@united ✈️ 😡", "@united ✈️ 😡"),
    ],
)
def test_clean_text_hand_cases(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_combine_skips_empty_and_null_fields() -> None:
    assert combine_text_fields(["Title", None, "<p>Body</p>"], " . ") == "Title . Body"
    assert combine_text_fields(["", "<br>"], " . ") == ""
    assert clean_text(None) is None


def test_row_id_is_sha1_of_the_raw_record() -> None:
    raw = '2,"Great","multi\nline"'
    assert row_id_of(raw) == hashlib.sha1(raw.encode()).hexdigest()[:16]
    assert row_id_of(raw.encode()) == row_id_of(raw)


def test_patterns_are_the_etl_patterns() -> None:
    from etl.transforms import text  # imports pyspark, starts no session

    assert textnorm.TAG_PATTERN == text.TAG_PATTERN
    assert textnorm.WHITESPACE_PATTERN == text.WHITESPACE_PATTERN
    assert textnorm.CONTROL_PATTERN == text.CONTROL_PATTERN


def test_translated_patterns_behave_like_java() -> None:
    assert re.fullmatch(TAG_RE, '<a href="x">') and not re.fullmatch(TAG_RE, "<a\u00a0x>")
    assert WHITESPACE_RE.fullmatch("\u000b\u3000\u2009") and not WHITESPACE_RE.search("\u200b")
    assert CONTROL_RE.fullmatch("\u0000") and CONTROL_RE.fullmatch("\ufeff") and not CONTROL_RE.search("\n")
