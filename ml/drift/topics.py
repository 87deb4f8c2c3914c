"""New-topic report: clusters of recent low-confidence texts, for a person to review.

Texts the model is unsure about are where new topics show up first. They are clustered
(TF-IDF + k-means, ``k`` chosen by silhouette among 2..8, seeded) and each cluster is
described by its top terms and a few example texts. Nothing here changes labels or the
model: the report is read by a person who decides whether to label a new class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Texts clustered at most (seeded sample): bounds the cost on large batches.
MAX_TEXTS = 2_000
MIN_TEXTS = 20


def low_confidence_texts(texts: Sequence[str], proba: np.ndarray, threshold: float) -> list[str]:
    """Texts whose top-class probability is below ``threshold``."""
    conf = np.asarray(proba, dtype=float).max(axis=1)
    return [str(t) for t, c in zip(texts, conf, strict=True) if c < threshold]


def kmeans_by_silhouette(x: Any, *, k_min: int = 2, k_max: int = 8, seed: int = 0) -> tuple[float, int, Any] | None:
    """k-means for every k in ``k_min..k_max``; the fit with the best cosine silhouette.

    Returns ``(silhouette, k, fitted KMeans)``, or None when no k gives two clusters. Shared
    by the drift report's topics and the categories DAG (``ml.categories.clusters``).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best: tuple[float, int, Any] | None = None
    for k in range(k_min, min(k_max, x.shape[0] - 1) + 1):
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
        if len(set(km.labels_)) < 2:
            continue
        score = float(silhouette_score(x, km.labels_, metric="cosine", random_state=seed))
        if best is None or score > best[0]:
            best = (score, k, km)
    return best


def new_topics(
    texts: Sequence[str],
    *,
    seed: int = 0,
    k_min: int = 2,
    k_max: int = 8,
    max_texts: int = MAX_TEXTS,
    top_terms: int = 8,
    examples: int = 3,
) -> dict[str, Any]:
    """Cluster ``texts``; return ``{"n_texts", "k", "silhouette", "clusters": [...]}`` (JSON-ready).

    Each cluster has ``size``, ``share``, ``top_terms`` (highest mean TF-IDF weight) and
    ``examples`` (the texts closest to its centre). With fewer than 20 texts, or texts
    without shared words, there is nothing to cluster and ``clusters`` is empty with a ``note``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(seed)
    pool = [str(t) for t in texts]
    if len(pool) > max_texts:
        pool = [pool[i] for i in sorted(rng.choice(len(pool), max_texts, replace=False))]
    empty: dict[str, Any] = {"n_texts": len(pool), "k": 0, "silhouette": None, "clusters": []}
    if len(pool) < MIN_TEXTS:
        return {**empty, "note": f"{len(pool)} low-confidence texts: fewer than {MIN_TEXTS}, nothing to cluster"}
    vec = TfidfVectorizer(stop_words="english", min_df=2, max_df=0.9, sublinear_tf=True, max_features=5_000)
    try:
        x = vec.fit_transform(pool)
    except ValueError:
        return {**empty, "note": "the low-confidence texts share no words: nothing to cluster"}
    keep = np.asarray(x.sum(axis=1)).ravel() > 0
    if keep.sum() < MIN_TEXTS:
        return {**empty, "note": "too few low-confidence texts with shared words to cluster"}
    x, pool = x[keep], [t for t, k in zip(pool, keep, strict=True) if k]
    best = kmeans_by_silhouette(x, k_min=k_min, k_max=k_max, seed=seed)
    if best is None:
        return {**empty, "note": "k-means found a single cluster only"}
    score, k, km = best
    terms = vec.get_feature_names_out()
    clusters: list[dict[str, Any]] = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        if not len(members):
            continue
        weights = np.asarray(x[members].mean(axis=0)).ravel()
        dist = km.transform(x[members])[:, c]
        clusters.append(
            {
                "size": len(members),
                "share": len(members) / len(pool),
                "top_terms": [str(terms[i]) for i in weights.argsort()[::-1][:top_terms] if weights[i] > 0],
                "examples": [pool[members[i]] for i in dist.argsort()[:examples]],
            }
        )
    clusters.sort(key=lambda c: c["size"], reverse=True)
    return {"n_texts": len(pool), "k": k, "silhouette": score, "clusters": clusters}


__all__ = ["kmeans_by_silhouette", "low_confidence_texts", "new_topics"]
