"""Reading the processed zone: the train / validation / test splits a model is fitted on.

Two readers share one column contract (docs/CONTRACTS.md, "Processed"):

* :func:`read_channel` reads a local directory of Parquet files — a SageMaker channel
  (``SM_CHANNEL_TRAIN`` …) inside the training container or the local job directory;
* :func:`read_processed` reads every published ``run=*`` folder of a profile in the lake
  and drops repeated ``content_hash`` (the same text ingested twice trains once). Runs are
  taken in publication order (the ETL manifest's ``published_at``); a text whose label
  differs between runs is resolved by the profile's ``validation.label_conflicts`` policy,
  recorded in the manifests: ``latest`` keeps the latest run's row (a later file that
  corrects a label takes effect), ``drop`` drops the text. Validation resolves conflicts
  within one run (``etl/validation/conflicts.py``).

:func:`stage_channels` writes the deduplicated splits as one Parquet file per channel,
which is what the local training runner (and, on aws, the S3 input prefix) hands to
``ml/train.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "validation", "test")
COLUMNS = ("id", "text", "label", "content_hash")


class DataError(ValueError):
    """Processed data is missing, empty or does not follow the processed-zone contract."""


def read_channel(directory: str | Path, *, name: str = "train", require_label: bool = True) -> pd.DataFrame:
    """Every ``*.parquet`` file under ``directory`` (recursive, hidden and ``_`` files skipped)."""
    import pandas as pd

    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"channel {name!r}: directory {root} does not exist (is SM_CHANNEL_{name.upper()} set?)")
    files = sorted(
        p for p in root.rglob("*.parquet") if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    )
    if not files:
        raise DataError(f"channel {name!r}: no .parquet files under {root}")
    frame = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    _check_columns(frame, f"channel {name!r} ({root})", require_label=require_label)
    return frame


def read_processed(processed_uri: str, *, splits: Sequence[str] = SPLITS) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Splits from every published run under ``processed/<profile>``; returns (frames, run keys).

    One row per ``content_hash``: the row of the latest published run; a text labelled
    differently by two runs is resolved by the label-conflict policy (module docstring).
    """
    frames, run_keys, _ = read_processed_with_stats(processed_uri, splits=splits)
    return frames, run_keys


def read_processed_with_stats(
    processed_uri: str, *, splits: Sequence[str] = SPLITS
) -> tuple[dict[str, pd.DataFrame], list[str], dict[str, Any]]:
    """:func:`read_processed` plus ``{"label_conflicts": {"policy", "texts", "rows_dropped"}}``."""
    import pandas as pd

    from include.lake import MANIFEST, filesystem, join, published, read_json

    runs = [uri for uri in published(processed_uri) if uri.rsplit("/", 1)[-1].startswith("run=")]
    if not runs:
        raise DataError(
            f"no published processed data under {processed_uri}: run the profile's ingest DAG first "
            "(a run folder is published when its _manifest.json exists)"
        )
    manifests = {uri: read_json(join(uri, MANIFEST)) for uri in runs}
    # Publication order = ingest order (run keys of manual runs do not sort by time).
    published_at = {u: float(manifests[u].get("published_at") or _modified(join(u, MANIFEST))) for u in runs}
    runs.sort(key=lambda u: (published_at[u], u))
    policy = str(manifests[runs[-1]].get("label_conflicts") or "latest")
    if policy not in ("latest", "drop"):
        raise DataError(f"{runs[-1]}/{MANIFEST}: label_conflicts={policy!r} is not 'latest' or 'drop'")
    parts: dict[str, list[pd.DataFrame]] = {s: [] for s in splits}
    for rank, run_uri in enumerate(runs):
        for split in splits:
            fs, path = filesystem(f"{run_uri}/split={split}")
            if not fs.exists(path):
                continue
            files = sorted(f for f in fs.find(path) if f.endswith(".parquet") and "/_" not in f[len(path) :])
            for f in files:
                with fs.open(f, "rb") as fh:
                    frame = pd.read_parquet(fh)
                _check_columns(frame, f"{run_uri}/split={split}", require_label=True)
                frame["_rank"] = rank
                parts[split].append(frame)
    out: dict[str, pd.DataFrame] = {}
    seen: set[str] = set()
    texts = rows_dropped = 0
    for split in splits:
        frame = (
            pd.concat(parts[split], ignore_index=True) if parts[split] else pd.DataFrame(columns=[*COLUMNS, "_rank"])
        )
        labels = frame.groupby("content_hash")["label"].nunique()
        contested = set(labels[labels > 1].index)
        texts += len(contested)
        if contested and policy == "drop":
            before = len(frame)
            frame = frame[~frame["content_hash"].isin(contested)]
            rows_dropped += before - len(frame)
        # The latest run's row of each text: under 'latest' its label is the one that counts.
        frame = frame.sort_values("_rank", kind="stable").drop_duplicates("content_hash", keep="last")
        # A hash cannot legitimately sit in two splits (the split is a hash of the text); guard anyway
        # so a changed split salt never leaks test rows into training.
        frame = frame[~frame["content_hash"].isin(seen)]
        seen.update(frame["content_hash"])
        out[split] = frame.drop(columns="_rank").reset_index(drop=True)
    stats = {"label_conflicts": {"policy": policy, "texts": texts, "rows_dropped": rows_dropped}}
    return out, [uri.rsplit("=", 1)[-1] for uri in runs], stats


def _modified(uri: str) -> float:
    """When the object ``uri`` was last written (seconds since epoch), for manifests without ``published_at``."""
    from include.lake import filesystem

    fs, path = filesystem(uri)
    info = fs.info(path)
    value = info.get("LastModified") or info.get("mtime") or 0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def stage_channels(processed_uri: str, dest_dir: str | Path, *, splits: Sequence[str] = SPLITS) -> dict[str, Any]:
    """Write ``dest_dir/<split>/data.parquet`` for each split; return lineage and row counts."""
    frames, run_keys, stats = read_processed_with_stats(processed_uri, splits=splits)
    dest = Path(dest_dir)
    rows: dict[str, int] = {}
    for split, frame in frames.items():
        if frame.empty and split != "test":
            raise DataError(f"split {split!r} of {processed_uri} is empty: cannot train without it")
        target = dest / split
        target.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target / "data.parquet", index=False)
        rows[split] = len(frame)
    return {"processed_uri": processed_uri, "run_keys": run_keys, "rows_per_split": rows, **stats}


def _check_columns(frame: pd.DataFrame, where: str, *, require_label: bool) -> None:
    wanted = ["text", "label"] if require_label else ["text"]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {missing}; processed data must have {list(COLUMNS)} "
            "(see docs/CONTRACTS.md, Processed)"
        )
    if "content_hash" not in frame.columns:
        import hashlib

        # Channels built by hand (tests, ad-hoc runs) may lack the hash; derive it the same way.
        frame["content_hash"] = [hashlib.sha256(str(t).encode()).hexdigest()[:16] for t in frame["text"]]
