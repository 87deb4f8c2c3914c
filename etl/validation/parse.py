"""Streaming RFC-4180 parsing of one raw file into records that remember where they came from.

Python's ``csv`` module does the parsing (``strict=True``); a tap on the line iterator
keeps each record's raw text and start line. Bytes are decoded as UTF-8 with
``surrogateescape`` so an invalid byte marks its row (caught by the suite) instead of
failing the file. A BOM is always stripped: it is never data.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from etl.validation.sniff import is_gzip_name
from include import lake
from include.profiles import Profile

#: Largest field the csv module accepts. A runaway unbalanced quote stops here with a
#: row-level reason instead of reading the whole file into one field.
FIELD_SIZE_LIMIT = 64 * 1024 * 1024
SURROGATES = re.compile("[\udc80-\udcff]")
#: Stands in for undecodable bytes in what GX sees (pyarrow strings refuse lone
#: surrogates); U+FFFF is a Unicode noncharacter that never occurs in real text.
INVALID_MARK = "\uffff"
#: Records a header-less file's column layout is chosen from (the majority of them fit it).
LAYOUT_LOOKAHEAD = 1000

REASON_PARTIAL = "partial last record: the file does not end with a newline (truncated upload?)"
REASON_UNBALANCED = "unbalanced quote: a quoted field is not closed before the end of the file"
REASON_NUL = "NUL byte in the record"
REASON_NON_UTF8 = "non-UTF-8 bytes in the record"


@dataclass
class Record:
    """One CSV record: 1-based number in the file, start line, raw text, fields or parse reasons."""

    record: int
    line: int
    raw: str
    fields: list[str] | None
    reasons: list[str] = field(default_factory=list)
    #: True for the last record of a file that does not end with a newline.
    unterminated: bool = False


class HeaderMismatch(ValueError):
    """No accepted column layout was found where the header should be."""


@dataclass(frozen=True)
class Layout:
    """The columns a file turned out to have, and how many lines of preamble preceded them."""

    columns: tuple[str, ...]
    preamble_records: int = 0
    has_header: bool = True


def accepted_layouts(profile: Profile, require_label: bool) -> list[tuple[str, ...]]:
    """Column layouts a file may have: the profile's, its alternates, and for inference the same without label."""
    layouts = [tuple(profile.input.columns), *(tuple(c) for c in profile.input.alternate_columns)]
    if not require_label:
        label = profile.fields.label
        layouts += [tuple(c for c in lay if c != label) for lay in layouts]
    return list(dict.fromkeys(layouts))


def csv_options(profile: Profile) -> dict[str, object]:
    opts: dict[str, object] = {"delimiter": profile.input.delimiter, "strict": True}
    if profile.input.format == "tsv" and profile.input.delimiter == ",":
        opts["delimiter"] = "\t"
    if profile.input.quoting == "none":
        opts["quoting"] = csv.QUOTE_NONE
    return opts


@contextmanager
def open_text(uri: str, key: str) -> Iterator[io.TextIOWrapper]:
    """Open ``uri`` as text (gzip stream-decompressed for ``.gz``), undecodable bytes kept as surrogates."""
    fs, path = lake.filesystem(uri)
    with fs.open(path, "rb") as raw:
        binary = gzip.GzipFile(fileobj=raw) if is_gzip_name(key or path) else raw
        # utf-8-sig strips a BOM if there is one; newline="" as the csv module requires.
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            yield text
        finally:
            text.detach()
            if binary is not raw:
                binary.close()


