"""One drift run: which scored batches to check, and the check of each (metrics, policy, report, history).

The drift DAG is scheduled on the ``predictions`` asset. Airflow hands every asset event
since the previous run to one run (``triggering_asset_events[asset]`` is a list: routine
after a pause or while a run is active with ``max_active_runs=1``). :func:`batches_from_events`
turns *every* event into a batch to check; :func:`pending_batches` adds every scored batch
that has no decision yet (Airflow 3.3 consumes only the events up to the first one queued
for the run, so an event that arrives while a run is queued waits for the *next* event:
without this, the last batch before a quiet period would never be checked). Then
:func:`check_batches` makes **one policy decision per batch**, in order: each batch is
compared with the baseline of the model version that scored it, gets its own report and
its own line in the decision history (naming the batch), and sees the decisions of the
batches before it (hysteresis, cooldown and the daily cap count them).
The run retrains when at least one batch's decision says so; no batch is dropped.

Plain Python: no Airflow import (the DAG passes the events' ``extra`` dicts).
"""

from __future__ import annotations

import logging
import posixpath
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

#: A streak of this many "insufficient data" decisions in a row is worth a notice.
INSUFFICIENT_STREAK_NOTICE = 3
#: At most this many not-yet-checked batches are added to one run (oldest first); the rest wait for the next.
MAX_PENDING_PER_RUN = 20

log = logging.getLogger(__name__)


class DriftCheckError(ValueError):
    """A batch cannot be checked (bad event, missing manifest); the message names which."""


@dataclass(frozen=True)
class BatchRef:
    """One scored batch: the batch_inference run that wrote it, its result files, the model version."""

    run_key: str
    result_files: tuple[str, ...]
    model_version: str

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], *, where: str = "predictions event") -> BatchRef:
        try:
            return cls(str(extra["run_key"]), tuple(str(u) for u in extra["result_files"]), str(extra["model_version"]))
        except (KeyError, TypeError) as exc:
            raise DriftCheckError(
                f"{where} lacks {exc} (extra={dict(extra)!r}): it was not emitted by a batch_inference run's "
                "mark_ledger task; check that batch by hand with the Param inference_run_key"
            ) from None


def batches_from_events(extras: Iterable[Mapping[str, Any] | None]) -> list[BatchRef]:
    """Every batch announced by the triggering ``predictions`` events (their ``extra``), in order.

    A batch announced twice (a retried ``mark_ledger``) is checked once.
    """
    out: dict[str, BatchRef] = {}
    for i, extra in enumerate(extras, 1):
        batch = BatchRef.from_extra(extra or {}, where=f"predictions event {i}")
        out.setdefault(batch.run_key, batch)
    return list(out.values())


def batch_from_manifest(results_uri: str, run_key: str) -> BatchRef | None:
    """The batch of ``run_key`` from its batch manifest (``results/<profile>/_batches/<run>.json``)."""
    from ml.results import read_batch_manifest

    manifest = read_batch_manifest(results_uri, run_key)
    if manifest is None or not manifest["result_files"]:
        return None
    return BatchRef(run_key, tuple(manifest["result_files"]), str(manifest["model_version"]))


def pending_batches(results_uri: str, history: Sequence[Any]) -> list[BatchRef]:
    """Scored batches (their manifests under ``results/<profile>/_batches/``) with no decision yet, oldest first.

    A decision names its batch (``batch`` in the history). Manifests written before the
    newest history line that names no batch (written before decisions did) count as checked.
    """
    from include import lake
    from ml.results import batch_manifest_uri

    checked = {h.batch for h in history if h.batch}
    legacy = [h.time.timestamp() for h in history if not h.batch]
    checked_before = max(legacy) if legacy else float("-inf")
    folder = posixpath.dirname(batch_manifest_uri(results_uri, "x"))
    fs, path = lake.filesystem(folder)
    if not fs.exists(path):
        return []
    found: list[tuple[float, str]] = []
    for info in fs.ls(path, detail=True):
        name = posixpath.basename(str(info["name"]))
        if not name.endswith(".json") or name.startswith((".", "_")):
            continue
        when = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
        stamp = when.timestamp() if hasattr(when, "timestamp") else float(when)
        key = name[: -len(".json")]
        if key not in checked and stamp > checked_before:
            found.append((stamp, key))
    out = []
    for _, key in sorted(found):
        batch = batch_from_manifest(results_uri, key)
        if batch is not None:
            out.append(batch)
    return out


