"""The inference handler, with SageMaker's contract: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``.

The same four functions serve the local batch transform (``ml/transform.py``) and a
SageMaker scikit-learn container (Batch Transform or an endpoint), so what is scored
locally is what is scored on AWS.

* ``model_fn(model_dir)`` loads ``model.skops`` only through :func:`ml.artefact.load_pipeline`
  (skops with trusted types: a pickle or an unknown type is refused) and reads
  ``model.json`` for the classes, the profile and the model version.
* ``input_fn(body, content_type)`` splits a request into records: ``text/csv`` (RFC 4180,
  quoted fields may hold newlines; the profile's raw columns as they arrive, with or
  without the header, label column optional) or ``application/jsonlines``
  (``{"id": …, "text": …}`` or the profile's raw field names). A record that cannot be
  parsed is kept with its error instead of failing the request.
* ``predict_fn(data, model)`` reads CSV by the profile (its delimiter and quoting, one column
  layout per request chosen among the profile's, a header line skipped and counted), builds
  the text with the one rule of ``ml/textnorm.py`` (as validation and the ETL do), scores all
  good records in one call and returns one prediction per data record, in order: ``id,
  label, confidence, probabilities, model_version`` (plus ``source_uri`` / ``source_record``
  when the record carries them) — or ``id, error`` for a bad record, never scored.
* ``output_fn(prediction, accept)`` writes ``application/jsonlines`` or ``text/csv``, one
  line per record (so line *i* of the output answers record *i* of the input).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.artefact import META_FILE, MODEL_FILE, load_pipeline, read_meta, verify_model_files
from ml.records import split_records
from ml.textnorm import combine_text_fields, row_id

CSV = "text/csv"
JSONLINES = "application/jsonlines"
#: Content types accepted by :func:`input_fn` (aliases map to the canonical name).
CONTENT_TYPES = {
    CSV: CSV,
    "text/tab-separated-values": CSV,
    JSONLINES: JSONLINES,
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
}
ACCEPT_TYPES = {CSV: CSV, JSONLINES: JSONLINES, "application/x-jsonlines": JSONLINES, "*/*": JSONLINES}
PROBABILITY_DIGITS = 6
_BOM = "\ufeff"


class UnsupportedContentTypeError(ValueError):
    """HTTP 415: the request's content type or accept type is not one the handler speaks."""

    status_code = 415


class ModelLoadError(ValueError):
    """``model_dir`` does not hold a usable model (missing files, classes that disagree)."""


# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputLayout:
    """What the handler needs of a profile: the raw columns and how to build id and text."""

    name: str
    header: bool
    layouts: tuple[tuple[str, ...], ...]  # accepted column layouts, in file order
    label: str
    text_fields: tuple[str, ...]
    text_separator: str
    id_field: str | None
    delimiter: str = ","
    quoting: bool = True

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> InputLayout:
        """From the JSON of ``include.profiles.Profile`` (``Profile.to_json()``), without importing ``include``."""
        try:
            inp, fields = profile["input"], profile["fields"]
            columns = [tuple(inp["columns"]), *(tuple(c) for c in inp.get("alternate_columns", []))]
            label = fields["label"]
            # Inference input may come without the label column: accept every layout with it dropped too.
            layouts = [*columns, *(tuple(c for c in cols if c != label) for cols in columns)]
            return cls(
                name=str(profile["name"]),
                header=bool(inp["header"]),
                layouts=tuple(dict.fromkeys(layouts)),
                label=label,
                text_fields=tuple(fields["text"]),
                text_separator=fields.get("text_separator", " . "),
                id_field=fields.get("id"),
                # As validation reads it (etl.validation.parse.csv_options): format tsv means TAB
                # unless another delimiter than the default comma is named.
                delimiter="\t" if inp.get("format") == "tsv" and inp.get("delimiter", ",") == "," else inp["delimiter"],
                quoting=inp.get("quoting", "rfc4180") != "none",
            )
        except (KeyError, TypeError) as exc:
            raise ModelLoadError(f"the profile in {META_FILE} lacks {exc}: write Profile.to_json() there") from None


@dataclass
class Model:
    """What ``model_fn`` returns: the fitted pipeline plus what scoring needs from ``model.json``."""

    pipeline: Any
    classes: list[str]
    layout: InputLayout
    version: str
    meta: dict[str, Any] = field(default_factory=dict)


