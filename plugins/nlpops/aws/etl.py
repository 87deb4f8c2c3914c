"""The Spark ETL on AWS: the same ``etl/jobs`` script on Glue (default) or EMR Serverless.

The job script is the one the local target runs (``etl/jobs/prepare_text.py``); the
packages it imports (``etl``, ``include``) travel as one zip (``--extra-py-files`` on
Glue, ``spark.submit.pyFiles`` on EMR Serverless). Both are uploaded at run time, not at
parse time, under ``<artifacts>/glue/<digest>/`` where the digest is the content hash of
script and zip: an upload happens once per code version, and a running job never sees its
code change under it.

Glue: one job definition per (profile, code and configuration version), named
``nlpops-<profile>-prepare-text-…-<digest>`` (≤ 63 characters): a new code version
creates a new definition and nothing is ever updated in place (no ``glue:UpdateJob``
needed, old definitions keep their history). Runs are made idempotent by
:class:`~nlpops.aws.idempotent.IdempotentGlueJobOperator` (``--nlpops_run_name``).

EMR Serverless: ``EmrServerlessStartJobOperator`` with the deterministic job name of
(DAG, task, run key) as both ``name`` and ``clientToken``: EMR Serverless answers a
repeated ``StartJobRun`` with the same token with the run it already started, so a
retry re-attaches instead of paying twice (within the service's idempotency window).
The job uses Spark 4.1's ``arrow_udf`` and Python >= 3.11: before it starts anything the operator
reads the application and refuses one that cannot run the script (:func:`emr_application_problem`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator
from airflow.providers.common.compat.sdk import AirflowException

from include.naming import job_name as make_job_name
from include.runtimes import glue_modules_argument
from include.settings import PROJECT_ROOT, Settings, SettingsError
from nlpops.aws.idempotent import JOB_NAME_PREFIX, IdempotentGlueJobOperator, remote_job_name
from nlpops.dagkit import context_run_key

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.profiles import Profile

#: Packages a job script may import; shipped as one zip beside the script. ``ml`` carries
#: ``ml.textnorm``, the one definition of the text and row-id rules the ETL shares with scoring.
CODE_PACKAGES = ("etl", "include", "ml")
#: Files of those packages that are code or data the job reads (no caches, no tests).
CODE_SUFFIXES = (".py", ".yaml", ".json", ".sql")
#: A fixed timestamp so the zip (and its digest) depends on content only.
_ZIP_DATE = (2026, 1, 1, 0, 0, 0)
XCOM_JOB_NAME = "nlpops_glue_job_name"
#: EMR releases up to 7.x run Spark <= 3.5 and Python 3.9 (EMR release guide): the ETL needs Spark 4.1's
#: ``arrow_udf``, so such an application fails at import. Later releases are allowed (not contract-tested).
MIN_EMR_RELEASE_MAJOR = 8
_EMR_RELEASE = re.compile(r"^emr-(\d+)\.(\d+)")


def emr_application_problem(application: dict[str, Any]) -> str | None:
    """Why an EMR Serverless application (``GetApplication``'s ``application``) cannot run the ETL, or None."""
    app_id, label = application.get("applicationId", "?"), str(application.get("releaseLabel", ""))
    if str(application.get("type", "")).upper() != "SPARK":
        return f"EMR Serverless application {app_id} is of type {application.get('type')!r}, not SPARK"
    found = _EMR_RELEASE.match(label)
    if not found:
        return f"EMR Serverless application {app_id} has release label {label!r}, not emr-<major>.<minor>"
    if int(found.group(1)) < MIN_EMR_RELEASE_MAJOR:
        return (
            f"EMR Serverless application {app_id} runs {label} (Spark 3.5 or older): the ETL needs Spark >= 4.1 "
            f"(arrow_udf). Create an application with a release >= emr-{MIN_EMR_RELEASE_MAJOR}.0 and set "
            "NLPOPS_EMR_APPLICATION_ID, or use NLPOPS_SPARK_BACKEND=glue (Glue 6.0, contract-tested)"
        )
    return None


@dataclass(frozen=True)
class CodeArtifacts:
    """Where one version of a job's code lives in S3."""

    script_uri: str
    py_files_uri: str
    digest: str


def code_zip(packages: Sequence[str] = CODE_PACKAGES, root: Path = PROJECT_ROOT) -> bytes:
    """A deterministic zip of ``packages`` (sorted entries, fixed timestamps): same code, same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for package in packages:
            base = root / package
            if not (base / "__init__.py").is_file():
                raise FileNotFoundError(f"{base} is not a Python package (no __init__.py): cannot ship it to the job")
            for path in sorted(base.rglob("*")):
                rel = path.relative_to(root)
                if not path.is_file() or path.suffix not in CODE_SUFFIXES or "__pycache__" in rel.parts:
                    continue
                info = zipfile.ZipInfo(rel.as_posix(), date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def script_path(module: str, root: Path = PROJECT_ROOT) -> Path:
    """The file of a job module (``etl.jobs.prepare_text`` → ``etl/jobs/prepare_text.py``)."""
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        raise FileNotFoundError(f"job module {module!r}: {path} does not exist")
    return path


def upload_code(settings: Settings, module: str, packages: Sequence[str] = CODE_PACKAGES) -> CodeArtifacts:
    """Upload the job script and its packages' zip under ``<artifacts>/glue/<digest>/`` unless already there."""
    from include import lake

    script = script_path(module).read_bytes()
    bundle = code_zip(packages)
    digest = hashlib.sha256(script + b"\0" + bundle).hexdigest()[:16]
    script_uri = settings.artifacts("glue", digest, script_path(module).name)
    py_files_uri = settings.artifacts("glue", digest, "nlpops_code.zip")
    # Zip first, script last: a script present means its bundle is present.
    for uri, data in ((py_files_uri, bundle), (script_uri, script)):
        if not lake.exists(uri):
            lake.write_bytes(uri, data)
    return CodeArtifacts(script_uri, py_files_uri, digest)


class GlueEtlJobOperator(IdempotentGlueJobOperator):
    """Run an ``etl/jobs`` script on Glue: upload its code, define the job for that version, run it once per DAG run.

    ``job_name`` is the stem of the job definition's name; the version digest (code and
    ``create_job_kwargs``) is appended at run time. A failed run fails the task with the
    run's ``ErrorMessage``.

    :param job_module: the job script's module, e.g. ``etl.jobs.prepare_text``.
    :param code_packages: packages shipped as ``--extra-py-files``.
    """

    template_fields: Sequence[str] = (*IdempotentGlueJobOperator.template_fields,)
    # The provider sets these in __init__ without annotations; declared for the type checker.
    job_name: str
    script_args: dict[str, Any]
    create_job_kwargs: dict[str, Any] | None

    def __init__(
        self,
        *,
        job_module: str,
        settings: Settings,
        code_packages: Sequence[str] = CODE_PACKAGES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_module = job_module
        self.code_packages = tuple(code_packages)
        self.settings = settings
        # A copy outside the templated fields: DAGs that render templates as native objects
        # would turn GlueVersion "5.0" into the float 5.0.
        self.job_config: dict[str, Any] = json.loads(json.dumps(self.create_job_kwargs or {}))

    def execute(self, context: Context) -> str | None:
        code = upload_code(self.settings, self.job_module, self.code_packages)
        # Glue arguments are strings; native template rendering may have made numbers of them.
        self.script_args = {str(k): str(v) for k, v in (self.script_args or {}).items()}
        kwargs = json.loads(json.dumps(self.job_config))
        kwargs["Command"] = {"Name": "glueetl", "PythonVersion": "3", "ScriptLocation": code.script_uri}
        kwargs["DefaultArguments"] = {**kwargs.get("DefaultArguments", {}), "--extra-py-files": code.py_files_uri}
        version = hashlib.sha256(json.dumps(kwargs, sort_keys=True).encode()).hexdigest()[:12]
        self.job_name = make_job_name(self.job_name, "v", version)
        self.create_job_kwargs = kwargs
        self.script_location = self.s3_script_location = code.script_uri
        self.log.info("Glue job %s runs %s with %s", self.job_name, code.script_uri, code.py_files_uri)
        context["ti"].xcom_push(key=XCOM_JOB_NAME, value=self.job_name)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """After the trigger: a failed run fails the task with the run's own ``ErrorMessage``."""
        if event and event.get("status") == "success":
            return str(event["run_id"])
        reason = (event or {}).get("message", "the trigger sent no event")
        run_id = (event or {}).get("run_id")
        job = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_JOB_NAME)
        if run_id and job:
            try:
                run = self.hook.conn.get_job_run(JobName=job, RunId=run_id)["JobRun"]
                reason = f"{run.get('JobRunState')}: {run.get('ErrorMessage') or reason}"
            except Exception as exc:  # the reason is a courtesy: keep the trigger's message
                self.log.warning("Could not read Glue run %s of %s: %s", run_id, job, exc)
        raise AirflowException(f"Glue job {job} run {run_id} did not succeed: {reason}")


class EmrServerlessEtlOperator(EmrServerlessStartJobOperator):
    """Run an ``etl/jobs`` script on EMR Serverless with its code uploaded like Glue's.

    ``name`` and ``clientToken`` are the deterministic job name of (DAG, task, run key);
    ``script_args`` become ``entryPointArguments`` (``--k v`` pairs, ``--JOB_NAME`` first).
    """

    template_fields: Sequence[str] = (*EmrServerlessStartJobOperator.template_fields, "script_args")

    def __init__(
        self,
        *,
        job_module: str,
        settings: Settings,
        script_args: dict[str, Any],
        spark_parameters: str = "",
        code_packages: Sequence[str] = CODE_PACKAGES,
        **kwargs: Any,
    ) -> None:
        super().__init__(job_driver={}, **kwargs)
        self.job_module = job_module
        self.settings = settings
        self.script_args = script_args
        self.spark_parameters = spark_parameters
        self.code_packages = tuple(code_packages)

    def execute(self, context: Context, event: dict[str, Any] | None = None) -> str | None:
        if event is None:  # first call (``execute`` is also the resume method after the app starts)
            application = self.hook.conn.get_application(applicationId=self.application_id)["application"]
            problem = emr_application_problem(application)
            if problem:
                raise AirflowException(problem)  # before any upload or job: nothing is paid for
            code = upload_code(self.settings, self.job_module, self.code_packages)
            name = remote_job_name(self.dag_id, self.task_id, context_run_key(context))
            args = ["--JOB_NAME", name]
            for key, value in self.script_args.items():
                args += [f"--{key}", str(value)]
            self.name = name
            self.client_request_token = name
            self.job_driver = {
                "sparkSubmit": {
                    "entryPoint": code.script_uri,
                    "entryPointArguments": args,
                    "sparkSubmitParameters": " ".join(
                        p for p in (f"--conf spark.submit.pyFiles={code.py_files_uri}", self.spark_parameters) if p
                    ),
                }
            }
        return super().execute(context, event)


def glue_etl_operator(
    *,
    task_id: str,
    profile: Profile,
    settings: Settings,
    job_module: str,
    script_args: dict[str, Any],
    **kwargs: Any,
) -> GlueEtlJobOperator:
    """The Glue job of ``job_module`` for ``profile``: workers from ``profile.aws``, role/KMS/logs from settings."""
    if not settings.glue_role_arn:
        raise SettingsError(
            "NLPOPS_SPARK_BACKEND=glue needs NLPOPS_GLUE_ROLE_ARN (the stack output GlueJobRoleArn) to run the ETL"
        )
    spec = profile.aws
    create_job_kwargs: dict[str, Any] = {
        "GlueVersion": spec.glue_version,
        "WorkerType": spec.glue_worker_type,
        "NumberOfWorkers": spec.glue_workers,
        "Timeout": spec.glue_timeout_minutes,
        "DefaultArguments": {
            "--job-language": "python",
            "--TempDir": settings.artifacts("glue-temp") + "/",
            "--enable-continuous-cloudwatch-log": "true",
            "--enable-metrics": "true",
            # exact pins only: Glue splits the value on commas (include/runtimes.py)
            **(
                {"--additional-python-modules": glue_modules_argument(spec.glue_python_modules)}
                if spec.glue_python_modules
                else {}
            ),
        },
        "Tags": {"project": "nlpops", "profile": profile.name},
    }
    if settings.glue_security_configuration:
        create_job_kwargs["SecurityConfiguration"] = settings.glue_security_configuration
    return GlueEtlJobOperator(
        task_id=task_id,
        job_module=job_module,
        settings=settings,
        job_name=f"{JOB_NAME_PREFIX}-{profile.name}-{job_module.rsplit('.', 1)[-1]}",
        job_desc=f"nlpops {job_module} for profile {profile.name}",
        script_args={f"--{k}": v for k, v in script_args.items()},
        iam_role_arn=settings.glue_role_arn,
        create_job_kwargs=create_job_kwargs,
        concurrent_run_limit=2,
        aws_conn_id=settings.aws_conn_id,
        region_name=settings.aws_region,
        deferrable=kwargs.pop("deferrable", True),
        verbose=kwargs.pop("verbose", True),
        waiter_delay=kwargs.pop("waiter_delay", settings.aws_poll_seconds),
        waiter_max_attempts=kwargs.pop(
            "waiter_max_attempts", max(1, spec.glue_timeout_minutes * 60 // settings.aws_poll_seconds + 5)
        ),
        **kwargs,
    )


def emr_serverless_etl_operator(
    *,
    task_id: str,
    profile: Profile,
    settings: Settings,
    job_module: str,
    script_args: dict[str, Any],
    **kwargs: Any,
) -> EmrServerlessEtlOperator:
    """The same job on EMR Serverless (application and role from settings, logs encrypted with the lake key)."""
    missing = [
        var
        for var, value in (
            ("NLPOPS_EMR_APPLICATION_ID", settings.emr_application_id),
            ("NLPOPS_EMR_ROLE_ARN", settings.emr_role_arn),
        )
        if not value
    ]
    if missing:
        raise SettingsError(f"NLPOPS_SPARK_BACKEND=emr-serverless needs {' and '.join(missing)}")
    monitoring: dict[str, Any] = {"logUri": settings.artifacts("emr-logs") + "/"}
    if settings.kms_key_arn:
        monitoring["encryptionKeyArn"] = settings.kms_key_arn
    return EmrServerlessEtlOperator(
        task_id=task_id,
        job_module=job_module,
        settings=settings,
        script_args=script_args,
        application_id=settings.emr_application_id,
        execution_role_arn=settings.emr_role_arn,
        configuration_overrides={"monitoringConfiguration": {"s3MonitoringConfiguration": monitoring}},
        aws_conn_id=settings.aws_conn_id,
        region_name=settings.aws_region,
        deferrable=kwargs.pop("deferrable", True),
        waiter_delay=kwargs.pop("waiter_delay", settings.aws_poll_seconds),
        **kwargs,
    )


__all__ = [
    "CODE_PACKAGES",
    "CodeArtifacts",
    "EmrServerlessEtlOperator",
    "GlueEtlJobOperator",
    "code_zip",
    "emr_serverless_etl_operator",
    "glue_etl_operator",
    "script_path",
    "upload_code",
]
