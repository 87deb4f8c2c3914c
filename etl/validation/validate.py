"""Validate raw files of one run: file checks, streaming parse, GX row rules, quarantine, reports.

Outputs (docs/CONTRACTS.md "Validated" and "Quarantine"), each published atomically with
:func:`include.lake.publish_dir`, so a retry with the same run key replaces its own output:

- ``validated_uri``: ``part-NNNNN.parquet`` of the valid rows + ``_manifest.json``;
- ``quarantine_uri``: ``rows.jsonl`` (bad rows with every reason) and ``files/`` (files refused whole);
- ``report_uri``: ``validation.json`` (per-expectation results and the manifest) and
  ``data_docs/`` (GX Data Docs HTML).

Counting rule: a file refused whole counts as one row in and one row quarantined, so
``rows_in == rows_valid + rows_quarantined`` holds for every file and for the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from etl.validation import conflicts as label_conflicts
from etl.validation import parse, sniff
from etl.validation.errors import REFUSED_STATUSES, QuarantineRateExceeded
from etl.validation.suites import CONTENT_HASH, META_QUARANTINE, META_REASON, RAW, TEXT, build_suite
from include import lake
from include.lake import ObjectInfo
from include.profiles import Profile
from ml.textnorm import combine_text_fields, content_hash_of, row_id

log = logging.getLogger(__name__)
#: the GX module whose import-time INFO lines are silenced (see :class:`_Gx`)
GX_REGISTRY_LOGGER = "great_expectations._docs_decorators"

COUNTING_RULE = (
    "a file refused whole (status quarantined_whole) counts as rows_in = rows_quarantined = 1; "
    "a file refused by the per-file circuit breaker (status refused) counts every row as quarantined; "
    "rows_in = rows_valid + rows_quarantined for every file and for the run"
)
META_COLUMNS = ("_row_id", "_source_uri", "_source_record", "_source_line")
DOCS_DIR = "data_docs"
_UNSAFE = re.compile(r"[^\w.-]+")


@dataclass
class FileResult:
    """What happened to one raw file (one entry of the manifest's ``files``)."""

    obj: ObjectInfo
    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    status: str = "ok"
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    #: header lines recognised in a file whose profile says it has none: skipped, not rows
    headers_skipped: int = 0
    #: rows quarantined by the label-conflict policy (counted in rows_quarantined too)
    label_conflicts: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uri": self.obj.uri,
            "size": self.obj.size,
            "etag": self.obj.etag,
            "rows_in": self.rows_in,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "status": self.status,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.notes:
            out["notes"] = self.notes
        if self.columns:
            out["columns"] = self.columns
        if self.headers_skipped:
            out["headers_skipped"] = self.headers_skipped
        if self.label_conflicts:
            out["label_conflicts"] = self.label_conflicts
        return out


@dataclass
class _ExpectationTally:
    type: str
    column: str | None
    reason: str
    quarantines: bool
    success: bool = True
    element_count: int = 0
    unexpected_count: int = 0
    batches: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def import_gx() -> Any:
    """``great_expectations``, imported without its ~200 INFO lines of "Skipping registering function".

    GX's public-API registry logs one line per decorated function while GX is imported: noise
    that buried a ``validate`` task's own log (214 of 230 lines).
    """
    logging.getLogger(GX_REGISTRY_LOGGER).setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


class _Gx:
    """GX Core used directly: an ephemeral context, one pandas batch per chunk, Data Docs in a temp site."""

    def __init__(self, profile: Profile, require_label: bool, site_dir: str) -> None:
        gx = import_gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        # GX draws tqdm bars on stderr for every batch: noise in task logs.
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.context.add_data_docs_site(
            site_name="nlpops",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": site_dir},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        self.suite = self.context.suites.add(build_suite(profile, require_label))
        asset = self.context.data_sources.add_pandas("raw_records").add_dataframe_asset(profile.name)
        batch_def = asset.add_batch_definition_whole_dataframe("chunk")
        self.validation = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{self.suite.name}_records", data=batch_def, suite=self.suite)
        )
        self.tallies = [
            _ExpectationTally(
                type=e.expectation_type,
                column=getattr(e, "column", None),
                reason=str((e.meta or {}).get(META_REASON, e.expectation_type)),
                quarantines=bool((e.meta or {}).get(META_QUARANTINE, True)),
            )
            for e in self.suite.expectations
        ]

    def validate(self, frame: Any, run_name: str) -> tuple[dict[int, list[str]], set[int]]:
        """Run the suite on ``frame``; returns reasons per failing row position and the duplicate positions."""
        result = self.validation.run(
            batch_parameters={"dataframe": frame},
            result_format="COMPLETE",
            run_id=self._gx.RunIdentifier(run_name=run_name),
        )
        failed: dict[int, list[str]] = {}
        duplicates: set[int] = set()
        by_id = {e.id: i for i, e in enumerate(self.suite.expectations)}
        for res in result.results:
            config = res.expectation_config
            if config is None or (res.exception_info or {}).get("raised_exception"):
                what = config.type if config else "an expectation"
                raise RuntimeError(
                    f"GX could not evaluate {what}: {(res.exception_info or {}).get('exception_message')}"
                )
            tally = self.tallies[by_id[config.id]]
            tally.batches += 1
            tally.success = tally.success and bool(res.success)
            tally.element_count += int(res.result.get("element_count") or len(frame))
            rows: list[int]
            if config.type == "expect_table_columns_to_match_set":
                # A table-level failure (columns missing) fails every row of the batch.
                rows = [] if res.success else list(range(len(frame)))
                tally.unexpected_count += len(rows)
            else:
                rows = [int(i) for i in res.result.get("unexpected_index_list") or []]
                tally.unexpected_count += int(res.result.get("unexpected_count") or 0)
            label = f"{tally.type}({tally.column}): {tally.reason}" if tally.column else f"{tally.type}: {tally.reason}"
            if not tally.quarantines:
                duplicates.update(rows)
                continue
            for i in rows:
                failed.setdefault(i, []).append(label)
        return failed, duplicates

    def build_docs(self) -> None:
        self.context.build_data_docs(site_names=["nlpops"])


def combine_text(values: Sequence[str], separator: str) -> str | None:
    """The text the rules judge: the ETL's and the handler's text (``ml.textnorm.combine_text_fields``).

    ``None`` when every field is empty (reason "null/empty"); ``""`` when something was there
    but nothing is left after normalisation (whitespace or markup only: reason "blank").
    """
    text = combine_text_fields(values, separator)
    if text:
        return text
    return None if all(v == "" for v in values) else ""


def _safe_name(key: str) -> str:
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:8]  # noqa: S324 - naming only
    readable = _UNSAFE.sub("_", key.replace("/", "__"))[:150]
    return f"{digest}_{readable}"


