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

This module is the one definition of three rules every stage shares (validation,
the Spark ETL, the inference handler, docs/CONTRACTS.md); ``tests/unit/test_text_rules_parity.py``
feeds one corpus through every path and compares the outputs:

* the text of a record (:func:`combine_text_fields`): each text field cleaned, the
  non-empty ones joined with the profile's ``text_separator``;
* the content hash of that text (:func:`content_hash_of`), the key of deduplication and
  of label-conflict detection;
* the row id (:func:`row_id`): the profile's id column when it has one, else
  ``sha1(<source URI> NUL <record number> NUL <raw record>)[:16]`` where the raw record is
  the record's text exactly as in the file (UTF-8) **without** its line terminator (a
  trailing ``\n``, ``\r\n`` or ``\r`` is dropped here, so callers may pass it either way).
  Including the source and the 1-based record number makes the id unique per (file,
  record): two identical lines of one file get two ids. Without a source (a request
  to an endpoint) the id is ``sha1(raw record)[:16]``.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

ROW_ID_HEX_CHARS = 16
CONTENT_HASH_HEX_CHARS = 16

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
    if value.isascii() and value.isprintable() and "<" not in value and "&" not in value:
        # The common case, same result: no tag, entity, non-ASCII, control character or
        # whitespace other than the space, so the rules reduce to collapsing and trimming spaces.
        return " ".join(value.split())
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


def _without_terminator(data: bytes) -> bytes:
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    return data


def row_id_hasher(source_uri: str | None = None, record: int | None = None) -> Any:
    """The sha1 state of :func:`row_id` before the raw record is fed (for records read in pieces).

    Feed the record's bytes without its terminator, then take ``hexdigest()[:ROW_ID_HEX_CHARS]``.
    """
    h = hashlib.sha1()  # noqa: S324 - an id, not security
    if source_uri is not None:
        h.update(f"{source_uri}\x00{'' if record is None else int(record)}\x00".encode())
    return h


def row_id(raw_record: str | bytes, *, source_uri: str | None = None, record: int | None = None) -> str:
    """THE row id rule (see the module docstring): unique per (``source_uri``, ``record``, content).

    ``raw_record`` is the record's text as it is in the file; a trailing line terminator is
    ignored. Validation passes the input object's URI and the 1-based record number; the
    inference handler, which sees no file, passes neither unless the record carries them.
    """
    data = raw_record.encode("utf-8", "surrogateescape") if isinstance(raw_record, str) else raw_record
    h = row_id_hasher(source_uri, record)
    h.update(_without_terminator(data))
    return str(h.hexdigest()[:ROW_ID_HEX_CHARS])


def row_id_of(raw_record: str | bytes) -> str:
    """``row_id(raw_record)`` without a source: ``sha1(raw record without terminator)[:16]``."""
    return row_id(raw_record)


def content_hash_of(text: str) -> str:
    """The content hash of a normalised text (:func:`combine_text_fields`): ``sha256(text)[:16]``.

    The Spark ETL computes the same with ``sha2(text, 256)`` (``etl.transforms.text.add_content_hash``).
    """
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:CONTENT_HASH_HEX_CHARS]


__all__ = [
    "CONTROL_PATTERN",
    "CONTROL_RE",
    "TAG_PATTERN",
    "TAG_RE",
    "WHITESPACE_PATTERN",
    "WHITESPACE_RE",
    "clean_text",
    "combine_text_fields",
    "content_hash_of",
    "python_pattern",
    "row_id",
    "row_id_hasher",
    "row_id_of",
]
