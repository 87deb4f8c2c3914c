"""The ledger of processed objects, and the one scan that finds what is new.

The ledger of a (profile, zone) lives in the lake under
``settings.zone_uri("ledger", profile, zone)``: one JSON file per marked batch,
``<run_key>.json``, written atomically. An object counts as seen when its
fingerprint (``key|size|etag``) is in any of those files. The etag is the content's
identity (S3's ETag; locally the MD5 of the bytes, see ``include.lake.list_objects``):
``touch`` does not make a file new, a re-upload with new content does. Objects are
marked by a task that runs after the downstream tasks succeeded (at-least-once: a
failed run leaves them unmarked and the next run picks them up again); marking the
same run twice overwrites its file.

Files refused whole by validation (unparseable, or over the quarantine circuit breaker)
are recorded as *refused* in ``<run_key>.refused.json`` with the reason and the content
digest: the same bytes are never retried, a corrected re-upload (new digest) is new, and
the good files queued behind a bad one proceed. :meth:`Ledger.forget` (``make reprocess``)
makes chosen files new again on purpose; :meth:`Ledger.missing_outputs` names entries
whose recorded output has disappeared.

:func:`find_new_objects` is shared by the sensor's ``poke`` and the deferrable
trigger, so both modes pick exactly the same batch. Pure Python over
``include.lake``: no Airflow import, the same code path for ``file://`` and ``s3://``.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import posixpath
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from include import lake
from include.lake import LakePathError, ObjectInfo

log = logging.getLogger(__name__)

#: File-name patterns picked up when a caller gives none (the profiles' default too).
DEFAULT_PATTERNS: tuple[str, ...] = ("*.csv", "*.csv.gz")
LEDGER_FORMAT = 1
REFUSED_SUFFIX = ".refused"
_RUN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]{0,199}")


class LedgerError(RuntimeError):
    """A ledger file that cannot be read or a run key that cannot name one."""


class Ledger:
    """The processed objects of one (profile, zone), stored under ``ledger_uri``."""

    def __init__(self, ledger_uri: str) -> None:
        lake.filesystem(ledger_uri)  # refuses bare paths with a clear message
        self.ledger_uri = ledger_uri.rstrip("/")

    @classmethod
    def for_zone(cls, profile: str, zone: str, settings: Any = None) -> Ledger:
        """The ledger of ``zone`` (e.g. ``raw``, ``inference-input``) of ``profile``."""
        if settings is None:
            from include.settings import get_settings

            settings = get_settings()
        return cls(settings.zone_uri("ledger", profile, zone))

    def entry_uri(self, run_key: str) -> str:
        """URI of the ledger file of ``run_key``."""
        if not _RUN_KEY.fullmatch(run_key):
            raise LedgerError(
                f"run key {run_key!r} cannot name a ledger file under {self.ledger_uri}: use letters, digits, "
                "'.', '_', '=', '-' only, starting with a letter or digit (see include.naming.run_key)"
            )
        return lake.join(self.ledger_uri, f"{run_key}.json")

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every ledger file, by run key, as stored (``run_key``, ``objects``, ``fingerprints``)."""
        out: dict[str, dict[str, Any]] = {}
        for obj in lake.list_objects(self.ledger_uri):
            # In-flight temporary files of an atomic write are hidden names: skip them.
            if lake.is_ignorable(obj.key) or "/" in obj.key or not obj.key.endswith(".json"):
                continue
            try:
                doc = lake.read_json(obj.uri)
            except (ValueError, UnicodeDecodeError) as exc:
                raise LedgerError(
                    f"ledger file {obj.uri} is not valid JSON ({exc}); fix or delete it "
                    "(deleting it makes its objects count as new again)"
                ) from exc
            if not isinstance(doc, dict) or not isinstance(doc.get("fingerprints"), list):
                raise LedgerError(
                    f"ledger file {obj.uri} has no 'fingerprints' list; it was not written by nlpops.ledger. "
                    "Fix or delete it (deleting it makes its objects count as new again)"
                )
            out[obj.key[: -len(".json")]] = doc
        return out

    def seen(self) -> set[str]:
        """Fingerprints (``ObjectInfo.fingerprint()``) of every object marked done or refused."""
        return {str(fp) for doc in self.entries().values() for fp in doc["fingerprints"]}

    def mark_done(
        self,
        run_key: str,
        objects: Iterable[ObjectInfo | Mapping[str, Any]],
        *,
        outputs: Sequence[str] = (),
    ) -> str:
        """Record ``objects`` as fully processed by run ``run_key``; returns the ledger file's URI.

        Call only after every downstream task of the batch succeeded. Marking the same
        run again replaces its file (a retry of the marking task is harmless). Objects the
        same run recorded as refused are left out. ``outputs`` are the URIs the run wrote
        for them (checked by :meth:`missing_outputs`).
        """
        refused = self._refused_fingerprints(run_key)
        infos = [o for o in map(_as_info, objects) if o.fingerprint() not in refused]
        uri = self.entry_uri(run_key)
        lake.write_json(
            uri,
            {
                "format": LEDGER_FORMAT,
                "run_key": run_key,
                "fingerprints": sorted({o.fingerprint() for o in infos}),
                "objects": [o.to_dict() for o in sorted(infos, key=lambda o: o.key)],
                "outputs": list(outputs),
            },
        )
        log.info("ledger %s: marked %d object(s) done for run %s", self.ledger_uri, len(infos), run_key)
        return uri

    def mark_refused(
        self, run_key: str, refusals: Iterable[tuple[ObjectInfo | Mapping[str, Any], str]]
    ) -> list[dict[str, Any]]:
        """Record files refused whole by run ``run_key`` (object, reason); returns the newly refused ones.

        The entry ``<run_key>.refused.json`` keeps the reason and the content digest (etag)
        of each file. Its fingerprints count as seen, so the same bytes are not retried;
        a re-upload with other bytes is new. Recording the same run again merges (a retry
        of the validation task reports only files not recorded before).
        """
        uri = self.entry_uri(run_key + REFUSED_SUFFIX)
        before = {str(r["fingerprint"]): r for r in self._read_refused(run_key)}
        merged = dict(before)
        for obj, reason in refusals:
            info = _as_info(obj)
            merged[info.fingerprint()] = {
                "key": info.key,
                "uri": info.uri,
                "size": info.size,
                "digest": info.etag,
                "fingerprint": info.fingerprint(),
                "reason": reason,
            }
        new = [r for fp, r in merged.items() if fp not in before]
        if merged != before:
            lake.write_json(
                uri,
                {
                    "format": LEDGER_FORMAT,
                    "run_key": run_key,
                    "status": "refused",
                    "fingerprints": sorted(merged),
                    "refused": sorted(merged.values(), key=lambda r: str(r["key"])),
                },
            )
            log.warning("ledger %s: %d file(s) refused by run %s", self.ledger_uri, len(new), run_key)
        return new

    def refused(self) -> list[dict[str, Any]]:
        """Every refused file (key, uri, size, digest, fingerprint, reason, run_key), oldest run first."""
        return [
            {**r, "run_key": doc.get("run_key")}
            for _, doc in sorted(self.entries().items())
            for r in doc.get("refused") or []
        ]

    def filter_new(self, objects: Iterable[ObjectInfo]) -> list[ObjectInfo]:
        """The ``objects`` (in their order) whose fingerprint is not in the ledger (done or refused)."""
        seen = self.seen()
        return [o for o in objects if o.fingerprint() not in seen and _legacy_fingerprint(o) not in seen]

    def forget(self, patterns: Sequence[str]) -> list[str]:
        """Make the recorded objects whose key matches one of ``patterns`` (fnmatch) new again.

        The way to reprocess on purpose (``make reprocess``): every ledger entry (done or
        refused) is rewritten without them, so the sensor picks them up at its next look.
        Returns the keys forgotten.
        """
        if not patterns:
            raise ValueError("forget needs at least one key pattern (e.g. '*' or 'dirty/*.csv')")
        forgotten: list[str] = []
        for name, doc in self.entries().items():
            listed = [*(doc.get("objects") or []), *(doc.get("refused") or [])]
            drop = {_entry_fingerprint(o) for o in listed if _key_matches(str(o.get("key", "")), patterns)}
            if not drop:
                continue
            forgotten += sorted(str(o.get("key")) for o in listed if _entry_fingerprint(o) in drop)
            kept = dict(doc)
            kept["fingerprints"] = [fp for fp in doc["fingerprints"] if fp not in drop]
            if "objects" in doc:
                kept["objects"] = [o for o in doc["objects"] if _entry_fingerprint(o) not in drop]
            if "refused" in doc:
                kept["refused"] = [o for o in doc["refused"] if _entry_fingerprint(o) not in drop]
            lake.write_json(lake.join(self.ledger_uri, f"{name}.json"), kept)
        log.warning("ledger %s: forgot %d object(s), they count as new: %s", self.ledger_uri, len(forgotten), forgotten)
        return forgotten

    def missing_outputs(self) -> list[tuple[str, str]]:
        """(run key, output URI) of every entry whose recorded output no longer exists in the lake."""
        missing: list[tuple[str, str]] = []
        for name, doc in sorted(self.entries().items()):
            for out in doc.get("outputs") or []:
                if not lake.exists(str(out)):
                    missing.append((str(doc.get("run_key", name)), str(out)))
        return missing

    def _read_refused(self, run_key: str) -> list[dict[str, Any]]:
        uri = self.entry_uri(run_key + REFUSED_SUFFIX)
        if not lake.exists(uri):
            return []
        doc = lake.read_json(uri)
        return list(doc.get("refused") or []) if isinstance(doc, dict) else []

    def _refused_fingerprints(self, run_key: str) -> set[str]:
        return {str(r["fingerprint"]) for r in self._read_refused(run_key)}


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether file ``name`` matches one of the fnmatch ``patterns`` (case-insensitive: ``A.CSV`` is a csv)."""
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


def find_new_objects(
    prefix_uri: str,
    ledger_uri: str,
    *,
    patterns: Sequence[str] = DEFAULT_PATTERNS,
    quiet_seconds: float = 0,
    max_files: int | None = None,
    max_bytes: int | None = None,
    lake_root_uri: str | None = None,
    now: float | None = None,
) -> list[ObjectInfo]:
    """The next batch of new objects under ``prefix_uri``, oldest first; empty when there is none.

    An object is picked when its file name matches ``patterns``, it is not a hidden,
    temporary or in-progress name (``include.lake.is_ignorable``), it has not been
    modified for ``quiet_seconds`` (else it may still be being written) and its
    fingerprint is not in the ledger at ``ledger_uri``. The batch is ordered by
    (mtime, key) and cut at ``max_files`` objects and ``max_bytes`` bytes; the oldest
    object is always taken, even when larger than ``max_bytes``, so one big file cannot
    block the prefix forever. Symlinks are returned like files (with ``is_symlink`` and
    ``link_target``) so that validation refuses them visibly.

    ``lake_root_uri`` (the deployment's lake) makes the scan refuse a prefix or ledger
    outside the lake. ``now`` (epoch seconds) is for tests; default: the clock.
    """
    if not patterns:
        raise ValueError(f"no file patterns given for {prefix_uri}: pass e.g. ['*.csv'] (profile input.file_patterns)")
    if max_files is not None and max_files < 1:
        raise ValueError(f"max_files={max_files} must be >= 1 (profile schedule.max_files_per_batch)")
    if max_bytes is not None and max_bytes < 1:
        raise ValueError(f"max_bytes={max_bytes} must be >= 1 (profile schedule.max_bytes_per_batch)")
    if quiet_seconds < 0:
        raise ValueError(f"quiet_seconds={quiet_seconds} must be >= 0 (profile schedule.quiet_seconds)")
    if lake_root_uri:
        for what, uri in (("prefix", prefix_uri), ("ledger", ledger_uri)):
            if not _is_under(uri, lake_root_uri):
                raise LakePathError(
                    f"{what} {uri} is outside the lake {lake_root_uri}: check NLPOPS_LAKE_URI and the DAG's URIs"
                )
    clock = time.time() if now is None else now

    candidates: list[ObjectInfo] = []
    unmatched: list[str] = []
    settling = 0
    for obj in lake.list_objects(prefix_uri):
        if lake.is_ignorable(obj.key):
            continue
        if not matches(posixpath.basename(obj.key), patterns):
            unmatched.append(obj.key)
            continue
        if clock - obj.mtime < quiet_seconds:
            settling += 1
            continue
        if obj.is_symlink and lake_root_uri and not _link_inside(obj.link_target, lake_root_uri):
            log.warning(
                "%s is a symlink to %s outside the lake: reported so validation refuses it", obj.uri, obj.link_target
            )
        candidates.append(obj)
    if unmatched:
        # Not silently dropped: say which names are ignored and why.
        log.warning(
            "%d object(s) under %s match none of %s and are ignored: %s",
            len(unmatched),
            prefix_uri,
            list(patterns),
            ", ".join(unmatched[:10]) + (" …" if len(unmatched) > 10 else ""),
        )
    if settling:
        log.info("%d object(s) under %s were modified less than %ss ago: waiting", settling, prefix_uri, quiet_seconds)

    new = Ledger(ledger_uri).filter_new(candidates) if candidates else []
    new.sort(key=lambda o: (o.mtime, o.key))
    batch: list[ObjectInfo] = []
    total = 0
    for obj in new:
        if max_files is not None and len(batch) >= max_files:
            break
        if max_bytes is not None and batch and total + obj.size > max_bytes:
            break
        if max_bytes is not None and not batch and obj.size > max_bytes:
            log.warning("%s (%d bytes) alone exceeds max_bytes=%d: taken alone", obj.uri, obj.size, max_bytes)
        batch.append(obj)
        total += obj.size
    if len(batch) < len(new):
        log.info("batch capped at %d of %d new object(s) (%d bytes); the rest wait", len(batch), len(new), total)
    return batch


def _key_matches(key: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) or fnmatch.fnmatchcase(posixpath.basename(key), p) for p in patterns)


def _entry_fingerprint(o: Mapping[str, Any]) -> str:
    if "fingerprint" in o:
        return str(o["fingerprint"])
    return f"{o.get('key')}|{o.get('size')}|{o.get('etag')}"


def _legacy_fingerprint(obj: ObjectInfo) -> str:
    """The fingerprint a local file had before etags were content digests (size-mtime), so
    ledgers written then still count their files as seen (no re-ingest on upgrade)."""
    if not obj.uri.startswith("file://"):
        return obj.fingerprint()
    return f"{obj.key}|{obj.size}|{obj.size:x}-{int(obj.mtime * 1000):x}"


def _as_info(obj: ObjectInfo | Mapping[str, Any]) -> ObjectInfo:
    if isinstance(obj, ObjectInfo):
        return obj
    try:
        return ObjectInfo.from_dict(dict(obj))
    except TypeError as exc:
        raise LedgerError(f"not an object description (ObjectInfo.to_dict()): {dict(obj)!r}: {exc}") from exc


def _is_under(uri: str, root_uri: str) -> bool:
    root = root_uri.rstrip("/") + "/"
    if uri.rstrip("/") + "/" == root:
        return True
    if not uri.startswith(root):
        return False
    # '…/lake/raw/../../etc' starts with the root but is not under it: refuse the traversal itself.
    lake.safe_key(uri[len(root) :].rstrip("/"))
    return True


def _link_inside(target: str, lake_root_uri: str) -> bool:
    if not lake_root_uri.startswith("file://"):
        return True  # object stores have no symlinks
    # realpath: the link target is resolved, so the root must be too (e.g. /tmp -> /private/tmp).
    root = os.path.realpath(lake.local_path(lake_root_uri)).rstrip("/") + "/"
    return bool(target) and (target + "/").startswith(root)
