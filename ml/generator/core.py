"""``generate``: a seeded, streaming writer of synthetic raw files for any shipped profile."""

from __future__ import annotations

import csv
import gzip
import io
import os
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from include.profiles import Profile, get_profile
from ml.generator.knobs import DriftKnobs
from ml.generator.layouts import Block, GeneratorError, Layout, layout_for
from ml.generator.new_category import new_category_for
from ml.generator.text import TextModel

#: Rows drawn from one random stream. Fixed, so the bytes never depend on ``chunk_rows``.
BLOCK_ROWS = 8192
_TEMP_SUFFIXES = (".tmp", ".part", ".inprogress", ".filepart")


@dataclass
class GenerationStats:
    """What one :func:`generate` call wrote."""

    profile: str
    rows: int
    seed: int
    bytes_written: int = 0
    seconds: float = 0.0
    compressed: bool = False
    target: str = ""
    class_counts: dict[str, int] = field(default_factory=dict)  # by written label (canonical class)
    noisy_labels: int = 0  # rows whose written label differs from the class the text was made from
    new_category: str | None = None  # name of the new category written (DriftKnobs.new_category > 0)
    priors: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "rows": self.rows,
            "seed": self.seed,
            "bytes_written": self.bytes_written,
            "seconds": round(self.seconds, 4),
            "rows_per_second": round(self.rows_per_second, 1) if self.seconds > 0 else None,
            "compressed": self.compressed,
            "target": self.target,
            "class_counts": self.class_counts,
            "noisy_labels": self.noisy_labels,
            "new_category": self.new_category,
            "priors": self.priors,
        }


class _CountingWriter(io.RawIOBase):
    """Passes bytes through to ``sink`` and counts them (the size on disk, compressed or not)."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.sink.write(data)
        self.count += len(data)
        return len(data)


def resolve_profile(profile: Profile | str) -> Profile:
    """A :class:`Profile` as is, or the shipped profile of that name."""
    return profile if isinstance(profile, Profile) else get_profile(profile)


def class_priors(
    layout: Layout,
    classes: Sequence[str],
    class_weights: Mapping[str, float] | Sequence[float] | None,
    label_of: Mapping[str, str],
) -> np.ndarray:
    """Class probabilities in profile order: ``class_weights`` (by class or raw label, or a
    sequence in profile class order) or the layout's realistic priors."""
    if class_weights is None:
        # The layout's priors name raw labels or classes; several raw names may map to one class
        # (CFPB's old product names onto the 2017 taxonomy): their weights add up.
        realistic: dict[str, float] = {}
        for key, weight in layout.priors.items():
            cls = label_of.get(key, key)
            realistic[cls] = realistic.get(cls, 0.0) + float(weight)
        w = np.array([realistic.get(c, 0.0) for c in classes])
    elif isinstance(class_weights, Mapping):
        unknown = [k for k in class_weights if k not in classes and k not in label_of]
        if unknown:
            raise GeneratorError(f"class_weights names {unknown}, not classes or raw labels of the profile: {classes}")
        by_class = {label_of.get(k, k): float(v) for k, v in class_weights.items()}
        w = np.array([by_class.get(c, 0.0) for c in classes])
    else:
        w = np.array([float(x) for x in class_weights])
        if len(w) != len(classes):
            raise GeneratorError(f"class_weights has {len(w)} numbers; the profile has {len(classes)} classes")
    if (w < 0).any() or w.sum() <= 0:
        raise GeneratorError(f"class_weights must be >= 0 with a positive sum, got {w.tolist()}")
    return w / w.sum()


def shift_priors(priors: np.ndarray, shift: float) -> np.ndarray:
    """Move ``priors`` towards the rarest class that occurs at all (label-prior drift)."""
    if shift <= 0:
        return priors
    active = np.flatnonzero(priors > 0)
    target = active[np.argmin(priors[active])]
    onehot = np.zeros_like(priors)
    onehot[target] = 1.0
    out = (1.0 - shift) * priors + shift * onehot
    return out / out.sum()


def _is_gzip_name(name: str) -> bool:
    base = os.path.basename(name)
    while base.endswith(_TEMP_SUFFIXES):
        base = base.rsplit(".", 1)[0]
    return base.endswith(".gz")