def _printable(text: str) -> str:
    """Text safe for JSON/UTF-8 output: undecodable bytes shown as \\xNN escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Outputs:
    """Staging areas of the three outputs and the writers that fill them."""

    def __init__(self, profile: Profile, require_label: bool, validated: str, quarantine: str, report: str) -> None:
        self.final = {"validated": validated, "quarantine": quarantine, "report": report}
        self.staging = {k: lake.staging_uri(v) for k, v in self.final.items()}
        layouts = parse.accepted_layouts(profile, True)
        columns = list(dict.fromkeys(c for lay in layouts for c in lay))
        if not require_label:
            # Scoring input: the label is never read downstream, and files may lack it.
            columns = [c for c in columns if c != profile.fields.label]
        self.columns = columns
        self.schema = pa.schema(
            [pa.field(c, pa.string()) for c in columns]
            + [
                pa.field("_row_id", pa.string()),
                pa.field("_source_uri", pa.string()),
                pa.field("_source_record", pa.int64()),
                pa.field("_source_line", pa.int64()),
            ]
        )
        self.parts = 0
        fs, path = lake.filesystem(self.staging["quarantine"])
        fs.makedirs(path, exist_ok=True)
        self._rows_fh: BinaryIO = fs.open(posixpath.join(path, "rows.jsonl"), "wb")

    def write_valid(self, rows: dict[str, list[Any]]) -> None:
        table = pa.table(
            {name: rows.get(name, [None] * len(rows["_row_id"])) for name in self.schema.names}, self.schema
        )
        fs, path = lake.filesystem(self.staging["validated"])
        fs.makedirs(path, exist_ok=True)
        with fs.open(posixpath.join(path, f"part-{self.parts:05d}.parquet"), "wb") as fh:
            pq.write_table(table, fh, compression="snappy")
        self.parts += 1

    def write_bad_row(self, source_uri: str, rec: parse.Record, reasons: list[str]) -> None:
        row = {
            "source_uri": source_uri,
            "record": rec.record,
            "line": rec.line,
            "reasons": reasons,
            "raw": _printable(rec.raw),
        }
        self._rows_fh.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")

    def quarantine_file(self, result: FileResult, refusal: sniff.Refusal, profile: Profile, run_key: str) -> None:
        name = _safe_name(result.obj.key or result.obj.uri)
        base = lake.join(self.staging["quarantine"], "files")
        if refusal.readable:
            src_fs, src = lake.filesystem(result.obj.uri)
            dst_fs, dst = lake.filesystem(lake.join(base, name))
            dst_fs.makedirs(posixpath.dirname(dst), exist_ok=True)
            with src_fs.open(src, "rb") as fin, dst_fs.open(dst, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1024 * 1024)
        lake.write_json(
            lake.join(base, f"{name}.reason.json"),
            {
                **result.obj.to_dict(),
                "profile": profile.name,
                "run_key": run_key,
                "reason": refusal.reason,
                "copied": refusal.readable,
                "copy": f"files/{name}" if refusal.readable else None,
            },
        )

    def drop_valid(self, rows: set[tuple[str, int]]) -> int:
        """Remove the valid rows keyed (source URI, record) in ``rows`` (label-conflict losers)."""

        def keep(table: pa.Table) -> pa.Array:
            keys = zip(table["_source_uri"].to_pylist(), table["_source_record"].to_pylist(), strict=True)
            return pa.array([(u, r) not in rows for u, r in keys])

        return self._rewrite_parts(keep) if rows else 0

    def close_rows(self) -> None:
        self._rows_fh.close()

    def drop_sources(self, source_uris: set[str]) -> int:
        """Remove the valid rows of ``source_uris`` (files refused after parsing) from the staged parts."""
        if not source_uris:
            return 0
        import pyarrow.compute as pc

        values = pa.array(sorted(source_uris), pa.string())
        return self._rewrite_parts(lambda table: pc.invert(pc.is_in(table["_source_uri"], value_set=values)))

    def _rewrite_parts(self, keep: Any) -> int:
        """Rewrite every staged validated part with only the rows ``keep(table)`` marks; returns rows dropped."""
        dropped = 0
        fs, path = lake.filesystem(self.staging["validated"])
        for i in range(self.parts):
            part = posixpath.join(path, f"part-{i:05d}.parquet")
            with fs.open(part, "rb") as fh:
                table = pq.read_table(fh)
            kept = table.filter(keep(table))
            if kept.num_rows == table.num_rows:
                continue
            dropped += table.num_rows - kept.num_rows
            with fs.open(part, "wb") as fh:
                pq.write_table(kept, fh, compression="snappy")
        return dropped

    def publish(self, manifest: dict[str, Any]) -> None:
        if self.parts == 0:
            # Readers infer the schema from the files: an empty part keeps it readable.
            self.write_valid({name: [] for name in self.schema.names})
        # Validated last: the ETL starts from it, and by then quarantine and reports exist.
        for kind in ("report", "quarantine", "validated"):
            lake.publish_dir(self.staging[kind], self.final[kind], manifest)

    def discard(self) -> None:
        """Remove the staging prefixes of a failed attempt (published outputs are untouched)."""
        if not self._rows_fh.closed:
            self._rows_fh.close()
        for uri in self.staging.values():
            try:
                lake.remove(uri)
            except OSError:  # best effort: staging prefixes are hidden from readers anyway
                log.warning("could not remove staging %s", uri)


@dataclass
class _Pending:
    """A parsed record waiting for its GX batch, with its file and column positions."""

    result: FileResult
    pos: dict[str, int]
    rec: parse.Record


class _RecordValidator:
    """Streams files through the parse checks and the suite, in GX batches of ``chunk_rows`` records.

    A batch may hold records of several files: GX's cost per batch is mostly fixed, so
    many small files are validated together; memory stays bounded by ``chunk_rows``.
    """

    def __init__(self, profile: Profile, gxr: _Gx, out: _Outputs, require_label: bool) -> None:
        self.profile = profile
        self.gx = gxr
        self.out = out
        self.require_label = require_label
        self.duplicates = 0
        self.batches = 0
        self._seen: set[bytes] = set()
        self._pending: list[_Pending] = []
        # Same text, different labels: training input only (scoring input has no label to trust).
        policy = profile.validation.label_conflicts
        self.conflicts = label_conflicts.LabelConflicts(policy) if require_label else None
        self._file_index: dict[str, int] = {}
        fields = profile.fields
        self.gx_columns = ([fields.label] if require_label else []) + ([fields.id] if fields.id else [])

    def add_file(self, result: FileResult) -> None:
        """Parse one file; its records join the pending batch (raises parse.HeaderMismatch before any)."""
        obj = result.obj
        if self.conflicts is not None:
            self._file_index[obj.uri] = self.conflicts.add_file(obj.uri, obj.mtime)
        with parse.open_text(obj.uri, obj.key) as text:
            records = parse.iter_records(text, self.profile)
            layout, ahead = parse.detect_layout(records, self.profile, self.require_label)
            result.columns = list(layout.columns)
            if layout.preamble_records:
                result.notes.append(f"skipped {layout.preamble_records} preamble record(s) before the header")
            if layout.has_header and not self.profile.input.header:
                result.headers_skipped += 1
                result.notes.append("skipped a header line (the profile's files have none): not a row")
            pos = {c: i for i, c in enumerate(layout.columns)}
            # Records are numbered among data rows: the header and preamble do not count.
            offset = layout.preamble_records + (1 if layout.has_header else 0)
            try:
                for rec in [*ahead, *records] if ahead else records:
                    rec.record -= offset
                    self._add(result, layout, pos, rec)
            except (OSError, EOFError) as exc:  # corrupt gzip stream part-way
                broken = parse.Record(result.rows_in + 1, 0, "", None)
                self.out.write_bad_row(obj.uri, broken, [f"unreadable rest of the file: {exc}; re-upload it"])
                result.rows_in += 1
                result.rows_quarantined += 1
        if result.rows_in == 0:
            result.notes.append("header only: no data rows" if layout.has_header else "no data rows")

    def _add(self, result: FileResult, layout: parse.Layout, pos: dict[str, int], rec: parse.Record) -> None:
        result.rows_in += 1
        reasons = parse.parse_reasons(rec, layout)
        if reasons:
            self.out.write_bad_row(result.obj.uri, rec, reasons)
            result.rows_quarantined += 1
            return
        self._pending.append(_Pending(result, pos, rec))
        if len(self._pending) >= self.profile.validation.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Validate the pending records with GX and write them to validated or quarantine."""
        import pandas as pd

        batch, self._pending = self._pending, []
        if not batch:
            return
        sep = self.profile.fields.text_separator
        cols: dict[str, list[Any]] = {c: [] for c in self.gx_columns}
        texts: list[str | None] = []
        raws: list[str] = []
        hashes: list[str] = []
        digests: list[bytes] = []
        for item in batch:
            rec, pos = item.rec, item.pos
            values = rec.fields or []
            raw = rec.raw
            if not raw.isascii() and parse.SURROGATES.search(raw):
                # GX's pandas batch goes through pyarrow strings, which refuse lone surrogates.
                values = [parse.SURROGATES.sub(parse.INVALID_MARK, v) for v in values]
                raw = parse.SURROGATES.sub(parse.INVALID_MARK, raw)
            raws.append(raw)
            for c in cols:
                cols[c].append(values[pos[c]] or None)
            texts.append(combine_text([values[pos[c]] for c in self.profile.fields.text], sep))
            digest = hashlib.sha1("\x1f".join(values).encode("utf-8")).digest()  # noqa: S324 - dedup key
            digests.append(digest[:12])
            hashes.append(digest.hex()[:16])
        frame = pd.DataFrame(
            {**cols, TEXT: texts, RAW: raws, CONTENT_HASH: hashes}, dtype=object, index=pd.RangeIndex(len(batch))
        )
        failed, _ = self.gx.validate(frame, f"batch-{self.batches:05d}")
        self.batches += 1
        valid: dict[str, list[Any]] = {c: [] for c in (*self.out.columns, *META_COLUMNS)}
        id_col = self.profile.fields.id
        for i, item in enumerate(batch):
            rec, pos, result = item.rec, item.pos, item.result
            if i in failed:
                self.out.write_bad_row(result.obj.uri, rec, failed[i])
                result.rows_quarantined += 1
                continue
            fields = rec.fields or []
            # Exact repeats are counted across files and batches of the run, not only within one batch.
            if digests[i] in self._seen:
                self.duplicates += 1
            else:
                self._seen.add(digests[i])
            for c in self.out.columns:
                v = fields[pos[c]] if c in pos else None
                valid[c].append(v if v != "" else None)
            rid = fields[pos[id_col]] if id_col else row_id(rec.raw, source_uri=result.obj.uri, record=rec.record)
            valid["_row_id"].append(rid)
            valid["_source_uri"].append(result.obj.uri)
            valid["_source_record"].append(rec.record)
            valid["_source_line"].append(rec.line)
            result.rows_valid += 1
            if self.conflicts is not None:
                label = fields[pos[self.profile.fields.label]]
                self.conflicts.add(
                    content_hash_of(texts[i] or ""),
                    self.profile.labels.get(label, label),
                    self._file_index[result.obj.uri],
                    rec.record,
                    rec.line,
                )
        if valid["_row_id"]:
            self.out.write_valid(valid)

    def resolve_label_conflicts(
        self, results: list[FileResult], processed_uri: str | None = None
    ) -> dict[str, Any] | None:
        """Apply the profile's label-conflict policy to the run's valid rows (after the last flush).

        Losers move from validated (their staged parts are rewritten without them) to
        quarantine (with their raw record and a reason naming the winner); counts follow.
        """
        if self.conflicts is None:
            return None
        losers, groups = self.conflicts.resolve()
        checked = label_conflicts.gx_conflict_check(self.gx.context, self.profile.name, self.conflicts.policy, groups)
        by_uri = {r.obj.uri: r for r in results}
        gone: set[tuple[str, int]] = set()
        for file_index in sorted({x.file for x in losers}):
            uri = self.conflicts.files[file_index]
            mine = [x for x in losers if x.file == file_index]
            result = by_uri[uri]
            raws = label_conflicts.raw_records(
                uri, result.obj.key, self.profile, self.require_label, {x.record for x in mine}
            )
            for x in mine:
                self.out.write_bad_row(uri, parse.Record(x.record, x.line, raws.get(x.record, ""), None), [x.reason])
                gone.add((uri, x.record))
            result.rows_valid -= len(mine)
            result.rows_quarantined += len(mine)
            result.label_conflicts += len(mine)
        if gone:
            self.out.drop_valid(gone)
        summary = {**self.conflicts.summary(losers, groups), "gx": checked}
        if processed_uri is not None:
            final = self.conflicts.final_labels(losers)
            summary["across_runs"] = label_conflicts.across_runs(processed_uri, final, self.conflicts.policy)
        return summary


