"""The one path helper for the lake: ``file://`` and ``s3://`` through fsspec.

Every write is atomic for readers: a single object is written under a temporary
name then renamed (local) or put in one request (S3); a directory of outputs is
written under a temporary prefix and published by rename (local) or completed by
writing its ``_manifest.json`` last (S3), and readers only trust prefixes that
have a manifest.
"""

from __future__ import annotations

import json
import posixpath
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    # fsspec is imported where it is used: DAG files import this module at parse time.
    import fsspec

MANIFEST = "_manifest.json"
#: Names that are never data: hidden files, in-progress uploads and temporary files.
TEMP_SUFFIXES = (".tmp", ".part", ".crdownload", ".filepart", ".COPYING", ".inprogress", ".swp")


class LakePathError(ValueError):
    """An object key or URI that nlpops refuses (traversal, symlink escape, bad scheme)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One object in the lake as the sensor sees it."""

    uri: str
    key: str  # relative to the listed prefix, '/'-separated
    size: int
    mtime: float  # seconds since epoch (LastModified on S3)
    etag: str  # S3 ETag, or the MD5 of the content locally (as S3 gives for a one-part upload)
    is_symlink: bool = False
    link_target: str = ""

    def fingerprint(self) -> str:
        return f"{self.key}|{self.size}|{self.etag}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "key": self.key,
            "size": self.size,
            "mtime": self.mtime,
            "etag": self.etag,
            "is_symlink": self.is_symlink,
            "link_target": self.link_target,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ObjectInfo:
        return cls(**d)


StorageOptionsProvider = Callable[[], dict[str, Any]]
_providers: dict[str, StorageOptionsProvider] = {}
_providers_lock = threading.Lock()


def set_storage_options_provider(protocol: str, provider: StorageOptionsProvider | None) -> None:
    """Register where the credentials of ``protocol`` (e.g. ``"s3"``) come from; ``None`` removes it.

    :func:`filesystem` calls ``provider()`` for every URI of that protocol that is opened
    without explicit storage options. The Airflow side registers one that reads the AWS
    connection (``nlpops.aws.session``); without one (a Glue job, a plain script) s3fs
    uses the default AWS credential chain. The provider caches what it computes.
    """
    with _providers_lock:
        if provider is None:
            _providers.pop(protocol, None)
        else:
            _providers[protocol] = provider


