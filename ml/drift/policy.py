"""The drift policy: from a batch's metrics and the decision history to "retrain or not".

A *window* (one drift check of one batch) is **over** when at least ``min_metrics_over``
metrics exceed their thresholds. A retrain is asked only when

1. the batch has at least ``min_sample`` rows (smaller batches never alarm);
2. the last ``consecutive_windows`` windows, this one included, were all over
   (hysteresis; windows with too little data are skipped, not counted, and only windows
   after the last retrain count: they compare against the same champion);
3. the last retrain is at least ``cooldown_hours`` old;
4. fewer than ``max_retrains_per_day`` retrains happened in the 24 hours before ``now``
   (a rolling day, so a burst around midnight UTC cannot double the cap).

The spec is the profile's ``drift:`` section (``include.profiles.DriftSpec``); this module
only reads its attributes, so it stays importable without ``include``. History is a JSON
Lines file in the lake, one decision per line, keyed by run so a retry replaces its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from include.profiles import DriftSpec

Status = Literal[
    "insufficient_data", "no_drift", "drift_window", "drift", "suppressed_cooldown", "suppressed_daily_cap"
]
#: Statuses of a window whose metrics were over the thresholds.
OVER_STATUSES = frozenset({"drift_window", "drift", "suppressed_cooldown", "suppressed_daily_cap"})
#: Metrics a threshold may name (all "larger = more drift"). Label-based ones apply only
#: when the batch had labels.
KNOWN_METRICS = frozenset(
    {
        "length_psi",
        "token_length_psi",
        "oov_rate_delta",
        "token_js",
        "token_js_excess",
        "domain_auc",
        "prediction_psi",
        "confidence_drop",
        "low_confidence_delta",
        "accuracy_drop",
        "macro_f1_drop",
    }
)
HISTORY_FILE = "history.jsonl"


class PolicyError(ValueError):
    """The drift policy settings or the history cannot be used; the message names which."""


@dataclass(frozen=True)
class PastDecision:
    """One earlier decision as the policy needs it (a line of the history file)."""

    time: datetime
    status: str
    retrain: bool
    run_key: str = ""
    batch: str = ""  # the batch_inference run key of the batch this decision judged

    @property
    def over(self) -> bool:
        return self.status in OVER_STATUSES


@dataclass(frozen=True)
class Decision:
    """What the policy decided for one window, and why."""

    status: Status
    retrain: bool
    reasons: list[str]
    metrics_over: list[str]
    time: datetime
    n: int
    run_key: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    batch: str = ""  # the batch_inference run key of the scored batch (ml.drift.check)

    @property
    def over(self) -> bool:
        """The window's metrics were over the thresholds (an alarm, whatever the suppression)."""
        return self.status in OVER_STATUSES

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["time"] = self.time.isoformat()
        return out

    def as_past(self) -> PastDecision:
        return PastDecision(
            time=self.time, status=self.status, retrain=self.retrain, run_key=self.run_key, batch=self.batch
        )


def metrics_over(metrics: Mapping[str, float], thresholds: Mapping[str, float]) -> list[str]:
    """Names of the metrics strictly above their thresholds (metrics absent from the batch are skipped)."""
    unknown = sorted(set(thresholds) - KNOWN_METRICS)
    if unknown:
        raise PolicyError(
            f"profile drift.thresholds names unknown metric(s) {unknown}; known metrics: {sorted(KNOWN_METRICS)}"
        )
    return sorted(name for name, limit in thresholds.items() if name in metrics and metrics[name] > limit)


