"""The one model artefact format: a scikit-learn pipeline saved with skops, never pickle.

``model_dir`` holds ``model.skops`` (the fitted pipeline), ``model.json`` (profile,
classes, features, metrics, lineage) and ``baseline.json`` (drift reference). It is
packaged as ``model.tar.gz`` exactly as SageMaker does with ``SM_MODEL_DIR``.
Loading refuses any type outside :data:`TRUSTED_TYPES`: a crafted file cannot run code.
``model.json`` records the sha256 of the other files (:data:`DIGESTS_KEY`); unpacking
and loading refuse an archive whose files no longer match, or that holds anything but
plain files (links, devices, absolute or ``..`` paths).
"""

from __future__ import annotations

import gzip
import hashlib
import io
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


class UntrustedModelError(ValueError):
    """A model file holds types outside the trusted list, or is not a skops file at all."""


def save_pipeline(pipeline: Any, path: str | Path) -> None:
    import skops.io as sio

    sio.dump(pipeline, str(path))


def load_pipeline(path: str | Path) -> Any:
    """Load a pipeline saved by :func:`save_pipeline`; refuse untrusted types or non-skops bytes."""
    import zipfile

    import skops.io as sio

    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise UntrustedModelError(f"{path}: not a skops archive (a pickle or a tampered file?): refused")
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:  # skops raises on corrupt schema
        raise UntrustedModelError(f"{path}: unreadable skops file: {exc}") from exc
    unknown = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unknown:
        raise UntrustedModelError(f"{path}: refuses to load untrusted types {unknown}")
    try:
        return sio.load(str(path), trusted=TRUSTED_TYPES)
    except Exception as exc:  # e.g. an object array (a pickle) inside: numpy refuses it, say so clearly
        raise UntrustedModelError(f"{path}: crafted or corrupt skops content ({exc}): refused") from exc


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
