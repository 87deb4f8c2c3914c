"""The batch transform task with worker processes, run by Airflow's real task supervisor.

Run by ``tests/reliability/test_supervised_transform.py``: the operator's arguments come
from the JSON file named by ``NLPOPS_RELIABILITY_TRANSFORM_SPEC`` (test-only DAG).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from nlpops.operators.transform import LocalBatchTransformOperator

SPEC = os.environ.get("NLPOPS_RELIABILITY_TRANSFORM_SPEC", "")

with DAG(
    "reliability_supervised_transform",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["nlpops", "reliability"],
    doc_md="Scores a tiny batch with one worker process under the task supervisor.",
    default_args={"retries": 0},
):
    LocalBatchTransformOperator(task_id="transform", **(json.loads(Path(SPEC).read_text()) if SPEC else {}))