def decide(
    metrics: Mapping[str, float],
    n: int,
    history: Sequence[PastDecision],
    now: datetime,
    spec: DriftSpec,
    *,
    run_key: str = "",
) -> Decision:
    """Apply the drift policy ``spec`` to one window (see the module docstring for the rules)."""
    if now.tzinfo is None:
        raise PolicyError("decide(now=...) needs a timezone-aware datetime (use the data interval end, in UTC)")
    # A retry of the same run must not see its own earlier decision.
    past = sorted(
        (h for h in history if not (run_key and h.run_key == run_key) and h.time <= now), key=lambda h: h.time
    )
    kept = {k: float(v) for k, v in metrics.items()}

    def result(status: Status, retrain: bool, reasons: list[str], over: list[str]) -> Decision:
        return Decision(status, retrain, reasons, over, now, int(n), run_key, kept)

    if n < spec.min_sample:
        return result(
            "insufficient_data",
            False,
            [f"{n} rows < drift.min_sample={spec.min_sample}: no decision on a batch this small"],
            [],
        )
    over = metrics_over(metrics, spec.thresholds)
    detail = [f"{m}={metrics[m]:.4g} > {spec.thresholds[m]:g}" for m in over]
    if len(over) < spec.min_metrics_over:
        reason = f"{len(over)} metric(s) over threshold < drift.min_metrics_over={spec.min_metrics_over}"
        return result("no_drift", False, [reason, *detail], over)

    streak = 1
    for h in reversed(past):
        if h.retrain or (streak >= spec.consecutive_windows):
            break
        if h.status == "insufficient_data":
            continue
        if not h.over:
            break
        streak += 1
    if streak < spec.consecutive_windows:
        reason = f"window {streak} of drift.consecutive_windows={spec.consecutive_windows} in a row over thresholds"
        return result("drift_window", False, [reason, *detail], over)

    retrains = [h.time for h in past if h.retrain]
    if retrains and now - retrains[-1] < timedelta(hours=spec.cooldown_hours):
        reason = (
            f"drift, but the last retrain at {retrains[-1].isoformat()} is within "
            f"drift.cooldown_hours={spec.cooldown_hours:g}"
        )
        return result("suppressed_cooldown", False, [reason, *detail], over)
    today = [t for t in retrains if now - t < timedelta(hours=24)]
    if len(today) >= spec.max_retrains_per_day:
        reason = (
            f"drift, but {len(today)} retrain(s) in the last 24 h reach "
            f"drift.max_retrains_per_day={spec.max_retrains_per_day}"
        )
        return result("suppressed_daily_cap", False, [reason, *detail], over)
    reason = f"{len(over)} metric(s) over threshold in {streak} consecutive window(s): retrain"
    return result("drift", True, [reason, *detail], over)


def history_uri(profile: str, settings: Any = None) -> str:
    """``reports/drift/<profile>/history.jsonl`` in the lake."""
    from include.settings import get_settings

    return (settings or get_settings()).zone_uri("reports", "drift", profile, HISTORY_FILE)


def _parse(line: str, uri: str, lineno: int) -> PastDecision:
    try:
        d = json.loads(line)
        when = datetime.fromisoformat(d["time"])
        return PastDecision(
            time=when,
            status=str(d["status"]),
            retrain=bool(d["retrain"]),
            run_key=d.get("run_key", ""),
            batch=str(d.get("batch") or ""),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise PolicyError(
            f"{uri} line {lineno}: not a drift decision ({exc}); "
            "fix or remove that line (the history is JSON Lines, one decision per line)"
        ) from None


def load_history(uri: str) -> list[PastDecision]:
    """Every decision in the history file at ``uri`` (oldest first); empty if it does not exist yet."""
    from include import lake

    if not lake.exists(uri):
        return []
    text = lake.read_bytes(uri).decode("utf-8")
    out = [_parse(line, uri, i) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    return sorted(out, key=lambda h: h.time)


def append_history(uri: str, decision: Decision) -> None:
    """Add ``decision`` to the history at ``uri``; an entry of the same run key is replaced (retries).

    The whole file is rewritten atomically (``include.lake.write_bytes``): history stays
    small (one line per drift run) and S3 has no append.
    """
    from include import lake

    lines: list[str] = []
    if lake.exists(uri):
        for line in lake.read_bytes(uri).decode("utf-8").splitlines():
            if not line.strip():
                continue
            if decision.run_key and json.loads(line).get("run_key") == decision.run_key:
                continue
            lines.append(line)
    lines.append(json.dumps(decision.to_dict(), sort_keys=True))
    lake.write_bytes(uri, ("\n".join(lines) + "\n").encode("utf-8"))


__all__ = [
    "KNOWN_METRICS",
    "Decision",
    "PastDecision",
    "PolicyError",
    "append_history",
    "decide",
    "history_uri",
    "load_history",
    "metrics_over",
]
