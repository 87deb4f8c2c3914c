"""The same text with different labels is never resolved silently (profile validation.label_conflicts).

Within a run validation detects, quarantines and counts them (manifest, Data Docs); across
runs the training reader keeps the latest run's label. A later file that corrects a label
takes effect — even when its name sorts first.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from validation_helpers import profile, validate, write_raw

from include import lake as lk
from include.settings import get_settings

TEXT_A = '"Battery","died after a week of light use"'
TEXT_B = '"Sound","crisp and loud, very happy with it"'


def _rows(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _touch(name: str, mtime: float) -> None:
    path = Path(lk.local_path(get_settings().zone_uri("raw", "amazon_polarity", name)))
    os.utime(path, (mtime, mtime))


def test_a_later_file_that_corrects_a_label_wins_and_the_old_row_is_quarantined(lake: str) -> None:
    prof = profile("amazon_polarity")
    # 'a_fix.csv' sorts first but is uploaded later: it corrects TEXT_A from positive (2) to negative (1).
    files = {"b_old.csv": _rows(f"2,{TEXT_A}", f"2,{TEXT_B}"), "a_fix.csv": _rows(f"1,{TEXT_A}")}
    write_raw(Path(lk.local_path(lake)), prof.name, files)
    _touch("b_old.csv", 1_700_000_000)
    _touch("a_fix.csv", 1_700_000_600)
    run = validate(prof, {}, run_key="r1")  # files already written with their upload times
    conflicts = run.manifest["label_conflicts"]
    assert (conflicts["policy"], conflicts["texts"], conflicts["rows_quarantined"]) == ("latest", 1, 1)
    assert conflicts["gx"]["unexpected_count"] == 1 and conflicts["gx"]["success"] is False
    old = run.file("b_old.csv")
    assert (old["rows_in"], old["rows_valid"], old["rows_quarantined"], old["label_conflicts"]) == (2, 1, 1, 1)
    (row,) = run.rows_of("b_old.csv")
    assert row["record"] == 1 and row["raw"].startswith("2,") and "a_fix.csv record 1" in row["reasons"][0]
    labels = {(r["title"], r["polarity"]) for r in run.valid}
    assert labels == {("Battery", "1"), ("Sound", "2")}  # the correction took effect, nothing else changed
    docs = Path(lk.local_path(run.report_uri), "data_docs")
    assert any("label_conflicts" in p.name for p in docs.rglob("*.html")), "Data Docs show the conflict check"


def test_conflicts_inside_one_file_keep_the_later_record(lake: str) -> None:
    run = validate(profile("amazon_polarity"), {"one.csv": _rows(f"2,{TEXT_A}", f"1,{TEXT_A}", f"1,{TEXT_A}")})
    assert [r["record"] for r in run.rows] == [1]
    assert sorted(r["_source_record"] for r in run.valid) == [2, 3]  # equal duplicates: the ETL keeps one


def test_drop_policy_quarantines_every_record_of_a_contested_text(lake: str) -> None:
    prof = profile("amazon_polarity", label_conflicts="drop")
    run = validate(prof, {"x.csv": _rows(f"2,{TEXT_A}", f"2,{TEXT_B}"), "y.csv": _rows(f"1,{TEXT_A}")})
    assert run.manifest["label_conflicts"]["rows_quarantined"] == 2
    assert sorted((r["source_uri"].rsplit("/", 1)[1], r["record"]) for r in run.rows) == [("x.csv", 1), ("y.csv", 1)]
    assert [r["title"] for r in run.valid] == ["Sound"]


def test_texts_equal_after_normalisation_conflict_too(lake: str) -> None:
    # The ETL trains on normalised text: '<b>died</b>' and 'died' are the same text to the model.
    run = validate(
        profile("amazon_polarity"),
        {"z.csv": _rows('2,"Battery","<b>died</b> after a week"', '1,"Battery","died   after a week"')},
    )
    assert run.manifest["label_conflicts"]["rows_quarantined"] == 1


def _processed_run(key: str, rows: list[tuple[str, str]], published_at: float) -> None:
    from etl.transforms.text import content_hash_of, split_of

    prof = profile("amazon_polarity")
    uri = get_settings().zone_uri("processed", prof.name, f"run={key}")
    for text, label in rows:
        h = content_hash_of(text)
        split = split_of(h, prof.split)
        frame = pd.DataFrame({"id": [h], "text": [text], "label": [label], "content_hash": [h]})
        target = Path(lk.local_path(uri), f"split={split}", f"{h}.parquet")
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target)
    lk.write_json(
        lk.join(uri, lk.MANIFEST), {"run_key": key, "published_at": published_at, "label_conflicts": "latest"}
    )


def test_across_runs_the_latest_published_run_label_counts(lake: str) -> None:
    from ml.data import read_processed_with_stats

    texts = [f"text number {i} about the product" for i in range(30)]
    # Run 'zzz' was ingested first (its key sorts last); run 'aaa' corrects text 0 later.
    _processed_run("zzz", [(t, "positive") for t in texts], published_at=1_700_000_000)
    _processed_run("aaa", [(texts[0], "negative")], published_at=1_700_000_900)
    frames, _, stats = read_processed_with_stats(get_settings().zone_uri("processed", "amazon_polarity"))
    everything = pd.concat(frames.values())
    assert len(everything) == 30 and everything["content_hash"].is_unique
    assert everything.set_index("text").loc[texts[0], "label"] == "negative"
    assert stats["label_conflicts"] == {"policy": "latest", "texts": 1, "rows_dropped": 0}


def test_a_correction_does_not_trip_the_circuit_breaker(lake: str) -> None:
    # Every row of 'old.csv' is superseded by 'fix.csv' in the same run: superseded is not bad data.
    prof = profile("amazon_polarity", max_quarantine_rate=0.25)
    write_raw(Path(lk.local_path(lake)), prof.name, {"old.csv": _rows(f"2,{TEXT_A}", f"2,{TEXT_B}")})
    write_raw(Path(lk.local_path(lake)), prof.name, {"fix.csv": _rows(f"1,{TEXT_A}", f"1,{TEXT_B}")})
    _touch("old.csv", 1_700_000_000)
    _touch("fix.csv", 1_700_000_600)
    run = validate(prof, {}, run_key="r1")  # no QuarantineRateExceeded
    old = run.file("old.csv")
    assert old["status"] == "ok" and old["label_conflicts"] == 2 and old["rows_valid"] == 0, old
    assert sorted(r["polarity"] for r in run.valid) == ["1", "1"]


def test_a_conflict_with_an_earlier_run_is_counted_in_the_run_summary(lake: str) -> None:
    from etl.validation import validate_objects

    # An earlier run trained TEXT_A as positive; this run's file says negative.
    _processed_run("k0", [("Battery . died after a week of light use", "positive")], published_at=1_700_000_000)
    prof = profile("amazon_polarity")
    folder = write_raw(Path(lk.local_path(lake)), prof.name, {"fix.csv": _rows(f"1,{TEXT_A}", f"2,{TEXT_B}")})
    s = get_settings()
    manifest = validate_objects(
        prof,
        lk.list_objects(folder.as_uri()),
        run_key="r2",
        validated_uri=s.zone_uri("validated", prof.name, "r2"),
        quarantine_uri=s.zone_uri("quarantine", prof.name, "r2"),
        report_uri=s.zone_uri("reports", "validation", prof.name, "r2"),
        lake_root_uri=s.lake_uri,
        processed_uri=s.zone_uri("processed", prof.name),
    )
    across = manifest["label_conflicts"]["across_runs"]
    assert across == {"texts": 1, "resolution": "this run's label wins"}
    assert manifest["rows_valid"] == 2  # nothing quarantined: the correction is the later ingest
