"""The champion/challenger gate."""

from __future__ import annotations

import pytest

from ml.gate import decide

KW = {"primary_metric": "macro_f1", "margin": 0.01, "floor": 0.6}


def test_first_model_promoted_when_it_clears_the_floor() -> None:
    d = decide({"macro_f1": 0.7}, None, **KW)
    assert d.promote and "first model" in d.reason and d.champion_value is None


def test_first_model_below_floor_rejected() -> None:
    d = decide({"macro_f1": 0.55}, None, **KW)
    assert not d.promote and "below the floor" in d.reason


def test_better_by_margin_promoted() -> None:
    d = decide({"macro_f1": 0.82}, {"macro_f1": 0.80}, **KW)
    assert d.promote and d.champion_value == 0.80 and "+0.0200" in d.reason


def test_exactly_the_margin_promoted() -> None:
    assert decide({"macro_f1": 0.81}, {"macro_f1": 0.80}, **KW).promote


def test_better_but_less_than_margin_rejected() -> None:
    d = decide({"macro_f1": 0.805}, {"macro_f1": 0.80}, **KW)
    assert not d.promote and "not enough better" in d.reason


def test_equal_rejected_even_with_zero_margin() -> None:
    d = decide({"macro_f1": 0.8}, {"macro_f1": 0.8}, **{**KW, "margin": 0.0})
    assert not d.promote and "equal to" in d.reason


def test_worse_rejected() -> None:
    d = decide({"macro_f1": 0.7}, {"macro_f1": 0.8}, **KW)
    assert not d.promote and "worse than" in d.reason


def test_better_than_champion_but_below_floor_rejected() -> None:
    d = decide({"macro_f1": 0.5}, {"macro_f1": 0.3}, **KW)
    assert not d.promote and "below the floor" in d.reason


def test_missing_metric_is_named() -> None:
    with pytest.raises(KeyError, match="roc_auc"):
        decide({"macro_f1": 0.9}, None, primary_metric="roc_auc", margin=0, floor=0)
