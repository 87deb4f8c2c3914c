"""Load one scored batch for the drift check: the texts that were scored and their probabilities.

The batch inference run leaves the scored rows' text in its staged transform input
(JSON lines ``{"id", <text fields>}``) and the predictions in the results Parquet; they are
joined on the record id, so the drift check sees exactly the rows that were scored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from include import lake
from ml.textnorm import combine_text_fields


class ScoredBatchError(ValueError):
    """The scored batch cannot be loaded; the message names the file."""


@dataclass
class ScoredBatch:
    ids: list[str]
    texts: list[str]
    proba: np.ndarray
    classes: list[str]

    @property
    def n(self) -> int:
        return len(self.ids)


def load_scored_batch(
    result_files: Sequence[str],
    transform_input_uri: str,
    text_fields: Sequence[str],
    classes: Sequence[str],
    *,
    separator: str = " . ",
) -> ScoredBatch:
    """Join the predictions in ``result_files`` with the texts staged under ``transform_input_uri``."""
    import pyarrow.parquet as pq

    texts_by_id: dict[str, str] = {}
    fs, root = lake.filesystem(transform_input_uri)
    if not fs.exists(root):
        raise ScoredBatchError(f"{transform_input_uri}: the staged transform input of this batch is missing")
    for path in sorted(fs.find(root)):
        if not str(path).endswith(".jsonl"):
            continue
        with fs.open(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ScoredBatchError(f"{path}:{lineno}: not JSON: {exc}") from exc
                texts_by_id[str(rec["id"])] = combine_text_fields([rec.get(f) for f in text_fields], separator) or ""
    ids: list[str] = []
    texts: list[str] = []
    rows: list[list[float]] = []
    for uri in result_files:
        rfs, rpath = lake.filesystem(uri)
        with rfs.open(rpath, "rb") as fh:
            table = pq.read_table(fh, columns=["id", "probabilities", "source_key"])
        for rec in table.to_pylist():
            rid = str(rec["id"])
            if rid not in texts_by_id:
                raise ScoredBatchError(f"{uri}: prediction for id {rid!r} has no staged text in {transform_input_uri}")
            probs = dict(rec["probabilities"])
            ids.append(rid)
            texts.append(texts_by_id[rid])
            rows.append([float(probs.get(c, 0.0)) for c in classes])
    proba = np.asarray(rows, dtype=float).reshape(len(rows), len(classes))
    return ScoredBatch(ids, texts, proba, list(classes))