def validate_objects(
    profile: Profile,
    objects: Sequence[ObjectInfo],
    *,
    run_key: str,
    validated_uri: str,
    quarantine_uri: str,
    report_uri: str,
    lake_root_uri: str,
    require_label: bool = True,
    processed_uri: str | None = None,
) -> dict[str, Any]:
    """Validate ``objects`` (raw files of ``profile``) and publish validated rows, quarantine and reports.

    ``processed_uri`` (``processed/<profile>``, training input): also count the texts whose
    label differs from earlier published runs (``label_conflicts.across_runs``).

    Returns the manifest (docs/CONTRACTS.md). The circuit breaker
    ``profile.validation.max_quarantine_rate`` is judged per file and per run: a file whose
    quarantined share exceeds it is refused whole (status ``refused``: its valid-looking rows
    are not published either, the file is copied to ``quarantine/files/`` with its reason),
    so one bad file cannot ride along with good ones. When the run's share exceeds it,
    :class:`QuarantineRateExceeded` (carrying the manifest) is raised after everything is
    published.
    """
    started = time.perf_counter()
    out = _Outputs(profile, require_label, validated_uri, quarantine_uri, report_uri)
    site_dir = tempfile.mkdtemp(prefix="nlpops-gx-docs-")
    try:
        gxr = _Gx(profile, require_label, site_dir)
        validator = _RecordValidator(profile, gxr, out, require_label)
        results: list[FileResult] = []
        for obj in sorted(objects, key=lambda o: o.uri):
            result = FileResult(obj)
            results.append(result)
            refusal = (
                sniff.check_location(obj, lake_root_uri)
                or sniff.check_size(obj, profile.validation.max_file_bytes, profile.name)
                or sniff.check_content(obj)
            )
            if refusal is None:
                try:
                    validator.add_file(result)
                except parse.HeaderMismatch as exc:
                    refusal = sniff.Refusal(str(exc))
            if refusal is not None:
                _refuse_whole(out, result, refusal, profile, run_key)
            log.info("parsed %s: %s", obj.uri, result.to_dict())
        validator.flush()
        conflicts = validator.resolve_label_conflicts(results, processed_uri)
        out.close_rows()
        _refuse_over_breaker(out, results, profile, run_key)
        manifest = _manifest(profile, run_key, results, validator.duplicates, report_uri)
        if conflicts is not None:
            manifest["label_conflicts"] = conflicts
        gxr.build_docs()
        _write_report(out, gxr, manifest, time.perf_counter() - started, site_dir)
        out.publish(manifest)
    except BaseException:
        out.discard()
        raise
    finally:
        shutil.rmtree(site_dir, ignore_errors=True)
    superseded = int((manifest.get("label_conflicts") or {}).get("rows_quarantined") or 0)
    rate = (manifest["rows_quarantined"] - superseded) / manifest["rows_in"] if manifest["rows_in"] else 0.0
    if rate > profile.validation.max_quarantine_rate:
        raise QuarantineRateExceeded(
            profile.name, rate, profile.validation.max_quarantine_rate, quarantine_uri, manifest=manifest
        )
    return manifest


