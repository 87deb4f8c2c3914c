"""The ledger of processed objects and the shared scan ``find_new_objects`` (no Airflow involved)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from include import lake as lakefs
from include.lake import LakePathError
from nlpops.ledger import Ledger, LedgerError, find_new_objects

if TYPE_CHECKING:
    from conftest import RawPrefix


def test_mark_done_then_seen_and_filter_new(raw: RawPrefix) -> None:
    _, prefix, ledger_uri = raw
    raw.put("a.csv")
    raw.put("sub/b.csv", b"label,text\n2,bad\n")
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


def test_marking_the_same_run_twice_overwrites(raw: RawPrefix) -> None:
    _, prefix, ledger_uri = raw
    raw.put("a.csv")
    raw.put("b.csv", b"other")
    a, b = lakefs.list_objects(prefix)
    ledger = Ledger(ledger_uri)
    ledger.mark_done("run-1", [a, b])
    ledger.mark_done("run-1", [a])  # the retry of a run replaces its own entry
    ledger.mark_done("run-2", [a.to_dict()])  # XCom manifests (dicts) are accepted too
    assert ledger.seen() == {a.fingerprint()}
    assert set(ledger.entries()) == {"run-1", "run-2"}


def test_reuploaded_object_with_new_content_is_new_again(raw: RawPrefix) -> None:
    _, prefix, ledger_uri = raw
    raw.put("a.csv", b"v1")
    ledger = Ledger(ledger_uri)
    ledger.mark_done("run-1", lakefs.list_objects(prefix))
    assert ledger.filter_new(lakefs.list_objects(prefix)) == []
    raw.put("a.csv", b"version 2", mtime=raw.OLD + 60)
    again = ledger.filter_new(lakefs.list_objects(prefix))
    assert [o.key for o in again] == ["a.csv"]
    assert again[0].size == len(b"version 2")


def test_for_zone_uses_the_settings_ledger_zone(lake: str) -> None:
    assert Ledger.for_zone("amazon_polarity", "raw").ledger_uri == f"{lake}/ledger/amazon_polarity/raw"


@pytest.mark.parametrize("key", ["", "../x", "a/b", ".hidden", "_tmp"])
def test_bad_run_key_is_refused(raw: RawPrefix, key: str) -> None:
    with pytest.raises(LedgerError, match="run key"):
        Ledger(raw[2]).mark_done(key, [])


def test_corrupt_ledger_file_names_the_file(raw: RawPrefix) -> None:
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
    raw: RawPrefix, lake: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, prefix, ledger_uri = raw
    outside = raw.put("outside/secret.csv", root=tmp_path)
    (raw.dir / "link.csv").symlink_to(outside)
    with caplog.at_level(logging.WARNING, logger="nlpops.ledger"):
        found = find_new_objects(prefix, ledger_uri, lake_root_uri=lake)
    assert [(o.key, o.is_symlink, o.link_target) for o in found] == [("link.csv", True, str(outside))]
    assert "outside the lake" in caplog.text


def test_find_new_objects_logs_names_that_match_no_pattern(raw: RawPrefix, caplog: pytest.LogCaptureFixture) -> None:
    _, prefix, ledger_uri = raw
    raw.put("notes.txt")
    raw.put("UPPER.CSV")
    with caplog.at_level(logging.WARNING, logger="nlpops.ledger"):
        found = find_new_objects(prefix, ledger_uri, patterns=["*.csv"])
    assert [o.key for o in found] == ["UPPER.CSV"]  # extensions match case-insensitively
    assert "notes.txt" in caplog.text


def test_find_new_objects_refuses_a_prefix_outside_the_lake(raw: RawPrefix, tmp_path: Path) -> None:
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
def test_find_new_objects_rejects_bad_settings(raw: RawPrefix, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_new_objects(raw[1], raw[2], **kwargs)


def test_touch_does_not_make_a_processed_file_new_but_new_bytes_do(raw: RawPrefix) -> None:
    """Identity by content: the local etag is the MD5 of the bytes (as S3's ETag), not size+mtime."""
    _, prefix, ledger_uri = raw
    path = raw.put("a.csv")
    (first,) = find_new_objects(prefix, ledger_uri)
    Ledger(ledger_uri).mark_done("20260101T000000", [first])
    os.utime(path, (raw.OLD + 60, raw.OLD + 60))  # touch: new mtime, same bytes
    assert find_new_objects(prefix, ledger_uri) == []
    raw.put("a.csv", b"label,text\n2,same size!\n", mtime=raw.OLD + 120)  # new bytes (same key)
    (again,) = find_new_objects(prefix, ledger_uri)
    assert again.etag != first.etag and again.key == "a.csv"


def test_ledgers_written_with_size_mtime_etags_still_count_their_files(raw: RawPrefix) -> None:
    _, prefix, ledger_uri = raw
    raw.put("a.csv")
    (obj,) = lakefs.list_objects(prefix)
    legacy = f"{obj.key}|{obj.size}|{obj.size:x}-{int(obj.mtime * 1000):x}"
    lakefs.write_json(f"{ledger_uri}/20250101T000000.json", {"run_key": "20250101T000000", "fingerprints": [legacy]})
    assert find_new_objects(prefix, ledger_uri) == []


def test_refused_files_are_not_retried_and_a_corrected_upload_is_new(raw: RawPrefix) -> None:
    _, prefix, ledger_uri = raw
    raw.put("bad.csv", b"garbage\n", mtime=raw.OLD)
    raw.put("good.csv", mtime=raw.OLD + 1)
    ledger = Ledger(ledger_uri)
    (bad,) = find_new_objects(prefix, ledger_uri, max_files=1)
    assert bad.key == "bad.csv"
    new = ledger.mark_refused("r1", [(bad, "column count")])
    assert [(r["key"], r["digest"], r["reason"]) for r in new] == [("bad.csv", bad.etag, "column count")]
    assert ledger.mark_refused("r1", [(bad, "column count")]) == []  # recorded once: no second notice
    assert [o.key for o in find_new_objects(prefix, ledger_uri, max_files=1)] == ["good.csv"]  # not blocked
    assert [r["key"] for r in ledger.refused()] == ["bad.csv"]
    # mark_done of the same run leaves the refused file out of the done entry
    ledger.mark_done("r1", lakefs.list_objects(prefix))
    assert [o["key"] for o in lakefs.read_json(f"{ledger_uri}/r1.json")["objects"]] == ["good.csv"]
    assert find_new_objects(prefix, ledger_uri) == []
    raw.put("bad.csv", b"label,text\n1,fixed\n", mtime=raw.OLD + 2)  # corrected re-upload
    assert [o.key for o in find_new_objects(prefix, ledger_uri)] == ["bad.csv"]


def test_forget_makes_chosen_files_new_again(raw: RawPrefix) -> None:
    _, prefix, ledger_uri = raw
    raw.put("a.csv")
    raw.put("sub/b.csv", b"label,text\n2,x\n")
    raw.put("c.csv", b"bad")
    objs = {o.key: o for o in lakefs.list_objects(prefix)}
    ledger = Ledger(ledger_uri)
    ledger.mark_done("r1", [objs["a.csv"], objs["sub/b.csv"]])
    ledger.mark_refused("r1", [(objs["c.csv"], "binary")])
    assert find_new_objects(prefix, ledger_uri) == []
    assert ledger.forget(["sub/*"]) == ["sub/b.csv"]
    assert [o.key for o in find_new_objects(prefix, ledger_uri)] == ["sub/b.csv"]
    assert ledger.forget(["c.csv"]) == ["c.csv"]
    assert sorted(o.key for o in find_new_objects(prefix, ledger_uri)) == ["c.csv", "sub/b.csv"]
    with pytest.raises(ValueError, match="at least one key pattern"):
        ledger.forget([])


def test_reprocess_script_forgets_by_pattern(raw: RawPrefix, lake: str, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    from include.settings import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("reprocess", PROJECT_ROOT / "scripts" / "reprocess.py")
    assert spec and spec.loader
    reprocess = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reprocess)
    raw.put("a.csv", root=Path(lakefs.local_path(lake)) / "raw" / "amazon_polarity")
    ledger = Ledger.for_zone("amazon_polarity", "raw")
    ledger.mark_done("r1", lakefs.list_objects(f"{lake}/raw/amazon_polarity"))
    assert reprocess.main(["--profile", "amazon_polarity", "nothing*"]) == 1
    assert reprocess.main(["--profile", "amazon_polarity", "*.csv"]) == 0
    assert "a.csv" in capsys.readouterr().out
    assert [o.key for o in find_new_objects(f"{lake}/raw/amazon_polarity", ledger.ledger_uri)] == ["a.csv"]


def test_missing_outputs_names_entries_whose_output_is_gone(
    raw: RawPrefix, lake: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from nlpops.sensors.new_data import NewDataSensor

    _, prefix, ledger_uri = raw
    raw.put("a.csv")
    out_dir = Path(lakefs.local_path(lake)) / "processed" / "p" / "run=r1"
    out_dir.mkdir(parents=True)
    (out_dir / "part-0.parquet").write_bytes(b"x")
    out_uri = f"{lake}/processed/p/run=r1"
    ledger = Ledger(ledger_uri)
    ledger.mark_done("r1", lakefs.list_objects(prefix), outputs=[out_uri])
    assert ledger.missing_outputs() == []
    (out_dir / "part-0.parquet").unlink()
    out_dir.rmdir()
    assert ledger.missing_outputs() == [("r1", out_uri)]
    sensor = NewDataSensor(
        task_id="wait_for_raw", prefix_uri=prefix, ledger_uri=ledger_uri, lake_root_uri=lake, timeout=0, soft_fail=True
    )
    with pytest.raises(Exception, match="look once"):
        sensor.execute({})
    logged = capsys.readouterr().out  # the task logger writes to stdout
    assert f"run r1 processed its files into {out_uri}, which no longer exists" in logged
    assert "make reprocess" in logged
