"""Where the embedded (local) Airflow lives and the environment every CLI call gets.

One function builds the environment for ``airflow`` subprocesses (demo, end-to-end
tests, ``make up``) so they all see the same DAGs folder, plugins, SQLite database,
and the same offline switches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from include.settings import PROJECT_ROOT

#: Where the local OpenLineage file transport writes, relative to ``AIRFLOW_HOME``.
LINEAGE_EVENTS = "openlineage-events.jsonl"


def airflow_environ(airflow_home: str | Path | None = None, **extra: str) -> dict[str, str]:
    """Environment for an Airflow CLI process running the project's DAGs locally."""
    home = Path(airflow_home or os.environ.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow").resolve()
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": env.get("AIRFLOW__CORE__EXECUTOR", "LocalExecutor"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": env.get(
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}"
            ),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # first retry after a minute (Airflow's default is 5); tests shorten it to 1 s
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": env.get("AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY", "60"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "GX_ANALYTICS_ENABLED": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTHONHASHSEED": env.get("PYTHONHASHSEED", "0"),
            "NLPOPS_LAKE_URI": env.get("NLPOPS_LAKE_URI") or (home / "lake").as_uri(),
            # `airflow dags test` (demo, tests) cannot finish a run whose DAG has a DeadlineAlert in
            # Airflow 3.3.2; the stack (scripts/stack.py) turns them back on for its real scheduler.
            "NLPOPS_DEADLINE_ALERTS": env.get("NLPOPS_DEADLINE_ALERTS", "false"),
            # OpenLineage: every task's run and datasets as JSON lines beside the metadata DB, unless a
            # transport is configured (e.g. Marquez over HTTP, README "Lineage")
            "AIRFLOW__OPENLINEAGE__NAMESPACE": env.get("AIRFLOW__OPENLINEAGE__NAMESPACE", "nlpops"),
            "AIRFLOW__OPENLINEAGE__TRANSPORT": env.get("AIRFLOW__OPENLINEAGE__TRANSPORT")
            or json.dumps({"type": "file", "log_file_path": str(home / LINEAGE_EVENTS), "append": True}),
        }
    )
    env.update(extra)
    return env


def airflow_bin() -> str:
    """The ``airflow`` executable of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("airflow"))


def ensure_airflow_home(env: dict[str, str]) -> None:
    """Create the Airflow home and migrate its metadata database (idempotent)."""
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([airflow_bin(), "db", "migrate"], env=env, check=True, capture_output=True)
