"""Path traversal in object keys is refused (``include.lake.LakePathError``) wherever a key
enters: the lake helper, the sensor's listing, validation, the batch transform, the report pages.

A symlinked *file* pointing outside the lake is one of the dirty-corpus kinds
(``test_bad_input.py``, kind ``symlink_outside``): validated as refused whole, never read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from unit.ml.test_inference_support import make_model_dir

from include import lake as lk
from include.lake import LakePathError

pytestmark = pytest.mark.reliability

TRAVERSALS = [
    "../secret.csv",
    "a/../../secret.csv",
    "..",
    "/etc/passwd",
    "a\\..\\secret.csv",
    "a\x00.csv",
    "%2e%2e/secret.csv",  # URL-encoded
    "%2E%2E%2Fsecret.csv",
    "..%2fsecret.csv",
    "%2fetc%2fpasswd",
    "a/%2e%2e/%2e%2e/secret.csv",
    "%252e%252e%252fsecret.csv",  # double-encoded
    "%5c..%5csecret.csv",  # encoded backslashes
]
FINE = [
    "dirty/Bewertungen März 2026 – café Ω.csv",
    "50%off.csv",
    "a..b/c...csv",
    "run=20260301T020000",
    "caf%C3%A9.csv",
]


@pytest.mark.parametrize("key", TRAVERSALS)
def test_traversal_key_refused_by_the_lake(lake: str, key: str) -> None:
    with pytest.raises(LakePathError):
        lk.safe_key(key)
    with pytest.raises(LakePathError):
        lk.join(lake_uri(lake, "raw"), key)


@pytest.mark.parametrize("key", FINE)
def test_ordinary_keys_pass(lake: str, key: str) -> None:
    """The control case: odd but harmless names are not refused."""
    assert lk.safe_key(key) == key
    assert lk.join(lake_uri(lake, "raw"), key).endswith(key)


def lake_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


@pytest.mark.parametrize("prefix", ["raw/../../outside", "raw/%2e%2e/%2e%2e/outside", "raw/p/..", "../lake-other/raw"])
def test_sensor_listing_refuses_a_prefix_that_escapes_the_lake(lake: str, prefix: str) -> None:
    from nlpops.ledger import find_new_objects

    with pytest.raises(LakePathError):
        find_new_objects(lake_uri(lake, prefix), lake_uri(lake, "ledger", "p"), patterns=["*.csv"], lake_root_uri=lake)


def test_symlinked_folder_escaping_the_zone_is_never_read(lake: str, tmp_path: Path) -> None:
    """raw/p/dir.csv -> a folder outside the lake: the sensor reports it, validation refuses it unread."""
    from unit.validation.validation_helpers import profile

    from etl.validation import validate_objects
    from include.settings import get_settings
    from nlpops.ledger import find_new_objects

    s = get_settings()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text('1,"t","a secret review"\n')
    raw = Path(lk.local_path(s.zone_uri("raw", "amazon_polarity")))
    raw.mkdir(parents=True)
    os.symlink(outside, raw / "dir.csv")
    os.symlink(outside / "secret.csv", raw / "file.csv")
    objects = find_new_objects(
        s.zone_uri("raw", "amazon_polarity"), s.zone_uri("ledger", "p"), patterns=["*.csv"], lake_root_uri=s.lake_uri
    )
    assert sorted(o.key for o in objects) == ["dir.csv", "file.csv"] and all(o.is_symlink for o in objects)
    uris = {z: s.zone_uri(z.split("_")[0], "amazon_polarity", "r1") for z in ("validated_uri", "quarantine_uri")}
    manifest = validate_objects(
        profile(),
        objects,
        run_key="r1",
        lake_root_uri=s.lake_uri,
        report_uri=s.zone_uri("reports", "validation", "amazon_polarity", "r1"),
        **uris,
    )
    assert manifest["rows_valid"] == 0 and manifest["rows_in"] == manifest["rows_quarantined"] == 2
    assert all("outside the lake" in f["reason"] for f in manifest["files"])
    copied = list(Path(lk.local_path(uris["quarantine_uri"])).rglob("*secret*"))
    assert copied == []  # not even copied into quarantine


@pytest.mark.parametrize("key", ["../../escaped.csv", "%2e%2e/%2e%2e/escaped.csv", "/tmp/escaped.csv"])
def test_batch_transform_refuses_an_object_key_that_escapes_its_output(lake: str, tmp_path: Path, key: str) -> None:
    from include.settings import get_settings
    from ml.transform import BatchTransform

    s = get_settings()
    src = s.zone_uri("inference-input", "airline_tweets", "t.jsonl")
    lk.write_text(src, '{"tweet_id": "1", "text": "great flight"}\n')
    job = BatchTransform(make_model_dir(tmp_path / "m"), workers=0)
    out = s.zone_uri("inference-output", "airline_tweets", "job")
    with pytest.raises(LakePathError):
        job.run([{"uri": src, "key": key}], out, "job")
    written = [p for p in Path(lk.local_path(s.lake_uri)).rglob("*.out")]
    assert written == [] and not Path("/tmp/escaped.csv.out").exists()


@pytest.mark.parametrize(
    "key", ["../secret.txt", "%2e%2e/secret.txt", "drift/../../secret.txt", "/etc/passwd", "link/x"]
)
def test_report_pages_refuse_keys_that_leave_the_reports_zone(lake: str, tmp_path: Path, key: str) -> None:
    from include.settings import get_settings
    from nlpops.ui import model_ops

    s = get_settings()
    reports = Path(lk.local_path(s.zone_uri("reports")))
    (reports / "drift").mkdir(parents=True)
    (reports / "drift" / "ok.html").write_text("<p>ok</p>")
    (Path(lk.local_path(s.lake_uri)) / "secret.txt").write_text("secret")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x").write_text("secret")
    os.symlink(tmp_path / "outside", reports / "link")
    assert model_ops.read_report(s, "drift/ok.html")[0] == b"<p>ok</p>"  # the control case
    with pytest.raises(LakePathError):
        model_ops.read_report(s, key)
