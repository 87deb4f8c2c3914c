"""The seeded generator: determinism, raw formats per profile, balance, drift knobs, accuracy band."""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import numpy as np
import pytest

from include.profiles import get_profile
from ml.generator import DriftKnobs, GeneratorError, generate, new_era_words
from ml.generator.vocab import DOMAINS

PROFILES = ["amazon_polarity", "amazon_ratings", "cfpb_complaints", "airline_tweets"]


def _bytes(profile: str, rows: int, seed: int, **kw) -> bytes:
    buf = io.BytesIO()
    generate(profile, rows, seed=seed, out=buf, **kw)
    return buf.getvalue()


def _records(data: bytes, *, header: bool, skip_lines: int = 0) -> tuple[list[str] | None, list[list[str]]]:
    text = data.decode("utf-8-sig")
    for _ in range(skip_lines):
        text = text.split("\n", 1)[1]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return (rows[0], rows[1:]) if header else (None, rows)


def _texts(profile: str, data: bytes, variant: str | None = None) -> tuple[list[str], list[str]]:
    prof = get_profile(profile)
    cols = list(prof.input.alternate_columns[0] if variant and variant != "classic" else prof.input.columns)
    _, rows = _records(data, header=prof.input.header)
    ti = [cols.index(c) for c in prof.fields.text]
    li = cols.index(prof.fields.label)
    return [" . ".join(r[i] for i in ti) for r in rows], [r[li] for r in rows]


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize("profile", PROFILES)
def test_same_seed_same_bytes_and_different_seed_different_rows(profile):
    a = _bytes(profile, 300, seed=11)
    assert a == _bytes(profile, 300, seed=11)
    assert a != _bytes(profile, 300, seed=12)


def test_bytes_do_not_depend_on_chunk_rows_and_zero_drift_is_no_drift():
    base = _bytes("amazon_polarity", 9000, seed=3)  # more than one block
    assert base == _bytes("amazon_polarity", 9000, seed=3, chunk_rows=7)
    assert base == _bytes("amazon_polarity", 9000, seed=3, drift=DriftKnobs())
    assert base == _bytes("amazon_polarity", 9000, seed=3, drift=DriftKnobs.from_magnitude(0))


def test_gzip_by_name_is_deterministic(tmp_path: Path):
    p1, p2 = tmp_path / "a.csv.gz", tmp_path / "b" / "a.csv.gz"
    s1 = generate("airline_tweets", 200, seed=5, out=p1)
    generate("airline_tweets", 200, seed=5, out=p2)
    assert s1.compressed and p1.read_bytes() == p2.read_bytes()
    assert s1.bytes_written == p1.stat().st_size
    assert gzip.decompress(p1.read_bytes()) == _bytes("airline_tweets", 200, seed=5)
    # a stream named like the demo's temporary file is compressed too
    with (tmp_path / ".x.csv.gz.tmp").open("wb") as fh:
        generate("airline_tweets", 200, seed=5, out=fh)
    assert (tmp_path / ".x.csv.gz.tmp").read_bytes() == p1.read_bytes()
    assert not [p for p in tmp_path.rglob("*.tmp") if p.name != ".x.csv.gz.tmp"]  # temp files renamed away


def test_file_uri_output(tmp_path: Path):
    uri = (tmp_path / "lake" / "raw" / "x.csv").as_uri()
    stats = generate("amazon_polarity", 50, seed=1, out=uri)
    assert (tmp_path / "lake" / "raw" / "x.csv").read_bytes() == _bytes("amazon_polarity", 50, seed=1)
    assert stats.rows == 50 and sum(stats.class_counts.values()) == 50


# ---------------------------------------------------------------- raw formats
def test_amazon_polarity_format():
    data = _bytes("amazon_polarity", 500, seed=1, label_noise=0.3)
    assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
    _, rows = _records(data, header=False)
    assert len(rows) == 500 and all(len(r) == 3 for r in rows)
    assert {r[0] for r in rows} == {"1", "2"}
    field = r'"(?:[^"]|"")*"'
    assert re.fullmatch(rf"(?:{field},{field},{field}\n)+", data.decode())  # every field quoted, LF records
    assert any("\n" in r[2] for r in rows), "some texts carry embedded newlines"
    assert any("&amp;" in r[1] + r[2] for r in rows)


