"""The texts the categories DAG clusters: recent scored batches, weighted towards low confidence.

The pool is read from what batch inference already wrote: each run's batch manifest
(``results/<profile>/_batches/<run>.json``) names its result files and its staged input, and
:func:`ml.scored_batch.load_scored_batch` joins them on the record id. Texts the champion is
unsure about are where new categories show up first, so they are sampled with a higher
weight; confident ones still have a chance (a new category can be confidently misfiled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from include import lake

#: Weight floor of a fully confident prediction relative to an uncertain one (1 - confidence).
CONFIDENT_WEIGHT = 0.1


@dataclass
class Pool:
    """Scored texts with the champion's predicted class and confidence (aligned lists)."""

    ids: list[str]
    texts: list[str]
    predicted: list[str]
    confidence: np.ndarray
    batches: list[str]  # run key of the batch each row came from

    @property
    def n(self) -> int:
        return len(self.ids)

    def take(self, idx: Sequence[int]) -> Pool:
        ix = list(idx)
        return Pool(
            ids=[self.ids[i] for i in ix],
            texts=[self.texts[i] for i in ix],
            predicted=[self.predicted[i] for i in ix],
            confidence=np.asarray(self.confidence)[ix] if ix else np.zeros(0),
            batches=[self.batches[i] for i in ix],
        )


def recent_manifests(results_uri: str, *, limit: int, run_keys: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Batch manifests of the ``limit`` most recent batch inference runs (by date, then run key).

    ``run_keys`` (the batches of the triggering events) are always included.
    """
    from ml.results import BATCHES_DIR, read_batch_manifest

    fs, path = lake.filesystem(lake.join(results_uri, BATCHES_DIR))
    manifests: list[dict[str, Any]] = []
    if fs.exists(path):
        for entry in fs.ls(path, detail=False):
            name = str(entry).rstrip("/").rsplit("/", 1)[-1]
            if name.endswith(".json") and not name.startswith((".", "_")):
                m = lake.read_json(lake.join(results_uri, BATCHES_DIR, name))
                if isinstance(m, dict) and isinstance(m.get("result_files"), list):
                    manifests.append(m)
    manifests.sort(key=lambda m: (str(m.get("date", "")), str(m.get("run_key", ""))), reverse=True)
    chosen = manifests[:limit]
    have = {m.get("run_key") for m in chosen}
    for key in run_keys:
        if key not in have:
            m = read_batch_manifest(results_uri, key)
            if m is not None:
                chosen.append(m)
    return chosen


def load_pool(
    manifests: Sequence[dict[str, Any]], *, text_fields: Sequence[str], separator: str, classes: Sequence[str]
) -> Pool:
    """Every scored row of ``manifests`` (repeated ids kept once: a batch may be read twice)."""
    from ml.scored_batch import load_scored_batch

    ids: list[str] = []
    texts: list[str] = []
    predicted: list[str] = []
    conf: list[float] = []
    batches: list[str] = []
    seen: set[str] = set()
    cls = list(classes)
    for m in manifests:
        if not m.get("result_files"):
            continue
        batch = load_scored_batch(m["result_files"], m["transform_input_uri"], text_fields, cls, separator=separator)
        top = batch.proba.argmax(axis=1) if batch.n else np.zeros(0, dtype=int)
        for i, rid in enumerate(batch.ids):
            key = f"{m.get('run_key')}/{rid}"
            if key in seen:
                continue
            seen.add(key)
            ids.append(rid)
            texts.append(batch.texts[i])
            predicted.append(cls[int(top[i])])
            conf.append(float(batch.proba[i].max()))
            batches.append(str(m.get("run_key")))
    return Pool(ids, texts, predicted, np.asarray(conf, dtype=float), batches)


#: What ``Pool.predicted`` holds for texts no model has scored (bootstrap: no champion yet).
UNSCORED = ""


def load_unscored_pool(validated_uri: str, *, text_fields: Sequence[str], separator: str) -> Pool:
    """The valid rows of unscored inference inputs (validated Parquet), for a profile without a champion.

    Without a champion nothing has been scored, so the pool is the inference-input files'
    rows as validation kept them (same ids as batch inference gives them later); every row
    has the same weight (confidence 0) and no predicted class. ``batches`` holds each row's
    source file, which the pseudo-labelled rows keep as their ``source_uri``.
    """
    import pyarrow.dataset as ds

    from ml.textnorm import combine_text_fields

    fs, path = lake.filesystem(validated_uri)
    if not fs.exists(path):
        return Pool([], [], [], np.zeros(0), [])
    dataset = ds.dataset(path, filesystem=fs, format="parquet", exclude_invalid_files=True)
    missing = [c for c in ("_row_id", "_source_uri", *text_fields) if c not in dataset.schema.names]
    if missing:
        raise ValueError(f"{validated_uri}: validated rows lack the column(s) {missing}")
    table = dataset.to_table(columns=["_row_id", "_source_uri", "_source_record", *text_fields])
    rows = table.sort_by([("_source_uri", "ascending"), ("_source_record", "ascending")]).to_pylist()
    ids, texts, sources = [], [], []
    seen: set[str] = set()
    for r in rows:
        rid = str(r["_row_id"])
        if rid in seen:
            continue
        seen.add(rid)
        ids.append(rid)
        texts.append(combine_text_fields([r.get(f) for f in text_fields], separator) or "")
        sources.append(str(r["_source_uri"]))
    return Pool(ids, texts, [UNSCORED] * len(ids), np.zeros(len(ids), dtype=float), sources)


def weighted_sample(pool: Pool, max_texts: int, *, seed: int) -> Pool:
    """At most ``max_texts`` rows, drawn without replacement with weight ``(1 - confidence) + 0.1``."""
    if pool.n <= max_texts:
        return pool
    rng = np.random.default_rng(seed)
    w = np.clip(1.0 - np.asarray(pool.confidence, dtype=float), 0.0, 1.0) + CONFIDENT_WEIGHT
    idx = rng.choice(pool.n, size=max_texts, replace=False, p=w / w.sum())
    return pool.take(sorted(idx.tolist()))


__all__ = ["UNSCORED", "Pool", "load_pool", "load_unscored_pool", "recent_manifests", "weighted_sample"]
