"""No duplicate paid jobs: provider operators that find the job a previous try started.

The Amazon provider's ``action_if_job_exists`` knows only "timestamp" (start a second,
paid job under a new name) and "fail". Our operators give every remote job a
deterministic name (:func:`remote_job_name`: ``nlpops-`` + :func:`include.naming.job_name`
of DAG, task and run key, never the try number) and, before creating anything, look that name up:

* running (SageMaker ``InProgress``/``Stopping``, Glue ``STARTING``/``RUNNING``/…)
  → re-attach: wait for that job, create nothing;
* completed (``Completed`` / ``SUCCEEDED``) → reuse: return its description;
* failed or stopped → try the next name, ``<name>-a1``, ``-a2`` …, the first one that is
  free is created (a failed job is never reported as success, and never retried in place);
* not found → create it under that name.

Glue job runs have ids, not names, so the name travels as the run argument
``--nlpops_run_name`` and is found again with ``get_job_runs``.

The decision itself (:func:`decide_job`) is a pure function over a lookup callable, so it
is tested without AWS; the operator subclasses override only ``execute``/``submit_job``,
``on_kill`` and the final status check, and keep the provider's deferrable mode.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerTrainingOperator,
    SageMakerTransformOperator,
    serialize,
)
from airflow.providers.amazon.aws.triggers.glue import GlueJobCompleteTrigger
from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
from airflow.providers.common.compat.sdk import AirflowException
from botocore.exceptions import ClientError

from include.naming import job_name
from nlpops.dagkit import context_run_key
from nlpops.links.aws import SageMakerTrainingJobConsoleLink, SageMakerTransformJobConsoleLink
from nlpops.links.reports import TRAINING_LINKS, InputDataDocsLink, ModelOpsLink

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Lookup results, whatever the service calls them.
NOT_FOUND = "not_found"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"

#: Every remote job name starts with this, so IAM policies can scope to ``…:training-job/nlpops-*``.
JOB_NAME_PREFIX = "nlpops"
#: How many failed jobs of one (dag, task, run) we step over before giving up.
DEFAULT_MAX_JOB_ATTEMPTS = 20

SAGEMAKER_STATES = {
    "InProgress": RUNNING,
    "Stopping": RUNNING,  # wait for it to end; it ends Stopped, which fails the task
    "Completed": SUCCEEDED,
    "Failed": FAILED,
    "Stopped": FAILED,
}
GLUE_STATES = {
    "STARTING": RUNNING,
    "RUNNING": RUNNING,
    "STOPPING": RUNNING,
    "WAITING": RUNNING,
    "SUCCEEDED": SUCCEEDED,
    "FAILED": FAILED,
    "STOPPED": FAILED,
    "TIMEOUT": FAILED,
    "ERROR": FAILED,
    "EXPIRED": FAILED,
}

Lookup = Callable[[str], tuple[str, "dict[str, Any] | None"]]


class JobAttemptsExhaustedError(AirflowException):
    """Every name from ``<name>`` to ``<name>-a<max>`` belongs to a failed job."""


@dataclass(frozen=True)
class JobDecision:
    """What to do for one task try: ``create``, ``attach`` (wait for a running job) or ``reuse``."""

    action: str
    name: str
    attempt: int
    description: dict[str, Any] | None = None


def remote_job_name(dag_id: str, task_id: str, run: str, *, attempt: int | None = None) -> str:
    """The name of the remote job of (dag, task, run): :func:`include.naming.job_name` with our prefix."""
    return job_name(f"{JOB_NAME_PREFIX}-{dag_id}", task_id, run, attempt=attempt)


def decide_job(
    dag_id: str,
    task_id: str,
    run: str,
    lookup: Lookup,
    *,
    max_attempts: int = DEFAULT_MAX_JOB_ATTEMPTS,
    log: Callable[..., Any] | None = None,
    namer: Callable[..., str] = remote_job_name,
) -> JobDecision:
    """Find the job of (dag, task, run) to attach to or reuse, or the first free name to create.

    ``lookup(name)`` returns ``(state, description)`` with state one of :data:`NOT_FOUND`,
    :data:`RUNNING`, :data:`SUCCEEDED`, :data:`FAILED`. Attempt 0 is the plain name, attempt
    ``n`` the name with ``-a<n>`` (see :func:`remote_job_name`; ``namer`` replaces it, e.g. for
    tuning jobs, whose names are at most 32 characters).
    """
    failed: list[str] = []
    for attempt in range(max_attempts + 1):
        name = namer(dag_id, task_id, run, attempt=attempt or None)
        state, description = lookup(name)
        if state == NOT_FOUND:
            return JobDecision("create", name, attempt)
        if state == RUNNING:
            return JobDecision("attach", name, attempt, description)
        if state == SUCCEEDED:
            return JobDecision("reuse", name, attempt, description)
        if state != FAILED:
            raise ValueError(f"lookup({name!r}) returned unknown state {state!r}")
        failed.append(name)
        if log is not None:
            log("Job %s ended failed or stopped; a new job needs a new name", name)
    raise JobAttemptsExhaustedError(
        f"jobs {failed[0]} … {failed[-1]} ({len(failed)} of them) all failed for dag {dag_id!r}, "
        f"task {task_id!r}, run {run!r}: read their failure reasons in the AWS console, fix the cause, "
        f"then clear the task (or raise max_job_attempts, now {max_attempts})"
    )


def _is_not_found(err: ClientError) -> bool:
    # SageMaker answers a describe of an unknown job with ValidationException
    # ("Requested resource not found" / "Could not find …"); any other validation error is real.
    error = err.response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") == "ValidationException" and ("not found" in message or "could not find" in message)


def sagemaker_lookup(describe: Callable[[str], dict[str, Any]], status_key: str) -> Lookup:
    """A :data:`Lookup` over a SageMaker ``describe_*_job`` function."""

    def lookup(name: str) -> tuple[str, dict[str, Any] | None]:
        try:
            description = describe(name)
        except ClientError as err:
            if _is_not_found(err):
                return NOT_FOUND, None
            raise
        status = description[status_key]
        if status not in SAGEMAKER_STATES:
            raise AirflowException(f"SageMaker job {name} has unknown {status_key} {status!r}")
        return SAGEMAKER_STATES[status], description

    return lookup


def defer_to_sagemaker(op: Any, name: str, job_type: str, *, timeout: datetime.timedelta | None) -> None:
    """Defer ``op`` (a provider SageMaker operator) to the provider's trigger on job ``name``; resumes in
    ``execute_complete``. One definition for every job kind the project waits on after a retry."""
    extra = {"waiter_max_attempts": op.max_attempts} if getattr(op, "max_attempts", None) else {}
    op.defer(
        timeout=timeout,
        trigger=SageMakerTrigger(
            job_name=name,
            job_type=job_type,
            waiter_delay=op.check_interval,
            aws_conn_id=op.aws_conn_id,
            region_name=op.region_name,
            verify=op.verify,
            botocore_config=op.botocore_config,
            **extra,
        ),
        method_name="execute_complete",
    )


def _raise_if_failed(kind: str, name: str, description: dict[str, Any], status_key: str) -> None:
    status = description.get(status_key)
    if SAGEMAKER_STATES.get(str(status)) == FAILED:
        reason = description.get("FailureReason", "(no reason given)")
        raise AirflowException(
            f"SageMaker {kind} job {name} ended {status}: {reason}. Clear the task to start {name}-a<n>."
        )


class SageMakerJobReattachMixin:
    """What the idempotent SageMaker operators share: the name decision, re-attach, the stop on kill.

    The operator class sets :attr:`job_kind` (``training``/``transform``: log and error
    wording), :attr:`job_type` (the provider trigger's ``Training``/``Transform``) and
    :attr:`status_key`, and implements :meth:`describe_job` and :meth:`stop_job`. Its
    ``execute`` calls :meth:`decide` first, puts the decided name into its request, and hands
    :meth:`reuse_or_attach`'s result back when there is one, else creates the job.
    """

    job_kind: str
    job_type: str
    status_key: str
    remote_job_name: str | None = None

    def describe_job(self, name: str) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop_job(self, name: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def decide(self, context: Context) -> JobDecision:
        """The job of this (DAG, task, run): reuse, attach to, or create under the first free name."""
        op: Any = self  # a provider SageMaker operator (the other base of the concrete class)
        return decide_job(
            op.dag_id,
            op.task_id,
            op.run_key or context_run_key(context),
            sagemaker_lookup(self.describe_job, self.status_key),
            max_attempts=op.max_job_attempts,
            log=op.log.info,
        )

    def reuse_or_attach(self, decision: JobDecision) -> dict[str, Any] | None:
        """The result of a completed job (reuse) or of the running one (attach); ``None``: create it."""
        op: Any = self
        kind = self.job_kind.capitalize()
        if decision.action == "reuse":
            op.log.info("%s job %s already completed: reusing it, nothing is started", kind, decision.name)
            return dict(op.serialize_result(decision.name))
        self.remote_job_name = decision.name
        if decision.action == "attach":
            op.log.info("%s job %s is running (started by an earlier try): waiting for it", kind, decision.name)
            return self._wait_for_existing(decision.name)
        return None

    def _wait_for_existing(self, name: str) -> dict[str, Any]:
        op: Any = self
        if op.wait_for_completion and op.deferrable:
            timeout = datetime.timedelta(seconds=op.max_ingestion_time) if op.max_ingestion_time else None
            defer_to_sagemaker(op, name, self.job_type, timeout=timeout or op.execution_timeout)
        if op.wait_for_completion:
            op.hook.check_status(name, self.status_key, self.describe_job, op.check_interval, op.max_ingestion_time)
        return dict(op.serialize_result(name))

    def on_kill(self) -> None:
        """Stop the job this try started or attached to (it bills while it runs)."""
        if not self.remote_job_name:
            return
        op: Any = self
        op.log.info("Stopping SageMaker %s job %s", self.job_kind, self.remote_job_name)
        try:
            self.stop_job(self.remote_job_name)
        except ClientError as err:  # already finished: nothing to stop
            op.log.warning("Could not stop %s job %s: %s", self.job_kind, self.remote_job_name, err)


class IdempotentSageMakerTrainingOperator(SageMakerJobReattachMixin, SageMakerTrainingOperator):
    """``SageMakerTrainingOperator`` that never starts a second paid job for the same run.

    ``config`` is the ``create_training_job`` request; its ``TrainingJobName`` is replaced
    by the deterministic name of (DAG, task, run key). ``run_key`` defaults to the DAG
    run's (:func:`nlpops.dagkit.context_run_key`). Every other argument is the provider's
    (``deferrable``, ``wait_for_completion``, ``check_interval``, ``max_ingestion_time`` …),
    except ``check_if_job_exists``/``action_if_job_exists``, which this class replaces.
    """

    job_kind = "training"
    job_type = "Training"
    status_key = "TrainingJobStatus"
    template_fields: Sequence[str] = (*SageMakerTrainingOperator.template_fields, "run_key")
    # Console link from the job name in the result (every path: create, attach, reuse); the report
    # links work once the task pushes nlpops.links.reports.link_targets(kind="training").
    operator_extra_links = (SageMakerTrainingJobConsoleLink(), *TRAINING_LINKS)

    def __init__(
        self,
        *,
        config: dict[str, Any],
        run_key: str | None = None,
        max_job_attempts: int = DEFAULT_MAX_JOB_ATTEMPTS,
        **kwargs: Any,
    ) -> None:
        super().__init__(config=config, check_if_job_exists=False, **kwargs)
        self.run_key = run_key
        self.max_job_attempts = max_job_attempts
        self.remote_job_name: str | None = None

    def describe_job(self, name: str) -> dict[str, Any]:
        return dict(self.hook.describe_training_job(name))

    def stop_job(self, name: str) -> None:
        self.hook.conn.stop_training_job(TrainingJobName=name)

    def execute(self, context: Context) -> dict[str, Any]:
        decision = self.decide(context)
        self.config["TrainingJobName"] = decision.name
        found = self.reuse_or_attach(decision)
        return found if found is not None else super().execute(context)

    def serialize_result(self, job_name: str) -> dict[str, dict]:
        """The provider's result, refusing a failed or stopped job (never a success)."""
        description = self.hook.describe_training_job(job_name)
        _raise_if_failed("training", job_name, description, "TrainingJobStatus")
        self.serialized_training_data = serialize(description)
        return {"Training": self.serialized_training_data}


class IdempotentSageMakerTransformOperator(SageMakerJobReattachMixin, SageMakerTransformOperator):
    """``SageMakerTransformOperator`` that never starts a second batch transform for the same run.

    ``config`` is either the ``create_transform_job`` request or ``{"Model": …, "Transform": …}``;
    the transform job name is replaced by the deterministic one. A model that already exists
    under the configured ``ModelName`` is used as it is (a retry does not add a copy).
    """

    job_kind = "transform"
    job_type = "Transform"
    status_key = "TransformJobStatus"
    template_fields: Sequence[str] = (*SageMakerTransformOperator.template_fields, "run_key")
    # Replaces the provider's link, which is persisted only when a new job is started.
    operator_extra_links = (  # type: ignore[assignment]  # the provider types it as its one link
        SageMakerTransformJobConsoleLink(),
        InputDataDocsLink(),
        ModelOpsLink(),
    )

    def __init__(
        self,
        *,
        config: dict[str, Any],
        run_key: str | None = None,
        max_job_attempts: int = DEFAULT_MAX_JOB_ATTEMPTS,
        **kwargs: Any,
    ) -> None:
        super().__init__(config=config, check_if_job_exists=False, check_if_model_exists=False, **kwargs)
        self.run_key = run_key
        self.max_job_attempts = max_job_attempts
        self.remote_job_name: str | None = None

    def describe_job(self, name: str) -> dict[str, Any]:
        return dict(self.hook.describe_transform_job(name))

    def stop_job(self, name: str) -> None:
        self.hook.conn.stop_transform_job(TransformJobName=name)

    def execute(self, context: Context) -> dict[str, Any]:
        decision = self.decide(context)
        transform = self.config.get("Transform", self.config)
        transform["TransformJobName"] = decision.name
        found = self.reuse_or_attach(decision)
        if found is not None:
            return found
        if "Model" in self.config and self._model_exists(self.config["Model"]["ModelName"]):
            # Models cost nothing but a retry must not pile up copies: use the one there is.
            self.log.info("Model %s exists: transform job %s uses it", self.config["Model"]["ModelName"], decision.name)
            transform.setdefault("ModelName", self.config["Model"]["ModelName"])
            self.config = transform
        return super().execute(context)

    def _model_exists(self, name: str) -> bool:
        try:
            self.hook.describe_model(name)
        except ClientError as err:
            if _is_not_found(err):
                return False
            raise
        return True

    def serialize_result(self, job_name: str) -> dict[str, dict]:
        """The provider's result, refusing a failed or stopped job.

        The provider's wait treats ``Stopped`` as finished; here it fails the task.
        """
        description = self.hook.describe_transform_job(job_name)
        _raise_if_failed("transform", job_name, description, "TransformJobStatus")
        self.serialized_model = serialize(self.hook.describe_model(description["ModelName"]))
        self.serialized_transform = serialize(description)
        return {"Model": self.serialized_model, "Transform": self.serialized_transform}


class IdempotentGlueJobOperator(GlueJobOperator):
    """``GlueJobOperator`` that never starts a second run of the job for the same DAG run.

    Each run carries its deterministic name in the run argument ``--nlpops_run_name``;
    before starting, the recent runs of ``job_name`` are scanned for it (``get_job_runs``,
    newest first, ``run_scan_pages`` pages of 200). ``on_kill`` stops the run
    (``batch_stop_job_run``) unless it was reused finished. ``durable`` defaults to False:
    the name lookup already re-attaches retries, on every Airflow version.
    """

    RUN_NAME_ARG = "--nlpops_run_name"
    template_fields: Sequence[str] = (*GlueJobOperator.template_fields, "run_key")

    def __init__(
        self,
        *,
        run_key: str | None = None,
        max_job_attempts: int = DEFAULT_MAX_JOB_ATTEMPTS,
        run_scan_pages: int = 5,
        stop_job_run_on_kill: bool = True,
        durable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(stop_job_run_on_kill=stop_job_run_on_kill, durable=durable, **kwargs)
        self.run_key = run_key
        self.max_job_attempts = max_job_attempts
        self.run_scan_pages = run_scan_pages
        self.run_name: str | None = None
        self.reused = False

    def _lookup_run(self, name: str) -> tuple[str, dict[str, Any] | None]:
        token: str | None = None
        for _ in range(self.run_scan_pages):
            request: dict[str, Any] = {"JobName": self.job_name, "MaxResults": 200}
            if token:
                request["NextToken"] = token
            try:
                response = self.hook.conn.get_job_runs(**request)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                    return NOT_FOUND, None  # the job itself is created on first start
                raise
            for run in response.get("JobRuns", []):  # newest first
                if (run.get("Arguments") or {}).get(self.RUN_NAME_ARG) == name:
                    state = GLUE_STATES.get(run.get("JobRunState", ""))
                    if state is None:
                        raise AirflowException(f"Glue run {run.get('Id')} of {self.job_name} has unknown state")
                    return state, run
            token = response.get("NextToken")
            if not token:
                break
        return NOT_FOUND, None

    def submit_job(self, context: Context) -> str:
        """Re-attach to or reuse this run's Glue job run, else start one tagged with its name."""
        decision = decide_job(
            self.dag_id,
            self.task_id,
            self.run_key or context_run_key(context),
            self._lookup_run,
            max_attempts=self.max_job_attempts,
            log=self.log.info,
        )
        self.run_name = decision.name
        if decision.action != "create":
            assert decision.description is not None  # lookup returns the run for attach/reuse
            run_id = str(decision.description["Id"])
            self.reused = decision.action == "reuse"
            self.log.info(
                "Glue run %s (%s) of %s: %s, nothing is started",
                decision.name,
                run_id,
                self.job_name,
                "reusing its result" if self.reused else "re-attaching",
            )
            self._set_job_run_id(context, run_id)
            return run_id
        self.script_args = {**(self.script_args or {}), self.RUN_NAME_ARG: decision.name}
        return super().submit_job(context)

    def execute(self, context: Context) -> str | None:
        if self.deferrable:
            run_id = self.submit_job(context)
            if self.reused:
                return run_id
            self.defer(
                trigger=GlueJobCompleteTrigger(
                    job_name=self.job_name,
                    run_id=run_id,
                    verbose=self.verbose,
                    aws_conn_id=self.aws_conn_id,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
            )
        return super().execute(context)

    def on_kill(self) -> None:
        """Stop the Glue run this try started or attached to (not one reused finished)."""
        if self.reused:
            return
        super().on_kill()


__all__ = [
    "DEFAULT_MAX_JOB_ATTEMPTS",
    "FAILED",
    "JOB_NAME_PREFIX",
    "NOT_FOUND",
    "RUNNING",
    "SUCCEEDED",
    "IdempotentGlueJobOperator",
    "IdempotentSageMakerTrainingOperator",
    "IdempotentSageMakerTransformOperator",
    "JobAttemptsExhaustedError",
    "JobDecision",
    "decide_job",
    "remote_job_name",
    "sagemaker_lookup",
]
