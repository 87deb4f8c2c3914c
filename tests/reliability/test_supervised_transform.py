"""The batch transform with worker processes finishes under Airflow's real task supervisor.

Found on the stack (``make up``, LocalExecutor): the ``<profile>_batch_inference`` transform
task logged ``workers=1`` and then ran forever, while ``airflow dags test`` (task in-process)
finished. The task process of a worker is forked from the ``airflow`` CLI, so its
``__main__`` is the console script; each ``forkserver``/``spawn`` worker re-ran that script
(as ``__mp_main__``), which imports Airflow, whose ``settings.initialize()`` raised on the
``airflow-db-not-allowed:///`` database URL the supervisor sets in task processes. The pool
replaced the dead worker with another that died the same way, forever.

Here the task runs through ``supervise_task`` (``supervised_task.py``) from
``cli_main_task.py``, a ``__main__`` that imports Airflow the way the console script does.
A hang fails the test at the timeout (the whole process tree is killed) instead of blocking.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from unit.ml.test_inference_support import make_model_dir

from include import lake as lk

pytestmark = pytest.mark.reliability

HERE = Path(__file__).resolve().parent
TIMEOUT = 120  # a healthy run takes a few seconds


def _run_bounded(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        tree = psutil.Process(proc.pid).children(recursive=True)  # task process, fork server, workers
        for p in [psutil.Process(proc.pid), *tree]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the supervised transform task did not finish in {timeout}s (hung); output:\n{out[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def test_transform_with_a_worker_process_finishes_under_the_task_supervisor(lake: str, tmp_path: Path) -> None:
    from include.settings import get_settings
    from ml.artefact import pack_model_dir
    from ml.generator import generate

    s = get_settings()
    archive = tmp_path / "model.tar.gz"
    pack_model_dir(make_model_dir(tmp_path / "m", "airline_tweets", version="7"), archive)
    inputs = s.zone_uri("inference-input", "airline_tweets")
    generate("airline_tweets", 40, seed=3, out=lk.join(inputs, "batch.csv"), with_label=False)
    spec = tmp_path / "spec.json"
    objects = [o.to_dict() for o in lk.list_objects(inputs)]
    spec.write_text(
        json.dumps(
            {
                "profile_name": "airline_tweets",
                "objects": objects,
                "model_artifact_uri": archive.as_uri(),
                "model_version": "7",
                "workers": 1,
            }
        )
    )
    home = tmp_path / "airflow"
    home.mkdir()
    log_file = tmp_path / "task.log"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "NLPOPS_LAKE_URI": lake,
        "NLPOPS_RELIABILITY_TRANSFORM_SPEC": str(spec),
    }
    cmd = [sys.executable, str(HERE / "cli_main_task.py"), "supervised_transform.py"]
    cmd += ["reliability_supervised_transform", "transform", str(log_file)]
    proc = _run_bounded(cmd, env, TIMEOUT)

    assert proc.returncode == 0 and "final_state=success" in proc.stdout, proc.stdout[-3000:]
    events = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    done = [e["event"] for e in events if "40 record(s) in, 40 scored" in str(e.get("event"))]
    assert done, [e.get("event") for e in events][-30:]
    assert not [e for e in events if e.get("logger") == "task.stderr"]  # no worker died at start
    zone = s.zone_uri("inference-output", "airline_tweets")
    [published] = lk.published(zone)
    [out] = Path(lk.local_path(published)).glob("*.out")
    assert len(out.read_bytes().splitlines()) == 40
