"""The circuit breaker judged per file: one bad file cannot ride along with good ones."""

from __future__ import annotations

from pathlib import Path

from validation_helpers import profile, validate

from include import lake as lake_mod

GOOD_ROW = b'1,"Fine","Works as described"\n'
BAD_ROW = b'9,"t","wrong label"\n'


def test_a_mostly_bad_file_is_refused_whole_while_good_files_pass(lake):
    prof = profile(max_quarantine_rate=0.25)
    files = {
        "a_good.csv": GOOD_ROW * 20,
        "b_bad.csv": GOOD_ROW * 2 + BAD_ROW * 3,  # 60% bad: over the breaker
        "c_good.csv": GOOD_ROW * 20 + BAD_ROW,  # 1 of 21 bad: under it
    }
    run = validate(prof, files)  # the run's share (4 of 46) is under the breaker: no exception
    bad = run.file("b_bad.csv")
    assert bad["status"] == "refused" and "circuit breaker: 3 of 5 rows (60%)" in bad["reason"]
    assert "max_quarantine_rate=25%" in bad["reason"]
    assert (bad["rows_in"], bad["rows_valid"], bad["rows_quarantined"]) == (5, 0, 5)
    assert run.valid_of("b_bad.csv") == []  # its good-looking rows are not published either
    assert len(run.rows_of("b_bad.csv")) == 3  # the failing rows keep their reasons
    assert run.file("a_good.csv")["rows_valid"] == 20 and run.file("c_good.csv")["rows_valid"] == 20
    assert run.manifest["rows_in"] == 46 == run.manifest["rows_valid"] + run.manifest["rows_quarantined"]
    # The refused file is copied whole to quarantine/files/ with its reason.
    files_dir = Path(lake_mod.local_path(run.quarantine_uri), "files")
    copies = [p for p in files_dir.iterdir() if p.name.endswith("b_bad.csv")]
    assert len(copies) == 1 and copies[0].read_bytes() == files["b_bad.csv"]
    reason = lake_mod.read_json(copies[0].with_name(copies[0].name + ".reason.json").as_uri())
    assert reason["reason"] == bad["reason"]
