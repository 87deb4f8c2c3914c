"""The champion/challenger gate: a pure decision from two metric dicts, with its reason."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GateDecision:
    """Outcome of :func:`decide`; ``reason`` is the sentence shown in logs, tags and the UI."""

    promote: bool
    reason: str
    primary_metric: str
    challenger_value: float
    champion_value: float | None
    margin: float
    floor: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    challenger_metrics: dict[str, Any],
    champion_metrics: dict[str, Any] | None,
    *,
    primary_metric: str,
    margin: float,
    floor: float,
) -> GateDecision:
    """Promote the challenger or not.

    * no champion: promote when the challenger's ``primary_metric`` is ≥ ``floor``;
    * otherwise promote only when challenger ≥ floor AND challenger − champion ≥ ``margin``
      (both measured on the same test split by the caller); equal, worse or below the
      floor is rejected, and the reason says which.
    """
    value = _metric(challenger_metrics, primary_metric, "challenger")

    def made(promote: bool, reason: str, champion_value: float | None) -> GateDecision:
        return GateDecision(promote, reason, primary_metric, value, champion_value, margin, floor)

    if value < floor:
        champion_value = None if champion_metrics is None else champion_metrics.get(primary_metric)
        return made(
            False, f"rejected: challenger {primary_metric}={value:.4f} is below the floor {floor:.4f}", champion_value
        )
    if champion_metrics is None:
        return made(True, f"promoted: first model, {primary_metric}={value:.4f} clears the floor {floor:.4f}", None)
    champ = _metric(champion_metrics, primary_metric, "champion")
    gain = value - champ
    # Round away float noise (0.8 - 0.795 = 0.00500000000000001) so "exactly the margin" promotes.
    if round(gain, 9) >= round(margin, 9) and gain > 0:
        reason = (
            f"promoted: challenger {primary_metric}={value:.4f} beats champion {champ:.4f} "
            f"by {gain:+.4f} (margin {margin:.4f})"
        )
        return made(True, reason, champ)
    verdict = "worse than" if gain < 0 else ("equal to" if gain == 0 else "not enough better than")
    reason = (
        f"rejected: challenger {primary_metric}={value:.4f} is {verdict} champion {champ:.4f} "
        f"({gain:+.4f}, margin {margin:.4f})"
    )
    return made(False, reason, champ)


def _metric(metrics: dict[str, Any], name: str, role: str) -> float:
    if name not in metrics:
        raise KeyError(f"gate: the {role}'s metrics have no {name!r} (have {sorted(metrics)}); check primary_metric")
    value = float(metrics[name])
    if math.isnan(value):
        raise ValueError(f"gate: the {role}'s {name} is NaN; the evaluation failed")
    return value
