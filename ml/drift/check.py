"""One drift run: which scored batches to check, and the check of each (metrics, policy, report, history).

The drift DAG is scheduled on the ``predictions`` asset. Airflow hands every asset event
since the previous run to one run (``triggering_asset_events[asset]`` is a list: routine
after a pause or while a run is active with ``max_active_runs=1``). :func:`batches_from_events`
turns *every* event into a batch to check, and :func:`check_batches` makes **one policy
decision per batch**, in event order: each batch is compared with the baseline of the model
version that scored it, gets its own report and its own line in the decision history, and
sees the decisions of the batches before it (hysteresis, cooldown and the daily cap count
them). The run retrains when at least one batch's decision says so; no batch is dropped.

Plain Python: no Airflow import (the DAG passes the events' ``extra`` dicts).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

#: A streak of this many "insufficient data" decisions in a row is worth a notice.
INSUFFICIENT_STREAK_NOTICE = 3


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
]