def _refuse_over_breaker(out: _Outputs, results: list[FileResult], profile: Profile, run_key: str) -> None:
    """The per-file circuit breaker: refuse whole every parsed file whose quarantined share is over the limit."""
    limit = profile.validation.max_quarantine_rate
    # Rows superseded by a label correction (label conflicts) are not bad data: they do not trip the breaker.
    over = [
        r
        for r in results
        if r.status not in REFUSED_STATUSES
        and r.rows_in
        and (r.rows_quarantined - r.label_conflicts) / r.rows_in > limit
    ]
    if not over:
        return
    out.drop_sources({r.obj.uri for r in over})
    for r in over:
        r.reason = (
            f"circuit breaker: {r.rows_quarantined} of {r.rows_in} rows ({r.rows_quarantined / r.rows_in:.0%}) "
            f"failed validation, above validation.max_quarantine_rate={limit:.0%} of profile {profile.name!r}; "
            "the whole file is refused (failing rows with reasons in rows.jsonl): fix it and upload it again"
        )
        r.status = "refused"
        r.rows_quarantined = r.rows_in
        r.rows_valid = 0
        out.quarantine_file(r, sniff.Refusal(r.reason), profile, run_key)
        log.warning("refused %s: %s", r.obj.uri, r.reason)


def _refuse_whole(out: _Outputs, result: FileResult, refusal: sniff.Refusal, profile: Profile, run_key: str) -> None:
    # Rows already written for this file cannot be un-written from parts; refusals happen
    # before any row is written (file checks, header), so the file is counted as one row.
    result.status = "quarantined_whole"
    result.reason = refusal.reason
    result.rows_in = result.rows_quarantined = 1
    result.rows_valid = 0
    result.columns = []
    out.quarantine_file(result, refusal, profile, run_key)


