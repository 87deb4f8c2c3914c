"""Validation runs that need their own lake or profile: layouts, symlinks, limits, breaker, retry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from validation_helpers import profile, read_run, validate

from etl.validation import QuarantineRateExceeded
from include import lake as lake_mod
from include.settings import get_settings

GOOD = b'1,"Bad","It broke after a day"\n2,"Great","Works as described"\n'


def test_header_only_file_is_ok_with_note(lake):
    prof = profile("airline_tweets")
    run = validate(prof, {"Tweets.csv": ",".join(prof.input.columns).encode() + b"\n"})
    entry = run.file("Tweets.csv")
    assert entry["status"] == "ok" and entry["rows_in"] == 0
    assert entry["notes"] == ["header only: no data rows"]
    assert run.valid == []  # an empty part keeps the output readable


def test_utf8_bom_is_stripped_and_id_column_used(lake):
    prof = profile("airline_tweets")
    header = ",".join(prof.input.columns)
    row = "570306133677760513,neutral,1.0,,,Virgin America,,cairdin,,0,@VirginAmerica What @dhepburn said.,,x,,"
    run = validate(prof, {"Tweets.csv": ("\ufeff" + header + "\r\n" + row + "\r\n").encode()})
    assert run.file("Tweets.csv")["status"] == "ok"
    (valid,) = run.valid
    assert valid["tweet_id"] == "570306133677760513" == valid["_row_id"]
    assert valid["_source_record"] == 1 and valid["_source_line"] == 2


def test_header_matching_no_layout_quarantines_the_file(lake):
    run = validate(profile("airline_tweets"), {"Tweets.csv": b"id,sentiment,text\n1,negative,hello\n"})
    entry = run.file("Tweets.csv")
    assert entry["status"] == "quarantined_whole"
    assert "expected one of" in entry["reason"] and "['id', 'sentiment', 'text']" in entry["reason"]


def test_cfpb_preamble_and_alternate_layout(lake):
    prof = profile("cfpb_complaints")
    header = ",".join(f'"{c}"' if "," in c else c for c in prof.input.alternate_columns[0])
    row = ["2020-01-01", "Mortgage", "", "", "", "My servicer lost my payment twice.", *[""] * 11, "42"]
    banner = "Archive:  /Users/x/complaints.csv.zip\n  inflating: complaints.csv\n"
    classic = ',Product,Consumer complaint narrative\n17,Credit card,"They charged me, twice, for nothing."\n'
    run = validate(
        prof,
        {"complaints.csv": (banner + header + "\n" + ",".join(row) + "\n").encode(), "old.csv": classic.encode()},
    )
    assert run.file("complaints.csv")["notes"] == ["skipped 2 preamble record(s) before the header"]
    assert run.manifest["rows_valid"] == 2
    (new,) = run.valid_of("complaints.csv")
    assert new["_source_line"] == 4 and new["_source_record"] == 1 and new["Complaint ID"] == "42"
    (old,) = run.valid_of("old.csv")
    assert old[""] == "17" and old["Complaint ID"] is None  # one schema for both layouts


def test_inference_input_without_label(lake):
    prof = profile()
    run = validate(prof, {"score.csv": b'"Title","Some body text"\n"T2","Other text"\n'}, require_label=False)
    assert run.manifest["rows_valid"] == 2
    assert "polarity" not in run.valid[0] and run.valid[0]["text"] == "Some body text"
    # Scoring input: the label is not checked even when the column is there.
    run2 = validate(prof, {"score2.csv": b'9,"Title","Some body text"\n'}, require_label=False, run_key="r2")
    assert run2.file("score2.csv")["rows_valid"] == 1


def test_symlink_outside_the_lake_is_refused_unread(lake, tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_bytes(GOOD)
    folder = Path(lake_mod.local_path(lake)) / "raw" / "amazon_polarity"
    folder.mkdir(parents=True)
    (folder / "real.csv").write_bytes(GOOD)
    os.symlink(outside, folder / "link.csv")
    os.symlink(folder / "real.csv", folder / "inside-link.csv")
    run = validate(profile())
    assert run.file("link.csv")["status"] == "quarantined_whole"
    assert "outside the lake" in run.file("link.csv")["reason"]
    files = list(Path(lake_mod.local_path(run.quarantine_uri), "files").iterdir())
    assert len(files) == 1 and files[0].name.endswith("_link.csv.reason.json")  # reason only, no copy
    assert json.loads(files[0].read_text())["copied"] is False
    assert run.file("inside-link.csv")["status"] == "ok"  # a link within the lake is fine


def test_file_larger_than_max_file_bytes(lake):
    run = validate(profile(max_file_bytes=50), {"big.csv": GOOD * 2})
    assert run.file("big.csv")["status"] == "quarantined_whole"
    assert "max_file_bytes=50" in run.file("big.csv")["reason"]


def test_duplicates_flagged_and_kept(lake):
    run = validate(profile(), {"a.csv": GOOD + GOOD[:30], "b.csv": GOOD})
    # a.csv has rows 1, 2, 1; b.csv repeats 1 and 2: three rows repeat an earlier row.
    assert run.manifest["rows_valid"] == 5 and run.manifest["rows_quarantined"] == 0
    assert run.manifest["duplicates_flagged"] == 3
    report = json.loads(Path(lake_mod.local_path(run.report_uri), "validation.json").read_text())
    (unique,) = [e for e in report["expectations"] if e["type"] == "expect_column_values_to_be_unique"]
    # One GX batch holds both files: all five rows belong to a repeated group.
    assert unique["success"] is False and unique["unexpected_count"] == 5 and unique["quarantines"] is False


def test_chunks_bound_memory_and_add_up(lake):
    rows = b"".join(f'{1 + i % 2},"title {i}","body number {i}"\n'.encode() for i in range(2500))
    run = validate(profile(chunk_rows=1000), {"many.csv": rows + b'5,"x","bad label"\n'})
    assert run.manifest["rows_in"] == 2501 and run.manifest["rows_valid"] == 2500
    assert run.reasons(2501)[0].startswith("expect_column_values_to_be_in_set")
    assert len(list(Path(lake_mod.local_path(run.validated_uri)).glob("part-*.parquet"))) == 3
    report = json.loads(Path(lake_mod.local_path(run.report_uri), "validation.json").read_text())
    assert {e["batches"] for e in report["expectations"]} == {3}


def test_circuit_breaker_raises_after_writing_everything(lake):
    prof = profile(max_quarantine_rate=0.25)
    bad = b'9,"t","wrong label"\n1,"t","only two",x\n'
    with pytest.raises(QuarantineRateExceeded) as info:
        validate(prof, {"bad.csv": GOOD + bad})
    err = info.value
    assert isinstance(err, ValueError)
    quarantine_uri = get_settings().zone_uri("quarantine", "amazon_polarity", "r1")
    message = str(err)
    # The file (2 of 4 rows bad) is refused whole, so the run's quarantined share is 100%.
    assert "amazon_polarity" in message and "100.0%" in message and "25.0%" in message and quarantine_uri in message
    s = get_settings()
    manifest = lake_mod.read_json(lake_mod.join(quarantine_uri, lake_mod.MANIFEST))
    run = read_run(
        manifest,
        Path(lake_mod.local_path(s.lake_uri)),
        s.zone_uri("validated", "amazon_polarity", "r1"),
        quarantine_uri,
        s.zone_uri("reports", "validation", "amazon_polarity", "r1"),
    )
    # One file, half bad: the per-file breaker refuses it whole (no row of it is published).
    assert run.manifest["rows_quarantined"] == 4 and len(run.valid) == 0 and len(run.rows) == 2
    assert run.file("bad.csv")["status"] == "refused" and err.manifest == manifest


def test_retry_with_same_run_key_replaces_its_output(lake):
    first = validate(profile(), {"a.csv": GOOD * 3 + b'9,"t","bad label"\n'})
    assert first.manifest["rows_in"] == 7
    (Path(lake_mod.local_path(lake)) / "raw" / "amazon_polarity" / "a.csv").write_bytes(GOOD)
    second = validate(profile(), {})
    assert second.manifest["rows_in"] == 2 and second.rows == [] and len(second.valid) == 2
    parts = list(Path(lake_mod.local_path(second.validated_uri)).glob("part-*.parquet"))
    assert len(parts) == 1
    # Nothing left behind: no staging prefixes beside the published outputs.
    for zone in ("validated", "quarantine"):
        siblings = [p.name for p in (Path(lake_mod.local_path(lake)) / zone / "amazon_polarity").iterdir()]
        assert siblings == ["r1"]


def test_failed_attempt_leaves_previous_output_and_no_staging(lake, monkeypatch):
    from etl.validation import validate as validate_module

    first = validate(profile(), {"a.csv": GOOD})

    def broken(self):
        raise OSError("disk full")

    monkeypatch.setattr(validate_module._Gx, "build_docs", broken)
    (Path(lake_mod.local_path(lake)) / "raw" / "amazon_polarity" / "b.csv").write_bytes(GOOD)
    with pytest.raises(OSError, match="disk full"):
        validate(profile(), {})
    for zone in ("validated", "quarantine"):
        siblings = [p.name for p in (Path(lake_mod.local_path(lake)) / zone / "amazon_polarity").iterdir()]
        assert siblings == ["r1"]
    manifest = lake_mod.read_json(lake_mod.join(first.validated_uri, lake_mod.MANIFEST))
    assert manifest == first.manifest and manifest["rows_in"] == 2


def test_importing_gx_logs_no_registry_noise(tmp_path):
    """GX logs ~200 INFO lines "Skipping registering function" on import; a task log must not carry them."""
    import subprocess
    import sys

    # a script file, not `python -c`: pyspark (imported by GX) exits 0 when __main__ has no __file__
    script = tmp_path / "import_gx.py"
    script.write_text(
        "import logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from etl.validation.validate import import_gx\n"
        "import_gx()\n"
        "logging.getLogger('great_expectations').info('gx imported')\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    assert "gx imported" in proc.stderr  # INFO from GX itself still reaches the log
    assert "Skipping registering function" not in proc.stderr
