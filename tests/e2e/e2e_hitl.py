"""Helpers of the category-evolution end-to-end tests: stages, the HITL review run, results, the asset queue."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def hitl_client() -> ModuleType:
    """scripts/hitl_answer.py (answers HITL requests through Airflow's REST API; also used by the demo)."""
    from include.settings import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("nlpops_hitl_answer", PROJECT_ROOT / "scripts" / "hitl_answer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def queued(af: Any, dag_id: str) -> int:
    """Asset-triggered runs of ``dag_id`` waiting in Airflow's queue."""
    code = (
        "from airflow.utils.session import create_session\n"
        "from airflow.models.asset import AssetDagRunQueue\n"
        "with create_session() as s:\n"
        f"    print(s.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == {dag_id!r}).count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=af.env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def start_loop(af: Any, profile: str) -> dict[str, Any]:
    """Serialize the DAGs and unpause ``<profile>_train`` (asset events only queue unpaused consumers)."""
    from nlpops.runtime import airflow_bin

    subprocess.run([airflow_bin(), "dags", "reserialize"], env=af.env, check=True, capture_output=True)
    subprocess.run([airflow_bin(), "dags", "unpause", f"{profile}_train"], env=af.env, check=True, capture_output=True)
    return {"passed": []}


def require_stages(loop: dict[str, Any], stages: tuple[str, ...], name: str) -> None:
    """Skip stage ``name`` (naming the cause) when a stage before it did not pass."""
    import pytest

    missing = [s for s in stages[: stages.index(name)] if s not in loop["passed"]]
    if missing:
        pytest.skip(f"stage {name!r} needs stage {missing[0]!r}, which did not pass")


def results_of(af: Any, profile: str, name: str) -> list[dict[str, Any]]:
    """Result rows of the user's input file ``name`` (by its URI, as every result row names it)."""
    import duckdb

    from include import lake

    glob = f"{lake.local_path(af.settings().zone_uri('results', profile))}/**/*.parquet"
    rel = duckdb.sql(
        f"SELECT id, source_record, label FROM read_parquet('{glob}', hive_partitioning=true) "
        f"WHERE source_uri LIKE '%/{name}'"
    )
    return [dict(zip(("id", "source_record", "label"), r, strict=True)) for r in rel.fetchall()]


def review_run(
    af: Any,
    profile: str,
    conf: dict[str, Any],
    log_path: Path,
    decide: Callable[[dict[str, Any]], dict[str, tuple[str, dict[str, Any]]]],
) -> tuple[Path, dict[str, Any], str]:
    """One ``<profile>_categories`` run under ``airflow dags test`` answered through the REST API.

    Waits for the cluster report, asks ``decide(clusters.json)`` for the answers by subject
    prefix, posts them as the analyst, waits for the run to end; returns (report folder,
    the answering summary, the run's output). Fails naming the log when the report or the run
    does not come.
    """
    import json
    import time

    from include import lake
    from nlpops.runtime import airflow_bin

    af._clock += 1
    logical = f"2026-02-01T{af._clock:02d}:00:00+00:00"
    # Output to a file, not a pipe: nobody reads a pipe while the run waits, and a full pipe blocks it.
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [airflow_bin(), "dags", "test", f"{profile}_categories", logical, "-c", json.dumps(conf)],
            env=af.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            root = Path(lake.local_path(af.settings().zone_uri("reports", "categories", profile)))
            found: list[Path] = []
            while not found and proc.poll() is None:
                time.sleep(2)
                found = list(root.glob("*/clusters.json"))
            assert found, f"no cluster report under {root}:\n{log_path.read_text(errors='replace')[-4000:]}"
            answers = decide(json.loads(found[0].read_text(encoding="utf-8")))
            done = hitl_client().answer_listed(af.env, af.home, f"{profile}_categories", answers, expected=len(answers))
            assert [a["status"] for a in done["answered"]] == [200] * len(answers), done["answered"]
            proc.wait(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log_path.read_text(errors="replace")
    assert proc.returncode == 0, output[-4000:]
    return found[0].parent, done, output
