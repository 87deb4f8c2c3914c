"""Label conflicts: the same text with different labels is never resolved silently.

Two valid records conflict when their texts are equal after normalisation (the same
``ml.textnorm.content_hash_of`` the ETL deduplicates by) and their canonical classes
(``profile.labels``) differ. The profile's ``validation.label_conflicts`` policy decides:

* ``latest`` (default): the record ingested last wins — the file with the latest
  modification time (S3 ``LastModified``), then the later record of that file. Every
  record of the text with another label is quarantined with a reason naming the winner,
  so a later file that corrects a label takes effect. Across runs the training reader
  (``ml.data.read_processed``) applies the same rule by publication order.
* ``drop``: every record of a contested text is quarantined (nobody's label is trusted).

Records with the same text and the same label are plain duplicates (the ETL keeps one).
Counts go into the validation manifest (``label_conflicts``) and, as an expectation of
its own, into the GX Data Docs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Policy = Literal["latest", "drop"]
POLICIES: tuple[str, ...] = ("latest", "drop")
#: The column of the conflict frame GX checks (one row per text seen more than once).
LABELS_PER_TEXT = "_labels_per_text"


@dataclass(frozen=True)
class Loser:
    """A valid record to move to quarantine: where it is and why."""

    file: int  # index of the file in the run's processing order
    record: int
    line: int
    reason: str


@dataclass
class LabelConflicts:
    """Collects (text hash, label, ingest order) of every valid record of a run, then picks the losers.

    ``files`` are the source URIs by file index and ``order`` their ingest rank (larger =
    ingested later). Memory: one small tuple per distinct text, a list only for repeated texts.
    """

    policy: str = "latest"
    files: list[str] = field(default_factory=list)
    order: list[tuple[float, str]] = field(default_factory=list)
    _first: dict[bytes, tuple[str, int, int, int]] = field(default_factory=dict)
    _groups: dict[bytes, list[tuple[str, int, int, int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"validation.label_conflicts={self.policy!r}: use one of {list(POLICIES)}")

    def add_file(self, uri: str, mtime: float) -> int:
        """Register a source file; returns its index for :meth:`add`."""
        self.files.append(uri)
        self.order.append((float(mtime), uri))
        return len(self.files) - 1

    def add(self, text_hash: str, label: str, file: int, record: int, line: int) -> None:
        key = bytes.fromhex(text_hash)
        entry = (label, file, record, line)
        group = self._groups.get(key)
        if group is not None:
            group.append(entry)
            return
        first = self._first.get(key)
        if first is None:
            self._first[key] = entry
        else:
            self._groups[key] = [first, entry]

    def _rank(self, entry: tuple[str, int, int, int]) -> tuple[float, str, int]:
        mtime, uri = self.order[entry[1]]
        return mtime, uri, entry[2]

    def resolve(self) -> tuple[list[Loser], list[tuple[str, int]]]:
        """The records to quarantine, and per repeated text ``(hash, distinct labels)`` (for GX)."""
        losers: list[Loser] = []
        groups: list[tuple[str, int]] = []
        for key, entries in self._groups.items():
            labels = {e[0] for e in entries}
            groups.append((key.hex(), len(labels)))
            if len(labels) < 2:
                continue
            if self.policy == "drop":
                where = ", ".join(sorted(f"{lab!r}" for lab in labels))
                for e in entries:
                    reason = (
                        f"label conflict: the same text is labelled {where} in this run; "
                        "validation.label_conflicts=drop quarantines every record of it"
                    )
                    losers.append(Loser(e[1], e[2], e[3], reason))
                continue
            winner = max(entries, key=self._rank)
            for e in entries:
                if e[0] == winner[0]:
                    continue
                reason = (
                    f"label conflict: the same text is labelled {winner[0]!r} by a later record "
                    f"({self.files[winner[1]]} record {winner[2]}); validation.label_conflicts=latest "
                    f"keeps the latest label and quarantines this {e[0]!r}"
                )
                losers.append(Loser(e[1], e[2], e[3], reason))
        return losers, groups

    def final_labels(self, losers: Iterable[Loser]) -> dict[str, str]:
        """Text hash → the label this run keeps for it (texts dropped by the policy left out)."""
        lost = {(x.file, x.record) for x in losers}
        out: dict[str, str] = {}
        for key, entry in self._first.items():
            entries = self._groups.get(key, [entry])
            kept = [e for e in entries if (e[1], e[2]) not in lost]
            if kept:
                out[key.hex()] = kept[0][0]
        return out

    def summary(self, losers: Iterable[Loser], groups: list[tuple[str, int]]) -> dict[str, Any]:
        """The manifest's ``label_conflicts`` entry."""
        rows = list(losers)
        return {
            "policy": self.policy,
            "texts": sum(1 for _, n in groups if n > 1),
            "rows_quarantined": len(rows),
        }


