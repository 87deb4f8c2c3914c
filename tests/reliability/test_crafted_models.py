"""A crafted pickle and a tampered model archive are refused, and nothing in them runs.

Each case goes the way a model reaches the scorer: ``model.tar.gz`` in the lake →
``ml.transform.prepare_model_dir`` / ``ml.artefact.unpack_model_archive`` →
``ml.inference.model_fn`` (the SageMaker handler). The unit tests cover the loader on a
model directory (``tests/unit/ml/test_train_entry.py::test_skops_round_trip_and_pickle_refused``,
``tests/unit/ml/test_inference_handler.py::test_a_skops_file_with_an_untrusted_type_is_refused``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from unit.ml.test_inference_support import make_model_dir

from ml.artefact import (
    DIGESTS_KEY,
    META_FILE,
    MODEL_FILE,
    UntrustedModelError,
    file_digests,
    pack_model_dir,
    unpack_model_archive,
)
from ml.inference import model_fn
from ml.transform import prepare_model_dir

pytestmark = pytest.mark.reliability


class _RunsAShell:
    """What a crafted pickle holds: unpickling it calls ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good model directory whose model.json records the digests, as ml.train writes it."""
    d = make_model_dir(tmp_path_factory.mktemp("good") / "model")
    meta = json.loads((d / META_FILE).read_text())
    meta[DIGESTS_KEY] = file_digests(d, [MODEL_FILE])
    (d / META_FILE).write_text(json.dumps(meta))
    return d


def _archive(tmp_path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A hand-made model.tar.gz: regular ``members`` and symbolic ``links`` (name -> target)."""
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir()}


def test_good_archive_round_trips(model_dir: Path, tmp_path: Path) -> None:
    """The control case: the same path accepts an honest artefact (so the refusals below mean something)."""
    pack_model_dir(model_dir, tmp_path / "model.tar.gz")
    model = model_fn(str(prepare_model_dir((tmp_path / "model.tar.gz").as_uri(), tmp_path / "work")))
    assert model.classes == ["negative", "neutral", "positive"]


def test_crafted_pickle_as_model_skops_in_the_archive_is_refused_and_never_run(model_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    files = _files(model_dir)
    files[MODEL_FILE] = pickle.dumps(_RunsAShell(marker))
    meta = json.loads(files[META_FILE])
    meta.pop(DIGESTS_KEY)  # the attacker drops the digest: the loader must still refuse the pickle
    files[META_FILE] = json.dumps(meta).encode()
    unpacked = prepare_model_dir(_archive(tmp_path, files).as_uri(), tmp_path / "work")
    with pytest.raises(UntrustedModelError, match="not a skops archive"):
        model_fn(str(unpacked))
    assert not marker.exists()


def test_pickle_hidden_in_a_skops_array_is_refused_and_never_run(model_dir: Path, tmp_path: Path) -> None:
    """A valid skops zip whose .npy member is an object array (a pickle): numpy must not unpickle it."""
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    np.save(buf, np.array([_RunsAShell(marker)], dtype=object), allow_pickle=True)
    src, crafted = model_dir / MODEL_FILE, tmp_path / MODEL_FILE
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(crafted, "w") as zout:
        npys = [n for n in zin.namelist() if n.endswith(".npy")]
        assert npys, "the tiny model must hold arrays for this case"
        for name in zin.namelist():
            zout.writestr(name, buf.getvalue() if name == npys[0] else zin.read(name))
    files = _files(model_dir)
    files[MODEL_FILE] = crafted.read_bytes()
    meta = json.loads(files[META_FILE])
    meta[DIGESTS_KEY] = {MODEL_FILE: hashlib.sha256(files[MODEL_FILE]).hexdigest()}  # a "consistent" forgery
    files[META_FILE] = json.dumps(meta).encode()
    unpacked = prepare_model_dir(_archive(tmp_path, files).as_uri(), tmp_path / "work")
    with pytest.raises(UntrustedModelError, match="refused"):
        model_fn(str(unpacked))
    assert not marker.exists()


def test_skops_file_declaring_an_untrusted_type_is_refused(model_dir: Path, tmp_path: Path) -> None:
    """schema.json edited to build ``os.system`` instead of a trusted sklearn type."""
    src, crafted = model_dir / MODEL_FILE, tmp_path / MODEL_FILE
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(crafted, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "schema.json":
                schema = json.loads(data)
                schema["__module__"], schema["__class__"] = "os", "system"
                data = json.dumps(schema).encode()
            zout.writestr(name, data)
    files = {**_files(model_dir), MODEL_FILE: crafted.read_bytes()}
    meta = json.loads(files[META_FILE])
    meta[DIGESTS_KEY] = {MODEL_FILE: hashlib.sha256(files[MODEL_FILE]).hexdigest()}
    files[META_FILE] = json.dumps(meta).encode()
    unpacked = prepare_model_dir(_archive(tmp_path, files).as_uri(), tmp_path / "work")
    with pytest.raises(UntrustedModelError, match=r"untrusted types \['os.system'\]"):
        model_fn(str(unpacked))


def test_archive_with_flipped_bytes_is_refused(model_dir: Path, tmp_path: Path) -> None:
    pack_model_dir(model_dir, tmp_path / "model.tar.gz")
    data = bytearray((tmp_path / "model.tar.gz").read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0xFF
    with pytest.raises(UntrustedModelError, match="corrupt or altered"):
        unpack_model_archive(bytes(data), tmp_path / "out")
    with pytest.raises(UntrustedModelError, match="corrupt or altered"):
        unpack_model_archive(bytes(data[: len(data) // 3]), tmp_path / "out2")  # a truncated upload


def test_archive_member_escaping_the_model_directory_is_refused(model_dir: Path, tmp_path: Path) -> None:
    for name in ("../evil", "/tmp/evil-absolute", "sub/../../evil"):
        archive = _archive(tmp_path, {**_files(model_dir), name: b"x"})
        with pytest.raises(UntrustedModelError, match="escapes the model directory"):
            unpack_model_archive(archive, tmp_path / "out" / "model")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "evil").exists()
    assert not Path("/tmp/evil-absolute").exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "baseline.json"])
def test_archive_with_a_symlink_member_is_refused(model_dir: Path, tmp_path: Path, target: str) -> None:
    files = _files(model_dir)
    files.pop(MODEL_FILE)
    archive = _archive(tmp_path, files, links={MODEL_FILE: target})
    with pytest.raises(UntrustedModelError, match="is a link or device"):
        unpack_model_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out" / MODEL_FILE).exists()


def test_model_file_not_matching_the_digest_in_model_json_is_refused(model_dir: Path, tmp_path: Path) -> None:
    """Another valid model swapped into the archive: model.json's sha256 no longer matches."""
    other = make_model_dir(tmp_path / "other", texts=["good", "fine", "bad", "awful"], labels=["p", "p", "n", "n"])
    files = {**_files(model_dir), MODEL_FILE: (other / MODEL_FILE).read_bytes()}
    with pytest.raises(UntrustedModelError, match=r"differs from .* recorded in model\.json"):
        unpack_model_archive(_archive(tmp_path, files), tmp_path / "out")
    # The SageMaker container unpacks by itself: model_fn checks the digests too.
    loose = tmp_path / "loose"
    loose.mkdir()
    for name, data in files.items():
        (loose / name).write_bytes(data)
    with pytest.raises(UntrustedModelError, match="altered after training"):
        model_fn(str(loose))
