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
from unit.validation.validation_helpers import Run, profile, read_run, validate

from include import lake
from include.profiles import Profile
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


# --- at inference: the layout comes from the profile, never from the first row ------------------


@pytest.fixture(scope="module")
def polarity_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unit.ml.test_inference_support import make_model_dir

    return make_model_dir(tmp_path_factory.mktemp("bad-input-model") / "model", "amazon_polarity", version="1")


def _score_inference(prof: Profile, files: dict[str, bytes], model_dir: Path) -> tuple[Run, list[dict]]:
    """Validation without label → staged inputs → Batch Transform → results rows, as the DAG runs them."""
    import json

    import pyarrow.parquet as pq

    from include.settings import get_settings
    from ml.results import publish_results
    from ml.transform import BatchTransform
    from ml.transform_input import stage_transform_inputs

    s = get_settings()
    run = validate(prof, files, require_label=False, run_key="inf")
    objects = [o.to_dict() for o in lake.list_objects(s.zone_uri("raw", prof.name))]
    staged = stage_transform_inputs(run.validated_uri, objects, prof.fields.text, s.zone_uri("validated", "staged"))
    out = s.zone_uri("inference-output", prof.name, "job")
    if not staged:
        return run, []
    BatchTransform(model_dir, profile=json.loads(prof.to_json()), workers=0).run(staged, out, "job")
    published = publish_results(
        out, staged, results_uri=s.zone_uri("results", prof.name), model_version="1", date="2026-01-02"
    )
    rows: list[dict] = []
    for f in published["files"]:
        rows += pq.read_table(lake.local_path(f["uri"])).to_pylist()
    return run, rows


