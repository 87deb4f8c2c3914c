"""Fixtures of the reliability suite (marker ``reliability``).

The suite reuses the project's fixtures (``lake``, ``spark`` in ``tests/conftest.py``) and
the helpers of the unit tests that build inputs (processed runs, tiny model directories,
validation runs); ``faults.py`` holds the fault injection.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def task_env(lake: str) -> dict[str, str]:
    """Environment of a task process: the test's lake, and this folder importable by job subprocesses."""
    from faults import python_path_with

    return {"NLPOPS_LAKE_URI": lake, "AIRFLOW_HOME": os.environ["AIRFLOW_HOME"], "PYTHONPATH": python_path_with(HERE)}


@pytest.fixture
def ready(tmp_path: Path) -> Path:
    """The file a paused task writes when it reaches its fault point."""
    return tmp_path / "fault-point-reached"
