"""Text normalisation and row ids in plain Python, for scoring (no Spark, no Airflow).

This module mirrors ``etl/transforms/text.py`` (the Spark ETL) rule for rule, so a text
is scored exactly as the model saw it in training:

1. each text field is cleaned on its own (:func:`clean_text`): HTML tags and comments
   become a space, then entities are decoded (``html.unescape``), then Unicode is
   composed (NFC), then whitespace runs become one space, other control characters
   are removed, and the result is stripped;
2. the cleaned, non-empty fields are joined with the profile's ``text_separator``
   (:func:`combine_text_fields`).

The ETL's Java/RE2 pattern strings are copied here verbatim and translated to Python
``re`` by :func:`python_pattern`; ``tests/unit/ml/test_inference_textnorm.py`` compares
the copies with the ETL's strings, so a change there fails a test here.

Row ids follow the validation contract (docs/CONTRACTS.md "Validated"): the profile's id
column when it has one, else ``sha1(raw record)[:16]`` where the raw record is the
record's text exactly as in the file (UTF-8), without its line terminator.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Sequence

ROW_ID_HEX_CHARS = 16

# The ETL's pattern strings, copied verbatim (Java regex / RE2 syntax); a test compares them.
TAG_PATTERN = r"<!--[\s\S]*?-->|</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>"
WHITESPACE_PATTERN = (
    r"[ \t\n\r\f\x{000B}\x{0085}\x{00A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]+"
)
CONTROL_PATTERN = r"[\x{0000}-\x{0008}\x{000E}-\x{001F}\x{007F}-\x{0084}\x{0086}-\x{009F}\x{200B}\x{FEFF}]"


def python_pattern(java_pattern: str) -> str:
    """A Java/RE2 pattern of the ETL in Python ``re`` syntax: ``\\x{HHHH}`` → ``\\uHHHH``;
    Java's ``\\s`` is ASCII whitespace only (Python's is Unicode), so ``(?:\\s`` is spelled out."""
    out = re.sub(r"\\x\{([0-9A-Fa-f]{4})\}", r"\\u\1", java_pattern)
    return out.replace(r"(?:\s", r"(?:[ \t\n\x0b\f\r]")


TAG_RE = re.compile(python_pattern(TAG_PATTERN))
WHITESPACE_RE = re.compile(python_pattern(WHITESPACE_PATTERN))
CONTROL_RE = re.compile(python_pattern(CONTROL_PATTERN))
_SPACES_RE = re.compile("  +")


def clean_text(value: str | None) -> str | None:
    """One text field cleaned as the ETL's ``clean_text`` does; ``None`` stays ``None``."""
    if value is None:
        return None
    text = TAG_RE.sub(" ", value)
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    text = WHITESPACE_RE.sub(" ", text)
    text = CONTROL_RE.sub("", text)
    # Spark's trim() strips the space character only; every other whitespace is a space by now.
    return _SPACES_RE.sub(" ", text).strip(" ")


def combine_text_fields(values: Sequence[str | None], separator: str) -> str:
    """The cleaned, non-empty ``values`` joined by ``separator`` (as the ETL's ``combine_text_fields``)."""
    cleaned = (clean_text(v) for v in values)
    return separator.join(c for c in cleaned if c)


def row_id_of(raw_record: str | bytes) -> str:
    """``sha1(raw record)[:16]``: the stable id of a record that has no id column.

    ``raw_record`` is the record's text as it is in the file, without its line terminator.
    """
    data = raw_record.encode("utf-8") if isinstance(raw_record, str) else raw_record
    return hashlib.sha1(data).hexdigest()[:ROW_ID_HEX_CHARS]  # noqa: S324 - an id, not security


__all__ = [
    "CONTROL_PATTERN",
    "CONTROL_RE",
    "TAG_PATTERN",
    "TAG_RE",
    "WHITESPACE_PATTERN",
    "WHITESPACE_RE",
    "clean_text",
    "combine_text_fields",
    "python_pattern",
    "row_id_of",
]