@contextmanager
def open_output(out: Any, compress: bool | None) -> Iterator[tuple[IO[bytes], _CountingWriter, str, bool]]:
    """A binary stream for ``out`` (stream, path, or URI through include.lake).

    Paths and ``file://`` URIs are written under a temporary name and renamed at the
    end, so a reader never sees half a file. Gzip is used when ``compress`` says so or,
    when it is None, when the name ends in ``.gz`` (temporary suffixes like ``.tmp`` ignored).
    """
    if hasattr(out, "write"):
        name = str(getattr(out, "name", "") or "")
        gz = _is_gzip_name(name) if compress is None else compress
        counter = _CountingWriter(out)
        yield from _with_gzip(counter, gz, name or "<stream>")
        return
    target = str(out)
    gz = _is_gzip_name(target) if compress is None else compress
    if "://" in target:
        from include import lake

        fs, path = lake.filesystem(target)
        tmp = f"{path.rsplit('/', 1)[0]}/.{path.rsplit('/', 1)[-1]}.{uuid.uuid4().hex[:8]}.tmp"
        local = lake._is_local(fs)
        if local:
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(tmp if local else path, "wb") as fh:
            counter = _CountingWriter(fh)
            yield from _with_gzip(counter, gz, target)
        if local:
            fs.mv(tmp, path)
        return
    p = Path(target)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = p.with_name(f".{p.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp_path.open("wb") as fh:
            counter = _CountingWriter(fh)
            yield from _with_gzip(counter, gz, str(p))
        os.replace(tmp_path, p)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _with_gzip(counter: _CountingWriter, gz: bool, name: str) -> Iterator[tuple[IO[bytes], _CountingWriter, str, bool]]:
    if not gz:
        yield counter, counter, name, False  # type: ignore[misc]
        return
    # mtime=0 and no file name in the header: the same seed gives the same compressed bytes
    with gzip.GzipFile(filename="", mode="wb", fileobj=counter, compresslevel=6, mtime=0) as zf:
        yield zf, counter, name, True  # type: ignore[misc]


def _seed_sequence(seed: int, profile: str, block: int) -> np.random.SeedSequence:
    # crc32, not hash(): string hashing is randomised per process
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, zlib.crc32(profile.encode()), block])


def iter_blocks(
    profile: Profile,
    layout: Layout,
    rows: int,
    *,
    seed: int,
    priors: np.ndarray,
    knobs: DriftKnobs,
    label_noise: float,
) -> Iterator[Block]:
    """The generated rows of one call, block by block (each block its own seeded stream)."""
    classes = profile.classes
    label_of = {cls: raw for raw, cls in reversed(list(profile.labels.items()))}  # first raw value per class
    raw_of = [label_of[c] for c in classes]
    new_cat = new_category_for(layout.domain.name) if knobs.new_category > 0 else None
    model = TextModel(layout.domain, [layout.group_of(c) for c in classes], new_cat)
    k = len(classes)
    base_active = np.flatnonzero(priors > 0)
    drifted = shift_priors(priors, knobs.label_prior_shift)
    pos_in_active = np.full(k, -1)
    pos_in_active[base_active] = np.arange(len(base_active))
    for b, start in enumerate(range(0, rows, BLOCK_ROWS)):
        n = min(BLOCK_ROWS, rows - start)
        rng = np.random.default_rng(_seed_sequence(seed, profile.name, b))
        true_cls = rng.choice(k, n, p=drifted)
        # label noise swaps to another *occurring* class, never to a label outside the set
        flip = rng.random(n) < label_noise
        hop = rng.integers(1, max(len(base_active), 2), n)
        if len(base_active) > 1:
            other = base_active[(pos_in_active[true_cls] + hop) % len(base_active)]
            label_cls = np.where(flip & (pos_in_active[true_cls] >= 0), other, true_cls)
        else:
            label_cls = true_cls
        # Drawn from a stream of its own, so the knob at 0 leaves every other draw (and byte) as it was.
        cat_rng = np.random.default_rng(_seed_sequence(seed, f"{profile.name}:new_category", b))
        newcat = cat_rng.random(n) < knobs.new_category
        texts, titles = model.compose(true_cls, rng, knobs, titles=layout.titles, new_category=newcat)
        raw_labels = [raw_of[c] for c in label_cls.tolist()]
        if new_cat is not None:
            raw_labels = [new_cat.name if m else r for r, m in zip(raw_labels, newcat.tolist(), strict=True)]
        block = Block(
            rng=rng,
            start=start,
            classes=classes,
            true_cls=true_cls,
            label_cls=label_cls,
            raw_labels=raw_labels,
            texts=texts,
            titles=titles,
            new_category=newcat,
        )
        yield block