def load_model(
    model_dir: str | Path,
    *,
    profile: dict[str, Any] | str | None = None,
    version: str | None = None,
) -> Model:
    """Load the model in ``model_dir``; ``profile`` / ``version`` override what ``model.json`` says.

    The profile comes from (first found) the argument, ``model.json``'s ``profile`` (the
    profile JSON), the ``NLPOPS_PROFILE_JSON`` environment variable, or — when
    ``model.json`` only names the profile — ``include.profiles.get_profile(name)`` if
    ``include`` is importable. The version: the argument, ``model.json``'s ``version`` /
    ``model_version``, ``NLPOPS_MODEL_VERSION``, else ``"unversioned"``.
    """
    model_dir = Path(model_dir)
    if not (model_dir / MODEL_FILE).is_file():
        raise ModelLoadError(f"{model_dir}: no {MODEL_FILE}; is this an unpacked model.tar.gz (SM_MODEL_DIR)?")
    if not (model_dir / META_FILE).is_file():
        raise ModelLoadError(f"{model_dir}: no {META_FILE}; the model's classes and profile are recorded there")
    verify_model_files(model_dir)  # the files are the ones model.json describes
    pipeline = load_pipeline(model_dir / MODEL_FILE)  # refuses pickles and untrusted types
    meta = read_meta(model_dir)
    classes = [str(c) for c in meta.get("classes") or []]
    fitted = [str(c) for c in getattr(pipeline, "classes_", [])]
    if not classes:
        raise ModelLoadError(f"{model_dir / META_FILE}: no 'classes' list (the model's classes in its order)")
    if fitted and fitted != classes:
        raise ModelLoadError(
            f"{model_dir / META_FILE}: classes {classes} differ from the pipeline's {fitted}; "
            "the file does not describe this model: retrain or rewrite model.json"
        )
    resolved = _resolve_profile(profile if profile is not None else meta.get("profile"), model_dir)
    version = (
        version
        or meta.get("version")
        or meta.get("model_version")
        or os.environ.get("NLPOPS_MODEL_VERSION")
        or "unversioned"
    )
    return Model(pipeline, classes, InputLayout.from_profile(resolved), str(version), meta)


def _resolve_profile(value: Any, model_dir: Path) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        return dict(json.loads(value))
    env = os.environ.get("NLPOPS_PROFILE_JSON")
    if env:
        return dict(json.loads(env))
    if isinstance(value, str) and value:
        try:  # locally `include` is importable; in a SageMaker container it usually is not
            from include.profiles import get_profile
        except ImportError:
            pass
        else:
            return dict(json.loads(get_profile(value).to_json()))
    raise ModelLoadError(
        f"{model_dir / META_FILE}: 'profile' is {value!r}, not the profile JSON; the handler needs the "
        "profile's input layout: record Profile.to_json() in model.json or set NLPOPS_PROFILE_JSON"
    )


def model_fn(model_dir: str, context: Any = None) -> Model:
    """SageMaker hook: load the model from ``model_dir`` (skops only; see :func:`load_model`)."""
    return load_model(model_dir)


# --- input ------------------------------------------------------------------------------------


@dataclass
class RawRecord:
    """One record of a request, parsed or not. ``index``/``line`` are 1-based within the request."""

    index: int
    line: int
    raw: str
    values: list[str] | dict[str, Any] | None = None
    error: str | None = None


@dataclass
class RequestData:
    """What ``input_fn`` returns: the records of one request and its canonical content type.

    ``body`` is kept so :func:`predict_fn` can split and parse CSV again with the profile's
    dialect (``input_fn`` does not know the model); ``delimiter`` is the one the content
    type names (TAB for ``text/tab-separated-values``), None when the profile decides.
    ``headers_skipped`` is set by :func:`predict_fn`: header lines recognised and not scored.
    """

    content_type: str
    records: list[RawRecord]
    body: bytes = b""
    delimiter: str | None = None
    headers_skipped: int = 0


