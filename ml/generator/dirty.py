"""A directory of bad (and tricky but valid) raw files, with a catalogue of what is wrong where.

Realistic shape: most files are mostly good rows with a few bad records inside. The
catalogue ``_dirty_catalog.json`` (leading underscore: the sensor ignores it) lists per
file its kind, the records written, the 1-based numbers of the bad records (data
records, header and preamble excluded) and the physical line each starts on (header
counted), the expected reason keyword, and the scope of the expected outcome:
``rows`` (quarantine those records), ``file`` (refuse the whole file) or ``none``
(valid; duplicates are listed separately as ``duplicate_records``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from include.profiles import Profile
from ml.generator.core import BLOCK_ROWS, iter_blocks, resolve_profile
from ml.generator.knobs import DriftKnobs
from ml.generator.layouts import GeneratorError, Layout, layout_for

CATALOG_NAME = "_dirty_catalog.json"
#: Every kind of input the corpus covers, in file order.
DIRTY_KINDS = (
    "zero_byte",
    "header_only",
    "wrong_column_count",
    "label_out_of_set",
    "null_text",
    "blank_text",
    "huge_text",
    "non_utf8",
    "binary_named_csv",
    "gzip_named_csv",
    "valid_csv_gz",
    "unbalanced_quote",
    "embedded_newlines",
    "utf8_bom",
    "crlf_endings",
    "nul_bytes",
    "duplicate_rows",
    "partial_last_line",
    "non_ascii_file_name",
    "symlink_outside",
    "emoji_non_latin",
)
HUGE_TEXT_CHARS = 1_048_576
NON_ASCII_NAME = "Bewertungen März 2026 – café Ω.csv"


@dataclass(frozen=True)
class DirtyFile:
    """One file of the dirty corpus and what a validator should conclude about it."""

    name: str
    kind: str
    rows: int  # data records written (header/preamble excluded)
    scope: str  # "none" | "rows" | "file"
    reason: str  # expected reason keyword ("" when valid)
    bad_records: tuple[int, ...] = ()
    bad_lines: tuple[int, ...] = ()
    duplicate_records: tuple[int, ...] = ()
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.scope == "none"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("bad_records", "bad_lines", "duplicate_records"):
            d[key] = list(d[key])
        return d


Record = Sequence[str] | bytes  # a row to csv-encode, or raw bytes written as they are


class _Writer:
    """Renders records in a layout's dialect and remembers on which line each starts."""

    def __init__(self, layout: Layout, *, bom: bool | None = None, lineterminator: str | None = None) -> None:
        self.layout = layout
        self.bom = layout.bom if bom is None else bom
        self.lt = lineterminator or layout.lineterminator

    def _row(self, row: Sequence[str]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator=self.lt, quoting=self.layout.quoting).writerow(row)
        return buf.getvalue().encode("utf-8")

    def render(self, records: list[Record], *, header: bool = True) -> tuple[bytes, list[int]]:
        head = b"\xef\xbb\xbf" if self.bom else b""
        head += self.layout.preamble.encode("utf-8")
        if header and self.layout.header:
            head += self._row(list(self.layout.columns))
        line = head.count(b"\n") + 1
        parts, starts = [head], []
        for rec in records:
            data = rec if isinstance(rec, bytes) else self._row(rec)
            starts.append(line)
            line += data.count(b"\n")
            parts.append(data)
        return b"".join(parts), starts


def _good_rows(profile: Profile, layout: Layout, n: int, seed: int) -> list[list[str]]:
    from ml.generator.core import class_priors

    priors = class_priors(layout, profile.classes, None, dict(profile.labels))
    rows: list[list[str]] = []
    for block in iter_blocks(profile, layout, n, seed=seed, priors=priors, knobs=DriftKnobs(), label_noise=0.0):
        data = layout.build(block)
        rows.extend([list(r) for r in zip(*(data[c] for c in layout.columns), strict=True)])
    return rows


