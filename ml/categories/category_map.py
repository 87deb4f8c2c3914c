"""The versioned category map of a profile: the classes a model is trained on, in the lake.

Version 0 is the profile YAML's ``labels`` (the seed); it is never written. Every accepted
category decision writes the next version as one JSON object
``models/<profile>/_category_map/v<NNNN>.json`` (full content, never edited in place), so
versions can be listed, read and diffed. The current version is the highest number.
Readers: the train DAG (classes of the next model), the gate, the categories DAG.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from include import lake

MAP_DIR = "_category_map"
_VERSION_FILE = re.compile(r"^v(\d{4,})\.json$")


class CategoryMapError(ValueError):
    """A category map version is missing, malformed or would not be a valid label set."""


@dataclass(frozen=True)
class CategoryMap:
    """One version of a profile's label set.

    ``classes``: canonical class names in order (the model's label space);
    ``labels``: raw label value → class (the profile's mapping, plus raw names of new classes);
    ``added``: class → decision that created it; ``parent``: previous version number.
    """

    profile: str
    version: int
    classes: list[str]
    labels: dict[str, str]
    parent: int | None = None
    created_at: str = ""
    created_by: str = ""
    reason: str = ""
    added: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str) -> CategoryMap:
        try:
            out = cls(
                profile=str(data["profile"]),
                version=int(data["version"]),
                classes=[str(c) for c in data["classes"]],
                labels={str(k): str(v) for k, v in dict(data["labels"]).items()},
                parent=None if data.get("parent") is None else int(data["parent"]),
                created_at=str(data.get("created_at", "")),
                created_by=str(data.get("created_by", "")),
                reason=str(data.get("reason", "")),
                added=dict(data.get("added") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CategoryMapError(f"{where}: not a category map ({type(exc).__name__}: {exc})") from exc
        out.check(where)
        return out

    def check(self, where: str) -> None:
        if len(set(self.classes)) != len(self.classes):
            raise CategoryMapError(f"{where}: repeated classes in {self.classes}")
        if not self.classes and self.version > 0:
            raise CategoryMapError(f"{where}: category map v{self.version} has no classes (only the seed may be empty)")
        if len(self.classes) == 1 and self.version == 0:
            raise CategoryMapError(f"{where}: a seed category map needs no class or at least two, has {self.classes}")
        stray = sorted(set(self.labels.values()) - set(self.classes))
        if stray:
            raise CategoryMapError(f"{where}: labels map to {stray}, which are not among the classes {self.classes}")

    @property
    def trainable(self) -> bool:
        """At least two classes: a classifier can be trained on this version.

        A profile with no labels (bootstrap) starts at an empty seed; an analyst who names one
        cluster only gets a one-class version, which waits for a second class before training.
        """
        return len(self.classes) >= 2

    @property
    def label(self) -> str:
        """``v<N>``: how model versions and reports name this version."""
        return f"v{self.version}"


def seed_map(profile: Any) -> CategoryMap:
    """Version 0: the profile YAML's label mapping."""
    return CategoryMap(
        profile=profile.name,
        version=0,
        classes=list(profile.classes),
        labels=dict(profile.labels),
        created_by="profile YAML",
        reason=f"seed from include/profiles/{profile.name}.yaml",
    )


def map_dir_uri(models_uri: str) -> str:
    """``models/<profile>/_category_map`` (``models_uri`` is ``models/<profile>``)."""
    return lake.join(models_uri, MAP_DIR)


def version_uri(models_uri: str, version: int) -> str:
    return lake.join(map_dir_uri(models_uri), f"v{version:04d}.json")


def list_versions(models_uri: str) -> list[int]:
    """Version numbers written so far (0, the seed, is implicit and not listed)."""
    fs, path = lake.filesystem(map_dir_uri(models_uri))
    if not fs.exists(path):
        return []
    out = []
    for entry in fs.ls(path, detail=False):
        m = _VERSION_FILE.match(str(entry).rstrip("/").rsplit("/", 1)[-1])
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def read_version(profile: Any, models_uri: str, version: int) -> CategoryMap:
    """Version ``version`` (0 = the seed)."""
    if version == 0:
        return seed_map(profile)
    uri = version_uri(models_uri, version)
    if not lake.exists(uri):
        raise CategoryMapError(f"{uri}: category map version {version} of {profile.name} does not exist")
    cmap = CategoryMap.from_dict(lake.read_json(uri), where=uri)
    if cmap.version != version or cmap.profile != profile.name:
        raise CategoryMapError(f"{uri}: holds version {cmap.version} of {cmap.profile!r}, not {version}")
    return cmap


def current_map(profile: Any, models_uri: str) -> CategoryMap:
    """The highest written version, or the seed when none was written."""
    versions = list_versions(models_uri)
    return read_version(profile, models_uri, versions[-1]) if versions else seed_map(profile)


def profile_with_current_map(profile: Any, models_uri: str) -> Any:
    """``profile`` with the label mapping of its current category-map version (the YAML is version 0).

    What validation and the ETL of training input read, so a hand-labelled file that uses a class
    an analyst accepted is validated and mapped, not quarantined as an unknown label.
    """
    cmap = current_map(profile, models_uri)
    if cmap.labels == dict(profile.labels):
        return profile
    return profile.model_copy(update={"labels": dict(cmap.labels)})


def write_next(
    current: CategoryMap,
    models_uri: str,
    *,
    classes: Sequence[str],
    labels: dict[str, str],
    added: dict[str, dict[str, Any]],
    created_at: str,
    created_by: str,
    reason: str,
) -> CategoryMap:
    """Write version ``current.version + 1``; refuses to overwrite an existing version."""
    nxt = CategoryMap(
        profile=current.profile,
        version=current.version + 1,
        classes=list(classes),
        labels=dict(labels),
        parent=current.version,
        created_at=created_at,
        created_by=created_by,
        reason=reason,
        added=added,
    )
    uri = version_uri(models_uri, nxt.version)
    nxt.check(uri)
    if lake.exists(uri):
        existing = lake.read_json(uri)
        # A retry of the same decision finds its own version: same content = done, anything else = conflict.
        if {k: v for k, v in existing.items() if k != "created_at"} == {
            k: v for k, v in nxt.to_dict().items() if k != "created_at"
        }:
            return CategoryMap.from_dict(existing, where=uri)
        raise CategoryMapError(
            f"{uri} already exists with other content: another decision wrote version {nxt.version} "
            "first; re-run the categories DAG against the new current version"
        )
    lake.write_json(uri, nxt.to_dict())
    return nxt


def diff(old: CategoryMap, new: CategoryMap) -> dict[str, Any]:
    """What changed between two versions (added/removed classes, raw labels remapped)."""
    return {
        "from": old.version,
        "to": new.version,
        "added_classes": [c for c in new.classes if c not in old.classes],
        "removed_classes": [c for c in old.classes if c not in new.classes],
        "labels_added": {k: v for k, v in new.labels.items() if k not in old.labels},
        "labels_changed": {
            k: [old.labels[k], v] for k, v in new.labels.items() if k in old.labels and old.labels[k] != v
        },
    }


__all__ = [
    "CategoryMap",
    "CategoryMapError",
    "current_map",
    "diff",
    "list_versions",
    "profile_with_current_map",
    "read_version",
    "seed_map",
    "version_uri",
    "write_next",
]
