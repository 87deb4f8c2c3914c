"""Connection passwords and tokens never appear in task logs (Airflow's secrets masker, checked).

The task in ``dags/secret_masking.py`` reads a connection (password + ``token`` in its extra)
and leaks it every careless way: logger arguments, f-strings, ``print``, the connection URI,
the extras dict, the nlpops notifier and an exception message. It runs through Airflow's
real task supervisor (``supervised_task.py``: forked task runner, log file written by the
supervisor, as on a worker). The log file and the notifier's file must hold ``***`` and
never the values.

Found while writing this: under ``airflow dags test`` Airflow 3.3.2 does *not* mask task
output (the CLI process logs through airflow-core's masker, a different instance from the
Task SDK's that the connection registered with). Task logs on a worker are masked — this
test — but output captured from ``dags test`` must be treated as secret-bearing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.reliability

HERE = Path(__file__).resolve().parent
PASSWORD = "pw-Q7xZ-31415-secret"
TOKEN = "tok-K9vW-27182-secret"


def test_connection_password_and_token_are_masked_in_the_task_log(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    log_file = tmp_path / "task.log"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "NLPOPS_LAKE_URI": (tmp_path / "lake").as_uri(),
        "NLPOPS_NOTIFY_DIR": str(tmp_path / "notifications"),
        "AIRFLOW_CONN_NLPOPS_RELIABILITY_SECRET": json.dumps(
            {
                "conn_type": "http",
                "host": "service.invalid",
                "login": "svc",
                "password": PASSWORD,
                "extra": {"token": TOKEN},
            }
        ),
    }
    home.mkdir()
    cmd = [sys.executable, str(HERE / "supervised_task.py"), "secret_masking.py"]
    cmd += ["reliability_secret_masking", "leak_the_connection", str(log_file)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "final_state=failed" in output, output[-3000:]  # the task raised, as it should

    log = log_file.read_text(encoding="utf-8")
    events = [json.loads(line) for line in log.splitlines() if line.strip()]
    text = "\n".join(json.dumps(e) for e in events)
    # The task really ran and logged each leak: the lines are there, the values are not.
    assert any(e.get("event") == "password=*** token=***" for e in events), log[-3000:]
    assert any("svc:***@service.invalid" in str(e.get("event")) for e in events)
    assert any(e.get("event") == "stdout: password *** token ***" for e in events)
    assert "service refused password *** token ***" in text  # the traceback
    assert PASSWORD not in log and TOKEN not in log
    assert PASSWORD not in output and TOKEN not in output

    notices = list((tmp_path / "notifications").rglob("*"))
    written = "".join(p.read_text(encoding="utf-8") for p in notices if p.is_file())
    assert "calling the service with" in written and PASSWORD not in written and TOKEN not in written