def select_batches(
    from_events: Sequence[BatchRef], pending: Sequence[BatchRef], history: Sequence[Any], drift_run_key: str
) -> list[BatchRef]:
    """The batches one run checks: the events' batches, then the pending ones; each batch once.

    A batch already judged by another drift run (an event that arrives after its batch was
    checked as pending) is not judged twice; a retry of this run judges its batches again.
    """
    judged_by = {h.batch: h.run_key for h in history if h.batch}
    out: dict[str, BatchRef] = {}
    for b in from_events:
        other = judged_by.get(b.run_key)
        if other and not other.startswith(drift_run_key):
            log.info("batch %s was already checked by drift decision %s: not judged twice", b.run_key, other)
            continue
        out.setdefault(b.run_key, b)
    extra = [b for b in pending if b.run_key not in out]
    if len(extra) > MAX_PENDING_PER_RUN:
        later = [b.run_key for b in extra[MAX_PENDING_PER_RUN:]]
        log.warning("%d more unchecked batches wait for the next drift run: %s", len(later), later)
        extra = extra[:MAX_PENDING_PER_RUN]
    for b in extra:
        out[b.run_key] = b
    return list(out.values())


def check_batches(
    profile: Any,
    batches: Sequence[BatchRef],
    *,
    drift_run_key: str,
    now: datetime,
    seed: int,
    settings: Any,
) -> dict[str, Any]:
    """Check every batch (one decision each, in order); return the run's summary.

    The summary carries the decision that drives the run at the top level (the first that
    says retrain, else the last one) and every batch's decision under ``batches``.
    """
    if not batches:
        raise DriftCheckError("no scored batch to check")
    decisions = [
        check_batch(
            profile,
            b,
            decision_key=_decision_key(drift_run_key, b, len(batches)),
            now=now,
            seed=seed,
            settings=settings,
        )
        for b in batches
    ]
    primary = next((d for d in decisions if d["retrain"]), decisions[-1])
    return primary | {"batches": decisions, "retrain": any(d["retrain"] for d in decisions)}


def check_batch(
    profile: Any, batch: BatchRef, *, decision_key: str, now: datetime, seed: int, settings: Any
) -> dict[str, Any]:
    """Metrics of one batch vs its model's baseline, the policy's decision, the report and the history line."""
    from include import lake
    from ml.artefact import BASELINE_FILE, META_FILE, unpack_model_archive
    from ml.drift.metrics import compare
    from ml.drift.policy import append_history, decide, history_uri, load_history
    from ml.drift.report import write_report
    from ml.drift.topics import low_confidence_texts, new_topics
    from ml.registry import get_registry
    from ml.scored_batch import load_scored_batch

    version = get_registry(settings).get_version(profile.name, batch.model_version)
    with tempfile.TemporaryDirectory(prefix="nlpops-drift-") as tmp:
        model_dir = unpack_model_archive(lake.read_bytes(version.artifact_uri), Path(tmp))
        baseline = lake.read_json((model_dir / BASELINE_FILE).as_uri())
        meta = lake.read_json((model_dir / META_FILE).as_uri())
    classes = list(meta.get("classes") or profile.classes)
    scored = load_scored_batch(
        list(batch.result_files),
        settings.zone_uri("validated", f"{profile.name}-inference", f"{batch.run_key}-transform-input"),
        profile.fields.text,
        classes,
        separator=profile.fields.text_separator,
    )
    result = compare(baseline, scored.texts, scored.proba, classes, seed=seed)
    hist_uri = history_uri(profile.name, settings)
    decision = decide(result.metrics, scored.n, load_history(hist_uri), now, profile.drift, run_key=decision_key)
    decision = replace(decision, batch=batch.run_key)
    topics = new_topics(low_confidence_texts(scored.texts, scored.proba, profile.drift.low_confidence), seed=seed)
    uris = write_report(profile.name, decision, result, baseline, topics=topics, settings=settings)
    append_history(hist_uri, decision)
    return decision.to_dict() | {
        "report": uris["report"],
        "decision_uri": uris["decision"],
        "model_version": batch.model_version,
        "inference_run_key": batch.run_key,
    }


def insufficient_streak(statuses: Sequence[str]) -> int:
    """How many of the latest decisions (oldest first in ``statuses``) in a row had too few rows."""
    streak = 0
    for status in reversed(statuses):
        if status != "insufficient_data":
            break
        streak += 1
    return streak


def _decision_key(drift_run_key: str, batch: BatchRef, n_batches: int) -> str:
    """The decision's key (report folder, history line): the drift run's, plus the batch's when there are several."""
    return drift_run_key if n_batches == 1 else f"{drift_run_key}--{batch.run_key}"


__all__ = [
    "INSUFFICIENT_STREAK_NOTICE",
    "BatchRef",
    "DriftCheckError",
    "batch_from_manifest",
    "batches_from_events",
    "check_batch",
    "check_batches",
    "insufficient_streak",
    "pending_batches",
    "select_batches",
]
