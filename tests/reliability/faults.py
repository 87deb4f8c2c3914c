"""Fault injection for the reliability suite: run a task the way a worker does, pause it at
its worst moment, kill it with SIGKILL, and look at the process tree it leaves.

A *task process* here is a ``spawn`` child running ``operator.execute(context)`` exactly as
Airflow's task runner does (no ``on_kill``: SIGKILL gives a process no chance to clean up).
The pause is a wrapper around one real step (``lake.publish_dir`` in the ETL job, the end of
``ml.train``, the transform's output writer) that writes a *ready* file and then sleeps: the test kills the
task once the ready file exists, so "mid-way" is a fixed point, never a race with the clock.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

#: Environment variable naming the ready file a paused child writes before it sleeps.
READY_ENV = "NLPOPS_FAULT_READY"
LOGICAL = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
RUN_ID = "scheduled__2026-03-01T02:00:00+00:00"


def task_context() -> dict[str, Any]:
    """The bits of an Airflow context the nlpops operators read (run id, logical date)."""
    return {"run_id": RUN_ID, "logical_date": LOGICAL}


def pause_here(what: str) -> None:
    """Announce the fault point (write the ready file) and wait to be killed."""
    Path(os.environ[READY_ENV]).write_text(what, encoding="utf-8")
    time.sleep(600)
    raise SystemExit(f"fault point {what!r} was never killed")


# --- what runs in the task process ---------------------------------------------------------------


def etl_task(env: dict[str, str], job_module: str, script_args: dict[str, Any]) -> None:
    """The ingest DAG's ETL task (``LocalSparkJobOperator``, ``python -m <job_module>``) for the fixed run."""
    os.environ.update(env)
    from airflow.sdk import DAG

    from nlpops.operators.spark_job import LocalSparkJobOperator

    with DAG("reliability_ingest", schedule=None, start_date=LOGICAL):
        op = LocalSparkJobOperator(
            task_id="prepare_text", job_module=job_module, script_args=script_args, spark_master="local[1]"
        )
    op.execute(task_context())  # type: ignore[arg-type]


def training_task(env: dict[str, str], operator_kwargs: dict[str, Any]) -> None:
    """The training task (``LocalTrainingOperator``); pass ``entry_module="paused_train"`` to pause it."""
    os.environ.update(env)
    build_training_operator(**operator_kwargs).execute(task_context())  # type: ignore[arg-type]


def transform_task(env: dict[str, str], operator_kwargs: dict[str, Any]) -> None:
    """The batch transform task, paused after its first response is on disk in the staging prefix."""
    os.environ.update(env)
    import ml.transform

    real_write = ml.transform.BatchTransform._write

    def write_then_pause(self: Any, result: Any, *args: Any) -> None:
        real_write(self, result, *args)
        out = args[-1]  # BatchTransform._write(result, errors, first_line, request, pending, out)
        out.flush()  # half a .out file really is on disk in the staging prefix
        pause_here(f"wrote {result.records} record(s) of {result.key}")

    ml.transform.BatchTransform._write = write_then_pause  # type: ignore[method-assign]
    build_transform_operator(**operator_kwargs).execute(task_context())  # type: ignore[arg-type]


def build_training_operator(**kwargs: Any) -> Any:
    """The training task of a tiny DAG (the factory's arguments, a two-class profile)."""
    from airflow.sdk import DAG

    from nlpops.operators.training import LocalTrainingOperator

    with DAG("reliability_train", schedule=None, start_date=LOGICAL):
        return LocalTrainingOperator(task_id="train", **kwargs)


def build_transform_operator(**kwargs: Any) -> Any:
    """The transform task of a tiny DAG (real worker processes)."""
    from airflow.sdk import DAG

    from nlpops.operators.transform import LocalBatchTransformOperator

    with DAG("reliability_batch_inference", schedule=None, start_date=LOGICAL):
        return LocalBatchTransformOperator(task_id="transform", **kwargs)


TASKS: dict[str, Callable[..., None]] = {"etl": etl_task, "training": training_task, "transform": transform_task}


# --- the killing ---------------------------------------------------------------------------------------


@dataclass
class Killed:
    """What a SIGKILLed task left: its pid, its process tree at the kill, what the fault point said."""

    pid: int
    tree: list[int]
    fault_point: str


def run_and_kill(task: str, *args: Any, ready: Path, timeout: float = 480) -> Killed:
    """Run ``TASKS[task](*args)`` in a spawned task process; SIGKILL it (and only it) at the fault point.

    Returns once the task process is dead. The job processes it started are NOT killed
    here: the test checks that they die with their task (nothing may go on writing).
    """
    os.environ[READY_ENV] = str(ready)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter, like a task runner's
    proc = ctx.Process(target=TASKS[task], args=args, daemon=False)
    proc.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if not proc.is_alive():
                raise AssertionError(f"the {task} task ended (exit {proc.exitcode}) before its fault point")
            if time.monotonic() > deadline:
                raise AssertionError(f"the {task} task did not reach its fault point in {timeout}s")
            time.sleep(0.05)
        assert proc.pid is not None
        tree = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        assert proc.exitcode == -signal.SIGKILL
        return Killed(proc.pid, tree, ready.read_text(encoding="utf-8"))
    finally:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
            proc.join(30)
        os.environ.pop(READY_ENV, None)


def assert_died_with_task(killed: Killed, what: str, wait: float = 20) -> None:
    """Every process the killed task had started is gone within ``wait`` s (zombies count as gone).

    Survivors are killed here (the test must not leak them) and the test fails naming them.
    """
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for pid in killed.tree:
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    described = [f"{p.pid}: {' '.join(p.cmdline())[:120]}" for p in alive]
    for p in alive:
        p.kill()
    assert not described, f"{what} outlived the killed task (went on running, could go on writing): {described}"


def python_path_with(*dirs: Path) -> str:
    """``PYTHONPATH`` for job subprocesses that must import a test helper module."""
    return os.pathsep.join([*(str(d) for d in dirs), *filter(None, [os.environ.get("PYTHONPATH", "")])])


def names(prefix_uri: str) -> list[str]:
    """Every entry directly under ``prefix_uri``, hidden ones included (what a reader *could* see)."""
    from include import lake

    path = Path(lake.local_path(prefix_uri))
    return sorted(p.name for p in path.iterdir()) if path.exists() else []
