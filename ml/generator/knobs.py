"""Drift knobs: how far a generated batch moves away from the training distribution."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Share of each knob reached at drift magnitude 1 (see :meth:`DriftKnobs.from_magnitude`).
MAGNITUDE_SCALE = {"vocab_shift": 0.6, "length_shift": 1.0, "label_prior_shift": 0.6, "new_topic": 0.5}


@dataclass(frozen=True)
class DriftKnobs:
    """Each knob in [0, 1]; all zero = the training distribution exactly.

    * ``vocab_shift``: share of slot words drawn from a "new era" vocabulary (slang,
      new product names) instead of the training vocabulary;
    * ``length_shift``: texts get longer (up to 3x the sentences at 1). Negative values
      down to -1 make them shorter (down to 0.2x the extra sentences);
    * ``label_prior_shift``: class priors move towards the rarest class
      (``(1 - s) * prior + s * onehot(rarest)``);
    * ``new_topic``: share of documents about a topic absent from training (new nouns
      and aspects, the label still carried by the usual sentiment/issue phrases);
    * ``new_category``: share of documents of a class that did not exist in training, with
      its own vocabulary (``ml.generator.new_category``); not part of the magnitude axis.
    """

    vocab_shift: float = 0.0
    length_shift: float = 0.0
    label_prior_shift: float = 0.0
    new_topic: float = 0.0
    new_category: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            low = -1.0 if name == "length_shift" else 0.0
            if not isinstance(value, int | float) or not low <= float(value) <= 1.0:
                raise ValueError(f"DriftKnobs.{name}={value!r} must be a number in [{low:g}, 1]")

    @classmethod
    def from_magnitude(cls, magnitude: float) -> DriftKnobs:
        """One "drift magnitude" axis in [0, 1] scaling every knob (0 = no drift at all)."""
        if not 0.0 <= float(magnitude) <= 1.0:
            raise ValueError(f"drift magnitude {magnitude!r} must be in [0, 1]")
        m = float(magnitude)
        return cls(**{name: round(scale * m, 6) for name, scale in MAGNITUDE_SCALE.items()})

    @property
    def is_zero(self) -> bool:
        return not any(asdict(self).values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
