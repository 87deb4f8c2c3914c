"""The generator's new-category knob: a class that did not exist in training, with its own words."""

from __future__ import annotations

import io

import pytest

from ml.generator import DriftKnobs, GeneratorError, generate
from ml.generator.new_category import NEW_CATEGORIES


def _gen(profile: str, share: float, rows: int = 400, **kw):
    out, truth = io.BytesIO(), io.BytesIO()
    stats = generate(profile, rows, seed=5, out=out, drift=DriftKnobs(new_category=share), truth_out=truth, **kw)
    return stats, out.getvalue(), truth.getvalue().decode().splitlines()


@pytest.mark.parametrize("profile", ["amazon_polarity", "airline_tweets", "cfpb_complaints"])
def test_knob_at_zero_keeps_every_byte(profile: str) -> None:
    plain = io.BytesIO()
    generate(profile, 300, seed=5, out=plain)
    _, knob_zero, truth = _gen(profile, 0.0, rows=300)
    assert knob_zero == plain.getvalue()
    assert "counterfeit" not in truth and len(truth) == 300


def test_new_category_rows_have_their_own_label_vocabulary_and_truth() -> None:
    stats, data, truth = _gen("amazon_polarity", 0.3, with_label=False)
    name = NEW_CATEGORIES["reviews"].name
    assert stats.new_category == name
    assert len(truth) == 400
    n_new = truth.count(name)
    assert stats.class_counts[name] == n_new
    assert 0.2 * 400 < n_new < 0.4 * 400
    import csv

    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 400
    cat_words = {"counterfeit", "knockoff", "genuine", "hologram", "authenticity", "replica", "serial"}

    def has(row: list[str]) -> bool:
        return any(w in " ".join(row).lower() for w in cat_words)

    new_rows = [r for r, t in zip(rows, truth, strict=True) if t == name]
    old_rows = [r for r, t in zip(rows, truth, strict=True) if t != name]
    assert sum(map(has, new_rows)) >= 0.95 * len(new_rows)
    assert not any(map(has, old_rows))


def test_labelled_rows_carry_the_new_name() -> None:
    _, data, truth = _gen("amazon_polarity", 0.5, rows=50)
    import csv

    labels = [r[0] for r in csv.reader(io.StringIO(data.decode("utf-8-sig")))]
    assert [lab == "counterfeit" for lab in labels] == [t == "counterfeit" for t in truth]


def test_unknown_domain_refused() -> None:
    from ml.generator.new_category import new_category_for

    with pytest.raises(GeneratorError, match="no new category"):
        new_category_for("poetry")