def _manifest(
    profile: Profile, run_key: str, results: list[FileResult], duplicates: int, report_uri: str
) -> dict[str, Any]:
    files = [r.to_dict() for r in results]
    for f in files:
        if f["rows_in"] != f["rows_valid"] + f["rows_quarantined"]:
            raise AssertionError(f"row conservation broken for {f['uri']}: {f}")
    manifest = {
        "profile": profile.name,
        "run_key": run_key,
        "rows_in": sum(f["rows_in"] for f in files),
        "rows_valid": sum(f["rows_valid"] for f in files),
        "rows_quarantined": sum(f["rows_quarantined"] for f in files),
        "files": files,
        "duplicates_flagged": duplicates,
        "headers_skipped": sum(r.headers_skipped for r in results),
        "report_uri": lake.join(report_uri, DOCS_DIR, "index.html"),
        "counting_rule": COUNTING_RULE,
        "profile_fingerprint": profile.fingerprint(),
    }
    if manifest["rows_in"] != manifest["rows_valid"] + manifest["rows_quarantined"]:
        raise AssertionError(f"row conservation broken for run {run_key}: {manifest}")
    return manifest


def _write_report(out: _Outputs, gxr: _Gx, manifest: dict[str, Any], seconds: float, site_dir: str) -> None:
    report = {
        "suite": gxr.suite.name,
        "success": all(t.success for t in gxr.tallies),
        "expectations": [t.to_dict() for t in gxr.tallies],
        "seconds": round(seconds, 3),
        "manifest": manifest,
    }
    lake.write_json(lake.join(out.staging["report"], "validation.json"), report)
    fs, path = lake.filesystem(lake.join(out.staging["report"], DOCS_DIR))
    for root, _dirs, names in os.walk(site_dir):
        for name in names:
            local = os.path.join(root, name)
            rel = os.path.relpath(local, site_dir).replace(os.sep, "/")
            target = posixpath.join(path, rel)
            fs.makedirs(posixpath.dirname(target), exist_ok=True)
            with open(local, "rb") as fin, fs.open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout)


__all__ = ["COUNTING_RULE", "FileResult", "QuarantineRateExceeded", "validate_objects"]
