"""The GX expectation suites of every profile, built from the profile and stored in include/gx/.

``python -m etl.validation.suites`` rewrites ``include/gx/<profile>.json`` (training input,
label required) and ``include/gx/<profile>_inference.json`` (scoring input, label not
checked) for every profile in include/profiles; a unit test fails when the stored files
differ from what this module builds, so a reviewer sees suite changes in the diff.

The suite runs on a frame of the parsed records with the profile's own columns plus
three derived ones (see :data:`TEXT`, :data:`RAW`, :data:`CONTENT_HASH`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.profiles import Profile, load_profiles
from include.settings import PROJECT_ROOT

if TYPE_CHECKING:
    import great_expectations as gx

from etl.validation.parse import INVALID_MARK

SUITES_DIR = PROJECT_ROOT / "include" / "gx"
#: The profile's text fields joined with its text_separator (empty fields left out).
TEXT = "_text"
#: The raw record text, undecodable bytes replaced by U+FFFF.
RAW = "_raw"
#: Hash of the record's field values: equal for exact duplicate rows.
CONTENT_HASH = "_content_hash"
#: meta keys on each expectation: the reason written to quarantine, and whether failing rows are quarantined.
META_REASON = "nlpops_reason"
META_QUARANTINE = "nlpops_quarantine"


def suite_name(profile: Profile, require_label: bool) -> str:
    return profile.name if require_label else f"{profile.name}_inference"


def build_suite(profile: Profile, require_label: bool = True) -> gx.ExpectationSuite:
    """The GX ExpectationSuite of ``profile`` (training input when ``require_label``, else scoring input)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    v = profile.validation
    text_cols = ", ".join(profile.fields.text)

    def meta(reason: str, quarantine: bool = True) -> dict[str, Any]:
        return {META_REASON: reason, META_QUARANTINE: quarantine}

    label = profile.fields.label
    required = [TEXT, RAW, CONTENT_HASH]
    exps: list[Any] = []
    if require_label:
        required.insert(0, label)
        exps += [
            gxe.ExpectColumnValuesToNotBeNull(column=label, meta=meta(f"label ({label}) is empty")),
            gxe.ExpectColumnValuesToBeInSet(
                column=label,
                value_set=list(profile.labels),
                meta=meta(f"label ({label}) is not in the label set {list(profile.labels)}"),
            ),
        ]
    if profile.fields.id:
        required.insert(0, profile.fields.id)
        exps.append(
            gxe.ExpectColumnValuesToNotBeNull(column=profile.fields.id, meta=meta(f"id ({profile.fields.id}) is empty"))
        )
    exps += [
        gxe.ExpectColumnValuesToNotBeNull(column=TEXT, meta=meta(f"text ({text_cols}) is null/empty")),
        gxe.ExpectColumnValuesToNotMatchRegex(
            column=TEXT, regex=r"^\s*$", meta=meta(f"text ({text_cols}) is blank (only whitespace)")
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column=TEXT,
            min_value=v.min_text_chars,
            max_value=v.max_text_chars,
            meta=meta(f"text ({text_cols}) length is outside {v.min_text_chars}..{v.max_text_chars} characters"),
        ),
        # Literal characters, not escapes: the same pattern works in Python's re and in RE2.
        gxe.ExpectColumnValuesToNotMatchRegex(
            column=RAW, regex=INVALID_MARK, meta=meta("non-UTF-8 bytes in the record")
        ),
        gxe.ExpectColumnValuesToNotMatchRegex(column=RAW, regex="\x00", meta=meta("NUL byte in the record")),
        # Duplicates are reported, not quarantined: the Spark ETL drops exact repeats.
        gxe.ExpectColumnValuesToBeUnique(
            column=CONTENT_HASH, meta=meta("duplicate of another row (flagged, kept)", quarantine=False)
        ),
        gxe.ExpectTableColumnsToMatchSet(
            column_set=required, exact_match=False, meta=meta("required columns are missing")
        ),
    ]
    return gx.ExpectationSuite(name=suite_name(profile, require_label), expectations=exps)


def suite_to_dict(suite: gx.ExpectationSuite) -> dict[str, Any]:
    """The suite as stored: GX's JSON without the random ids and the GX version (stable across runs)."""
    data: dict[str, Any] = dict(suite.to_json_dict())
    keep = ("type", "kwargs", "meta", "severity")
    expectations = [{k: exp[k] for k in keep if k in exp} for exp in data["expectations"]]
    return {"name": data["name"], "expectations": expectations}


def suite_json(suite: gx.ExpectationSuite) -> str:
    return json.dumps(suite_to_dict(suite), indent=2, sort_keys=True) + "\n"


def write_suites(profiles_dir: Path | None = None, out_dir: Path = SUITES_DIR) -> list[Path]:
    """Write the training and inference suites of every profile; returns the files written."""
    from include.settings import get_settings

    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, profile in load_profiles(profiles_dir or get_settings().profiles_dir).items():
        for require_label in (True, False):
            path = out_dir / f"{suite_name(profile, require_label)}.json"
            path.write_text(suite_json(build_suite(profile, require_label)), encoding="utf-8")
            written.append(path)
        del name
    return written


def main() -> int:
    for path in write_suites():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