def test_amazon_ratings_format():
    prof = get_profile("amazon_ratings")
    data = _bytes("amazon_ratings", 400, seed=2)
    assert data.startswith(b"\xef\xbb\xbfid,dateAdded,name,")
    header, rows = _records(data, header=True)
    assert header == list(prof.input.columns)
    assert data.split(b"\n", 1)[0].endswith(b"\r") and data.endswith(b"\r\n")
    assert all(len(r) == 12 for r in rows) and {r[8] for r in rows} <= set(prof.labels)
    assert {r[7] for r in rows} == {"TRUE", "FALSE"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", r[6]) for r in rows)


@pytest.mark.parametrize("variant", ["classic", "complaints", "complaints_unzip"])
def test_cfpb_variants(variant):
    prof = get_profile("cfpb_complaints")
    data = _bytes("cfpb_complaints", 300, seed=3, variant=variant)
    skip = 2 if variant == "complaints_unzip" else 0
    if skip:
        assert data.startswith(b"Archive:  ")
    header, rows = _records(data, header=True, skip_lines=skip)
    expected = prof.input.columns if variant == "classic" else prof.input.alternate_columns[0]
    assert header == list(expected)
    assert all(len(r) == len(expected) for r in rows)
    labels = {r[header.index("Product")] for r in rows}
    assert labels <= set(prof.labels)
    ids = [r[0] if variant == "classic" else r[-1] for r in rows]
    assert len(set(ids)) == len(ids)
    if variant != "classic":
        narratives = [r[5] for r in rows]
        assert 0 < sum(n == "" for n in narratives) < len(rows)  # some consumers did not consent
        assert "Checking or savings account" in labels or "Debt collection" in labels


def test_airline_tweets_format_and_no_label():
    prof = get_profile("airline_tweets")
    data = _bytes("airline_tweets", 400, seed=4)
    header, rows = _records(data, header=True)
    assert header == list(prof.input.columns)
    assert all(len(r) == 15 and re.fullmatch(r"\d{18}", r[0]) for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d -0800", r[12]) for r in rows)
    assert all(r[10].startswith("@") for r in rows)
    assert all((r[3] != "") == (r[1] == "negative") for r in rows)  # a reason only for negative tweets
    unlabelled = _bytes("airline_tweets", 50, seed=4, with_label=False)
    header2, rows2 = _records(unlabelled, header=True)
    assert "airline_sentiment" not in header2 and all(len(r) == 14 for r in rows2)


# ---------------------------------------------------------------- balance and noise
def test_class_balance_defaults_and_override():
    s = generate("amazon_polarity", 20_000, seed=1, out=io.BytesIO())
    assert abs(s.class_counts["negative"] / 20_000 - 0.5) < 0.02
    t = generate("airline_tweets", 20_000, seed=1, out=io.BytesIO(), label_noise=0.0)
    assert 0.60 < t.class_counts["negative"] / 20_000 < 0.66
    w = generate(
        "amazon_polarity", 10_000, seed=1, out=io.BytesIO(), class_weights={"2": 3, "negative": 1}, label_noise=0
    )
    assert 0.72 < w.class_counts["positive"] / 10_000 < 0.78


def test_label_noise_swaps_only_to_valid_labels():
    prof = get_profile("cfpb_complaints")
    data = _bytes("cfpb_complaints", 2000, seed=9, label_noise=0.5)
    _, labels = _texts("cfpb_complaints", data)
    # noise never leaves the classes of this export variant (old taxonomy)
    assert set(labels) <= {
        k
        for k in prof.labels
        if k
        in {
            "Bank account or service",
            "Consumer Loan",
            "Credit card",
            "Credit reporting",
            "Debt collection",
            "Money transfers",
            "Mortgage",
            "Other financial service",
            "Payday loan",
            "Prepaid card",
            "Student loan",
        }
    }
    s = generate("cfpb_complaints", 2000, seed=9, out=io.BytesIO(), label_noise=0.5)
    assert 0.45 < s.noisy_labels / 2000 < 0.55


def test_bad_options_are_refused():
    with pytest.raises(GeneratorError, match="variant"):
        generate("amazon_polarity", 1, seed=1, out=io.BytesIO(), variant="classic")
    with pytest.raises(GeneratorError, match="class_weights"):
        generate("amazon_polarity", 1, seed=1, out=io.BytesIO(), class_weights={"neutral": 1})
    with pytest.raises(ValueError, match="vocab_shift"):
        DriftKnobs(vocab_shift=1.5)


# ---------------------------------------------------------------- drift knobs
def _mean_len(**kw) -> float:
    texts, _ = _texts("amazon_polarity", _bytes("amazon_polarity", 2000, seed=21, **kw))
    return float(np.mean([len(t) for t in texts]))


def test_length_shift_makes_texts_longer_or_shorter():
    base = _mean_len()
    assert _mean_len(drift=DriftKnobs(length_shift=0.5)) > 1.4 * base
    assert _mean_len(drift=DriftKnobs(length_shift=1.0)) > _mean_len(drift=DriftKnobs(length_shift=0.5))
    assert _mean_len(drift=DriftKnobs(length_shift=-1.0)) < 0.8 * base


def test_label_prior_shift_moves_priors_towards_the_rarest_class():
    base = generate("airline_tweets", 10_000, seed=1, out=io.BytesIO(), label_noise=0)
    shifted = generate("airline_tweets", 10_000, seed=1, out=io.BytesIO(), label_noise=0,
                       drift=DriftKnobs(label_prior_shift=0.5))  # fmt: skip
    assert shifted.class_counts["positive"] > base.class_counts["positive"] + 3000
    assert shifted.priors["positive"] == pytest.approx(0.5 * base.priors["positive"] + 0.5, abs=1e-6)


def _new_word_share(data: bytes) -> float:
    texts, _ = _texts("amazon_polarity", data)
    words = [w.strip(".,!?;:'\"()").lower() for t in texts for w in t.split()]
    new = new_era_words()
    return sum(w in new for w in words) / len(words)


def test_vocab_shift_grows_the_new_vocabulary_share():
    shares = [
        _new_word_share(_bytes("amazon_polarity", 1500, seed=8, drift=DriftKnobs(vocab_shift=v))) for v in (0, 0.3, 0.8)
    ]
    assert shares[0] == 0.0
    assert shares[0] < shares[1] < shares[2]


def test_new_topic_injects_unseen_topic_documents():
    topic = DOMAINS["amazon_polarity"].topic_nouns
    for share in (0.0, 0.4):
        texts, _ = _texts("amazon_polarity", _bytes("amazon_polarity", 2000, seed=8, drift=DriftKnobs(new_topic=share)))
        hit = np.mean([any(n in t.lower() for n in topic) for t in texts])
        assert (hit == 0) if share == 0 else (0.25 < hit < 0.45)


def test_from_magnitude_scales_every_knob():
    half, full = DriftKnobs.from_magnitude(0.5), DriftKnobs.from_magnitude(1.0)
    for name, v in full.to_dict().items():
        if name == "new_category":  # a new class is a deliberate scenario, not part of the drift axis
            assert v == 0
            continue
        assert v > 0 and getattr(half, name) == pytest.approx(v / 2)
    assert DriftKnobs.from_magnitude(0).is_zero
    with pytest.raises(ValueError):
        DriftKnobs.from_magnitude(1.2)


# ---------------------------------------------------------------- learnability
def test_tfidf_logreg_accuracy_is_high_but_not_perfect():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score

    texts, labels = _texts("amazon_polarity", _bytes("amazon_polarity", 10_000, seed=2024))
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train = vec.fit_transform(texts[:8000])
    clf = LogisticRegression(max_iter=500, C=4.0).fit(x_train, labels[:8000])
    acc = accuracy_score(labels[8000:], clf.predict(vec.transform(texts[8000:])))
    assert 0.7 < acc < 0.98, acc