def filesystem(uri: str, **storage_options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem and the scheme-less path of ``uri``."""
    from fsspec.core import url_to_fs

    if "://" not in uri:
        raise LakePathError(f"{uri!r} is not a URI: the lake is addressed with file:// or s3:// URIs")
    if not storage_options:
        provider = _providers.get(uri.split("://", 1)[0].lower())
        if provider is not None:
            storage_options = provider()
    fs, path = url_to_fs(uri, **storage_options)
    return fs, path


def join(uri: str, *parts: str) -> str:
    """Join ``parts`` to ``uri``; refuses '..' and absolute parts (path traversal)."""
    out = uri.rstrip("/")
    for part in parts:
        safe_key(part)
        out = f"{out}/{part.strip('/')}"
    return out


def safe_key(key: str) -> str:
    """Return ``key`` if it is a relative key without traversal, else raise LakePathError.

    Percent-encoded forms (``%2e%2e%2f``, also double-encoded) are decoded and checked too:
    a key is refused if any layer that a URL decoder downstream could produce escapes.
    """
    layer = key
    for _ in range(4):  # key, decoded, twice decoded, …: stop when decoding changes nothing
        if layer.startswith("/") or "\\" in layer or "\x00" in layer:
            raise LakePathError(f"object key {key!r} is absolute or contains a backslash/NUL: refused")
        if any(seg == ".." for seg in layer.split("/")):
            raise LakePathError(f"object key {key!r} contains '..': path traversal refused")
        decoded = unquote(layer)
        if decoded == layer:
            return key
        layer = decoded
    raise LakePathError(f"object key {key!r} is percent-encoded more than three times: refused")


def is_ignorable(key: str) -> bool:
    """Hidden, temporary or in-progress names are never picked up as data."""
    name = posixpath.basename(key)
    return (
        not name
        or name.startswith((".", "_", "~"))
        or name.endswith(TEMP_SUFFIXES)
        or any(seg.startswith(("_", ".")) for seg in key.split("/")[:-1])
    )


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return bool(fs.exists(path))


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    with fs.open(path, "rb") as fh:
        return bytes(fh.read())


def read_json(uri: str) -> Any:
    return json.loads(read_bytes(uri).decode("utf-8"))


def write_bytes(uri: str, data: bytes) -> None:
    """Write one object atomically: temp name + rename locally, a single PUT on S3."""
    fs, path = filesystem(uri)
    if _is_local(fs):
        parent = posixpath.dirname(path)
        fs.makedirs(parent, exist_ok=True)
        tmp = posixpath.join(parent, f".{posixpath.basename(path)}.{uuid.uuid4().hex}.tmp")
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        fs.mv(tmp, path)
    else:
        fs.pipe_file(path, data)


def write_json(uri: str, obj: Any) -> None:
    write_bytes(uri, json.dumps(obj, indent=2, sort_keys=True, default=str).encode("utf-8"))


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def remove(uri: str, recursive: bool = True) -> None:
    fs, path = filesystem(uri)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


def staging_uri(final_uri: str) -> str:
    """A sibling temporary prefix for building ``final_uri`` (hidden from listings)."""
    parent, name = final_uri.rstrip("/").rsplit("/", 1)
    return f"{parent}/_tmp_{name}_{uuid.uuid4().hex[:8]}"


def remove_stale_staging(final_uri: str) -> list[str]:
    """Remove the staging prefixes (``_tmp_<name>_*``) a killed attempt at ``final_uri`` left behind.

    A task killed with SIGKILL cannot clean up; its retry (same run key, same
    ``final_uri``) calls this first so that one run never leaves a second directory.
    Returns the URIs removed.
    """
    parent, name = final_uri.rstrip("/").rsplit("/", 1)
    fs, ppath = filesystem(parent)
    if not fs.exists(ppath):
        return []
    removed = []
    for entry in fs.ls(ppath, detail=False):
        base = posixpath.basename(str(entry).rstrip("/"))
        suffix = base.removeprefix(f"_tmp_{name}_")
        # exactly staging_uri()'s 8-hex tail: never another run's folder whose name extends this one
        if suffix != base and len(suffix) == 8 and all(c in "0123456789abcdef" for c in suffix):
            fs.rm(str(entry), recursive=True)
            removed.append(f"{parent}/{base}")
    return removed


def publish_dir(staging: str, final_uri: str, manifest: dict[str, Any]) -> None:
    """Make the outputs under ``staging`` visible at ``final_uri`` with their manifest.

    Locally the manifest goes into the staging folder, then the folder is renamed over
    any previous attempt (a retry replaces its own output). On S3 the objects are copied
    and the manifest is written last; readers only trust prefixes with a manifest.
    """
    fs, spath = filesystem(staging)
    _, fpath = filesystem(final_uri)
    if _is_local(fs):
        write_json(join(staging, MANIFEST), manifest)
        if fs.exists(fpath):
            old = staging_uri(final_uri)
            _, opath = filesystem(old)
            fs.mv(fpath, opath, recursive=True)
            fs.mv(spath, fpath, recursive=True)
            fs.rm(opath, recursive=True)
        else:
            fs.makedirs(posixpath.dirname(fpath), exist_ok=True)
            fs.mv(spath, fpath, recursive=True)
    else:
        if fs.exists(fpath):
            fs.rm(fpath, recursive=True)
        fs.copy(spath, fpath, recursive=True)
        fs.rm(spath, recursive=True)
        write_json(join(final_uri, MANIFEST), manifest)


def published(prefix_uri: str) -> Iterator[str]:
    """URIs of the published sub-prefixes (those holding a manifest) directly under ``prefix_uri``."""
    fs, path = filesystem(prefix_uri)
    if not fs.exists(path):
        return
    for entry in sorted(fs.ls(path, detail=False)):
        name = posixpath.basename(str(entry).rstrip("/"))
        if name.startswith(("_", ".")):
            continue
        if fs.exists(posixpath.join(str(entry), MANIFEST)):
            yield f"{prefix_uri.rstrip('/')}/{name}"


def list_objects(prefix_uri: str) -> list[ObjectInfo]:
    """Every object under ``prefix_uri`` (recursive), with size, mtime and etag.

    Local symlinks are reported with their resolved target so callers can refuse links
    that leave the lake.
    """
    import os

    fs, root = filesystem(prefix_uri)
    if not fs.exists(root):
        return []
    out: list[ObjectInfo] = []
    local = _is_local(fs)
    for path, info in sorted(fs.find(root, detail=True, withdirs=False).items()):
        key = posixpath.relpath(path, root)
        uri = f"{prefix_uri.rstrip('/')}/{key}"
        if local:
            st = os.lstat(path)
            islink = os.path.islink(path)
            target = os.path.realpath(path) if islink else ""
            size = os.stat(path).st_size if islink and os.path.exists(path) else st.st_size
            mtime = st.st_mtime
            # A symlink is never read (it may point outside the lake): validation refuses it anyway.
            etag = f"link-{st.st_size:x}-{st.st_mtime_ns:x}" if islink else _content_etag(path)
            out.append(ObjectInfo(uri, key, size, mtime, etag, islink, target))
        else:
            mtime_v = info.get("LastModified") or info.get("mtime") or 0
            mtime = mtime_v.timestamp() if hasattr(mtime_v, "timestamp") else float(mtime_v)
            etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
            out.append(ObjectInfo(uri, key, int(info.get("size") or 0), mtime, etag))
    return out


_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}
_DIGESTS_MAX = 100_000


def _content_etag(path: str) -> str:
    """MD5 hex of a local file's bytes: identity by content, so ``touch`` does not make a file new.

    Cached per (path, inode, size, mtime, ctime) for the process (the triggerer lists every
    poke): a file is read again only when it may have changed. A file that cannot be read
    gets ``unreadable-<size>-<mtime>``, so it is still listed and refused.
    """
    import hashlib
    import os

    st = os.lstat(path)
    cache_key = (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    cached = _DIGESTS.get(cache_key)
    if cached is not None:
        return cached
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
    except OSError:
        return f"unreadable-{st.st_size:x}-{st.st_mtime_ns:x}"
    if len(_DIGESTS) >= _DIGESTS_MAX:
        _DIGESTS.clear()
    _DIGESTS[cache_key] = etag = digest.hexdigest()
    return etag


def local_path(uri: str) -> str:
    """The filesystem path of a ``file://`` URI (for tools that need one, e.g. Spark local)."""
    if not uri.startswith("file://"):
        raise LakePathError(f"{uri!r} is not a file:// URI")
    return uri[len("file://") :]


@contextmanager
def local_copy(uri: str) -> Iterator[str]:
    """A local folder holding the objects under ``uri``, for readers that need a path.

    A ``file://`` URI is its own folder (nothing is copied); any other (``s3://``) is
    downloaded, keeping relative keys, to a temporary folder removed on exit.
    """
    if uri.startswith("file://"):
        yield local_path(uri)
        return
    import os
    import tempfile

    fs, root = filesystem(uri)
    root = root.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="nlpops-lake-") as tmp:
        for path in fs.find(root):
            rel = safe_key(posixpath.relpath(path, root))
            target = os.path.join(tmp, *rel.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fs.get_file(path, target)
        yield tmp


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in {"file", "local"}
