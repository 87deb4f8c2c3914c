"""Embed the pool, cluster it, and describe every cluster for a person to decide on.

**Embedding.** ``"pool"`` (default): word 1–2-gram + char_wb 3–5-gram TF-IDF fitted on the
pool itself, reduced with TruncatedSVD (LSA) and L2-normalised. ``"champion"``: the champion's
own TF-IDF features, same reduction. The champion's vocabulary was fitted before the new
category existed, so its words are out of vocabulary there (only character n-grams see
them). Measured with ``benchmarks/bench_categories.py`` (pool of 600 scored texts, champion
trained on 1,500): with 20 % and 10 % of the pool in a new category both find a 100 %-pure
cluster, "pool" with k=2 and all of the category's texts, "champion" with k=7–8 and 95–96 %
of them (the rest of the pool splits into many small clusters). Hence the default.

**k.** k-means for k in ``k_min..k_max``, the best cosine silhouette wins
(:func:`ml.drift.topics.kmeans_by_silhouette`, shared with the drift report).

**Per cluster**: size and share; distinctive terms (mean TF-IDF in the cluster minus
overall); representative members (closest to the centre) and boundary members (smallest
margin to the next centre); each member's *membership* ``1 - d_own / d_next`` in [0, 1]
(used as the pseudo-label confidence); the nearest existing category (the class the
champion predicts most in the cluster, its share and the mean confidence of those
predictions); the share of the cluster's words the champion has never seen (OOV); and a
novelty score ``0.5 · OOV share + 0.5 · (1 − mean champion confidence)`` in [0, 1].
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ml.categories.pool import Pool

Embedding = Literal["pool", "champion"]
MIN_TEXTS = 20


@dataclass
class Clustering:
    """Everything the report, the decision and the pseudo-labels need (JSON-ready via ``to_dict``)."""

    n_texts: int
    k: int
    silhouette: float | None
    embedding: str
    clusters: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_texts": self.n_texts,
            "k": self.k,
            "silhouette": self.silhouette,
            "embedding": self.embedding,
            "clusters": self.clusters,
            "note": self.note,
        }


def embed(
    texts: Sequence[str], *, method: Embedding = "pool", champion: Any = None, n_components: int = 50, seed: int = 0
) -> np.ndarray:
    """Dense, L2-normalised LSA vectors of ``texts`` (see the module doc for the two methods)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    if method == "champion":
        if champion is None:
            raise ValueError("embedding='champion' needs the champion pipeline (none given: use 'pool')")
        x = champion.named_steps["features"].transform(list(texts))
    elif method == "pool":
        x = _pool_features().fit_transform(list(texts))
    else:
        raise ValueError(f"embedding={method!r}: use 'pool' or 'champion'")
    dims = min(n_components, x.shape[1] - 1, x.shape[0] - 1)
    if dims < 2:
        return np.asarray(normalize(x).toarray() if hasattr(x, "toarray") else normalize(x))
    z = TruncatedSVD(n_components=dims, random_state=seed).fit_transform(x)
    return np.asarray(normalize(z))


def _pool_features() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.5, sublinear_tf=True, stop_words="english"),
            ),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, max_df=0.5, sublinear_tf=True)),
        ]
    )


