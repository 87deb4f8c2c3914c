"""The ledger of processed objects and the shared scan ``find_new_objects`` (no Airflow involved)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from include import lake as lakefs
from include.lake import LakePathError
from nlpops.ledger import Ledger, LedgerError, find_new_objects

OLD = time.time() - 3600


def put(root: Path, key: str, data: bytes = b"label,text\n1,good\n", mtime: float = OLD) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def raw(lake: str) -> tuple[Path, str, str]:
    """(raw folder, raw prefix URI, ledger URI) in the test's lake."""
    raw_dir = Path(lakefs.local_path(lake)) / "raw" / "p"
    raw_dir.mkdir(parents=True)
    return raw_dir, f"{lake}/raw/p", f"{lake}/ledger/p/raw"


def test_mark_done_then_seen_and_filter_new(raw: tuple[Path, str, str]) -> None:
    raw_dir, prefix, ledger_uri = raw
    put(raw_dir, "a.csv")
    put(raw_dir, "sub/b.csv", b"label,text\n2,bad\n")
    objs = lakefs.list_objects(prefix)
    ledger = Ledger(ledger_uri)
    assert ledger.seen() == set()  # no ledger folder yet: nothing seen, no error

    uri = ledger.mark_done("20260101T000000", objs[:1])

    assert uri == f"{ledger_uri}/20260101T000000.json"
    doc = lakefs.read_json(uri)
    assert doc["run_key"] == "20260101T000000"
    assert doc["objects"] == [objs[0].to_dict()]
    assert ledger.seen() == {objs[0].fingerprint()}
    assert ledger.filter_new(objs) == objs[1:]
    # No temporary file is left beside the entry (atomic write).
    assert sorted(p.name for p in Path(lakefs.local_path(ledger_uri)).iterdir()) == ["20260101T000000.json"]


def test_marking_the_same_run_twice_overwrites(raw: tuple[Path, str, str]) -> None:
    raw_dir, prefix, ledger_uri = raw
    put(raw_dir, "a.csv")
    put(raw_dir, "b.csv", b"other")
    a, b = lakefs.list_objects(prefix)
    ledger = Ledger(ledger_uri)
    ledger.mark_done("run-1", [a, b])
    ledger.mark_done("run-1", [a])  # the retry of a run replaces its own entry
    ledger.mark_done("run-2", [a.to_dict()])  # XCom manifests (dicts) are accepted too
    assert ledger.seen() == {a.fingerprint()}
    assert set(ledger.entries()) == {"run-1", "run-2"}


def test_reuploaded_object_with_new_content_is_new_again(raw: tuple[Path, str, str]) -> None:
    raw_dir, prefix, ledger_uri = raw
    put(raw_dir, "a.csv", b"v1")
    ledger = Ledger(ledger_uri)
    ledger.mark_done("run-1", lakefs.list_objects(prefix))
    assert ledger.filter_new(lakefs.list_objects(prefix)) == []
    put(raw_dir, "a.csv", b"version 2", mtime=OLD + 60)
    again = ledger.filter_new(lakefs.list_objects(prefix))
    assert [o.key for o in again] == ["a.csv"]
    assert again[0].size == len(b"version 2")


def test_for_zone_uses_the_settings_ledger_zone(lake: str) -> None:
    assert Ledger.for_zone("amazon_polarity", "raw").ledger_uri == f"{lake}/ledger/amazon_polarity/raw"


@pytest.mark.parametrize("key", ["", "../x", "a/b", ".hidden", "_tmp"])
def test_bad_run_key_is_refused(raw: tuple[Path, str, str], key: str) -> None:
    with pytest.raises(LedgerError, match="run key"):
        Ledger(raw[2]).mark_done(key, [])


def test_corrupt_ledger_file_names_the_file(raw: tuple[Path, str, str]) -> None:
    ledger_dir = Path(lakefs.local_path(raw[2]))
    ledger_dir.mkdir(parents=True)
    (ledger_dir / "broken.json").write_text("{not json")
    with pytest.raises(LedgerError, match=r"broken\.json is not valid JSON"):
        Ledger(raw[2]).seen()
    (ledger_dir / "broken.json").write_text(json.dumps({"objects": []}))
    with pytest.raises(LedgerError, match="no 'fingerprints' list"):
        Ledger(raw[2]).seen()


def test_ledger_needs_a_uri() -> None:
    with pytest.raises(LakePathError, match="not a URI"):
        Ledger("/tmp/ledger")


def test_find_new_objects_reports_symlinks_and_warns_when_they_leave_the_lake(
    raw: tuple[Path, str, str], lake: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw_dir, prefix, ledger_uri = raw
    outside = put(tmp_path, "outside/secret.csv")
    (raw_dir / "link.csv").symlink_to(outside)
    with caplog.at_level(logging.WARNING, logger="nlpops.ledger"):
        found = find_new_objects(prefix, ledger_uri, lake_root_uri=lake)
    assert [(o.key, o.is_symlink, o.link_target) for o in found] == [("link.csv", True, str(outside))]
    assert "outside the lake" in caplog.text


def test_find_new_objects_logs_names_that_match_no_pattern(
    raw: tuple[Path, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    raw_dir, prefix, ledger_uri = raw
    put(raw_dir, "notes.txt")
    put(raw_dir, "UPPER.CSV")
    with caplog.at_level(logging.WARNING, logger="nlpops.ledger"):
        found = find_new_objects(prefix, ledger_uri, patterns=["*.csv"])
    assert [o.key for o in found] == ["UPPER.CSV"]  # extensions match case-insensitively
    assert "notes.txt" in caplog.text


def test_find_new_objects_refuses_a_prefix_outside_the_lake(raw: tuple[Path, str, str], tmp_path: Path) -> None:
    _, prefix, ledger_uri = raw
    with pytest.raises(LakePathError, match="outside the lake"):
        find_new_objects(prefix, ledger_uri, lake_root_uri=(tmp_path / "elsewhere").as_uri())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patterns": []}, "no file patterns"),
        ({"max_files": 0}, "max_files=0"),
        ({"max_bytes": 0}, "max_bytes=0"),
        ({"quiet_seconds": -1}, "quiet_seconds=-1"),
    ],
)
def test_find_new_objects_rejects_bad_settings(raw: tuple[Path, str, str], kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_new_objects(raw[1], raw[2], **kwargs)
