"""The one model artefact format: a scikit-learn pipeline saved with skops, never pickle.

``model_dir`` holds ``model.skops`` (the fitted pipeline), ``model.json`` (profile,
classes, features, metrics, lineage) and ``baseline.json`` (drift reference). It is
packaged as ``model.tar.gz`` exactly as SageMaker does with ``SM_MODEL_DIR``.
Loading refuses any type outside :data:`TRUSTED_TYPES`: a crafted file cannot run code.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

MODEL_FILE = "model.skops"
META_FILE = "model.json"
BASELINE_FILE = "baseline.json"
ARCHIVE = "model.tar.gz"

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
    return sio.load(str(path), trusted=TRUSTED_TYPES)


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    return dict(json.loads((Path(model_dir) / META_FILE).read_text(encoding="utf-8")))


def pack_model_dir(model_dir: str | Path, archive: str | Path) -> None:
    """Tar+gzip the *contents* of ``model_dir`` (as SageMaker packs SM_MODEL_DIR)."""
    model_dir = Path(model_dir)
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(model_dir.iterdir()):
            tar.add(item, arcname=item.name)


def unpack_model_archive(archive: str | Path | bytes, dest: str | Path) -> Path:
    """Extract ``model.tar.gz`` safely (no absolute paths, no '..', no links, no devices)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    fileobj = io.BytesIO(archive) if isinstance(archive, bytes) else None
    with tarfile.open(name=None if fileobj else str(archive), fileobj=fileobj, mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest
