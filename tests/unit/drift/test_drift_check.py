"""A drift run checks every batch the scheduler attached to it: one decision per batch, none dropped."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from include.settings import PROJECT_ROOT
from ml.drift import check
from ml.drift.check import BatchRef, DriftCheckError, batches_from_events, check_batches, insufficient_streak


def extra(key: str, version: str = "1") -> dict[str, Any]:
    return {"run_key": key, "rows": 10, "model_version": version, "result_files": [f"file:///l/results/{key}.parquet"]}


def test_every_event_is_a_batch_in_order_and_a_repeated_one_is_checked_once() -> None:
    batches = batches_from_events([extra("b1"), extra("b2", "2"), extra("b1")])
    assert [(b.run_key, b.model_version) for b in batches] == [("b1", "1"), ("b2", "2")]
    with pytest.raises(DriftCheckError, match=r"predictions event 2 lacks 'result_files'"):
        batches_from_events([extra("b1"), {"run_key": "x", "model_version": "1"}])


def test_the_drift_dag_reads_every_triggering_event_not_only_the_last(lake: str) -> None:
    """The list Airflow attaches (``triggering_asset_events[asset]``) is consumed whole."""
    spec = importlib.util.spec_from_file_location("drift_dags", PROJECT_ROOT / "dags" / "drift.py")
    assert spec and spec.loader
    drift_dags = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drift_dags)
    from airflow.sdk import Asset

    predictions = Asset(name="nlpops.p.predictions")
    other = Asset(name="nlpops.p.processed")
    events = {
        predictions: [SimpleNamespace(extra=extra(k)) for k in ("b1", "b2", "b3")],
        other: [SimpleNamespace(extra={"run_key": "not-a-batch"})],
    }
    context = {"params": {"inference_run_key": ""}, "triggering_asset_events": events}
    from include.settings import get_settings

    batches = drift_dags._batches_from_context(context, predictions, "p", get_settings(), "20260201T000000")
    assert [b.run_key for b in batches] == ["b1", "b2", "b3"]


def write_manifest(results_uri: str, key: str) -> None:
    from ml.results import write_batch_manifest

    published = {"files": [{"uri": f"{results_uri}/{key}.parquet"}], "rows": 5, "partition_uri": results_uri}
    write_batch_manifest(
        results_uri, key, published, model_version="1", date="2026-02-01", job_name="j", transform_input_uri="x"
    )


def test_a_scored_batch_without_a_decision_is_checked_by_the_next_run_once(lake: str) -> None:
    """Airflow may leave an event for a later run: every scored batch without a decision is pending."""
    import os
    import time

    from include.settings import get_settings
    from ml.drift.check import pending_batches, select_batches
    from ml.drift.policy import PastDecision

    results_uri = get_settings().zone_uri("results", "p")
    for i, key in enumerate(("b1", "b2", "b3")):
        write_manifest(results_uri, key)
        path = f"{lake.removeprefix('file://')}/results/p/_batches/{key}.json"
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))  # b1 oldest
    when = datetime(2026, 2, 1, tzinfo=UTC)
    history = [PastDecision(when, "no_drift", False, run_key="r0", batch="b1")]
    assert [b.run_key for b in pending_batches(results_uri, history)] == ["b2", "b3"]
    # The run triggered by b3's event checks b3 and the pending b2; b1 (judged by r0) is not judged twice.
    events = batches_from_events([extra("b1"), extra("b3")])
    chosen = select_batches(events, pending_batches(results_uri, history), history, "r1")
    assert [b.run_key for b in chosen] == ["b3", "b2"]
    # Decisions written before decisions named their batch: batches scored before the newest one count as checked.
    legacy = [PastDecision(datetime.now(UTC), "no_drift", False, run_key="old")]
    assert pending_batches(results_uri, legacy) == []
    # A retry of r0 itself judges b1 again (its own decision is replaced, not doubled).
    assert [b.run_key for b in select_batches(events[:1], [], history, "r0")] == ["b1"]


def test_check_batches_makes_one_decision_per_batch_and_retrains_if_any_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, str]] = []

    def fake_check(profile: Any, batch: BatchRef, *, decision_key: str, **_: Any) -> dict[str, Any]:
        seen.append((batch.run_key, decision_key))
        return {"inference_run_key": batch.run_key, "retrain": batch.run_key == "b2", "status": "drift"}

    monkeypatch.setattr(check, "check_batch", fake_check)
    batches = batches_from_events([extra("b1"), extra("b2"), extra("b3")])
    now = datetime(2026, 2, 1, tzinfo=UTC)
    summary = check_batches(None, batches, drift_run_key="20260201T000000", now=now, seed=0, settings=None)
    assert seen == [(k, f"20260201T000000--{k}") for k in ("b1", "b2", "b3")]  # in order, each its own key
    assert [d["inference_run_key"] for d in summary["batches"]] == ["b1", "b2", "b3"]
    assert summary["retrain"] is True and summary["inference_run_key"] == "b2"
    one = check_batches(None, batches[:1], drift_run_key="k", now=now, seed=0, settings=None)
    assert seen[-1] == ("b1", "k") and one["retrain"] is False  # one batch keeps the run's key
    with pytest.raises(DriftCheckError):
        check_batches(None, [], drift_run_key="k", now=now, seed=0, settings=None)


def test_insufficient_streak_counts_the_latest_run_of_small_batches() -> None:
    assert insufficient_streak(["drift", "insufficient_data", "insufficient_data"]) == 2
    assert insufficient_streak(["insufficient_data", "no_drift"]) == 0
