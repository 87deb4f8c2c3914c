"""Training input is validated and mapped with the current category-map version, not only the YAML's labels."""

from __future__ import annotations

import json
from pathlib import Path

import pendulum

PROFILE = "amazon_polarity"
ROWS = (
    b'2,"Great","Works as described"\n1,"Bad","Broke after a day"\n2,"Fine","Does the job"\n'
    b'1,"Awful","Never again"\n3,"Late","The parcel came three weeks late"\n'
)


def _validate(lake: str, run: str) -> dict:
    from include.settings import get_settings
    from nlpops.dagkit import validate_new_objects
    from nlpops.ledger import find_new_objects

    s = get_settings()
    objects = [o.to_dict() for o in find_new_objects(s.zone_uri("raw", PROFILE), s.zone_uri("ledger", PROFILE, "raw"))]
    when = pendulum.datetime(2026, 1, 1, int(run), tz="UTC")
    context = {"run_id": f"scheduled__{when.isoformat()}", "logical_date": when}
    manifest, _ = validate_new_objects(PROFILE, objects, context, area=PROFILE, require_label=True, ledger_zone="raw")
    return manifest


def test_a_class_added_by_an_analyst_is_a_valid_label(lake: str) -> None:
    from include.profiles import get_profile
    from include.settings import get_settings
    from ml.categories.category_map import current_map, write_next

    raw = Path(lake.removeprefix("file://")) / "raw" / PROFILE
    raw.mkdir(parents=True)
    (raw / "f.csv").write_bytes(ROWS)
    s = get_settings()
    profile = get_profile(PROFILE, s)
    models = s.zone_uri("models", PROFILE)

    # version 0 (the YAML): label 3 is unknown, its row is quarantined; the ETL gets the YAML's labels
    before = _validate(lake, "1")
    assert (before["rows_valid"], before["rows_quarantined"]) == (4, 1)
    assert json.loads(before["profile_json"])["labels"] == dict(profile.labels)

    # an analyst accepted "shipping" (raw label 3): version 1; a hand-labelled file with it now passes
    seed = current_map(profile, models)
    write_next(
        seed,
        models,
        classes=[*seed.classes, "shipping"],
        labels={**seed.labels, "3": "shipping"},
        added={"shipping": {"decision": "d1"}},
        created_at="2026-01-01T00:00:00+00:00",
        created_by="analyst",
        reason="test",
    )
    after = _validate(lake, "2")
    assert (after["rows_valid"], after["rows_quarantined"]) == (5, 0)
    passed = json.loads(after["profile_json"])
    assert passed["labels"]["3"] == "shipping"  # what prepare_text maps the labels with
