"""Seeded synthetic raw data for every shipped profile, in its exact raw file format.

* :func:`generate` streams ``rows`` records (same seed -> same bytes), with drift knobs;
* :func:`generate_dirty_corpus` writes a directory of bad inputs and a catalogue of them;
* ``python -m ml.generator --help`` is the command line.
"""

from __future__ import annotations

from ml.generator.core import BLOCK_ROWS, GenerationStats, generate
from ml.generator.dirty import CATALOG_NAME, DIRTY_KINDS, DirtyFile, generate_dirty_corpus
from ml.generator.knobs import DriftKnobs
from ml.generator.layouts import GeneratorError
from ml.generator.vocab import new_era_words

__all__ = [
    "BLOCK_ROWS",
    "CATALOG_NAME",
    "DIRTY_KINDS",
    "DirtyFile",
    "DriftKnobs",
    "GenerationStats",
    "GeneratorError",
    "generate",
    "generate_dirty_corpus",
    "new_era_words",
]
