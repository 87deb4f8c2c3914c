"""The stored suites in include/gx/ are exactly what the code builds from the profiles."""

from __future__ import annotations

import pytest

from etl.validation.suites import SUITES_DIR, build_suite, suite_json, suite_name, write_suites
from include.profiles import load_profiles
from include.settings import PROJECT_ROOT

PROFILES = load_profiles(PROJECT_ROOT / "include" / "profiles")


@pytest.mark.parametrize("require_label", [True, False], ids=["train", "inference"])
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_stored_suite_matches_profile(name, require_label):
    prof = PROFILES[name]
    path = SUITES_DIR / f"{suite_name(prof, require_label)}.json"
    assert path.exists(), f"{path} missing: run `python -m etl.validation.suites`"
    assert path.read_text(encoding="utf-8") == suite_json(build_suite(prof, require_label)), (
        f"{path} differs from include/profiles/{name}.yaml: run `python -m etl.validation.suites` and commit"
    )


def test_no_stale_suites():
    expected = {f"{suite_name(p, r)}.json" for p in PROFILES.values() for r in (True, False)}
    assert {p.name for p in SUITES_DIR.glob("*.json")} == expected


def test_suite_content_follows_the_profile(tmp_path):
    prof = PROFILES["airline_tweets"]
    train = build_suite(prof, True)
    types = [(e.expectation_type, getattr(e, "column", None)) for e in train.expectations]
    assert ("expect_column_values_to_be_in_set", "airline_sentiment") in types
    assert ("expect_column_values_to_not_be_null", "tweet_id") in types
    (lengths,) = [e for e in train.expectations if e.expectation_type == "expect_column_value_lengths_to_be_between"]
    assert (lengths.min_value, lengths.max_value) == (1, 1000)
    inference = build_suite(prof, False)
    assert all(getattr(e, "column", None) != "airline_sentiment" for e in inference.expectations)
    written = write_suites(out_dir=tmp_path)
    assert len(written) == 2 * len(PROFILES)