def canonical_content_type(content_type: str | None, table: dict[str, str] = CONTENT_TYPES) -> str:
    """``text/csv; charset=utf-8`` → ``text/csv``; an unknown type raises :class:`UnsupportedContentTypeError`."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base not in table:
        raise UnsupportedContentTypeError(
            f"415 Unsupported Media Type: {content_type!r}; this handler accepts {sorted(table)}"
        )
    return table[base]


def input_fn(body: bytes | str, content_type: str, context: Any = None) -> RequestData:
    """SageMaker hook: split ``body`` into :class:`RawRecord` s (bad records carry an ``error``).

    CSV is split and parsed here as RFC 4180 with the content type's delimiter (TAB for
    ``text/tab-separated-values``, else a comma); :func:`predict_fn` splits and parses again
    with the profile's delimiter and quoting when they differ (``input_fn`` has no model).
    """
    kind = canonical_content_type(content_type)
    tsv = (content_type or "").lower().startswith("text/tab-separated-values")
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if data.startswith(_BOM.encode("utf-8")):
        data = data[3:]
    delimiter = "\t" if tsv else None
    records = _split_and_parse(data, kind, delimiter or ",", quoting=True)
    return RequestData(kind, records, body=data, delimiter=delimiter)


def _split_and_parse(data: bytes, kind: str, delimiter: str, *, quoting: bool) -> list[RawRecord]:
    records: list[RawRecord] = []
    for index, (line, raw_bytes, complete) in enumerate(split_records(data, quoting=quoting and kind == CSV), start=1):
        rec = RawRecord(index=index, line=line, raw="")
        records.append(rec)
        try:
            rec.raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            rec.raw = raw_bytes.decode("utf-8", errors="replace")
            rec.error = f"record {index} (line {line}): not UTF-8 text ({exc.reason} at byte {exc.start})"
            continue
        if not complete:
            rec.error = f"record {index} (line {line}): a quoted field is never closed (unbalanced '\"')"
        elif kind != CSV:
            rec.values, rec.error = _parse_json_record(rec.raw, index, line)
    if kind == CSV:
        # A CR splits a record into lines for the per-record reader (its StringIO) but not for
        # one fed whole: such records are always parsed alone.
        todo = [r for r in records if r.error is None]
        bulk = [r for r in todo if "\r" not in r.raw]
        if _parse_csv_records_at_once(bulk, delimiter, quoting=quoting):
            todo = [r for r in todo if "\r" in r.raw]
        for rec in todo:
            rec.values, rec.error = _parse_csv_record(rec.raw, rec.index, rec.line, delimiter, quoting=quoting)
    return records


def _parse_csv_records_at_once(records: list[RawRecord], delimiter: str, *, quoting: bool) -> bool:
    """Parse every record with ONE reader (the fast path); False when any record needs :func:`_parse_csv_record`.

    Each record is one string fed to the reader; the result equals the per-record parse
    exactly when the reader raises nothing and finishes row *i* on string *i* (a record
    whose quote stays open would pull the next record into its row). Otherwise the caller
    parses record by record, which gives each bad record its own error.
    """
    reader = csv.reader(
        (r.raw for r in records),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=True,
    )
    rows: list[list[str]] = []
    try:
        for expected, row in enumerate(reader, start=1):
            if reader.line_num != expected:
                return False
            rows.append(row)
    except csv.Error:
        return False
    if len(rows) != len(records):
        return False
    for rec, row in zip(records, rows, strict=True):
        rec.values = row
    return True


def _parse_csv_record(
    raw: str, index: int, line: int, delimiter: str, *, quoting: bool = True
) -> tuple[list[str] | None, str | None]:
    try:
        reader = csv.reader(
            io.StringIO(raw, newline=""),
            delimiter=delimiter,
            quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
            strict=True,
        )
        rows = list(reader)
    except csv.Error as exc:
        return None, f"record {index} (line {line}): malformed CSV: {exc}"
    if len(rows) != 1:
        return None, f"record {index} (line {line}): parses as {len(rows)} CSV rows, expected one"
    return rows[0], None


def _parse_json_record(raw: str, index: int, line: int) -> tuple[dict[str, Any] | None, str | None]:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"record {index} (line {line}): not valid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(obj, dict):
        return None, f"record {index} (line {line}): a JSON object is expected, got {type(obj).__name__}"
    return obj, None


# --- predict ----------------------------------------------------------------------------------


def predict_fn(data: RequestData, model: Model) -> list[dict[str, Any]]:
    """SageMaker hook: one prediction per data record of ``data``, in input order.

    CSV records are read by the profile: its delimiter and quoting (``format: tsv``,
    ``delimiter``, ``quoting``), and ONE column layout per request, chosen among the
    profile's accepted layouts (with or without the label column) as the one most records
    fit (ties: the order the profile declares them), never by the first row. A first record
    equal to a layout's column names is a header: skipped, not scored, counted in
    ``data.headers_skipped`` (whatever ``input.header`` says: a header line is never a
    review). A record that fits no layout is an error record and is not scored.

    Good records get ``id, label, confidence, probabilities, model_version``; bad ones
    ``id, error, model_version``. A JSON record's ``source_uri`` / ``source_record`` (the
    user's input object and record number, written by ``ml.transform_input``) are passed
    through. Keys starting with ``_`` (``_line``, ``_raw``) are for the batch transform's
    error file and are never written by :func:`output_fn`.
    """
    out, scored, texts = prepare_predictions(data, model)
    if texts:
        fill_predictions(scored, model.pipeline.predict_proba(texts), model)
    return out


def prepare_predictions(
    data: RequestData, model: Model
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """:func:`predict_fn` up to the model call: ``(predictions, entries to score, their texts)``.

    Error records are complete in ``predictions``; the entries to score get their label and
    probabilities from :func:`fill_predictions`. The real-time server scores the texts of
    several requests in one model call this way.
    """
    layout = model.layout
    out: list[dict[str, Any]] = []
    texts: list[str] = []
    scored: list[dict[str, Any]] = []
    records = data.records
    header: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None
    if data.content_type == CSV:
        records = _records_by_profile(data, layout)
        header, columns = _request_layout(records, layout)
        if header is not None:
            data.headers_skipped += 1
            records = records[1:]
    plan = _CsvPlan.of(columns, layout) if data.content_type == CSV else None
    for rec in records:
        entry: dict[str, Any] = {"id": None, "_line": rec.line, "_raw": rec.raw, "_classes": model.classes}
        try:
            if rec.error:
                raise _RecordError(rec.error)
            if plan is not None and len(rec.values or ()) == plan.width:
                # The common case, without building a mapping per record (same id and text).
                entry["id"], text = plan.id_and_text(rec)
                texts.append(text)
                scored.append(entry)
                out.append(entry)
                continue
            if data.content_type == CSV:
                record: dict[str, Any] = _csv_mapping(rec, columns, layout)
            else:
                record = rec.values if isinstance(rec.values, dict) else {}
                _pass_source(record, rec, entry)
            entry["id"] = _record_id(record, rec, layout, entry)
            text = _record_text(record, rec, layout)
        except _RecordError as exc:
            if isinstance(exc, _IdentifiedRecordError):
                entry["id"] = exc.record_id
            if entry["id"] is None:
                entry["id"] = row_id(rec.raw, source_uri=entry.get("source_uri"), record=entry.get("source_record"))
            entry["error"] = str(exc)
            entry["model_version"] = model.version
            out.append(entry)
            continue
        texts.append(text)
        scored.append(entry)
        out.append(entry)
    return out, scored, texts


def fill_predictions(scored: list[dict[str, Any]], proba: Any, model: Model) -> None:
    """Label, confidence, probabilities and version of each entry, from its row of ``predict_proba``."""
    best = proba.argmax(axis=1)
    classes = model.classes
    version = model.version
    for entry, row, k in zip(scored, round_probabilities(proba), best.tolist(), strict=True):
        entry["label"] = classes[k]
        entry["confidence"] = row[k]
        entry["probabilities"] = dict(zip(classes, row, strict=True))
        entry["model_version"] = version


def round_probabilities(proba: Any) -> list[list[float]]:
    """``[[round(p, PROBABILITY_DIGITS) for p in row] for row in proba]``, vectorised, same floats.

    ``numpy.round`` (scale, round half to even, unscale) agrees with Python's correctly
    rounded ``round`` except where the scaled value is within its rounding error of a
    half; those few entries are rounded by Python.
    """
    import numpy as np

    scale = 10.0**PROBABILITY_DIGITS
    values = np.asarray(proba, dtype=float)
    scaled = values * scale
    rounded = np.rint(scaled) / scale
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    out: list[list[float]] = rounded.tolist()
    for i, j in zip(*np.nonzero(near_half), strict=True):
        out[int(i)][int(j)] = round(float(values[i, j]), PROBABILITY_DIGITS)
    return out


class _RecordError(ValueError):
    pass


class _IdentifiedRecordError(_RecordError):
    """A bad record whose id is already known (the id column was read before the text failed)."""

    def __init__(self, record_id: str, message: str) -> None:
        super().__init__(message)
        self.record_id = record_id


@dataclass(frozen=True)
class _CsvPlan:
    """Where a request's id and text fields sit in its CSV column layout (what :func:`_record_id`
    and :func:`_record_text` look up by name, resolved once per request)."""

    width: int
    id_positions: tuple[int, ...]
    text_positions: tuple[int | None, ...]
    separator: str
    fields: tuple[str, ...]

    @classmethod
    def of(cls, columns: tuple[str, ...] | None, layout: InputLayout) -> _CsvPlan | None:
        if columns is None:
            return None
        # dict(zip(columns, values)) keeps the last of duplicate names: so do these positions.
        where = {name: i for i, name in enumerate(columns)}
        if any(f in where for f in layout.text_fields):
            fields: tuple[str, ...] = layout.text_fields
        elif "text" in where:
            fields = ("text",)
        else:
            return None  # every record is an error: the slow path words it
        ids = tuple(where[k] for k in dict.fromkeys(("id", layout.id_field)) if k and k in where)
        return cls(len(columns), ids, tuple(where.get(f) for f in fields), layout.text_separator, fields)

    def id_and_text(self, rec: RawRecord) -> tuple[str, str]:
        values = rec.values
        assert isinstance(values, list)
        record_id = next((values[i] for i in self.id_positions if values[i] != ""), None) or row_id(rec.raw)
        text = combine_text_fields([None if i is None else values[i] for i in self.text_positions], self.separator)
        if not text:
            raise _IdentifiedRecordError(
                record_id,
                f"record {rec.index} (line {rec.line}): empty text after normalisation of {list(self.fields)}",
            )
        return record_id, text


def _records_by_profile(data: RequestData, layout: InputLayout) -> list[RawRecord]:
    """The request's CSV records split and parsed with the profile's dialect (``input_fn`` used RFC 4180 commas)."""
    delimiter = data.delimiter or layout.delimiter
    if not data.body or (delimiter == "," and layout.quoting):
        return data.records
    return _split_and_parse(data.body, CSV, delimiter, quoting=layout.quoting)


def _request_layout(
    records: list[RawRecord], layout: InputLayout
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """``(header, columns)`` of one request: a recognised header line, and the layout records are read with."""
    good = [r for r in records if r.error is None and isinstance(r.values, list)]
    if records and records[0] in good:
        names = tuple(v.lstrip(_BOM).strip() for v in records[0].values or [])
        for lay in layout.layouts:
            if names == tuple(c.strip() for c in lay):
                return lay, lay
    widths = [len(r.values or []) for r in good]
    best: tuple[str, ...] | None = None
    best_count = 0
    for lay in layout.layouts:  # declared order breaks ties
        count = sum(1 for w in widths if w == len(lay))
        if count > best_count:
            best, best_count = lay, count
    return None, best


def _csv_mapping(rec: RawRecord, columns: tuple[str, ...] | None, layout: InputLayout) -> dict[str, str]:
    values = rec.values
    assert isinstance(values, list)
    if columns is None or len(columns) != len(values):
        expected = " or ".join(map(str, sorted({len(lay) for lay in layout.layouts})))
        if columns is not None:
            expected = f"{len(columns)} like the rest of the request ({', '.join(columns)})"
        raise _RecordError(
            f"record {rec.index} (line {rec.line}): {len(values)} field(s), profile {layout.name!r} expects "
            f"{expected} (its columns, with or without the label column {layout.label!r})"
        )
    return dict(zip(columns, values, strict=True))


def _pass_source(record: dict[str, Any], rec: RawRecord, entry: dict[str, Any]) -> None:
    """Copy ``source_uri`` / ``source_record`` of a JSON record into its prediction (checked)."""
    uri, number = record.get("source_uri"), record.get("source_record")
    if uri is not None:
        if not isinstance(uri, str) or not uri:
            raise _RecordError(f"record {rec.index} (line {rec.line}): field 'source_uri' must be a non-empty string")
        entry["source_uri"] = uri
    if number is not None:
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise _RecordError(f"record {rec.index} (line {rec.line}): field 'source_record' must be an integer >= 1")
        entry["source_record"] = number


def _record_id(record: dict[str, Any], rec: RawRecord, layout: InputLayout, entry: dict[str, Any]) -> str:
    for key in ("id", layout.id_field):
        if key and key in record and record[key] not in (None, ""):
            value = record[key]
            if isinstance(value, dict | list):
                raise _RecordError(f"record {rec.index} (line {rec.line}): field {key!r} must be a string or number")
            return str(value)
    return row_id(rec.raw, source_uri=entry.get("source_uri"), record=entry.get("source_record"))


def _record_text(record: dict[str, Any], rec: RawRecord, layout: InputLayout) -> str:
    if any(f in record for f in layout.text_fields):
        fields: Sequence[str] = layout.text_fields
    elif "text" in record:
        fields = ("text",)
    else:
        raise _RecordError(
            f"record {rec.index} (line {rec.line}): no text: expected the field 'text' or the profile's "
            f"text fields {list(layout.text_fields)}; got {sorted(record)[:20]}"
        )
    values: list[str | None] = []
    for f in fields:
        value = record.get(f)
        if value is not None and not isinstance(value, str):
            raise _RecordError(
                f"record {rec.index} (line {rec.line}): field {f!r} is {type(value).__name__}, expected a string"
            )
        values.append(value)
    text = combine_text_fields(values, layout.text_separator)
    if not text:
        raise _RecordError(f"record {rec.index} (line {rec.line}): empty text after normalisation of {list(fields)}")
    return text


# --- output -----------------------------------------------------------------------------------

PUBLIC_KEYS = ("id", "source_uri", "source_record", "label", "confidence", "probabilities", "model_version", "error")
# One encoder for every line (json.dumps with options builds a new one per call).
_JSON_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def public_view(entry: dict[str, Any]) -> dict[str, Any]:
    """The keys of a prediction that are written out (no ``_`` keys, no absent values)."""
    return {k: entry[k] for k in PUBLIC_KEYS if k in entry}


def csv_columns(classes: Sequence[str]) -> list[str]:
    """Column order of ``text/csv`` output: ``id,label,confidence,model_version,p_<class>…,error``."""
    return ["id", "label", "confidence", "model_version", *(f"p_{c}" for c in classes), "error"]


def output_fn(prediction: list[dict[str, Any]], accept: str, context: Any = None) -> bytes:
    """SageMaker hook: serialise predictions, one line per record (no CSV header: outputs are concatenated)."""
    kind = canonical_content_type(accept or JSONLINES, ACCEPT_TYPES)
    if not prediction:
        return b""
    if kind == JSONLINES:
        encode = _JSON_LINE.encode
        keys = PUBLIC_KEYS
        lines = [encode({k: e[k] for k in keys if k in e}) for e in prediction]
        return ("\n".join(lines) + "\n").encode("utf-8")
    classes = prediction[0].get("_classes") or next(
        (list(e["probabilities"]) for e in prediction if "probabilities" in e), []
    )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for e in prediction:
        probs = e.get("probabilities", {})
        row = [e.get("id") or "", e.get("label", ""), e.get("confidence", ""), e.get("model_version", "")]
        writer.writerow([*row, *(probs.get(c, "") for c in classes), e.get("error", "")])
    return buf.getvalue().encode("utf-8")


def handle(body: bytes | str, content_type: str, accept: str, model: Model) -> tuple[bytes, list[dict[str, Any]]]:
    """The whole request path as SageMaker runs it: ``output_fn(predict_fn(input_fn(body)))``.

    Returns the response body and the predictions (with their ``_line``/``_raw`` keys).
    """
    predictions = predict_fn(input_fn(body, content_type), model)
    return output_fn(predictions, accept), predictions


__all__ = [
    "CONTENT_TYPES",
    "CSV",
    "JSONLINES",
    "InputLayout",
    "Model",
    "ModelLoadError",
    "RawRecord",
    "RequestData",
    "UnsupportedContentTypeError",
    "canonical_content_type",
    "csv_columns",
    "fill_predictions",
    "handle",
    "input_fn",
    "load_model",
    "model_fn",
    "output_fn",
    "predict_fn",
    "prepare_predictions",
    "public_view",
    "split_records",
]