def generate(
    profile: Profile | str,
    rows: int,
    *,
    seed: int,
    out: Any,
    with_label: bool = True,
    drift: DriftKnobs | None = None,
    label_noise: float = 0.05,
    class_weights: Mapping[str, float] | Sequence[float] | None = None,
    variant: str | None = None,
    chunk_rows: int = 50_000,
    compress: bool | None = None,
    truth_out: Any = None,
) -> GenerationStats:
    """Write ``rows`` synthetic records of ``profile`` in its exact raw format to ``out``.

    ``out`` is a binary stream, a path or a URI (``file://``, ``s3://`` via include.lake);
    a name ending in ``.gz`` (or ``compress=True``) writes gzip. The same arguments give
    the same bytes. Memory stays bounded: rows are generated in fixed seeded blocks of
    :data:`BLOCK_ROWS` and written ``chunk_rows`` at a time. ``with_label=False`` drops
    the label column (inference input). ``label_noise`` is the share of rows whose label
    is swapped for another valid label. ``class_weights`` overrides the class priors
    (mapping by class or raw label, or a sequence in profile class order). ``variant``
    picks an export layout (cfpb_complaints: classic | complaints | complaints_unzip).
    ``truth_out`` (stream, path or URI), when given, receives one line per row with the class
    the text was generated from (the new category's name for its rows): ground truth for
    tests of unlabelled batches.
    """
    prof = resolve_profile(profile)
    if rows < 0:
        raise GeneratorError(f"rows={rows} must be >= 0")
    if not 0.0 <= label_noise <= 1.0:
        raise GeneratorError(f"label_noise={label_noise} must be in [0, 1]")
    if chunk_rows < 1:
        raise GeneratorError(f"chunk_rows={chunk_rows} must be >= 1")
    knobs = drift or DriftKnobs()
    layout = layout_for(prof, variant)
    label_of = {raw: cls for raw, cls in prof.labels.items()}
    priors = class_priors(layout, prof.classes, class_weights, label_of)
    columns = layout.output_columns(with_label)
    stats = GenerationStats(
        profile=prof.name,
        rows=rows,
        seed=seed,
        class_counts=dict.fromkeys(prof.classes, 0),
        priors={
            c: round(float(p), 6)
            for c, p in zip(prof.classes, shift_priors(priors, knobs.label_prior_shift), strict=True)
        },
    )
    started = time.perf_counter()
    truth_ctx = open_output(truth_out, False) if truth_out is not None else nullcontext(None)
    with open_output(out, compress) as (stream, counter, name, gz), truth_ctx as truth:
        stats.target, stats.compressed = name, gz
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator=layout.lineterminator, quoting=layout.quoting)
        head = ("\ufeff" if layout.bom else "") + layout.preamble
        if layout.header:
            writer.writerow(columns)
        stream.write((head + buf.getvalue()).encode("utf-8"))
        for block in iter_blocks(prof, layout, rows, seed=seed, priors=priors, knobs=knobs, label_noise=label_noise):
            data = layout.build(block)
            cols = [data[c] for c in columns]
            for lo in range(0, block.n, chunk_rows):
                buf.seek(0)
                buf.truncate()
                writer.writerows(zip(*(c[lo : lo + chunk_rows] for c in cols), strict=True))
                stream.write(buf.getvalue().encode("utf-8"))
            newcat = block.new_category if block.new_category is not None else np.zeros(block.n, dtype=bool)
            counts = np.bincount(block.label_cls[~newcat], minlength=len(prof.classes))
            for cls, cnt in zip(prof.classes, counts.tolist(), strict=True):
                stats.class_counts[cls] += cnt
            if newcat.any():
                stats.new_category = new_category_for(layout.domain.name).name
                stats.class_counts[stats.new_category] = stats.class_counts.get(stats.new_category, 0) + int(
                    newcat.sum()
                )
            stats.noisy_labels += int(((block.label_cls != block.true_cls) & ~newcat).sum())
            if truth is not None:
                cat = stats.new_category or ""
                lines = [
                    cat if m else prof.classes[c] for c, m in zip(block.true_cls.tolist(), newcat.tolist(), strict=True)
                ]
                truth[0].write(("\n".join(lines) + "\n").encode("utf-8") if lines else b"")
    stats.bytes_written = counter.count
    stats.seconds = time.perf_counter() - started
    return stats
