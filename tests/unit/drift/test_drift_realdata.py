"""Real files: two halves of one shuffled file do not alarm; tweets vs product reviews do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from include.profiles import DriftSpec
from ml.drift.baseline import compute_baseline
from ml.drift.metrics import compute_drift
from ml.drift.policy import decide

pytestmark = pytest.mark.realdata
NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def tweets(shared_datasets: Path) -> pd.DataFrame:
    df = pd.read_csv(shared_datasets / "airline_tweets" / "Tweets.csv", dtype=str, keep_default_na=False)
    return df.sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def model_and_baseline(tweets: pd.DataFrame):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    half = len(tweets) // 2
    first = tweets.iloc[:half]
    train, ref = first.iloc[: half - 2000], first.iloc[half - 2000 :]
    model = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2), LogisticRegression(max_iter=300))
    model.fit(train["text"], train["airline_sentiment"])
    classes = [str(c) for c in model.classes_]
    baseline = compute_baseline(ref["text"].tolist(), model.predict_proba(ref["text"]), classes)
    return model, classes, baseline


def _check(model, classes, baseline, texts: list[str]):
    metrics = compute_drift(baseline, texts, model.predict_proba(texts), classes, seed=0)
    return metrics, decide(metrics, len(texts), [], NOW, DriftSpec(consecutive_windows=1))


def test_second_half_of_the_same_file_does_not_alarm(tweets, model_and_baseline) -> None:
    model, classes, baseline = model_and_baseline
    second = tweets.iloc[len(tweets) // 2 :]["text"].tolist()
    metrics, decision = _check(model, classes, baseline, second[:3000])
    assert not decision.over, (decision.reasons, metrics)
    assert decision.metrics_over == [], metrics


def test_product_reviews_against_a_tweet_model_alarm(shared_datasets: Path, model_and_baseline) -> None:
    model, classes, baseline = model_and_baseline
    path = shared_datasets / "amazon_ratings" / "Datafiniti_Amazon_Consumer_Reviews_of_Amazon_Products.csv"
    reviews = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    texts = reviews["reviews.text"].sample(n=min(2000, len(reviews)), random_state=0).tolist()
    metrics, decision = _check(model, classes, baseline, texts)
    assert decision.over and decision.status == "drift", (decision.reasons, metrics)
    assert {"domain_auc", "length_psi", "token_js_excess"} <= set(decision.metrics_over), metrics
    assert metrics["domain_auc"] > 0.9
