"""A person's decisions on clusters → a new category-map version and pseudo-labelled rows.

Per cluster the analyst picks one option (Airflow HITL form):

* ``new category`` with a name: the name becomes a class of the next map version, and the
  cluster's members whose membership is at least the threshold become training rows of it;
* ``belongs to <existing>``: members above the threshold become training rows of that class
  (no map change);
* ``ignore`` (also the timeout default): nothing changes.

Every decision is recorded with who, when and its id (``<run key>/cluster-<n>``); the
pseudo-labelled rows carry ``pseudo_label=True``, their ``cluster`` and ``decision_id``.
They are published as one processed run (``processed/<profile>/run=categories-<run key>``)
that the train DAG reads like any other, split by the ETL's own hash rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from include import lake
from ml.categories.category_map import CategoryMap, current_map, write_next

OPTION_NEW = "new category (name it below)"
OPTION_IGNORE = "ignore"
BELONGS_PREFIX = "belongs to "
RUN_PREFIX = "categories-"


class DecisionError(ValueError):
    """A decision cannot be applied as given (names the cluster and what to fix)."""


def options_for(classes: Sequence[str]) -> list[str]:
    """The HITL options of one cluster: new category, belongs to each class, ignore."""
    return [OPTION_NEW, *(f"{BELONGS_PREFIX}{c}" for c in classes), OPTION_IGNORE]


@dataclass(frozen=True)
class Decision:
    decision_id: str
    cluster: int
    action: str  # "new" | "existing" | "ignore"
    category: str | None
    by: str
    at: str
    size: int
    timed_out: bool = False
    pseudo_labels: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_response(
    response: Mapping[str, Any] | None, *, cluster: int, size: int, run_key: str, classes: Sequence[str]
) -> Decision:
    """One HITL response (``chosen_options``, ``params_input``, ``responded_by_user``, ``responded_at``)."""
    decision_id = f"{run_key}/cluster-{cluster}"
    if not response:
        return Decision(decision_id, cluster, "ignore", None, "nobody (no response)", "", size, timed_out=True)
    chosen = list(response.get("chosen_options") or [])
    user = response.get("responded_by_user") or {}
    by = str(user.get("name") or user.get("id") or "unknown") if isinstance(user, Mapping) else str(user)
    at = str(response.get("responded_at") or "")
    if len(chosen) != 1:
        raise DecisionError(f"cluster {cluster}: expected exactly one option, got {chosen}")
    option = chosen[0]
    if option == OPTION_IGNORE:
        return Decision(decision_id, cluster, "ignore", None, by, at, size)
    if option.startswith(BELONGS_PREFIX):
        target = option[len(BELONGS_PREFIX) :]
        if target not in classes:
            raise DecisionError(f"cluster {cluster}: {target!r} is not a class of the current map {list(classes)}")
        return Decision(decision_id, cluster, "existing", target, by, at, size)
    if option == OPTION_NEW:
        name = str((response.get("params_input") or {}).get("name") or "").strip()
        if not name:
            raise DecisionError(
                f"cluster {cluster}: 'new category' was chosen without a name; clear the review task "
                "and answer again with the form field 'name' filled in"
            )
        return Decision(decision_id, cluster, "new", name, by, at, size)
    raise DecisionError(f"cluster {cluster}: unknown option {option!r}")


def apply_decisions(
    profile: Any,
    models_uri: str,
    decisions: Sequence[Decision],
    *,
    expected_version: int,
    created_at: str,
) -> tuple[CategoryMap, CategoryMap | None]:
    """Write the next map version when a decision adds a class; return (current, new or None).

    ``expected_version`` is the version the clusters were described against: when another
    run wrote a version in between, the decisions are refused rather than merged blindly.
    """
    current = current_map(profile, models_uri)
    ours = {d.decision_id for d in decisions if d.action == "new"}
    if (
        current.version == expected_version + 1
        and current.added
        and {str(v.get("decision_id")) for v in current.added.values()} <= ours
    ):
        # A retry of the task that already wrote this version: the same decisions, nothing more to do.
        from ml.categories.category_map import read_version

        return read_version(profile, models_uri, expected_version), current
    if current.version != expected_version:
        raise DecisionError(
            f"the category map of {profile.name} moved from v{expected_version} to v{current.version} "
            "while this review was open; re-run the categories DAG"
        )
    added: dict[str, dict[str, Any]] = {}
    for d in decisions:
        if d.action != "new" or d.category is None:
            continue
        if d.category in current.classes:
            raise DecisionError(
                f"cluster {d.cluster}: {d.category!r} is already a class of map v{current.version}; "
                f"answer 'belongs to {d.category}' instead"
            )
        if d.category in added:
            continue  # two clusters named the same new category: one class
        added[d.category] = {"decision_id": d.decision_id, "by": d.by, "at": d.at, "cluster": d.cluster}
    if not added:
        return current, None
    labels = {**current.labels, **{name: name for name in added}}
    by = ", ".join(sorted({str(v["by"]) for v in added.values()}))
    new = write_next(
        current,
        models_uri,
        classes=[*current.classes, *added],
        labels=labels,
        added=added,
        created_at=created_at,
        created_by=by,
        reason="new categor" + ("ies " if len(added) > 1 else "y ") + ", ".join(added),
    )
    return current, new


def pseudo_label_rows(
    clusters: Sequence[Mapping[str, Any]], decisions: Sequence[Decision], *, threshold: float
) -> list[dict[str, Any]]:
    """Training rows from accepted clusters: members with membership ≥ ``threshold``."""
    by_cluster = {int(c["cluster"]): c for c in clusters}
    rows = []
    for d in decisions:
        if d.action == "ignore" or d.category is None:
            continue
        cluster = by_cluster.get(d.cluster)
        if cluster is None:
            raise DecisionError(f"decision {d.decision_id}: cluster {d.cluster} is not in the report")
        for m in cluster["members"]:
            if float(m["membership"]) >= threshold:
                rows.append(
                    {
                        "id": str(m["id"]),
                        "text": str(m["text"]),
                        "label": d.category,
                        "source_uri": str(m.get("batch", "")),
                        "pseudo_label": True,
                        "cluster": int(d.cluster),
                        "decision_id": d.decision_id,
                    }
                )
    return rows


def publish_pseudo_labels(
    rows: Sequence[Mapping[str, Any]], *, processed_uri: str, run_key: str, split_spec: Any, manifest: dict[str, Any]
) -> dict[str, Any]:
    """Write the rows as a published processed run ``run=categories-<run key>``; return its manifest.

    Content hash and split follow the ETL's rules (``etl.transforms.text``), so a text lands
    in the same split as it would through ingest, and the train DAG dedups across runs.
    """
    import tempfile

    import pandas as pd

    from etl.transforms.text import content_hash_of, split_of

    key = f"{RUN_PREFIX}{lake.safe_key(run_key)}"
    frame = pd.DataFrame(list(rows))
    frame["content_hash"] = [content_hash_of(t) for t in frame["text"]]
    frame["ingest_run"] = key
    frame["split"] = [split_of(h, split_spec) for h in frame["content_hash"]]
    frame = frame.drop_duplicates("content_hash", keep="first")
    counts = frame["split"].value_counts().to_dict()
    final = lake.join(processed_uri, f"run={key}")
    staging = lake.staging_uri(final)
    with tempfile.TemporaryDirectory(prefix="nlpops-pseudo-") as tmp:
        for split, part in frame.groupby("split"):
            local = f"{tmp}/{split}.parquet"
            part.drop(columns="split").reset_index(drop=True).to_parquet(local, index=False)
            with open(local, "rb") as fh:
                lake.write_bytes(lake.join(staging, f"split={split}", "part-00000.parquet"), fh.read())
    full = {
        **manifest,
        "run_key": key,
        "rows": len(frame),
        "rows_per_split": {str(k): int(v) for k, v in counts.items()},
        "pseudo_labelled": True,
    }
    lake.publish_dir(staging, final, full)
    return {**full, "uri": final}


__all__ = [
    "BELONGS_PREFIX",
    "OPTION_IGNORE",
    "OPTION_NEW",
    "Decision",
    "DecisionError",
    "apply_decisions",
    "options_for",
    "parse_response",
    "pseudo_label_rows",
    "publish_pseudo_labels",
]
