"""The dirty corpus and its catalogue, and the command line of the generator."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path

import pytest

from include.profiles import get_profile
from ml.generator import CATALOG_NAME, DIRTY_KINDS, generate_dirty_corpus
from ml.generator.__main__ import build_parser, main

csv.field_size_limit(10_000_000)  # the huge_text kind holds a 1 MB field


def _parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("profile", ["amazon_polarity", "amazon_ratings", "cfpb_complaints", "airline_tweets"])
def test_dirty_corpus_covers_every_kind_and_catalogue_is_true(tmp_path: Path, profile: str):
    prof = get_profile(profile)
    dest = tmp_path / "lake" / "raw" / profile / "dirty"
    files = generate_dirty_corpus(prof, dest, seed=5, rows_per_file=30, outside_dir=tmp_path / "outside")
    catalog = json.loads((dest / CATALOG_NAME).read_text(encoding="utf-8"))
    assert [f["kind"] for f in catalog["files"]] == list(DIRTY_KINDS) == [f.kind for f in files]
    by_kind = {f.kind: f for f in files}
    for f in files:
        path = dest / f.name
        assert path.is_symlink() or path.is_file(), f.name
        assert (f.scope == "none") == (f.reason in ("", "duplicate")), f
        if f.scope == "rows":
            assert f.bad_records and len(f.bad_records) == len(f.bad_lines)
    hdr = 1 if prof.input.header else 0
    cols = list(prof.input.columns)
    label_i = cols.index(prof.fields.label)
    text_i = [cols.index(c) for c in prof.fields.text]

    assert (dest / by_kind["zero_byte"].name).stat().st_size == 0
    # rows-level kinds: the catalogued records are exactly the bad ones
    wrong = by_kind["wrong_column_count"]
    rows = _parse((dest / wrong.name).read_bytes())[hdr:]
    assert len(rows) == wrong.rows
    assert [i + 1 for i, r in enumerate(rows) if len(r) != len(cols)] == list(wrong.bad_records)
    lab = by_kind["label_out_of_set"]
    rows = _parse((dest / lab.name).read_bytes())[hdr:]
    assert [i + 1 for i, r in enumerate(rows) if r[label_i] not in prof.labels] == list(lab.bad_records)
    for kind in ("null_text", "blank_text"):
        f = by_kind[kind]
        rows = _parse((dest / f.name).read_bytes())[hdr:]
        assert [i + 1 for i, r in enumerate(rows) if not "".join(r[i] for i in text_i).strip()] == list(f.bad_records)
    huge = by_kind["huge_text"]
    rows = _parse((dest / huge.name).read_bytes())[hdr:]
    assert [i + 1 for i, r in enumerate(rows) if len(r[text_i[-1]]) >= 1_000_000] == list(huge.bad_records)
    # bad_lines point at the physical line where the record starts
    lines = (dest / lab.name).read_bytes().split(b"\n")
    for rec, line in zip(lab.bad_records, lab.bad_lines, strict=True):
        assert any(v.encode() in lines[line - 1] for v in ("0", "3", "pos", "6")), (rec, line)
    raw = (dest / by_kind["non_utf8"].name).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"\x00" in (dest / by_kind["nul_bytes"].name).read_bytes()
    assert (dest / by_kind["gzip_named_csv"].name).read_bytes()[:2] == b"\x1f\x8b"
    valid_gz = by_kind["valid_csv_gz"]
    assert valid_gz.name.endswith(".csv.gz")
    assert len(_parse(gzip.decompress((dest / valid_gz.name).read_bytes()))) == valid_gz.rows + hdr
    assert not (dest / by_kind["partial_last_line"].name).read_bytes().endswith(b"\n")
    assert (dest / by_kind["utf8_bom"].name).read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (dest / by_kind["crlf_endings"].name).read_bytes()
    dup = by_kind["duplicate_rows"]
    rows = _parse((dest / dup.name).read_bytes())[hdr:]
    assert all(rows[r - 1] == rows[r - 2] for r in dup.duplicate_records)
    link = dest / by_kind["symlink_outside"].name
    assert link.is_symlink() and not Path(os.path.realpath(link)).is_relative_to(dest.resolve())
    assert " " in by_kind["non_ascii_file_name"].name and not by_kind["non_ascii_file_name"].name.isascii()
    # the valid kinds parse cleanly with the right width
    for kind in ("embedded_newlines", "emoji_non_latin", "non_ascii_file_name"):
        f = by_kind[kind]
        rows = _parse((dest / f.name).read_bytes())[hdr:]
        assert len(rows) == f.rows and all(len(r) == len(cols) for r in rows), kind


def test_dirty_corpus_is_deterministic_and_rerunnable(tmp_path: Path):
    a = generate_dirty_corpus("amazon_polarity", tmp_path / "a", seed=1, outside_dir=tmp_path / "o")
    b = generate_dirty_corpus("amazon_polarity", tmp_path / "b", seed=1, outside_dir=tmp_path / "o")
    assert a == b
    for f in a:
        if f.kind != "symlink_outside":
            assert (tmp_path / "a" / f.name).read_bytes() == (tmp_path / "b" / f.name).read_bytes()
    generate_dirty_corpus("amazon_polarity", tmp_path / "a", seed=1, outside_dir=tmp_path / "o")  # again: no error


def test_cli_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for flag in ("--profile", "--rows", "--seed", "--out", "--no-label", "--dirty", "--magnitude", "--vocab-shift",
                 "--length-shift", "--label-prior-shift", "--new-topic", "--files", "--variant"):  # fmt: skip
        assert flag in out


def test_cli_writes_n_files_through_a_file_uri(tmp_path: Path, capsys):
    out_dir = tmp_path / "lake" / "inference-input"
    rc = main(["--profile", "amazon_polarity", "--rows", "40", "--seed", "7", "--files", "2", "--no-label",
               "--magnitude", "0.5", "--out", out_dir.as_uri() + "/"])  # fmt: skip
    assert rc == 0
    files = sorted(out_dir.glob("*.csv"))
    assert len(files) == 2 and files[0].read_bytes() != files[1].read_bytes()
    assert all(len(r) == 2 for r in _parse(files[0].read_bytes()))  # label column dropped
    stats = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["rows"] for s in stats] == [40, 40]


def test_cli_dirty_and_errors(tmp_path: Path, capsys):
    assert main(["--profile", "airline_tweets", "--dirty", "--rows", "20", "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / CATALOG_NAME).is_file()
    assert main(["--profile", "airline_tweets", "--out", str(tmp_path / "x.csv"), "--magnitude", "0.5",
                 "--new-topic", "0.1"]) == 2  # fmt: skip
    assert main(["--profile", "no_such_profile", "--out", str(tmp_path / "x.csv")]) == 2
    assert "no_such_profile" in capsys.readouterr().err