def cluster_pool(
    pool: Pool,
    *,
    champion: Any = None,
    embedding: Embedding = "pool",
    k_min: int = 2,
    k_max: int = 8,
    seed: int = 0,
    top_terms: int = 8,
    examples: int = 3,
) -> Clustering:
    """Cluster ``pool`` and describe each cluster; members are listed with their membership."""
    from ml.drift.topics import kmeans_by_silhouette

    if pool.n < MIN_TEXTS:
        return Clustering(
            pool.n, 0, None, embedding, note=f"{pool.n} texts: fewer than {MIN_TEXTS}, nothing to cluster"
        )
    z = embed(pool.texts, method=embedding, champion=champion, seed=seed)
    best = kmeans_by_silhouette(z, k_min=k_min, k_max=k_max, seed=seed)
    if best is None:
        return Clustering(pool.n, 0, None, embedding, note="k-means found a single cluster only")
    score, k, km = best
    dist = km.transform(z)
    order = np.sort(dist, axis=1)
    membership = 1.0 - order[:, 0] / np.maximum(order[:, 1], 1e-12)
    margin = order[:, 1] - order[:, 0]
    terms, weights = _term_weights(pool.texts)
    overall = np.asarray(weights.mean(axis=0)).ravel()
    vocab = _champion_vocabulary(champion)
    clusters: list[dict[str, Any]] = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        if not len(members):
            continue
        mean_w = np.asarray(weights[members].mean(axis=0)).ravel() - overall
        top = [str(terms[i]) for i in mean_w.argsort()[::-1][:top_terms] if mean_w[i] > 0]
        rep = members[dist[members, c].argsort()[:examples]]
        edge = members[margin[members].argsort()[:examples]]
        predicted = Counter(pool.predicted[i] for i in members)
        nearest, count = predicted.most_common(1)[0]
        conf_nearest = [float(pool.confidence[i]) for i in members if pool.predicted[i] == nearest]
        mean_conf = float(np.mean(pool.confidence[members]))
        oov = _oov_share([pool.texts[i] for i in members], vocab)
        clusters.append(
            {
                "cluster": c,
                "size": len(members),
                "share": round(len(members) / pool.n, 4),
                "top_terms": top,
                "representative": [_example(pool, i, membership) for i in rep],
                "boundary": [_example(pool, i, membership) for i in edge],
                "nearest_category": nearest,
                "nearest_share": round(count / len(members), 4),
                "nearest_confidence": round(float(np.mean(conf_nearest)), 4),
                "mean_confidence": round(mean_conf, 4),
                "oov_share": None if oov is None else round(oov, 4),
                "novelty": round(0.5 * (oov or 0.0) + 0.5 * (1.0 - mean_conf), 4),
                "predicted": dict(predicted.most_common()),
                "members": [
                    {
                        "id": pool.ids[i],
                        "batch": pool.batches[i],
                        "text": pool.texts[i],
                        "membership": round(float(membership[i]), 4),
                    }
                    for i in members
                ],
            }
        )
    clusters.sort(key=lambda c: (-float(c["novelty"]), -int(c["size"])))
    return Clustering(pool.n, k, round(score, 4), embedding, clusters)


def _example(pool: Pool, i: int, membership: np.ndarray) -> dict[str, Any]:
    return {
        "id": pool.ids[i],
        "text": pool.texts[i],
        "predicted": pool.predicted[i],
        "confidence": round(float(pool.confidence[i]), 4),
        "membership": round(float(membership[i]), 4),
    }


def _term_weights(texts: Sequence[str]) -> tuple[np.ndarray, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(stop_words="english", min_df=2, max_df=0.5, sublinear_tf=True, max_features=20_000)
    try:
        x = vec.fit_transform(list(texts))
    except ValueError:  # no shared words at all
        vec = TfidfVectorizer(min_df=1)
        x = vec.fit_transform(list(texts))
    return vec.get_feature_names_out(), x


def _champion_vocabulary(champion: Any) -> set[str] | None:
    """The champion's word-level vocabulary (unigrams), or None without a champion."""
    if champion is None:
        return None
    try:
        word = dict(champion.named_steps["features"].transformer_list)["word"]
    except (AttributeError, KeyError):
        return None
    return {t for t in word.vocabulary_ if " " not in t}


def _oov_share(texts: Sequence[str], vocab: set[str] | None) -> float | None:
    """Share of word tokens (lower-cased, 3+ letters) not in ``vocab``."""
    if vocab is None:
        return None
    import re

    tokens = [t for text in texts for t in re.findall(r"[a-z]{3,}", text.lower())]
    if not tokens:
        return 0.0
    return sum(t not in vocab for t in tokens) / len(tokens)


__all__ = ["Clustering", "cluster_pool", "embed"]
