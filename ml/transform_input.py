"""Stage the valid rows of an inference batch as the Batch Transform's input objects.

Validation keeps the valid rows of each raw file in the validated zone (Parquet). The
transform must score exactly those rows, once each, with the id validation gave them, so
each source file becomes one JSON-lines object ``{"id": …, "source_uri": …,
"source_record": …, <text fields>: …}`` — the
``application/jsonlines`` input the handler accepts on both targets (SageMaker Batch
Transform reads the same objects from S3). Object keys keep the source key (plus
``.jsonl``) and etag, so results stay keyed by (input object, checksum, model version).
``source_uri`` (the user's input object, not this staged copy) and ``source_record`` (the
1-based record number in it) travel through the handler into every prediction, so a
result row joins back to its input record on both targets.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from typing import Any

from include import lake


def stage_transform_inputs(
    validated_uri: str,
    sources: Sequence[dict[str, Any]],
    text_fields: Sequence[str],
    out_prefix_uri: str,
) -> list[dict[str, Any]]:
    """Write one JSON-lines object per source file with its valid rows; return the object dicts.

    ``sources`` are the sensor's objects (``uri``, ``key``, ``etag``, ``size``). Files with no
    valid row produce no object. Records keep their order in the source file.
    """
    import pyarrow.dataset as ds

    fs, path = lake.filesystem(validated_uri)
    dataset = ds.dataset(path, filesystem=fs, format="parquet", exclude_invalid_files=True)
    columns = ["_row_id", "_source_uri", "_source_record", *text_fields]
    table = dataset.to_table(columns=[c for c in columns if c in dataset.schema.names])
    rows_by_source: dict[str, list[dict[str, Any]]] = {}
    for row in table.sort_by([("_source_uri", "ascending"), ("_source_record", "ascending")]).to_pylist():
        rows_by_source.setdefault(str(row["_source_uri"]), []).append(row)
    staged: list[dict[str, Any]] = []
    for src in sources:
        rows = rows_by_source.get(str(src["uri"]), [])
        if not rows:
            continue
        key = f"{src['key']}.jsonl"
        lines = [
            json.dumps(
                {
                    "id": r["_row_id"],
                    "source_uri": r["_source_uri"],
                    "source_record": int(r["_source_record"]),
                    **{f: r.get(f) for f in text_fields},
                },
                ensure_ascii=False,
            )
            for r in rows
        ]
        body = ("\n".join(lines) + "\n").encode("utf-8")
        uri = lake.join(out_prefix_uri, *key.split("/"))
        lake.write_bytes(uri, body)
        staged.append(
            {
                "uri": uri,
                "key": key,
                "etag": src.get("etag", ""),
                "size": len(body),
                "source_uri": src["uri"],
                "source_name": posixpath.basename(str(src["key"])),
                "rows": len(rows),
            }
        )
    return staged
