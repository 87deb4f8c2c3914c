"""Run the Glue-compatible PySpark job locally (``local[*]``), as Glue would run it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from include.naming import job_name as make_job_name
from nlpops.dagkit import context_run_key

if TYPE_CHECKING:
    from airflow.sdk import Context

    from nlpops.jobs.local import LocalJob


class LocalSparkJobOperator(BaseOperator):
    """Run ``python -m <job_module> --JOB_NAME <name> --k v …`` in a child process.

    The job name is deterministic (DAG, task, run key — not the try number), so a retry
    re-runs the same job, which replaces its own output. ``on_kill`` stops the process
    group, JVM included. The script arguments are the Glue job's ``--arguments``.

    :param job_module: importable module with the job's ``__main__`` (e.g. ``etl.jobs.prepare_text``)
    :param script_args: named arguments without the leading ``--`` (templated)
    :param spark_master: Spark master URL for the local run
    """

    template_fields: Sequence[str] = ("script_args",)
    template_fields_renderers = {"script_args": "json"}
    ui_color = "#f4a261"

    def __init__(
        self,
        *,
        job_module: str,
        script_args: dict[str, Any],
        spark_master: str = "local[*]",
        job_timeout: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_module = job_module
        self.script_args = script_args
        self.spark_master = spark_master
        self.job_timeout = job_timeout
        self._job: LocalJob | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        import os

        from nlpops.jobs.local import LocalJob

        name = make_job_name(self.dag_id, self.task_id, context_run_key(context))
        cmd = [sys.executable, "-m", self.job_module, "--JOB_NAME", name]
        for key, value in self.script_args.items():
            cmd += [f"--{key}", str(value)]
        env = dict(os.environ, NLPOPS_SPARK_MASTER=self.spark_master, PYSPARK_PYTHON=sys.executable)
        timeout = (self.job_timeout or self.execution_timeout or timedelta(hours=1)).total_seconds()
        self._job = LocalJob(name=name, cmd=cmd, env=env, timeout_seconds=timeout, logger=self.log)
        self._job.run()
        self._ran = name
        return {"job_name": name, "script_args": self.script_args}

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs: the raw files the validated run came from, and that run; output: the processed run."""
        from nlpops.lineage import lake_dataset, operator_lineage, raw_files_of_validated

        validated = [u for u in str(self.script_args.get("input_uris") or "").split(",") if u]
        raw = [uri for v in validated for uri in raw_files_of_validated(v)]
        output = str(self.script_args.get("output_uri") or "")
        return operator_lineage(
            [lake_dataset(u) for u in [*raw, *validated]],
            [lake_dataset(output)] if output else [],
            job_name=getattr(self, "_ran", None),
            kind="etl",
        )

    def on_kill(self) -> None:
        if self._job is not None:
            self._job.kill()
