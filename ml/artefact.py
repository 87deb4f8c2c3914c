"""The one model artefact format: a scikit-learn pipeline saved with skops, never pickle.

``model_dir`` holds ``model.skops`` (the fitted pipeline), ``model.json`` (profile,
classes, features, metrics, lineage) and ``baseline.json`` (drift reference). It is
packaged as ``model.tar.gz`` exactly as SageMaker does with ``SM_MODEL_DIR``.
Loading refuses any type outside :data:`TRUSTED_TYPES`: a crafted file cannot run code.

Compact attributes: skops writes every entry of a dict as its own JSON node, so a TF-IDF
``vocabulary_`` of 80k terms took minutes to dump and most of the file. Before dumping, each
vectorizer's ``vocabulary_`` is replaced by two plain arrays (the terms' UTF-8 bytes and
their offsets, in column order, :data:`COMPACT_VOCABULARY`); loading rebuilds the dict and
checks the arrays. The zip members are deflated (level 1): seconds, not minutes, and a file
about the size of a pickle.
``model.json`` records the sha256 of the other files (:data:`DIGESTS_KEY`); unpacking
and loading refuse an archive whose files no longer match, or that holds anything but
plain files (links, devices, absolute or ``..`` paths).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import tarfile
import zlib
from pathlib import Path
from typing import Any

MODEL_FILE = "model.skops"
META_FILE = "model.json"
BASELINE_FILE = "baseline.json"
ARCHIVE = "model.tar.gz"
#: ``model.json`` key: ``{file name: sha256 hex}`` of the model directory's other files.
DIGESTS_KEY = "sha256"

#: Types a model file may contain beyond skops' defaults. Anything else is refused.
TRUSTED_TYPES: list[str] = [
    "sklearn.pipeline.Pipeline",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.utils._bunch.Bunch",
    "sklearn.linear_model._stochastic_gradient.Hinge",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn.frozen._frozen.FrozenEstimator",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "builtins.slice",
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csr.csr_array",
    "re.Pattern",
    "ml.features.normalize_text",
]


#: Attribute that holds a vectorizer's vocabulary in a saved file: ``(utf8 bytes, offsets)`` arrays.
COMPACT_VOCABULARY = "nlpops_vocabulary_utf8_offsets_"


class UntrustedModelError(ValueError):
    """A model file holds types outside the trusted list, or is not a skops file at all."""


def _vectorizers(obj: Any) -> list[Any]:
    """Every fitted text vectorizer inside a pipeline (Pipeline steps, FeatureUnion parts, nested)."""
    found: list[Any] = []
    if isinstance(getattr(obj, "vocabulary_", None), dict) or hasattr(obj, COMPACT_VOCABULARY):
        found.append(obj)
    for attr in ("steps", "transformer_list"):
        for item in getattr(obj, attr, None) or []:
            if isinstance(item, tuple) and len(item) >= 2:
                found.extend(_vectorizers(item[1]))
    return found


def _compact_vocabulary(vocabulary: dict[str, int]) -> tuple[Any, Any] | None:
    """``(uint8 UTF-8 bytes of the terms in column order, int64 offsets)``; None if columns are not 0..n-1."""
    import numpy as np

    n = len(vocabulary)
    slots: list[str | None] = [None] * n
    for term, index in vocabulary.items():
        i = int(index)
        if not 0 <= i < n or slots[i] is not None:
            return None
        slots[i] = term
    terms = [str(t) for t in slots]
    joined = "".join(terms)
    if joined.isascii():  # one character = one byte: lengths without encoding each term
        data = joined.encode("ascii")
        lengths: Any = np.fromiter(map(len, terms), dtype=np.int64, count=n)
    else:
        encoded = [t.encode("utf-8") for t in terms]
        data = b"".join(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.frombuffer(data, dtype=np.uint8).copy(), offsets


def _expand_vocabulary(vectorizer: Any, where: str) -> None:
    """Rebuild ``vocabulary_`` (Python ints) from the compact arrays; refuse arrays that do not fit."""
    import numpy as np

    packed = getattr(vectorizer, COMPACT_VOCABULARY)
    delattr(vectorizer, COMPACT_VOCABULARY)
    try:
        data, offsets = packed
        data, offsets = np.asarray(data), np.asarray(offsets)
        ok = (
            data.dtype == np.uint8
            and data.ndim == 1
            and offsets.dtype == np.int64
            and offsets.ndim == 1
            and len(offsets) >= 1
            and offsets[0] == 0
            and offsets[-1] == len(data)
            and bool(np.all(np.diff(offsets) >= 0))
        )
        if not ok:
            raise ValueError("arrays of the wrong type, shape or order")
        raw = data.tobytes()
        bounds = offsets.tolist()
        if not bool((data & 0x80).any()):  # ASCII: byte offsets are character offsets, one decode
            text = raw.decode("ascii")
            terms = [text[a:b] for a, b in itertools.pairwise(bounds)]
        else:
            terms = [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise UntrustedModelError(
            f"{where}: the compact vocabulary of {type(vectorizer).__name__} is corrupt ({exc}): refused"
        ) from exc
    vocabulary = dict(zip(terms, range(len(terms)), strict=True))
    if len(vocabulary) != len(terms):
        raise UntrustedModelError(
            f"{where}: the compact vocabulary of {type(vectorizer).__name__} repeats terms: refused"
        )
    vectorizer.vocabulary_ = vocabulary


def save_pipeline(pipeline: Any, path: str | Path) -> None:
    """Write ``pipeline`` with skops, vocabularies as compact arrays (the object is left as it was)."""
    import zipfile

    import skops.io as sio

    swapped: list[tuple[Any, dict[str, int]]] = []
    try:
        for vectorizer in _vectorizers(pipeline):
            vocabulary = getattr(vectorizer, "vocabulary_", None)
            if not isinstance(vocabulary, dict):
                continue
            packed = _compact_vocabulary(vocabulary)
            if packed is None:
                continue
            swapped.append((vectorizer, vocabulary))
            del vectorizer.vocabulary_
            setattr(vectorizer, COMPACT_VOCABULARY, packed)
        sio.dump(pipeline, str(path), compression=zipfile.ZIP_DEFLATED, compresslevel=1)
    finally:
        for vectorizer, vocabulary in swapped:
            if hasattr(vectorizer, COMPACT_VOCABULARY):
                delattr(vectorizer, COMPACT_VOCABULARY)
            vectorizer.vocabulary_ = vocabulary


def load_pipeline(path: str | Path) -> Any:
    """Load a pipeline saved by :func:`save_pipeline`; refuse untrusted types or non-skops bytes."""
    import zipfile

    import skops.io as sio

    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise UntrustedModelError(f"{path}: not a skops archive (a pickle or a tampered file?): refused")
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        # skops refuses, before constructing anything, every type outside its defaults and ours
        pipeline = sio.load(str(path), trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException:
        try:
            unknown = sorted(set(sio.get_untrusted_types(file=str(path))) - set(TRUSTED_TYPES))
        except Exception as exc:  # skops raises on corrupt schema
            raise UntrustedModelError(f"{path}: unreadable skops file: {exc}") from exc
        raise UntrustedModelError(f"{path}: refuses to load untrusted types {unknown}") from None
    except Exception as exc:  # corrupt schema, or e.g. an object array (a pickle) inside: numpy refuses it
        raise UntrustedModelError(f"{path}: crafted or corrupt skops content ({exc}): refused") from exc
    for vectorizer in _vectorizers(pipeline):
        if hasattr(vectorizer, COMPACT_VOCABULARY):
            _expand_vocabulary(vectorizer, str(path))
    return pipeline


def file_digests(model_dir: str | Path, names: list[str]) -> dict[str, str]:
    """``{name: sha256 hex}`` of the files ``names`` in ``model_dir`` (recorded in ``model.json``)."""
    return {name: hashlib.sha256((Path(model_dir) / name).read_bytes()).hexdigest() for name in names}


def verify_model_files(model_dir: str | Path) -> None:
    """Refuse a model directory whose files differ from the sha256 digests ``model.json`` records.

    Models trained before digests were recorded have none and pass; a digest that is
    recorded must match.
    """
    model_dir = Path(model_dir)
    if not (model_dir / META_FILE).is_file():
        return
    recorded = read_meta(model_dir).get(DIGESTS_KEY) or {}
    if not isinstance(recorded, dict):
        raise UntrustedModelError(f"{model_dir / META_FILE}: {DIGESTS_KEY!r} must map file names to sha256 digests")
    for name, expected in sorted(recorded.items()):
        if "/" in name or name in ("", ".", "..") or name == META_FILE:
            raise UntrustedModelError(f"{model_dir / META_FILE}: digest for {name!r} is not a model file name")
        path = model_dir / name
        if not path.is_file():
            raise UntrustedModelError(f"{path}: missing, but {META_FILE} records its sha256: refused")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise UntrustedModelError(
                f"{path}: sha256 {actual[:12]}… differs from {expected[:12]}… recorded in {META_FILE}: "
                "the artefact was altered after training; refused (retrain or restore the original model.tar.gz)"
            )


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    return dict(json.loads((Path(model_dir) / META_FILE).read_text(encoding="utf-8")))


def pack_model_dir(model_dir: str | Path, archive: str | Path) -> None:
    """Tar+gzip the *contents* of ``model_dir`` (as SageMaker packs SM_MODEL_DIR)."""
    model_dir = Path(model_dir)
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(model_dir.iterdir()):
            tar.add(item, arcname=item.name)


def unpack_model_archive(archive: str | Path | bytes, dest: str | Path) -> Path:
    """Extract ``model.tar.gz`` safely and check its files against ``model.json``'s digests.

    Refused (:class:`UntrustedModelError`, nothing extracted): bytes that are not a
    gzip'd tar (corrupt or altered), members that are not plain files or folders
    (symlinks, hard links, devices), absolute or ``..`` member names.
    """
    dest = Path(dest)
    label = "model archive" if isinstance(archive, bytes) else str(archive)
    fileobj = io.BytesIO(archive) if isinstance(archive, bytes) else None
    try:
        # tarfile stops at the end-of-archive blocks and never reads the gzip trailer: read the
        # whole stream first so that its CRC catches flipped bytes and truncation.
        with gzip.open(fileobj or str(archive), "rb") as stream:
            while stream.read(1 << 20):
                pass
        if fileobj:
            fileobj.seek(0)
        with tarfile.open(name=None if fileobj else str(archive), fileobj=fileobj, mode="r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                name = member.name
                if not (member.isfile() or member.isdir()):
                    raise UntrustedModelError(f"{label}: member {name!r} is a link or device, not a file: refused")
                if name.startswith("/") or any(part == ".." for part in name.split("/")):
                    raise UntrustedModelError(f"{label}: member {name!r} escapes the model directory: refused")
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise UntrustedModelError(
            f"{label}: not a readable {ARCHIVE} ({type(exc).__name__}: {exc}); corrupt or altered: refused"
        ) from exc
    verify_model_files(dest)
    return dest
