"""File-level checks made before a raw file is parsed: refuse it whole, or let it through.

A refused file is never parsed; symlinks that leave the lake are not even opened.
"""

from __future__ import annotations

import gzip
import os
import posixpath
from dataclasses import dataclass

from include import lake
from include.lake import ObjectInfo

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 1024
#: Share of suspicious bytes (NUL, C0 controls other than whitespace, invalid UTF-8) in
#: the first KB above which a file is binary. A text file with a few bad rows stays
#: below it; its bad bytes are caught per row.
BINARY_RATIO = 0.10
#: Well-known binary formats, recognised by their first bytes.
MAGIC_FORMATS = {
    b"PK\x03\x04": "a ZIP archive (unzip it and upload the .csv inside)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"PAR1": "a Parquet file",
    b"BZh": "bzip2-compressed data",
    b"\xfd7zXZ": "xz-compressed data",
    b"\x28\xb5\x2f\xfd": "zstd-compressed data",
    b"SQLite format 3": "an SQLite database",
}


@dataclass(frozen=True)
class Refusal:
    """Why a whole file is refused; ``readable`` = False means its bytes must not be copied."""

    reason: str
    readable: bool = True


def is_gzip_name(key: str) -> bool:
    return key.lower().endswith(".gz")


def check_location(obj: ObjectInfo, lake_root_uri: str) -> Refusal | None:
    """Refuse a ``file://`` object whose real path (after symlinks) is outside the lake root."""
    if not obj.uri.startswith("file://"):
        return None  # object stores have no symlinks
    path = lake.local_path(obj.uri)
    root = os.path.realpath(lake.local_path(lake_root_uri))
    target = os.path.realpath(path)
    if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
        return None
    what = "a symlink" if (obj.is_symlink or os.path.islink(path)) else "a path"
    return Refusal(
        f"{what} resolving to {target}, outside the lake {root}: refused and not read "
        "(copy the file into the lake instead of linking to it)",
        readable=False,
    )


def check_size(obj: ObjectInfo, max_file_bytes: int, profile_name: str) -> Refusal | None:
    if obj.size == 0:
        return Refusal("empty file (0 bytes): nothing to validate; re-upload the complete file")
    if obj.size > max_file_bytes:
        return Refusal(
            f"file is {obj.size} bytes, above validation.max_file_bytes={max_file_bytes} of "
            f"include/profiles/{profile_name}.yaml: split it into smaller files or raise the limit",
            readable=False,
        )
    return None


def check_content(obj: ObjectInfo) -> Refusal | None:
    """Look at the first KB (decompressed for ``.gz``): gzip under a plain name, binary data."""
    fs, path = lake.filesystem(obj.uri)
    with fs.open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    name = posixpath.basename(obj.key or path)
    if is_gzip_name(obj.key or path):
        if not head.startswith(GZIP_MAGIC):
            return Refusal(f"{name!r} is named .gz but is not gzip data: rename it without .gz (or compress it)")
        try:
            with fs.open(path, "rb") as fh, gzip.GzipFile(fileobj=fh) as gz:
                head = gz.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            return Refusal(f"{name!r}: corrupt gzip data ({exc}): re-compress and upload it again")
        if not head:
            return Refusal("empty file (gzip of 0 bytes): nothing to validate; re-upload the complete file")
    elif head.startswith(GZIP_MAGIC):
        suggestion = f"{name}.gz" if not name.lower().endswith(".csv") else f"{name[:-4]}.csv.gz"
        return Refusal(f"gzip-compressed content in a file named {name!r}: rename it to {suggestion!r}")
    return binary_refusal(head)


def binary_refusal(head: bytes) -> Refusal | None:
    """A refusal when ``head`` (the first KB) looks like binary data rather than text."""
    for magic, what in MAGIC_FORMATS.items():
        if head.startswith(magic):
            return Refusal(f"binary file ({what}), not delimited text")
    if not head:
        return None
    # The last 3 bytes may be a multi-byte character cut by the sniff window.
    text = head[:-3].decode("utf-8", "surrogateescape") if len(head) > 3 else ""
    invalid = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D))
    ratio = (invalid + controls) / len(head)
    if ratio > BINARY_RATIO:
        return Refusal(
            f"binary file: {ratio:.0%} of the first {len(head)} bytes are NUL/control bytes or invalid "
            "UTF-8; expected UTF-8 delimited text (export the data as CSV)"
        )
    return None
