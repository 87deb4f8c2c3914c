"""The gate when the label set grew: compare on the classes both models know, judge new ones apart.

A challenger trained on a newer category map cannot be compared with the champion on
classes the champion never had. :func:`split_evaluation` evaluates the challenger on the
test rows of the shared classes (the champion too) and, separately, per new class;
:func:`decide` promotes when the challenger is not worse than the champion on the shared
classes by more than ``max(margin, SHARED_CLASS_TOLERANCE)``, clears the floor there, and every new class with test
rows reaches the floor in F1. Without new classes it is exactly :func:`ml.gate.decide`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ml.gate import GateDecision
from ml.gate import decide as decide_same_classes

#: On a grown label set the challenger may lose up to this much of the primary metric on the
#: shared classes (a new class takes some rows of the old ones: the price of learning it), or the
#: promotion margin when that is larger. Equal data cannot "beat" the champion by a margin there.
SHARED_CLASS_TOLERANCE = 0.02


def split_rows(
    texts: Sequence[str], labels: Sequence[str], champion_classes: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The test rows whose label the champion knows (the shared classes)."""
    known = set(champion_classes)
    pairs = [(t, lab) for t, lab in zip(texts, labels, strict=True) if lab in known]
    return [t for t, _ in pairs], [lab for _, lab in pairs]


def decide(
    challenger_shared: dict[str, Any],
    champion_shared: dict[str, Any] | None,
    new_class_f1: dict[str, float],
    *,
    primary_metric: str,
    margin: float,
    floor: float,
) -> GateDecision:
    """Promote or not; ``new_class_f1``: F1 of each new class on its test rows (empty = no new class)."""
    if not new_class_f1 or champion_shared is None:
        base = decide_same_classes(
            challenger_shared, champion_shared, primary_metric=primary_metric, margin=margin, floor=floor
        )
        if not new_class_f1:
            return base
        weak = {c: f for c, f in new_class_f1.items() if f < floor}
        if base.promote and weak:
            return GateDecision(False, f"rejected: new class F1 below the floor {floor:.4f}: {weak}", *_rest(base))
        return base
    value = float(challenger_shared[primary_metric])
    champ = float(champion_shared[primary_metric])
    new_txt = ", ".join(f"{c} F1={f:.4f}" for c, f in sorted(new_class_f1.items()))
    weak = {c: round(f, 4) for c, f in new_class_f1.items() if f < floor}

    def made(promote: bool, reason: str) -> GateDecision:
        return GateDecision(promote, reason, primary_metric, value, champ, margin, floor)

    if value < floor:
        return made(False, f"rejected: shared-class {primary_metric}={value:.4f} is below the floor {floor:.4f}")
    tolerance = max(margin, SHARED_CLASS_TOLERANCE)
    if round(champ - value, 9) > round(tolerance, 9):
        return made(
            False,
            f"rejected: on the shared classes the challenger's {primary_metric}={value:.4f} is more than "
            f"{tolerance:.4f} below the champion's {champ:.4f} (new classes: {new_txt})",
        )
    if weak:
        return made(False, f"rejected: new class F1 below the floor {floor:.4f}: {weak}")
    return made(
        True,
        f"promoted: new category map; shared-class {primary_metric}={value:.4f} vs champion {champ:.4f} "
        f"(within {tolerance:.4f}); new classes: {new_txt}",
    )


def evaluate_on_map(
    challenger_uri: str,
    champion_uri: str | None,
    texts: Sequence[str],
    labels: Sequence[str],
    classes: Sequence[str],
) -> dict[str, Any]:
    """Evaluate a challenger (and the champion) on a test split labelled with the map's ``classes``.

    Returns ``challenger`` (all classes), ``champion`` and ``challenger_shared`` (both on the
    rows of the classes the champion knows; ``challenger_shared`` is None when the label set
    did not grow), ``new_classes`` and ``new_class_f1`` (classes with test rows only).
    """
    import tempfile

    from include import lake
    from ml.artefact import MODEL_FILE, load_pipeline, unpack_model_archive
    from ml.evaluate import evaluate

    def load(uri: str) -> Any:
        with tempfile.TemporaryDirectory(prefix="nlpops-eval-") as tmp:
            return load_pipeline(unpack_model_archive(lake.read_bytes(uri), tmp) / MODEL_FILE)

    challenger_model = load(challenger_uri)
    challenger = evaluate(challenger_model, texts, labels, classes)
    out: dict[str, Any] = {
        "challenger": challenger,
        "champion": None,
        "challenger_shared": None,
        "new_classes": [],
        "new_class_f1": {},
    }
    if champion_uri is None:
        return out
    champion_model = load(champion_uri)
    known = [str(c) for c in champion_model.classes_]
    new = [c for c in classes if c not in known]
    if not new:
        out["champion"] = evaluate(champion_model, texts, labels, classes)
        return out
    shared = [c for c in classes if c in known]
    st, sl = split_rows(texts, labels, shared)
    out["challenger_shared"] = evaluate(challenger_model, st, sl, shared)
    out["champion"] = evaluate(champion_model, st, sl, shared)
    out["new_classes"] = new
    out["new_class_f1"] = {
        c: float(challenger["per_class"][c]["f1"]) for c in new if challenger["per_class"][c]["support"] > 0
    }
    return out


def _rest(base: GateDecision) -> tuple[str, float, float | None, float, float]:
    return base.primary_metric, base.challenger_value, base.champion_value, base.margin, base.floor


__all__ = ["decide", "evaluate_on_map", "split_rows"]
