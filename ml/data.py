"""Reading the processed zone: the train / validation / test splits a model is fitted on.

Two readers share one column contract (docs/CONTRACTS.md, "Processed"):

* :func:`read_channel` reads a local directory of Parquet files — a SageMaker channel
  (``SM_CHANNEL_TRAIN`` …) inside the training container or the local job directory;
* :func:`read_processed` reads every published ``run=*`` folder of a profile in the lake
  and drops repeated ``content_hash`` (the same text ingested twice trains once).

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

    A ``content_hash`` seen in an earlier run (sorted by run key) is dropped from later
    runs, and within a split only its first row is kept.
    """
    import pandas as pd

    from include.lake import filesystem, published

    runs = [uri for uri in published(processed_uri) if uri.rsplit("/", 1)[-1].startswith("run=")]
    if not runs:
        raise DataError(
            f"no published processed data under {processed_uri}: run the profile's ingest DAG first "
            "(a run folder is published when its _manifest.json exists)"
        )
    parts: dict[str, list[pd.DataFrame]] = {s: [] for s in splits}
    for run_uri in runs:
        for split in splits:
            fs, path = filesystem(f"{run_uri}/split={split}")
            if not fs.exists(path):
                continue
            files = sorted(f for f in fs.find(path) if f.endswith(".parquet") and "/_" not in f[len(path) :])
            for f in files:
                with fs.open(f, "rb") as fh:
                    frame = pd.read_parquet(fh)
                _check_columns(frame, f"{run_uri}/split={split}", require_label=True)
                frame["_run"] = run_uri.rsplit("=", 1)[-1]
                parts[split].append(frame)
    out: dict[str, pd.DataFrame] = {}
    seen: set[str] = set()
    for split in splits:
        frame = pd.concat(parts[split], ignore_index=True) if parts[split] else pd.DataFrame(columns=list(COLUMNS))
        frame = frame.sort_values("_run", kind="stable").drop_duplicates("content_hash", keep="first")
        # A hash cannot legitimately sit in two splits (the split is a hash of the text); guard anyway
        # so a changed split salt never leaks test rows into training.
        frame = frame[~frame["content_hash"].isin(seen)]
        seen.update(frame["content_hash"])
        out[split] = frame.drop(columns="_run").reset_index(drop=True)
    return out, [uri.rsplit("=", 1)[-1] for uri in runs]


def stage_channels(processed_uri: str, dest_dir: str | Path, *, splits: Sequence[str] = SPLITS) -> dict[str, Any]:
    """Write ``dest_dir/<split>/data.parquet`` for each split; return lineage and row counts."""
    frames, run_keys = read_processed(processed_uri, splits=splits)
    dest = Path(dest_dir)
    rows: dict[str, int] = {}
    for split, frame in frames.items():
        if frame.empty and split != "test":
            raise DataError(f"split {split!r} of {processed_uri} is empty: cannot train without it")
        target = dest / split
        target.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target / "data.parquet", index=False)
        rows[split] = len(frame)
    return {"processed_uri": processed_uri, "run_keys": run_keys, "rows_per_split": rows}


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