class _LineTap:
    """Iterates lines for the csv reader and keeps those of the current record."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.buffer: list[str] = []
        self.lines_read = 0
        self.last_line = ""

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.buffer.append(line)
        self.lines_read += 1
        self.last_line = line
        return line

    def take(self) -> str:
        raw = "".join(self.buffer)
        self.buffer.clear()
        return raw


def raw_reasons(raw: str) -> list[str]:
    """Byte-level reasons of a record that the csv module could not split (the suite checks the rest)."""
    reasons = []
    if "\x00" in raw:
        reasons.append(REASON_NUL)
    if SURROGATES.search(raw):
        reasons.append(REASON_NON_UTF8)
    return reasons


def iter_records(text: io.TextIOWrapper, profile: Profile) -> Iterator[Record]:
    """Every non-empty record of the stream, in order, with its parse reasons (if any).

    A csv error (bad quoting) makes that record a quarantined one and parsing goes on with
    the next line; at end of file inside a quoted field the remainder is one record.
    Blank lines carry no data and are skipped.
    """
    csv.field_size_limit(FIELD_SIZE_LIMIT)
    tap = _LineTap(iter(text))
    reader = csv.reader(tap, **csv_options(profile))  # type: ignore[arg-type]
    number = 0
    pending: Record | None = None
    while True:
        start = tap.lines_read + 1
        try:
            fields: list[str] | None = next(reader)
            reason = ""
        except StopIteration:
            break
        except csv.Error as exc:
            fields = None
            msg = str(exc)
            reason = REASON_UNBALANCED if "unexpected end of data" in msg else f"malformed CSV: {msg}"
        raw = tap.take()
        if fields == []:
            continue
        number += 1
        rec = Record(number, start, raw, fields, [reason, *raw_reasons(raw)] if reason else [])
        if pending is not None:
            yield pending
        pending = rec
    if pending is not None:
        pending.unterminated = not tap.last_line.endswith(("\n", "\r"))
        yield pending


def detect_layout(records: Iterator[Record], profile: Profile, require_label: bool) -> tuple[Layout, list[Record]]:
    """Find the header (or, without header, the column count) and return the records read ahead.

    Returns the layout and the data records consumed while looking (to be validated first).
    Raises :class:`HeaderMismatch` naming the expected and found headers.
    """
    layouts = accepted_layouts(profile, require_label)
    if not profile.input.header:
        return _headerless_layout(records, layouts)
    seen: list[Record] = []
    for rec in records:
        seen.append(rec)
        found = tuple(f.strip() for f in rec.fields) if rec.fields is not None else None
        if found is not None:
            for lay in layouts:
                if found == tuple(c.strip() for c in lay):
                    return Layout(lay, len(seen) - 1), []
        if len(seen) > profile.input.header_search_lines:
            break
    found_desc = [r.fields if r.fields is not None else r.raw[:200] for r in seen[:3]]
    raise HeaderMismatch(
        "header matches no accepted column layout of profile "
        f"{profile.name!r}: expected one of {[list(x) for x in layouts]}, found {found_desc} "
        f"(searched the first {profile.input.header_search_lines + 1} records); fix the export or add "
        f"the layout to input.alternate_columns in include/profiles/{profile.name}.yaml"
    )


def _headerless_layout(records: Iterator[Record], layouts: list[tuple[str, ...]]) -> tuple[Layout, list[Record]]:
    """The layout of a file whose profile says "no header": from the profile, never from the first row.

    A first record equal to an accepted layout's column names is a header line: it is not
    data (``has_header`` is set, so it is neither numbered nor counted as a row) and names
    the layout. Otherwise the layout is the accepted one that most of the first
    :data:`LAYOUT_LOOKAHEAD` records fit (ties: the profile's order), so a malformed first
    record is quarantined like any other instead of deciding how the good ones are read.
    """
    ahead = list(itertools.islice(records, LAYOUT_LOOKAHEAD))
    if not ahead:
        return Layout(layouts[0], 0, has_header=False), []
    first = ahead[0].fields
    if first is not None:
        names = tuple(f.strip() for f in first)
        for lay in layouts:
            if names == tuple(c.strip() for c in lay):
                return Layout(lay, 0, has_header=True), ahead[1:]
    widths = [len(r.fields) for r in ahead if r.fields is not None and not r.reasons]
    chosen = layouts[0]
    best = 0
    for lay in layouts:
        count = sum(1 for w in widths if w == len(lay))
        if count > best:
            chosen, best = lay, count
    return Layout(chosen, 0, has_header=False), ahead


def parse_reasons(rec: Record, layout: Layout) -> list[str]:
    """Every parse-level reason of ``rec`` under ``layout`` (empty = the record can be validated).

    A wrong width adds the byte-level reasons too (the suite never sees such a record), and
    a malformed last record of a file without a final newline is also a partial record.
    """
    reasons = list(rec.reasons)
    if rec.fields is not None and len(rec.fields) != len(layout.columns):
        reasons.append(f"wrong column count: expected {len(layout.columns)}, got {len(rec.fields)}")
        reasons += raw_reasons(rec.raw)
    if reasons and rec.unterminated:
        reasons.append(REASON_PARTIAL)
    return reasons