def generate_dirty_corpus(
    profile: Profile | str,
    dest_dir: Path | str,
    *,
    seed: int,
    rows_per_file: int = 50,
    outside_dir: Path | str | None = None,
    variant: str | None = None,
) -> list[DirtyFile]:
    """Write one file per kind of :data:`DIRTY_KINDS` into ``dest_dir`` plus the catalogue.

    ``outside_dir`` holds the target of the escaping symlink; it defaults to the sibling
    ``_<dest_dir name>_outside``. When ``dest_dir`` is inside a lake, pass a directory
    outside the lake so the symlink really escapes it.
    """
    prof = resolve_profile(profile)
    if rows_per_file < 10:
        raise GeneratorError(f"rows_per_file={rows_per_file} must be >= 10 (bad rows sit among good ones)")
    if rows_per_file > BLOCK_ROWS:
        raise GeneratorError(f"rows_per_file={rows_per_file} must be <= {BLOCK_ROWS}")
    layout = layout_for(prof, variant)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    outside = Path(outside_dir) if outside_dir is not None else dest.parent / f"_{dest.name}_outside"
    cols = list(layout.columns)
    label_i = cols.index(layout.label_column)
    text_i = [cols.index(c) for c in prof.fields.text]
    main_text = text_i[-1]
    writer = _Writer(layout)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xD1127]))
    n = rows_per_file
    out: list[DirtyFile] = []

    def rows(k: int) -> list[list[str]]:
        # distinct good rows per file: each file gets its own seed
        return _good_rows(prof, layout, n, seed * 1000 + k)

    def spots(count: int) -> list[int]:
        # positions (0-based) of bad records: inside the file, never first or last
        return sorted(rng.choice(np.arange(1, n - 1), size=count, replace=False).tolist())

    def save(
        kind: str,
        name: str,
        data: bytes,
        recs: int,
        scope: str,
        reason: str,
        bad: list[int],
        starts: list[int],
        **kw: Any,
    ) -> None:
        (dest / name).write_bytes(data)
        out.append(
            DirtyFile(
                name=name,
                kind=kind,
                rows=recs,
                scope=scope,
                reason=reason,
                bad_records=tuple(i + 1 for i in bad),
                bad_lines=tuple(starts[i] for i in bad),
                **kw,
            )
        )

    def with_bad(kind: str, k: int, count: int, corrupt: Any, reason: str, note: str = "") -> None:
        good = rows(k)
        bad = spots(count)
        recs: list[Record] = list(good)
        for j, i in enumerate(bad):
            recs[i] = corrupt(list(good[i]), j)
        data, starts = writer.render(recs)
        save(kind, f"{k:02d}_{kind}.csv", data, len(recs), "rows", reason, bad, starts, note=note)

    def valid(kind: str, k: int, name: str, recs: list[Record], w: _Writer | None = None, **kw: Any) -> None:
        data, starts = (w or writer).render(recs)
        save(kind, name, data, len(recs), "none", "", [], starts, **kw)

    for k, kind in enumerate(DIRTY_KINDS):
        name = f"{k:02d}_{kind}.csv"
        if kind == "zero_byte":
            save(kind, name, b"", 0, "file", "empty", [], [])
        elif kind == "header_only":
            data, _ = writer.render([])
            if not layout.header:
                data = b"\n"  # a header-less profile: a file with nothing but a line break
            save(kind, name, data, 0, "file", "empty", [], [])
        elif kind == "wrong_column_count":
            with_bad(kind, k, 3, lambda r, j: r[:-1] if j % 2 == 0 else [*r, "extra"], "columns")
        elif kind == "label_out_of_set":
            wrong = [v for v in ("0", "3", "pos", "6", "-1", "unknown") if v not in prof.labels][:3]

            def relabel(r: list[str], j: int, wrong: list[str] = wrong) -> list[str]:
                r[label_i] = wrong[j % len(wrong)]
                return r

            with_bad(kind, k, 3, relabel, "label")
        elif kind in ("null_text", "blank_text"):
            fill = "" if kind == "null_text" else "   \t "

            def blank(r: list[str], j: int, fill: str = fill) -> list[str]:
                for i in text_i:
                    r[i] = fill
                return r

            with_bad(kind, k, 3, blank, "text")
        elif kind == "huge_text":

            def huge(r: list[str], j: int) -> list[str]:
                base = (r[main_text] or "filler text") + " "
                r[main_text] = (base * (HUGE_TEXT_CHARS // len(base) + 1))[:HUGE_TEXT_CHARS]
                return r

            with_bad(kind, k, 1, huge, "length", note=f"one text of {HUGE_TEXT_CHARS} characters")
        elif kind == "non_utf8":

            def latin1(r: list[str], j: int) -> bytes:
                r[main_text] = r[main_text] + " café crème à la carte"
                return writer._row(r).decode("utf-8").encode("latin-1", errors="replace")

            with_bad(kind, k, 2, latin1, "encoding", note="records encoded latin-1; the rest of the file is UTF-8")
        elif kind == "binary_named_csv":
            blob = bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tolist())
            save(kind, name, b"\x89PNG\r\n\x1a\n\x00\x00" + blob, 0, "file", "binary", [], [])
        elif kind == "gzip_named_csv":
            data, _ = writer.render(list(rows(k)))
            save(kind, name, gzip.compress(data, mtime=0), n, "file", "gzip", [], [], note="gzip bytes named .csv")
        elif kind == "valid_csv_gz":
            data, starts = writer.render(list(rows(k)))
            save(kind, f"{k:02d}_{kind}.csv.gz", gzip.compress(data, mtime=0), n, "none", "", [], starts)
        elif kind == "unbalanced_quote":
            good = rows(k)
            last = writer._row(good[-1]).decode("utf-8")
            # the quote opened before the text is never closed: a parser reads to end of file
            opened = last.rstrip("\r\n").rsplit(",", 1)[0] + ',"unterminated quote starts here and never ends\n'
            recs: list[Record] = [*good[:-1], opened.encode("utf-8")]
            data, starts = writer.render(recs)
            save(kind, name, data, len(recs), "rows", "quote", [len(recs) - 1], starts)
        elif kind == "embedded_newlines":
            good = rows(k)
            for i in range(0, n, 3):
                good[i][main_text] = (
                    good[i][main_text].replace(". ", ".\n", 2) + "\n\nSecond paragraph, still one record."
                )
            valid(kind, k, name, list(good))
        elif kind == "utf8_bom":
            valid(kind, k, name, list(rows(k)), _Writer(layout, bom=True))
        elif kind == "crlf_endings":
            valid(kind, k, name, list(rows(k)), _Writer(layout, lineterminator="\r\n"))
        elif kind == "nul_bytes":

            def nul(r: list[str], j: int) -> list[str]:
                r[main_text] = r[main_text][:10] + "\x00\x00" + r[main_text][10:]
                return r

            with_bad(kind, k, 2, nul, "nul")
        elif kind == "duplicate_rows":
            good = rows(k)
            # even positions only: the copied neighbour (odd) is never itself replaced
            dup_pos = sorted(rng.choice(np.arange(2, n - 1, 2), size=5, replace=False).tolist())
            recs2: list[Record] = list(good)
            for p in dup_pos:
                recs2[p] = list(good[p - 1])  # an exact copy of the record before it
            data, starts = writer.render(recs2)
            save(kind, name, data, len(recs2), "none", "duplicate", [], starts,
                 duplicate_records=tuple(p + 1 for p in dup_pos))  # fmt: skip
        elif kind == "partial_last_line":
            good = rows(k)
            cut = writer._row(good[-1])
            # cut on a byte boundary, then drop a split multi-byte character: still valid UTF-8
            head = cut[: max(8, int(len(cut) * 0.6))].decode("utf-8", errors="ignore")
            truncated = head.rstrip("\r\n").encode("utf-8")
            recs = [*good[:-1], truncated]
            data, starts = writer.render(recs)
            save(kind, name, data, len(recs), "rows", "truncated", [len(recs) - 1], starts,
                 note="last record cut mid-way, no trailing newline")  # fmt: skip
        elif kind == "non_ascii_file_name":
            valid(kind, k, NON_ASCII_NAME, list(rows(k)))
        elif kind == "symlink_outside":
            outside.mkdir(parents=True, exist_ok=True)
            target = outside / "outside_target.csv"
            data, _ = writer.render(list(rows(k)))
            target.write_bytes(data)
            link = dest / name
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(target.resolve(), link)
            out.append(DirtyFile(name, kind, n, "file", "symlink", note=f"symlink to {target.resolve()}"))
        elif kind == "emoji_non_latin":
            good = rows(k)
            tokens = ("😀👍", "✈️ 東京まで", "Ελληνικά κείμενο", "текст на русском", "مرحبا", "🙂 naïve café", "한국어")
            for i, r in enumerate(good):
                r[main_text] = f"{r[main_text]} {tokens[i % len(tokens)]}"
            valid(kind, k, name, list(good))
        else:  # pragma: no cover - DIRTY_KINDS and this chain are kept in step
            raise AssertionError(kind)

    catalog = {
        "profile": prof.name,
        "variant": variant,
        "seed": seed,
        "rows_per_file": rows_per_file,
        "record_numbering": "1-based data records; header and preamble lines are not records",
        "line_numbering": "1-based physical lines of the file, header and preamble included",
        "files": [f.to_dict() for f in out],
    }
    (dest / CATALOG_NAME).write_text(
        json.dumps(catalog, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8"
    )
    return out
