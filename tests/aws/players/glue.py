"""Glue player: a ``StartJobRun`` runs the job's own script from S3, locally, on the job's S3 data.

What the real service does, done here: take the script at ``Command.ScriptLocation`` and
the ``--extra-py-files`` zips from S3, run the script with the run's arguments (job
defaults merged with run arguments) as ``python script.py --JOB_NAME <job> --k v …``
with the zips first on ``PYTHONPATH`` (so the uploaded bundle is what runs, not the work
tree), on local copies of the S3 inputs; the S3 prefixes the job changed are uploaded
back (manifest last) and its output is written to CloudWatch Logs
(``/aws-glue/jobs/output``, stream = run id). ``BatchStopJobRun`` (not in moto) stops a
run: ``STOPPING`` then ``STOPPED``. A failed run carries ``ErrorMessage`` (the job's
ERROR line), which the provider's trigger puts in its failure event.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from players.base import (
    FAILED,
    RUNNING,
    STOPPED,
    SUCCEEDED,
    JobFailed,
    PlayedJob,
    S3Mirror,
    ServicePlayer,
    last_error_line,
    run_local,
)

GLUE_STATES = {RUNNING: "RUNNING", SUCCEEDED: "SUCCEEDED", FAILED: "FAILED", STOPPED: "STOPPED"}
LOG_GROUP = "/aws-glue/jobs"
#: Arguments that are Glue's, not the script's data: never mirrored as inputs.
NOT_DATA = ("--extra-py-files", "--TempDir", "--spark-event-logs-path", "--additional-python-modules")


class GluePlayer(ServicePlayer):
    """Plays AWS Glue job runs for moto (``start_job_run``, ``get_job_run``, ``batch_stop_job_run``)."""

    name = "glue"

    def install(self) -> None:
        from moto.glue.models import FakeJob, FakeJobRun
        from moto.glue.responses import GlueResponse

        player = self
        original_start = FakeJob.start_job_run
        original_as_dict = FakeJobRun.as_dict

        def start_job_run(job: Any, *args: Any, **kwargs: Any) -> str:
            run_id = original_start(job, *args, **kwargs)
            run = next(r for r in job.job_runs if r.job_run_id == run_id)
            run.nlpops_job = job
            player.start(run_id, run, player._work)
            return run_id

        def as_dict(run: Any) -> dict[str, Any]:
            out = original_as_dict(run)
            out["LogGroupName"] = LOG_GROUP
            job = getattr(run, "nlpops_job", None)
            if job is not None and job.glue_version:
                out["GlueVersion"] = job.glue_version
            if getattr(run, "nlpops_error", ""):
                out["ErrorMessage"] = run.nlpops_error
            if out.get("JobRunState") in {"STARTING", "RUNNING", "STOPPING"}:
                out.pop("CompletedOn", None)
            return out

        def batch_stop_job_run(response: Any) -> str:
            body = json.loads(response.body)
            name = body["JobName"]
            ok: list[dict[str, str]] = []
            errors: list[dict[str, Any]] = []
            for run_id in body.get("JobRunIds", []):
                played = player.jobs.get(run_id)
                try:
                    response.glue_backend.get_job_run(name, run_id)
                except Exception as exc:
                    errors.append(
                        {
                            "JobName": name,
                            "JobRunId": run_id,
                            "ErrorDetail": {"ErrorCode": "EntityNotFoundException", "ErrorMessage": str(exc)},
                        }
                    )
                    continue
                if played is not None and not played.done.is_set():
                    player.set_state(played, "STOPPING")
                    player.stop(played)
                ok.append({"JobName": name, "JobRunId": run_id})
            return json.dumps({"SuccessfulSubmissions": ok, "Errors": errors})

        self.patch(FakeJob, "start_job_run", start_job_run)
        self.patch(FakeJobRun, "as_dict", as_dict)
        self.patch(GlueResponse, "batch_stop_job_run", batch_stop_job_run)

    def set_state(self, job: PlayedJob, state: str, message: str = "") -> None:
        run = job.moto_obj
        run._transitions = []  # moto would otherwise jump to SUCCEEDED on the next read
        run._status = GLUE_STATES.get(state, state)
        run.nlpops_error = message
        run.modified_on = run.completed_on = _utcnow()

    # -- the job's work ------------------------------------------------------------------------

    def _work(self, played: PlayedJob) -> None:
        run = played.moto_obj
        job = run.nlpops_job
        args: dict[str, str] = dict(run.arguments or {})
        s3 = self.client_as(job.role, "s3")  # the job runs as its role
        mirror = S3Mirror(s3, Path(self.harness.tmp_path) / "glue" / run.job_run_id)
        script_uri = job.command["ScriptLocation"]
        if mirror.download(script_uri) != 1:
            raise JobFailed(f"script {script_uri} not found in S3")
        py_files = [u.strip() for u in args.get("--extra-py-files", "").split(",") if u.strip()]
        for uri in py_files:
            if mirror.download(uri) != 1:
                raise JobFailed(f"--extra-py-files: {uri} not found in S3")
        data_uris = sorted(
            {
                u.strip()
                for k, v in args.items()
                if k not in NOT_DATA
                for u in str(v).split(",")
                if u.strip().startswith("s3://")
            }
        )
        for uri in data_uris:
            mirror.download(uri)
        before = {uri: _tree(mirror.local_path(uri)) for uri in data_uris}

        cmd = [
            sys.executable,
            str(mirror.local_path(script_uri)),
            "--JOB_NAME",
            job.name,
            "--JOB_RUN_ID",
            run.job_run_id,
        ]
        for key, value in args.items():
            cmd += [key, value if key in NOT_DATA else mirror.localize(str(value))]
        env = {
            "PYTHONPATH": ":".join(str(mirror.local_path(u)) for u in py_files),
            "NLPOPS_SPARK_MASTER": "local[2]",
            "NLPOPS_SPARK_SHUFFLE_PARTITIONS": "2",
        }
        result = run_local(cmd, env=env, cwd=mirror.root, stop=played.stop)
        played.output = mirror.to_s3_text(result.output)
        played.info.update({"cmd": cmd, "pythonpath": env["PYTHONPATH"], "returncode": result.returncode})
        self._write_logs(job.role, run.job_run_id, played.output, failed=result.returncode != 0)
        if played.stop.is_set():
            return
        if result.returncode != 0:
            raise JobFailed(last_error_line(played.output))
        for uri in data_uris:
            if _tree(mirror.local_path(uri)) != before[uri]:
                played.info.setdefault("uploaded", []).extend(mirror.upload(uri))

    def _write_logs(self, role_arn: str, run_id: str, output: str, *, failed: bool) -> None:
        logs = self.client_as(role_arn, "logs")  # continuous logging writes as the job's role
        lines = [ln for ln in output.splitlines() if ln.strip()][-500:] or ["(no output)"]
        for suffix, chunk in (("output", lines), ("error", lines[-20:] if failed else [])):
            group = f"{LOG_GROUP}/{suffix}"
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            if not chunk:
                continue
            logs.create_log_stream(logGroupName=group, logStreamName=run_id)
            now = int(time.time() * 1000)
            logs.put_log_events(
                logGroupName=group,
                logStreamName=run_id,
                logEvents=[{"timestamp": now, "message": ln} for ln in chunk],
            )


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    if not path.exists():
        return {}
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def _utcnow() -> Any:
    from moto.core.utils import utcnow

    return utcnow()
