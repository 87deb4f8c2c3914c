"""The drift policy: minimum sample, hysteresis, cooldown, daily cap, history in the lake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.profiles import DriftSpec
from ml.drift.policy import (
    PastDecision,
    PolicyError,
    append_history,
    decide,
    history_uri,
    load_history,
    metrics_over,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SPEC = DriftSpec(
    min_sample=300,
    thresholds={"length_psi": 0.1, "domain_auc": 0.62, "confidence_drop": 0.05},
    min_metrics_over=2,
    consecutive_windows=2,
    cooldown_hours=6,
    max_retrains_per_day=2,
)
QUIET = {"length_psi": 0.01, "domain_auc": 0.51, "confidence_drop": 0.0}
DRIFTED = {"length_psi": 0.4, "domain_auc": 0.9, "confidence_drop": 0.01}


def _past(hours_ago: float, status: str, retrain: bool = False) -> PastDecision:
    return PastDecision(time=NOW - timedelta(hours=hours_ago), status=status, retrain=retrain)


def test_below_minimum_sample_never_alarms() -> None:
    d = decide(DRIFTED, 299, [], NOW, SPEC)
    assert (d.status, d.retrain, d.over) == ("insufficient_data", False, False)
    assert "min_sample=300" in d.reasons[0]


def test_one_metric_over_is_not_a_drift_window() -> None:
    d = decide({**QUIET, "length_psi": 0.5}, 1000, [], NOW, SPEC)
    assert (d.status, d.retrain, d.metrics_over) == ("no_drift", False, ["length_psi"])


def test_first_window_over_with_hysteresis_two_does_not_retrain() -> None:
    d = decide(DRIFTED, 1000, [_past(1, "no_drift")], NOW, SPEC)
    assert (d.status, d.retrain, d.over) == ("drift_window", False, True)
    assert d.metrics_over == ["domain_auc", "length_psi"]


def test_two_windows_over_in_a_row_retrain() -> None:
    d = decide(DRIFTED, 1000, [_past(2, "no_drift"), _past(1, "drift_window")], NOW, SPEC)
    assert (d.status, d.retrain) == ("drift", True)


def test_small_batches_between_over_windows_do_not_break_the_streak() -> None:
    history = [_past(2, "drift_window"), _past(1, "insufficient_data")]
    assert decide(DRIFTED, 1000, history, NOW, SPEC).status == "drift"


def test_windows_before_the_last_retrain_do_not_count() -> None:
    # Over window 10 h ago, then a retrain 8 h ago: the new champion has one window only.
    history = [_past(10, "drift_window"), _past(8, "drift", retrain=True)]
    assert decide(DRIFTED, 1000, history, NOW, SPEC).status == "drift_window"


def test_cooldown_suppresses_retrain() -> None:
    history = [_past(3, "drift", retrain=True), _past(1, "drift_window")]
    d = decide(DRIFTED, 1000, history, NOW, SPEC)
    assert (d.status, d.retrain, d.over) == ("suppressed_cooldown", False, True)
    assert "cooldown_hours=6" in d.reasons[0]


def test_daily_cap_suppresses_retrain() -> None:
    spec = SPEC.model_copy(update={"consecutive_windows": 1, "cooldown_hours": 1})
    history = [_past(20, "drift", retrain=True), _past(10, "drift", retrain=True)]
    d = decide(DRIFTED, 1000, history, NOW, spec)
    assert (d.status, d.retrain) == ("suppressed_daily_cap", False)
    # A day later the cap has rolled over.
    assert decide(DRIFTED, 1000, history, NOW + timedelta(hours=11), spec).retrain


def test_retry_of_the_same_run_ignores_its_own_decision() -> None:
    own = PastDecision(time=NOW, status="drift_window", retrain=False, run_key="r1")
    assert decide(DRIFTED, 1000, [own], NOW, SPEC, run_key="r1").status == "drift_window"


def test_unknown_threshold_and_naive_time_are_errors() -> None:
    with pytest.raises(PolicyError, match=r"drift\.thresholds names unknown metric"):
        metrics_over(QUIET, {"lenght_psi": 0.1})
    with pytest.raises(PolicyError, match="timezone-aware"):
        decide(QUIET, 1000, [], NOW.replace(tzinfo=None), SPEC)


def test_history_round_trip_in_the_lake(lake: str) -> None:
    uri = history_uri("demo")
    assert uri == f"{lake}/reports/drift/demo/history.jsonl"
    assert load_history(uri) == []
    first = decide(DRIFTED, 1000, [], NOW, SPEC, run_key="r1")
    append_history(uri, first)
    append_history(uri, first)  # a retry replaces its own line
    second = decide(DRIFTED, 1000, load_history(uri), NOW + timedelta(hours=1), SPEC, run_key="r2")
    assert second.status == "drift"
    append_history(uri, second)
    history = load_history(uri)
    assert [(h.run_key, h.status, h.retrain) for h in history] == [("r1", "drift_window", False), ("r2", "drift", True)]


def test_corrupt_history_line_names_file_and_line(lake: str) -> None:
    from include import lake as lk

    uri = history_uri("demo")
    lk.write_text(uri, '{"time": "2026-11-23T00:00:00+00:00", "status": "no_drift", "retrain": false}\nnot json\n')
    with pytest.raises(PolicyError, match=r"history\.jsonl line 2"):
        load_history(uri)


def test_default_thresholds_name_known_metrics() -> None:
    from ml.drift.policy import KNOWN_METRICS

    thresholds = DriftSpec().thresholds
    assert thresholds and set(thresholds) <= KNOWN_METRICS, sorted(set(thresholds) - KNOWN_METRICS)
    # every default threshold can fire: a batch above all of them names all of them
    above = {name: limit + 1.0 for name, limit in thresholds.items()}
    assert metrics_over(above, thresholds) == sorted(thresholds)
    assert metrics_over({}, thresholds) == []
    with pytest.raises(PolicyError, match="unknown metric"):
        metrics_over({}, {**thresholds, "not_a_metric": 0.1})
