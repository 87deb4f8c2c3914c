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
* ``predict_fn(data, model)`` maps columns by the profile, normalises the text exactly as
  the ETL does (``ml/textnorm.py``), scores all good records in one call and returns one
  prediction per data record, in order: ``id, label, confidence, probabilities,
  model_version`` — or ``id, error`` for a bad record.
* ``output_fn(prediction, accept)`` writes ``application/jsonlines`` or ``text/csv``, one
  line per record (so line *i* of the output answers record *i* of the input).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.artefact import META_FILE, MODEL_FILE, load_pipeline, read_meta, verify_model_files
from ml.textnorm import clean_text, combine_text_fields, row_id_of

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
                delimiter=inp.get("delimiter") or ("\t" if inp.get("format") == "tsv" else ","),
                quoting=inp.get("quoting", "rfc4180") != "none",
            )
        except (KeyError, TypeError) as exc:
            raise ModelLoadError(f"the profile in {META_FILE} lacks {exc}: write Profile.to_json() there") from None

    def layout_for(self, n_fields: int) -> tuple[str, ...] | None:
        """The first accepted layout with ``n_fields`` columns (positional mapping without a header)."""
        return next((lay for lay in self.layouts if len(lay) == n_fields), None)


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
    """What ``input_fn`` returns: the records of one request and its canonical content type."""

    content_type: str
    records: list[RawRecord]


def canonical_content_type(content_type: str | None, table: dict[str, str] = CONTENT_TYPES) -> str:
    """``text/csv; charset=utf-8`` → ``text/csv``; an unknown type raises :class:`UnsupportedContentTypeError`."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base not in table:
        raise UnsupportedContentTypeError(
            f"415 Unsupported Media Type: {content_type!r}; this handler accepts {sorted(table)}"
        )
    return table[base]


def split_records(body: bytes, *, quoting: bool = True) -> Iterator[tuple[int, bytes, bool]]:
    """Split ``body`` into records: ``(start line, record bytes without terminator, complete)``.

    A newline inside a double-quoted field does not end a record (RFC 4180; an escaped
    quote ``""`` counts twice, so the parity rule holds). ``complete`` is False for a last
    record whose quote is never closed. Blank lines are not records.
    """
    pending: list[bytes] = []
    start = 1
    open_quote = False
    for lineno, line in enumerate(body.split(b"\n"), start=1):
        if not pending:
            start = lineno
        pending.append(line)
        if quoting and line.count(b'"') % 2:
            open_quote = not open_quote
        if open_quote:
            continue
        record = b"\n".join(pending)
        pending = []
        if record.endswith(b"\r"):
            record = record[:-1]
        if record.strip():
            yield start, record, True
    if pending:
        record = b"\n".join(pending)
        if record.strip():
            yield start, record, not open_quote


def input_fn(body: bytes | str, content_type: str, context: Any = None) -> RequestData:
    """SageMaker hook: split ``body`` into :class:`RawRecord` s (bad records carry an ``error``)."""
    kind = canonical_content_type(content_type)
    tsv = (content_type or "").lower().startswith("text/tab-separated-values")
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if data.startswith(_BOM.encode("utf-8")):
        data = data[3:]
    records: list[RawRecord] = []
    for index, (line, raw_bytes, complete) in enumerate(split_records(data, quoting=kind == CSV), start=1):
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
        elif kind == CSV:
            rec.values, rec.error = _parse_csv_record(rec.raw, index, line, "\t" if tsv else None)
        else:
            rec.values, rec.error = _parse_json_record(rec.raw, index, line)
    return RequestData(kind, records)


def _parse_csv_record(raw: str, index: int, line: int, delimiter: str | None) -> tuple[list[str] | None, str | None]:
    # The delimiter and quoting of the profile are applied in predict_fn when they differ from
    # RFC 4180 commas; here a record is parsed with the request's delimiter (',' or TAB).
    try:
        rows = list(csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter or ",", strict=True))
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

    A CSV header row (a row equal to one of the profile's layouts) is skipped, not scored.
    Good records get ``id, label, confidence, probabilities, model_version``; bad ones
    ``id, error, model_version``. Keys starting with ``_`` (``_line``, ``_raw``) are for
    the batch transform's error file and are never written by :func:`output_fn`.
    """
    layout = model.layout
    out: list[dict[str, Any]] = []
    texts: list[str] = []
    scored: list[dict[str, Any]] = []
    header: tuple[str, ...] | None = None
    for rec in data.records:
        entry: dict[str, Any] = {"id": None, "_line": rec.line, "_raw": rec.raw, "_classes": model.classes}
        try:
            if rec.error:
                raise _RecordError(rec.error)
            if data.content_type == CSV:
                values = _reparse(rec, layout)
                if layout.header and header is None and _is_header(values, layout):
                    header = tuple(values)
                    continue
                record = _csv_mapping(values, header, layout, rec)
            else:
                record = rec.values if isinstance(rec.values, dict) else {}
            entry["id"] = _record_id(record, rec, layout)
            text = _record_text(record, rec, layout)
        except _RecordError as exc:
            if entry["id"] is None:
                entry["id"] = row_id_of(rec.raw)
            entry["error"] = str(exc)
            entry["model_version"] = model.version
            out.append(entry)
            continue
        texts.append(text)
        scored.append(entry)
        out.append(entry)
    if texts:
        proba = model.pipeline.predict_proba(texts)
        best = proba.argmax(axis=1)
        for entry, row, k in zip(scored, proba.tolist(), best.tolist(), strict=True):
            entry["label"] = model.classes[k]
            entry["confidence"] = round(row[k], PROBABILITY_DIGITS)
            entry["probabilities"] = {c: round(p, PROBABILITY_DIGITS) for c, p in zip(model.classes, row, strict=True)}
            entry["model_version"] = model.version
    return out