def across_runs(processed_uri: str, labels: dict[str, str], policy: str) -> dict[str, Any]:
    """Texts of this run whose label differs from the one earlier published runs gave them.

    Counted here so the run summary says it; the training reader (``ml.data.read_processed``)
    applies the policy: ``latest`` — this run's label wins; ``drop`` — the text is dropped.
    """
    import pyarrow.dataset as ds

    from include import lake

    previous: dict[str, set[str]] = {}
    for run_uri in lake.published(processed_uri):
        if not run_uri.rsplit("/", 1)[-1].startswith("run="):
            continue
        fs, path = lake.filesystem(run_uri)
        files = [f for f in fs.find(path) if f.endswith(".parquet") and "/_" not in f[len(path) :] and "/." not in f]
        if not files:
            continue
        table = ds.dataset(files, filesystem=fs, format="parquet").to_table(columns=["content_hash", "label"])
        for h, label in zip(table["content_hash"].to_pylist(), table["label"].to_pylist(), strict=True):
            if h in labels:
                previous.setdefault(h, set()).add(label)
    changed = sum(1 for h, seen in previous.items() if seen - {labels[h]})
    resolution = "this run's label wins" if policy == "latest" else "the text is dropped from training"
    return {"texts": changed, "resolution": resolution if changed else ""}


def raw_records(uri: str, key: str, profile: Any, require_label: bool, wanted: set[int]) -> dict[int, str]:
    """The raw text of records ``wanted`` (1-based data record numbers) of one file, read again.

    Numbered exactly as validation numbers them (header and preamble are not records), so a
    quarantined conflict carries its record as it is in the file.
    """
    from etl.validation import parse

    found: dict[int, str] = {}
    with parse.open_text(uri, key) as text:
        records = parse.iter_records(text, profile)
        layout, ahead = parse.detect_layout(records, profile, require_label)
        offset = layout.preamble_records + (1 if layout.has_header else 0)
        for rec in [*ahead, *records]:
            number = rec.record - offset
            if number in wanted:
                found[number] = rec.raw
                if len(found) == len(wanted):
                    break
    return found


def gx_conflict_check(context: Any, profile_name: str, policy: str, groups: list[tuple[str, int]]) -> dict[str, Any]:
    """Run the label-conflict expectation on one row per repeated text, so Data Docs show the count.

    Returns ``{"success", "element_count", "unexpected_count"}`` (texts with more than one label).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd

    suite = context.suites.add(
        gx.ExpectationSuite(
            name=f"{profile_name}_label_conflicts",
            expectations=[
                gxe.ExpectColumnValuesToBeBetween(
                    column=LABELS_PER_TEXT,
                    min_value=1,
                    max_value=1,
                    meta={
                        "nlpops_reason": f"the same text carries more than one label (policy {policy!r}: "
                        + (
                            "the latest record wins, the others are quarantined)"
                            if policy == "latest"
                            else "all are quarantined)"
                        )
                    },
                )
            ],
        )
    )
    asset = context.data_sources.add_pandas("label_conflicts").add_dataframe_asset(profile_name)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"{profile_name}_label_conflicts",
            data=asset.add_batch_definition_whole_dataframe("texts"),
            suite=suite,
        )
    )
    frame = pd.DataFrame(
        {"_content_hash": [h for h, _ in groups], LABELS_PER_TEXT: [n for _, n in groups]},
        index=pd.RangeIndex(len(groups)),
    )
    result = validation.run(batch_parameters={"dataframe": frame}, run_id=gx.RunIdentifier(run_name="label-conflicts"))
    (res,) = result.results
    return {
        "success": bool(res.success),
        "element_count": int(res.result.get("element_count") or 0),
        "unexpected_count": int(res.result.get("unexpected_count") or 0),
    }


__all__ = [
    "LABELS_PER_TEXT",
    "POLICIES",
    "LabelConflicts",
    "Loser",
    "Policy",
    "across_runs",
    "gx_conflict_check",
    "raw_records",
]
