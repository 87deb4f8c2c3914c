"""scripts/stack.py without a stack: the unpause setting, the environment, and stopping exactly our processes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _load_stack_module() -> Any:
    spec = importlib.util.spec_from_file_location("nlpops_stack", PROJECT_ROOT / "scripts" / "stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


stack = _load_stack_module()
DAGS = [f"{p}_{k}" for p in ("amazon_polarity", "cfpb_complaints") for k in stack.DAG_KINDS]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("none", []),
        ("all", DAGS),
        ("amazon_polarity", [f"amazon_polarity_{k}" for k in stack.DAG_KINDS]),
        ("cfpb_complaints_drift, amazon_polarity_ingest", ["cfpb_complaints_drift", "amazon_polarity_ingest"]),
        (
            "amazon_polarity_drift,amazon_polarity",  # no repeats
            [f"amazon_polarity_{k}" for k in ("drift", "ingest", "train", "batch_inference", "categories")],
        ),
    ],
)
def test_unpause_selection(value: str, expected: list[str]) -> None:
    assert stack.unpause_selection({"NLPOPS_UNPAUSE": value}, DAGS) == expected


def test_unpause_selection_names_the_setting_at_fault() -> None:
    with pytest.raises(stack.StackError, match=r"NLPOPS_UNPAUSE.*'amazon'"):
        stack.unpause_selection({"NLPOPS_UNPAUSE": "amazon"}, DAGS)


def test_environment_points_api_and_execution_api_at_the_chosen_port(tmp_path: Path) -> None:
    env = stack.stack_environ(tmp_path, port=18123, AIRFLOW__CORE__PARALLELISM="2", NLPOPS_PROFILES="amazon_polarity")
    assert env["AIRFLOW__API__PORT"] == "18123"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:18123"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "2"
    # log servers beside the UI port, not Airflow's fixed 8793/8794: two stacks can run side by side
    assert (env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"], env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"]) == (
        "18124",
        "18125",
    )
    other = stack.stack_environ(tmp_path / "b", port=18223)
    assert other["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18224"
    assert env["AIRFLOW_HOME"] == str(tmp_path.resolve())
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert stack.expected_dag_ids(env) == sorted(f"amazon_polarity_{k}" for k in stack.DAG_KINDS)


def test_start_refuses_a_second_stack_in_the_same_home(tmp_path: Path) -> None:
    env = stack.stack_environ(tmp_path, port=18124)
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "/x/scripts/stack.py", "launch"])
    try:
        (tmp_path / stack.PID_FILE).write_text(json.dumps({"pid": fake.pid, "url": "http://127.0.0.1:18124"}))
        with pytest.raises(stack.StackError, match="already up"):
            stack.start(env, timeout=1)
        assert not (tmp_path / "airflow.db").exists()  # refused before touching the home
    finally:
        fake.kill()
        fake.wait()


def test_a_stale_pid_file_is_no_reason_to_stop_someone_else(tmp_path: Path) -> None:
    # after a reboot the recorded pid may be any other process: it is not a stack leader (`stack.py launch`)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / stack.PID_FILE).write_text(json.dumps({"pid": bystander.pid, "url": "http://127.0.0.1:1"}))
        assert stack.stop(tmp_path) == bystander.pid
        assert bystander.poll() is None
        assert not (tmp_path / stack.PID_FILE).exists()
    finally:
        bystander.kill()
        bystander.wait()


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stop_session_stops_the_session_and_escaped_descendants_only(tmp_path: Path) -> None:
    # A leader in its own session (like `stack.py launch`), a child in the same session, and a
    # grandchild that opened a session of its own (like a Spark JVM under a task).
    pids = tmp_path / "pids.json"
    script = (
        "import json, subprocess, sys, time\n"
        "sleep = [sys.executable, '-c', 'import time; time.sleep(120)']\n"
        "child = subprocess.Popen(sleep)\n"
        "escaped = subprocess.Popen(sleep, start_new_session=True)\n"
        f"open({str(pids)!r}, 'w').write(json.dumps([child.pid, escaped.pid]))\n"
        "time.sleep(120)\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", script, "/x/scripts/stack.py", "launch"], start_new_session=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        deadline = time.monotonic() + 30
        while not pids.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        child, escaped = json.loads(pids.read_text())
        assert stack.stop_session(leader.pid, grace=10) == 3
        leader.wait(timeout=10)
        assert not _alive(child) and not _alive(escaped)
        assert bystander.poll() is None, "a process outside the stack was stopped"
    finally:
        bystander.kill()
        bystander.wait()
        if leader.poll() is None:
            leader.kill()


def test_every_component_listens_on_loopback_only(tmp_path: Path) -> None:
    """api-server and both log servers bound to 127.0.0.1; scheduler and triggerer serve no logs themselves
    (Airflow's own log server binds every interface)."""
    env = stack.stack_environ(tmp_path, port=18323)
    cmds = stack.components(env)
    assert cmds["api-server"][-4:] == ["--host", "127.0.0.1", "--port", "18323"]
    assert "--skip-serve-logs" in cmds["scheduler"] and "--skip-serve-logs" in cmds["triggerer"]
    for name, port in (("worker-log-server", "18324"), ("trigger-log-server", "18325")):
        cmd = cmds[name]
        assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[-1] == port