class _RecordError(ValueError):
    pass


def _reparse(rec: RawRecord, layout: InputLayout) -> list[str]:
    values = rec.values
    assert isinstance(values, list)
    if layout.delimiter == "," and layout.quoting:
        return values
    # A TSV profile or one without quoting: parse the record again with the profile's dialect.
    try:
        reader = csv.reader(
            io.StringIO(rec.raw, newline=""),
            delimiter=layout.delimiter,
            quoting=csv.QUOTE_MINIMAL if layout.quoting else csv.QUOTE_NONE,
        )
        rows = list(reader)
    except csv.Error as exc:
        raise _RecordError(f"record {rec.index} (line {rec.line}): malformed CSV: {exc}") from None
    return rows[0] if len(rows) == 1 else values


def _is_header(values: list[str], layout: InputLayout) -> bool:
    cleaned = [v.lstrip(_BOM).strip() for v in values]
    return any(tuple(cleaned) == lay for lay in layout.layouts)


def _csv_mapping(
    values: list[str], header: tuple[str, ...] | None, layout: InputLayout, rec: RawRecord
) -> dict[str, str]:
    columns = header if header is not None and len(header) == len(values) else layout.layout_for(len(values))
    if columns is None:
        expected = sorted({len(lay) for lay in layout.layouts})
        raise _RecordError(
            f"record {rec.index} (line {rec.line}): {len(values)} field(s), profile {layout.name!r} expects "
            f"{' or '.join(map(str, expected))} (its columns, with or without the label column {layout.label!r})"
        )
    return dict(zip(columns, values, strict=True))


def _record_id(record: dict[str, Any], rec: RawRecord, layout: InputLayout) -> str:
    for key in ("id", layout.id_field):
        if key and key in record and record[key] not in (None, ""):
            value = record[key]
            if isinstance(value, dict | list):
                raise _RecordError(f"record {rec.index} (line {rec.line}): field {key!r} must be a string or number")
            return str(value)
    return row_id_of(rec.raw)


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
    text = combine_text_fields(values, layout.text_separator) if len(values) > 1 else clean_text(values[0]) or ""
    if not text:
        raise _RecordError(f"record {rec.index} (line {rec.line}): empty text after normalisation of {list(fields)}")
    return text


# --- output -----------------------------------------------------------------------------------

PUBLIC_KEYS = ("id", "label", "confidence", "probabilities", "model_version", "error")


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
        lines = (json.dumps(public_view(e), ensure_ascii=False, separators=(",", ":")) for e in prediction)
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
    "handle",
    "input_fn",
    "load_model",
    "model_fn",
    "output_fn",
    "predict_fn",
    "public_view",
    "split_records",
]
