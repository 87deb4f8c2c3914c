"""Helpers of the category-evolution end-to-end tests: the HITL client and the asset-queue count."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
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
