"""Shared fixtures: one SparkSession per test session, an isolated lake per test."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "false")
# Tasks that fail on purpose retry after 1 s, not the project's 60 s (nlpops.runtime.airflow_environ
# passes this to every Airflow subprocess of the tests).
os.environ.setdefault("AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY", "1")
# Train DAG runs train the profile's own configuration: the model-selection search (minutes) is
# tested in tests/unit/ml/test_search.py and, on the aws target, as a tuning job (tests/aws/e2e).
os.environ.setdefault("NLPOPS_SEARCH_BUDGET_SECONDS", "0")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
# Airflow in the test process loads the project's plugin like its components do (the DAGs'
# timetable is registered there: serializing a DAG needs it).
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PROJECT_ROOT / "plugins"))


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test session (local[2], UI off)."""
    from etl.spark import get_spark

    session = get_spark("nlpops-tests", master="local[2]", driver_memory="1g")
    yield session
    session.stop()


def pytest_unconfigure(config: pytest.Config) -> None:
    # py4j's connection objects log "Closing down clientserver connection" (INFO) from __del__ at
    # interpreter exit, when pytest's log streams are already closed: a "--- Logging error ---"
    # traceback after the summary. Nothing is lost by not logging it then.
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh file:// lake for one test; settings are re-read from the environment."""
    from include.settings import get_settings

    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("NLPOPS_LAKE_URI", root.as_uri())
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    get_settings.cache_clear()
    yield root.as_uri()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.fail(f"real datasets expected at {SHARED_DATASETS} (CI checks out ../shared beside the project)")
    return SHARED_DATASETS


def _publish_processed(processed_uri: str, run: str, n: int = 40) -> None:
    """One published processed run with train/validation/test splits (contract columns), local or S3."""
    import io

    import pandas as pd

    from include import lake

    words = {"negative": ["awful", "terrible", "hate", "broken"], "positive": ["great", "love", "perfect", "happy"]}
    staging = lake.staging_uri(f"{processed_uri}/run={run}")
    counts = {"train": n, "validation": n // 2, "test": n // 2}
    for split, rows in counts.items():
        frame = pd.DataFrame(
            [
                {
                    "id": f"{split}-{i}",
                    "text": f"it was {words[lab][i % 4]} really {words[lab][(i + 1) % 4]} {split} {i}",
                    "label": lab,
                    "content_hash": f"{split[:2]}{run[:8]}{i:010d}",
                    "source_uri": f"{processed_uri}/raw.csv",
                    "ingest_run": run,
                }
                for i in range(rows)
                for lab in [("negative", "positive")[i % 2]]
            ]
        )
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        lake.write_bytes(f"{staging}/split={split}/part-00000.parquet", buf.getvalue())
    lake.publish_dir(staging, f"{processed_uri}/run={run}", {"run_key": run, "rows_per_split": counts})


@pytest.fixture
def publish_processed():
    """``publish_processed(processed_uri, run, n=40)``: publish a small two-class processed run."""
    return _publish_processed
