"""Helpers for the validation tests: write tiny raw files into the test lake and validate them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from include import lake as lake_mod
from include.profiles import Profile, load_profile
from include.settings import PROJECT_ROOT, get_settings

PROFILES = PROJECT_ROOT / "include" / "profiles"


def profile(name: str = "amazon_polarity", **validation: Any) -> Profile:
    """A shipped profile; validation settings overridden (tests default to no circuit breaker)."""
    p = load_profile(PROFILES / f"{name}.yaml")
    settings = {"max_quarantine_rate": 1.0, **validation}
    return p.model_copy(update={"validation": p.validation.model_copy(update=settings)})


@dataclass
class Run:
    manifest: dict[str, Any]
    rows: list[dict[str, Any]]  # quarantine/rows.jsonl
    valid: list[dict[str, Any]]  # validated Parquet rows
    root: Path  # the lake folder
    validated_uri: str
    quarantine_uri: str
    report_uri: str

    def file(self, name: str) -> dict[str, Any]:
        """The manifest entry of the raw file called ``name``."""
        (entry,) = [f for f in self.manifest["files"] if f["uri"].endswith("/" + name)]
        return entry

    def rows_of(self, name: str) -> list[dict[str, Any]]:
        """Quarantined rows of the raw file called ``name``."""
        return [r for r in self.rows if r["source_uri"].endswith("/" + name)]

    def valid_of(self, name: str) -> list[dict[str, Any]]:
        """Validated rows of the raw file called ``name``."""
        return [r for r in self.valid if r["_source_uri"].endswith("/" + name)]

    def reasons(self, record: int, name: str | None = None) -> list[str]:
        rows = self.rows_of(name) if name else self.rows
        (row,) = [r for r in rows if r["record"] == record]
        return row["reasons"]


def write_raw(root: Path, profile_name: str, files: dict[str, bytes]) -> Path:
    folder = root / "raw" / profile_name
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def validate(
    prof: Profile,
    files: dict[str, bytes] | None = None,
    *,
    run_key: str = "r1",
    require_label: bool = True,
) -> Run:
    """Write ``files`` under raw/<profile>/, list them like the sensor and validate them."""
    from etl.validation import validate_objects

    settings = get_settings()
    root = Path(lake_mod.local_path(settings.lake_uri))
    folder = write_raw(root, prof.name, files or {})
    objects = lake_mod.list_objects(folder.as_uri())
    uris = {
        "validated_uri": settings.zone_uri("validated", prof.name, run_key),
        "quarantine_uri": settings.zone_uri("quarantine", prof.name, run_key),
        "report_uri": settings.zone_uri("reports", "validation", prof.name, run_key),
    }
    manifest = validate_objects(
        prof, objects, run_key=run_key, lake_root_uri=settings.lake_uri, require_label=require_label, **uris
    )
    return read_run(manifest, root, **uris)


def read_run(manifest: dict[str, Any], root: Path, validated_uri: str, quarantine_uri: str, report_uri: str) -> Run:
    rows_text = Path(lake_mod.local_path(quarantine_uri), "rows.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in rows_text.splitlines()]
    valid = pq.read_table(lake_mod.local_path(validated_uri)).to_pylist()
    # Conservation, checked on every run: the manifest adds up and matches the outputs.
    assert manifest["rows_in"] == manifest["rows_valid"] + manifest["rows_quarantined"]
    assert manifest["rows_valid"] == len(valid)
    whole = sum(1 for f in manifest["files"] if f["status"] == "quarantined_whole")
    # A file refused by the per-file breaker: every row counts as quarantined, rows.jsonl holds the failing ones.
    refused = sum(
        f["rows_in"] - sum(1 for r in rows if r["source_uri"] == f["uri"])
        for f in manifest["files"]
        if f["status"] == "refused"
    )
    assert manifest["rows_quarantined"] == len(rows) + whole + refused
    for f in manifest["files"]:
        assert f["rows_in"] == f["rows_valid"] + f["rows_quarantined"]
    return Run(manifest, rows, valid, root, validated_uri, quarantine_uri, report_uri)
