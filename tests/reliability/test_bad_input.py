"""Every bad-input kind of the dirty corpus: rows in = valid + quarantined, kind by kind.

The whole dirty corpus already goes end to end through the DAGs in
``tests/e2e/test_ingest_dag.py::test_ingest_dirty_corpus_end_to_end`` (``airflow dags test``:
sensor → GX validation → Spark ETL), which checks the totals of the run. This module proves
the promise for each kind of ``ml.generator.DIRTY_KINDS`` separately: the sensor's listing
(``nlpops.ledger.find_new_objects``) hands every file to ``etl.validation``, and the
catalogue's verdict (which records, or the whole file, or nothing) is what is quarantined,
each with a reason naming its record and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from unit.validation.validation_helpers import Run, profile, read_run

from include import lake
from ml.generator import DIRTY_KINDS, DirtyFile, generate_dirty_corpus

pytestmark = pytest.mark.reliability

#: The catalogue's reason keyword -> words the validator's reason must contain (case-insensitive).
REASON_WORDS = {
    "empty": ["empty"],
    "columns": ["column count"],
    "label": ["label"],
    "text": ["text"],
    "length": ["length"],
    "encoding": ["utf-8"],
    "binary": ["binary"],
    "gzip": ["gzip"],
    "quote": ["quote"],
    "nul": ["nul"],
    "truncated": ["partial last record"],
    "symlink": ["symlink", "outside the lake"],
}


@dataclass
class DirtyRun:
    run: Run
    files: dict[str, DirtyFile]  # by kind
    listed: list[str]  # keys the sensor handed over


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirtyRun]:
    from etl.validation import validate_objects
    from include.settings import get_settings
    from nlpops.ledger import find_new_objects

    base = tmp_path_factory.mktemp("dirty")
    root = base / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NLPOPS_LAKE_URI", root.as_uri())
        get_settings.cache_clear()
        s = get_settings()
        prof = profile("amazon_polarity")
        files = generate_dirty_corpus(
            prof, root / "raw" / prof.name / "dirty", seed=5, rows_per_file=30, outside_dir=base / "outside"
        )
        objects = find_new_objects(
            s.zone_uri("raw", prof.name),
            s.zone_uri("ledger", "reliability"),
            patterns=prof.input.file_patterns,
            lake_root_uri=s.lake_uri,
        )
        uris = {
            "validated_uri": s.zone_uri("validated", prof.name, "r1"),
            "quarantine_uri": s.zone_uri("quarantine", prof.name, "r1"),
            "report_uri": s.zone_uri("reports", "validation", prof.name, "r1"),
        }
        manifest = validate_objects(prof, objects, run_key="r1", lake_root_uri=s.lake_uri, **uris)
        run = read_run(manifest, root, **uris)  # checks rows_in = valid + quarantined for the run and each file
        yield DirtyRun(run, {f.kind: f for f in files}, [o.key for o in objects])
    get_settings.cache_clear()


def test_the_sensor_hands_every_dirty_file_to_validation(dirty: DirtyRun) -> None:
    assert sorted(dirty.listed) == sorted(f"dirty/{f.name}" for f in dirty.files.values())
    assert len(dirty.run.manifest["files"]) == len(DIRTY_KINDS)


@pytest.mark.parametrize("kind", DIRTY_KINDS)
def test_every_bad_input_kind_rows_in_equals_valid_plus_quarantined(dirty: DirtyRun, kind: str) -> None:
    expected = dirty.files[kind]
    run = dirty.run
    entry = run.file(expected.name)
    assert entry["rows_in"] == entry["rows_valid"] + entry["rows_quarantined"], entry
    words = REASON_WORDS.get(expected.reason, [])
    if expected.scope == "file" and expected.rows == 0 and entry["status"] == "ok":
        # No data record at all (a header, a blank line): nothing to quarantine; said in a note.
        assert entry["rows_in"] == 0 and entry.get("notes"), entry
        return
    if expected.scope == "file":
        assert entry["status"] == "quarantined_whole" and entry["rows_valid"] == 0, entry
        assert all(w in entry["reason"].lower() for w in words), (words, entry["reason"])
        assert Path(lake.local_path(run.quarantine_uri), "files").is_dir()
        return
    rows = run.rows_of(expected.name)
    assert entry["status"] == "ok" and entry["rows_in"] == expected.rows, entry
    assert sorted(r["record"] for r in rows) == list(expected.bad_records)
    assert sorted(r["line"] for r in rows) == list(expected.bad_lines)
    assert entry["rows_quarantined"] == len(rows) and entry["rows_valid"] == expected.rows - len(rows)
    assert len(run.valid_of(expected.name)) == entry["rows_valid"]
    for row in rows:  # the reason names what is wrong; the row names where (file, record, line, raw text)
        assert row["reasons"] and row["source_uri"] == entry["uri"] and row["raw"] is not None
        assert all(any(w in r.lower() for r in row["reasons"]) for w in words), (words, row["reasons"])