def _rows(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


GOOD = ['"Great","love the crew"', '"Awful","lost my bag, terrible"', '"Fine","great flight, thank you"']


@pytest.mark.usefixtures("lake")
def test_inference_malformed_first_row_is_quarantined_and_never_scored(polarity_model: Path) -> None:
    # Inference files without the label column; the first row has one field too many.
    run, results = _score_inference(
        profile("amazon_polarity"), {"batch.csv": _rows(['"x","y","z"', *GOOD])}, polarity_model
    )
    entry = run.file("batch.csv")
    assert (entry["rows_in"], entry["rows_valid"], entry["rows_quarantined"]) == (4, 3, 1), entry
    assert [r["record"] for r in run.rows] == [1] and "column count" in run.rows[0]["reasons"][0]
    assert sorted(r["source_record"] for r in results) == [2, 3, 4]  # the good rows, the bad one never scored


@pytest.mark.usefixtures("lake")
def test_inference_header_line_is_skipped_and_counted_not_scored(polarity_model: Path) -> None:
    # amazon_polarity files have no header; a user's export adds one anyway.
    run, results = _score_inference(
        profile("amazon_polarity"), {"batch.csv": _rows(["title,text", *GOOD])}, polarity_model
    )
    entry = run.file("batch.csv")
    assert entry["headers_skipped"] == 1 and run.manifest["headers_skipped"] == 1, entry
    assert (entry["rows_in"], entry["rows_valid"], entry["rows_quarantined"]) == (3, 3, 0), entry
    assert sorted(r["source_record"] for r in results) == [1, 2, 3]  # records are data rows: the header is none


@pytest.mark.usefixtures("lake")
def test_inference_tsv_profile_is_read_as_tsv_by_validation_and_by_the_handler(polarity_model: Path) -> None:
    import json

    from include.settings import get_settings
    from ml.transform import BatchTransform

    base = profile("amazon_polarity")
    prof = base.model_copy(update={"input": base.input.model_copy(update={"format": "tsv", "quoting": "none"})})
    lines = [
        f'Title {i}\tthe "crew" {i}, lost my bag' if i % 5 == 0 else f"Title {i}\tgreat flight {i}" for i in range(150)
    ]
    run, results = _score_inference(prof, {"batch.tsv": _rows(lines)}, polarity_model)
    assert run.manifest["rows_valid"] == 150 and len(results) == 150
    # The handler alone (a .tsv object scored without validation) reads it by the profile too.
    s = get_settings()
    (obj,) = [o.to_dict() for o in lake.list_objects(s.zone_uri("raw", prof.name))]
    summary = BatchTransform(polarity_model, profile=json.loads(prof.to_json()), workers=0).run(
        [obj], s.zone_uri("inference-output", prof.name, "direct"), "direct"
    )
    assert (summary.records_in, summary.scored, summary.errors) == (150, 150, 0)


# -- a bad feed cannot block or loop; identity by content; one broken profile among good ones ----------


def _notices(notify_dir: Path, event: str) -> list[dict]:
    import json

    path = notify_dir / "notifications.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [n for n in map(json.loads, lines) if n.get("event") == event]


def test_a_bad_file_ahead_of_good_ones_is_refused_once_and_does_not_block_them(
    lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_files=1, the oldest file is bad: it is refused once (ledger + one notice), the good ones follow."""
    import os

    import pendulum
    from airflow.sdk.exceptions import AirflowFailException

    from include.settings import get_settings
    from nlpops.dagkit import validate_new_objects
    from nlpops.ledger import Ledger, find_new_objects

    notify_dir = tmp_path / "notices"
    monkeypatch.setenv("NLPOPS_NOTIFY_DIR", str(notify_dir))
    get_settings.cache_clear()
    s = get_settings()
    name = "amazon_polarity"
    raw_dir = Path(lake.removeprefix("file://")) / "raw" / name
    raw_dir.mkdir(parents=True)
    good = b'2,"Great","Works as described"\n1,"Bad","Broke after a day"\n'
    files = {"a_bad.csv": b'9,"t","wrong label"\n' * 4, "b_good.csv": good, "c_good.csv": good * 2}
    for i, (fname, data) in enumerate(files.items()):
        (raw_dir / fname).write_bytes(data)
        os.utime(raw_dir / fname, (1_700_000_000 + i, 1_700_000_000 + i))  # a_bad is the oldest
    prefix, ledger_uri = s.zone_uri("raw", name), s.zone_uri("ledger", name, "raw")
    ledger = Ledger(ledger_uri)

    def run(hour: int) -> tuple[list[dict], dict | None]:
        """One ingest run as the DAG does it: sensor scan (max_files=1), validate, mark done on success."""
        objects = [o.to_dict() for o in find_new_objects(prefix, ledger_uri, max_files=1, lake_root_uri=s.lake_uri)]
        if not objects:
            return [], None
        when = pendulum.datetime(2026, 1, 1, hour, tz="UTC")
        context = {"run_id": f"scheduled__{when.isoformat()}", "logical_date": when}
        try:
            manifest, _ = validate_new_objects(name, objects, context, area=name, require_label=True, ledger_zone="raw")
        except AirflowFailException as exc:
            assert "QuarantineRateExceeded" in str(exc) and "a_bad.csv" in str(exc)
            return objects, None
        ledger.mark_done(when.strftime("%Y%m%dT%H%M%S"), objects)
        return objects, manifest

    first, failed = run(1)
    assert [o["key"] for o in first] == ["a_bad.csv"] and failed is None  # the run fails loudly
    (refused,) = ledger.refused()
    assert refused["key"] == "a_bad.csv" and "circuit breaker: 4 of 4 rows" in refused["reason"]
    assert refused["digest"] == first[0]["etag"] and len(refused["digest"]) == 32  # content MD5
    second, manifest = run(2)
    assert [o["key"] for o in second] == ["b_good.csv"] and manifest is not None  # not blocked
    assert manifest["rows_in"] == manifest["rows_valid"] + manifest["rows_quarantined"] == 2
    third, _ = run(3)
    assert [o["key"] for o in third] == ["c_good.csv"]
    assert run(4) == ([], None)  # the bad bytes are never retried
    assert len(_notices(notify_dir, "file_refused")) == 1  # one notice per refused file

    # A touched file (new mtime, same bytes) is not new; a corrected re-upload of the bad one is.
    os.utime(raw_dir / "b_good.csv", (1_700_000_100, 1_700_000_100))
    assert run(5) == ([], None)
    (raw_dir / "a_bad.csv").write_bytes(good)
    os.utime(raw_dir / "a_bad.csv", (1_700_000_200, 1_700_000_200))
    fixed, manifest = run(6)
    assert [o["key"] for o in fixed] == ["a_bad.csv"] and manifest and manifest["rows_valid"] == 2
    get_settings.cache_clear()


def test_a_broken_profile_among_good_ones_keeps_the_good_dags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import shutil

    from include.settings import PROJECT_ROOT, get_settings

    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for good in ("amazon_polarity", "airline_tweets"):
        shutil.copy(PROJECT_ROOT / "include" / "profiles" / f"{good}.yaml", profiles)
    (profiles / "broken.yaml").write_text("name: broken\nlabels: [unclosed\n")
    one_class = (profiles / "amazon_polarity.yaml").read_text().replace("name: amazon_polarity", "name: one_class")
    (profiles / "one_class.yaml").write_text(one_class.replace("2: positive", "2: negative"))
    monkeypatch.setenv("NLPOPS_PROFILES_DIR", str(profiles))
    get_settings.cache_clear()
    spec = importlib.util.spec_from_file_location("ingest_dags", PROJECT_ROOT / "dags" / "ingest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # no import error
    get_settings.cache_clear()
    dags = {k: v for k, v in vars(module).items() if k.endswith("_ingest")}
    assert sorted(dags) == ["airline_tweets_ingest", "amazon_polarity_ingest", "broken_ingest", "one_class_ingest"]
    assert "broken-profile" not in dags["amazon_polarity_ingest"].tags
    assert "broken.yaml" in dags["broken_ingest"].doc_md and "not valid YAML" in dags["broken_ingest"].doc_md
    assert "one_class.yaml: key 'labels'" in dags["one_class_ingest"].doc_md


# --- conflicting labels: never resolved silently ---------------------------------------------------


@pytest.mark.usefixtures("lake")
def test_conflicting_labels_are_detected_quarantined_and_counted() -> None:
    text = '"Battery","died after a week of light use"'
    run = validate(
        profile("amazon_polarity"),
        {"first.csv": f'2,{text}\n2,"Sound","crisp and loud"\n'.encode(), "second.csv": f"1,{text}\n".encode()},
    )  # read_run checks rows in = valid + quarantined, per file and for the run
    conflicts = run.manifest["label_conflicts"]
    assert conflicts["texts"] == 1 and conflicts["rows_quarantined"] == 1
    (row,) = [r for r in run.rows if r["reasons"][0].startswith("label conflict")]
    assert row["record"] == 1 and row["raw"].startswith("2,")
    assert sorted((r["title"], r["polarity"]) for r in run.valid) == [("Battery", "1"), ("Sound", "2")]
