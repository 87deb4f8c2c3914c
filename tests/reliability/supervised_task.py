"""Run one task of a DAG file through Airflow's real task supervisor, without an API server.

``python supervised_task.py <dag file> <dag id> <task id> <log file>`` (the DAG file is relative
to ``AIRFLOW__CORE__DAGS_FOLDER``, the ``dags-folder`` bundle)

``airflow.sdk.execution_time.supervisor.supervise_task`` forks the real task runner, which
parses the DAG file and runs the task; the supervisor receives the task's log lines and
stdout and writes the task log file, as on a worker. The Execution API is replaced by an
in-memory transport (it only has to hand out the run context and accept state updates).
The exit code is the task's.
"""

from __future__ import annotations

import sys
import uuid


def _api(request):  # type: ignore[no-untyped-def]
    import httpx

    path = request.url.path
    if path.startswith("/task-instances/") and path.endswith("/run"):
        when = "2026-02-01T00:00:00Z"
        dag_run = {
            "dag_id": sys.argv[2],
            "run_id": "manual__reliability",
            "logical_date": when,
            "data_interval_start": when,
            "data_interval_end": when,
            "run_after": when,
            "start_date": when,
            "end_date": None,
            "run_type": "manual",
            "state": "running",
            "consumed_asset_events": [],
            "partition_key": None,
        }
        return httpx.Response(200, json={"dag_run": dag_run, "max_tries": 0, "should_retry": False})
    if "/connections/" in path or "/variables/" in path:
        return httpx.Response(404, json={"detail": {"reason": "not_found", "message": "not found"}})
    return httpx.Response(200, json={})


def main() -> int:
    import httpx
    from airflow.sdk.api.client import Client
    from airflow.sdk.api.datamodels._generated import BundleInfo, TaskInstance
    from airflow.sdk.execution_time.supervisor import supervise_task

    _, dag_file, dag_id, task_id, log_path = sys.argv
    ti = TaskInstance(
        id=uuid.uuid4(), task_id=task_id, dag_id=dag_id, run_id="manual__reliability", try_number=1,
        dag_version_id=uuid.uuid4(),
    )  # fmt: skip
    client = Client(base_url=None, dry_run=True, token="", transport=httpx.MockTransport(_api))
    return supervise_task(
        ti=ti, bundle_info=BundleInfo(name="dags-folder"), dag_rel_path=dag_file, token="", client=client,
        log_path=log_path,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
