"""Where one record of a delimited text file ends: the one quote-aware splitter of scoring.

SageMaker Batch Transform's ``SplitType=Line`` cuts a file at line ends; a CSV record
whose quoted field holds a newline must not be cut there. The rule (RFC 4180): a newline
ends a record when the number of ``"`` before it, counted from the record's start, is
even (an escaped quote ``""`` counts twice, so the parity holds). With ``quoting=False``
(JSON lines, or a profile with ``quoting: none``) every newline ends a record.

Used by the batch transform (``ml/transform.py``: cutting a stream into requests) and by
the inference handler (``ml/inference.py``: splitting a request into records), so a
request boundary and a record boundary can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator


def first_record_end(buf: bytes, start: int, quotes: int, quoting: bool) -> tuple[int, int]:
    """``(end, quotes)``: the index just after the first record-ending newline at or after ``start``.

    ``quotes`` is the number of quotes already seen in the current record. ``end`` is -1
    when ``buf`` holds no record end; ``quotes`` then counts the quotes up to its end.
    """
    pos = start
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return -1, quotes + (buf.count(b'"', pos) if quoting else 0)
        if quoting:
            quotes += buf.count(b'"', pos, nl)
        if quotes % 2 == 0:
            return nl + 1, quotes
        pos = nl + 1


def last_record_end(buf: bytes, limit: int, quoting: bool) -> int:
    """Length of the longest prefix of ``buf`` (at most ``limit`` bytes) made of whole records (0 = none).

    ``buf`` must start at a record boundary.
    """
    nl = buf.rfind(b"\n", 0, limit)
    if not quoting or nl < 0:
        return nl + 1
    quotes = buf.count(b'"', 0, nl)
    while nl >= 0 and quotes % 2:
        prev = buf.rfind(b"\n", 0, nl)
        quotes -= buf.count(b'"', prev + 1, nl)
        nl = prev
    return nl + 1


def split_records(body: bytes, *, quoting: bool = True) -> Iterator[tuple[int, bytes, bool]]:
    """Split ``body`` into records: ``(start line, record bytes without terminator, complete)``.

    ``complete`` is False for a last record whose quote is never closed. Blank lines are
    not records. Line numbers are 1-based within ``body``.
    """
    if not quoting or b'"' not in body:
        # Every newline ends a record: one split, no quote counting.
        for line, record in enumerate(body.split(b"\n"), start=1):
            if record.endswith(b"\r"):
                record = record[:-1]
            if record.strip():
                yield line, record, True
        return
    # A record spans lines while its quote count is odd (the rule of first_record_end).
    pieces = body.split(b"\n")
    last = len(pieces) - 1
    i = 0
    while i <= last:
        line = i + 1
        record = pieces[i]
        quotes = record.count(b'"')
        i += 1
        if quotes % 2:
            parts = [record]
            while quotes % 2 and i <= last:
                parts.append(pieces[i])
                quotes += pieces[i].count(b'"')
                i += 1
            record = b"\n".join(parts)
        if record.endswith(b"\r"):
            record = record[:-1]
        if record.strip():
            yield line, record, quotes % 2 == 0


__all__ = ["first_record_end", "last_record_end", "split_records"]
