"""The one settings object of nlpops, read from the environment and validated.

Pure Python: importable by DAG files at parse time (cheap, no network, no Variables),
by the ``etl`` and ``ml`` packages in local subprocesses, and by tests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("local", "aws")
LAKE_LAYOUTS = ("prefixes", "buckets")
SPARK_BACKENDS = ("glue", "emr-serverless")
ZONES = (
    "raw",
    "validated",
    "quarantine",
    "processed",
    "models",
    "inference-input",
    "inference-output",
    "results",
    "reports",
    "ledger",
)


class SettingsError(ValueError):
    """A setting (environment variable) has a value nlpops cannot use."""


def _env_bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean: use true/false")


def _env_int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be >= {minimum}")
    return value


def _env_float(env: dict[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be >= {minimum}")
    return value


def _memory(env: dict[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or default).strip().lower()
    if not re.fullmatch(r"[1-9]\d*[kmgt]", raw):
        raise SettingsError(f"{name}={raw!r} is not a JVM memory size such as 512m or 2g")
    return raw


def _git_commit(root: Path) -> str:
    """The (short) commit ``HEAD`` of the git checkout at ``root`` points to, or '' outside a checkout."""
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: <path>"
        text = git.read_text(encoding="utf-8").strip()
        git = (root / text.partition("gitdir:")[2].strip()).resolve()
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    if not head.startswith("ref:"):
        return head[:12]
    ref = head[4:].strip()
    ref_file = git / ref
    if ref_file.is_file():
        return ref_file.read_text(encoding="utf-8").strip()[:12]
    packed = git / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha[:12]
    return ""


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a deployment. Build with :func:`get_settings`."""

    target: str = "local"
    airflow_home: Path = PROJECT_ROOT / ".airflow"
    lake_uri: str = ""
    profiles: tuple[str, ...] = ()  # empty = every profile whose YAML says enabled
    profiles_dir: Path = PROJECT_ROOT / "include" / "profiles"
    mlflow_tracking_uri: str = ""
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    #: ``spark.sql.shuffle.partitions`` of the local Spark job (small machines, small batches).
    spark_shuffle_partitions: int = 4
    #: the code version recorded with every model version; empty = the git commit of the checkout,
    #: else the installed package version (see :meth:`resolved_code_version`).
    code_version: str = ""
    #: attach the train DAG's ``DeadlineAlert``; ``airflow dags test`` in Airflow 3.3.2 cannot finish a
    #: DAG run that has one, so test harnesses set ``NLPOPS_DEADLINE_ALERTS=false``.
    deadline_alerts: bool = True
    #: caps every profile's model-selection budget (``model.search_budget_seconds``); 0 trains the
    #: profiles' own configurations without a search (test suites, quick demos); None = no cap.
    search_budget_cap_seconds: int | None = None
    #: port of the `make up` web UI (scripts/stack.py); the stack's other local ports derive from it.
    ui_port: int = 8080
    aws_conn_id: str = "aws_default"
    aws_region: str = "us-east-1"
    owner: str = "nlpops"
    notify_dir: str = ""
    #: SNS topic for notifications (aws target); empty = no SNS.
    sns_topic_arn: str = ""
    #: Airflow connection id of a Slack-compatible incoming webhook; empty = no webhook.
    slack_conn_id: str = ""
    transform_workers: int = 1
    #: "prefixes": one bucket, zones as prefixes; "buckets" (s3 only): bucket ``<bucket>-<zone>`` per zone.
    lake_layout: str = "prefixes"
    # --- aws target (SageMaker, Glue, Athena); the stack's outputs (include/infra/nlpops.yaml) ---
    #: customer-managed KMS key of the lake (LakeKeyArn): job volumes, job outputs, Athena results.
    kms_key_arn: str = ""
    #: the role SageMaker jobs and models run as (SageMakerExecutionRoleArn).
    sagemaker_role_arn: str = ""
    #: A project image (ECR URI) instead of the scikit-learn framework image, for training and serving.
    sagemaker_image_uri: str = ""
    #: isolate SageMaker containers from the network (code and dependencies must then ship in the artefact).
    sagemaker_network_isolation: bool = False
    #: where code packages are uploaded (source archives); default ``s3://<lake bucket>-artifacts``.
    artifacts_uri: str = ""
    #: seconds between status polls of remote jobs and queries (triggers and waiters).
    aws_poll_seconds: int = 30
    #: Athena workgroup (results encrypted with the lake key, enforced by the workgroup).
    athena_workgroup: str = "nlpops"
    #: Athena query results location; default ``results/_athena/`` in the lake (as the stack's workgroup).
    athena_output_uri: str = ""
    #: Glue Data Catalog database of the processed and results tables.
    glue_database: str = "nlpops"
    #: where the aws target runs the Spark ETL: "glue" (GlueJobOperator) or "emr-serverless".
    spark_backend: str = "glue"
    #: the role Glue jobs run as (GlueJobRoleArn); needed when NLPOPS_SPARK_BACKEND=glue.
    glue_role_arn: str = ""
    #: Glue security configuration (S3, CloudWatch and bookmark encryption with the lake key); empty = none.
    glue_security_configuration: str = "nlpops-kms"
    #: EMR Serverless application (Spark) and job execution role; needed when NLPOPS_SPARK_BACKEND=emr-serverless.
    emr_application_id: str = ""
    emr_role_arn: str = ""
    # --- real-time serving (`make serve`, ml/serving) ---
    #: the profile whose champion `make serve` serves; empty = the only profile with a champion.
    serving_profile: str = ""
    serving_host: str = "127.0.0.1"
    serving_port: int = 8090
    #: file with the accepted tokens (``<caller> <token>`` per line, or one bare token).
    serving_token_file: str = ""
    #: a single accepted token (caller ``default``); prefer the file or the Airflow connection.
    #: Kept out of ``repr``: printing or logging the settings never shows it.
    serving_token: str = field(default="", repr=False)
    #: Airflow connection (login = caller, password = token) read by `make serve` when no file/token is set.
    serving_conn_id: str = "nlpops_serving"
    #: request bodies above this many bytes get 413 (SageMaker real-time's limit is 6 MB).
    serving_max_body_bytes: int = 6 * 1024 * 1024
    #: seconds between polls of the registry's champion alias (hot swap).
    serving_poll_seconds: float = 5.0
    # --- results in PostgreSQL (optional) ---
    #: Airflow Postgres connection the publish task loads results and drift decisions into; empty = off.
    results_postgres_conn_id: str = ""

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise SettingsError(f"NLPOPS_TARGET={self.target!r} is not one of {', '.join(TARGETS)}")
        scheme = self.lake_uri.split("://", 1)[0] if "://" in self.lake_uri else ""
        if scheme not in {"file", "s3", "memory"}:
            raise SettingsError(f"NLPOPS_LAKE_URI={self.lake_uri!r} must be a file://, s3:// (or memory://) URI")
        if self.target == "aws" and scheme != "s3":
            raise SettingsError("NLPOPS_TARGET=aws needs NLPOPS_LAKE_URI=s3://<bucket>[/prefix]")
        if self.lake_layout not in LAKE_LAYOUTS:
            raise SettingsError(f"NLPOPS_LAKE_LAYOUT={self.lake_layout!r} is not one of {', '.join(LAKE_LAYOUTS)}")
        if self.lake_layout == "buckets" and scheme != "s3":
            raise SettingsError("NLPOPS_LAKE_LAYOUT=buckets needs an s3:// NLPOPS_LAKE_URI (or use prefixes)")
        if self.spark_backend not in SPARK_BACKENDS:
            raise SettingsError(
                f"NLPOPS_SPARK_BACKEND={self.spark_backend!r} is not one of {', '.join(SPARK_BACKENDS)}"
            )
        for var, arn in (("NLPOPS_GLUE_ROLE_ARN", self.glue_role_arn), ("NLPOPS_EMR_ROLE_ARN", self.emr_role_arn)):
            if arn and not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn):
                raise SettingsError(f"{var}={arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        for name in self.profiles:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                raise SettingsError(f"NLPOPS_PROFILES: {name!r} is not a valid profile name")

    def resolved_code_version(self) -> str:
        """``NLPOPS_CODE_VERSION``, else ``git:<commit>`` of the checkout, else ``nlpops==<version>``.

        Reads ``.git`` files directly (no subprocess): cheap enough for any task.
        """
        if self.code_version:
            return self.code_version
        commit = _git_commit(PROJECT_ROOT)
        if commit:
            return f"git:{commit}"
        try:
            from importlib.metadata import version

            return f"nlpops=={version('nlpops')}"
        except Exception:  # not installed as a distribution
            return "unknown"

    def artifacts(self, *parts: str) -> str:
        """A URI under the code artefacts location (``NLPOPS_ARTIFACTS_URI``, else ``s3://<bucket>-artifacts``)."""
        base = self.artifacts_uri.rstrip("/")
        if not base:
            if not self.lake_uri.startswith("s3://"):
                raise SettingsError("NLPOPS_ARTIFACTS_URI is needed when the lake is not on S3")
            base = "s3://" + self.lake_uri[len("s3://") :].split("/", 1)[0] + "-artifacts"
        return "/".join([base, *(p.strip("/") for p in parts if p)])

    def athena_output(self) -> str:
        """Athena query results location (``NLPOPS_ATHENA_OUTPUT_URI``, default ``results/_athena/`` of the lake)."""
        return (self.athena_output_uri or self.zone_uri("results", "_athena")).rstrip("/") + "/"

    def search_budget(self, profile_budget: int) -> int:
        """A profile's model-selection budget in seconds, capped by ``NLPOPS_SEARCH_BUDGET_SECONDS``."""
        cap = self.search_budget_cap_seconds
        return profile_budget if cap is None else min(profile_budget, cap)

    def zone_uri(self, zone: str, *parts: str) -> str:
        """URI of ``zone`` (one of :data:`ZONES`) joined with ``parts``; never a bare local path."""
        if zone not in ZONES:
            raise SettingsError(f"unknown lake zone {zone!r}; zones are {', '.join(ZONES)}")
        base = self.lake_uri.rstrip("/")
        if self.lake_layout == "buckets":
            # s3://<bucket>[/prefix] -> s3://<bucket>-<zone>[/prefix]: one bucket per zone.
            bucket, _, prefix = base[len("s3://") :].partition("/")
            return "/".join(
                [f"s3://{bucket}-{zone}", *([prefix] if prefix else []), *(p.strip("/") for p in parts if p)]
            )
        return "/".join([base, zone, *(p.strip("/") for p in parts if p)])


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read and validate settings from ``env`` (default: ``os.environ``)."""
    env = dict(os.environ if env is None else env)
    airflow_home = Path(env.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow").resolve()
    lake_uri = env.get("NLPOPS_LAKE_URI") or (airflow_home / "lake").as_uri()
    profiles = tuple(p.strip() for p in env.get("NLPOPS_PROFILES", "").split(",") if p.strip())
    return Settings(
        target=env.get("NLPOPS_TARGET", "local").strip().lower(),
        airflow_home=airflow_home,
        lake_uri=lake_uri,
        profiles=profiles,
        profiles_dir=Path(env.get("NLPOPS_PROFILES_DIR") or PROJECT_ROOT / "include" / "profiles"),
        mlflow_tracking_uri=env.get("NLPOPS_MLFLOW_URI") or f"sqlite:///{airflow_home / 'mlflow.db'}",
        spark_master=env.get("NLPOPS_SPARK_MASTER", "local[*]"),
        spark_driver_memory=_memory(env, "NLPOPS_SPARK_DRIVER_MEMORY", "2g"),
        spark_shuffle_partitions=_env_int(env, "NLPOPS_SPARK_SHUFFLE_PARTITIONS", 4, minimum=1),
        code_version=env.get("NLPOPS_CODE_VERSION", "").strip(),
        deadline_alerts=_env_bool(env, "NLPOPS_DEADLINE_ALERTS", True),
        search_budget_cap_seconds=(
            _env_int(env, "NLPOPS_SEARCH_BUDGET_SECONDS", 0)
            if env.get("NLPOPS_SEARCH_BUDGET_SECONDS", "").strip()
            else None
        ),
        ui_port=_env_int(env, "NLPOPS_UI_PORT", 8080, minimum=1),
        aws_conn_id=env.get("NLPOPS_AWS_CONN_ID", "aws_default"),
        aws_region=env.get("NLPOPS_AWS_REGION", "us-east-1"),
        owner=env.get("NLPOPS_OWNER", "nlpops"),
        notify_dir=env.get("NLPOPS_NOTIFY_DIR", str(airflow_home / "notifications")),
        sns_topic_arn=env.get("NLPOPS_SNS_TOPIC_ARN", "").strip(),
        slack_conn_id=env.get("NLPOPS_SLACK_CONN_ID", "").strip(),
        transform_workers=_env_int(env, "NLPOPS_TRANSFORM_WORKERS", 1, minimum=1),
        lake_layout=env.get("NLPOPS_LAKE_LAYOUT", "prefixes").strip().lower() or "prefixes",
        kms_key_arn=env.get("NLPOPS_KMS_KEY_ARN", "").strip(),
        sagemaker_role_arn=env.get("NLPOPS_SAGEMAKER_ROLE_ARN", "").strip(),
        sagemaker_image_uri=env.get("NLPOPS_SAGEMAKER_IMAGE_URI", "").strip(),
        sagemaker_network_isolation=_env_bool(env, "NLPOPS_SAGEMAKER_NETWORK_ISOLATION", False),
        artifacts_uri=env.get("NLPOPS_ARTIFACTS_URI", "").strip(),
        aws_poll_seconds=_env_int(env, "NLPOPS_AWS_POLL_SECONDS", 30, minimum=1),
        athena_workgroup=env.get("NLPOPS_ATHENA_WORKGROUP", "nlpops").strip() or "nlpops",
        athena_output_uri=env.get("NLPOPS_ATHENA_OUTPUT_URI", "").strip(),
        glue_database=env.get("NLPOPS_GLUE_DATABASE", "nlpops").strip() or "nlpops",
        spark_backend=env.get("NLPOPS_SPARK_BACKEND", "glue").strip().lower() or "glue",
        glue_role_arn=env.get("NLPOPS_GLUE_ROLE_ARN", "").strip(),
        glue_security_configuration=env.get("NLPOPS_GLUE_SECURITY_CONFIGURATION", "nlpops-kms").strip(),
        emr_application_id=env.get("NLPOPS_EMR_APPLICATION_ID", "").strip(),
        emr_role_arn=env.get("NLPOPS_EMR_ROLE_ARN", "").strip(),
        serving_profile=env.get("NLPOPS_SERVING_PROFILE", "").strip(),
        serving_host=env.get("NLPOPS_SERVING_HOST", "127.0.0.1").strip() or "127.0.0.1",
        serving_port=_env_int(env, "NLPOPS_SERVING_PORT", 8090, minimum=1),
        serving_token_file=env.get("NLPOPS_SERVING_TOKEN_FILE", "").strip(),
        serving_token=env.get("NLPOPS_SERVING_TOKEN", "").strip(),
        serving_conn_id=env.get("NLPOPS_SERVING_CONN_ID", "nlpops_serving").strip(),
        serving_max_body_bytes=_env_int(env, "NLPOPS_SERVING_MAX_BODY_BYTES", 6 * 1024 * 1024, minimum=1),
        serving_poll_seconds=_env_float(env, "NLPOPS_SERVING_POLL_SECONDS", 5.0, minimum=0.05),
        results_postgres_conn_id=env.get("NLPOPS_RESULTS_POSTGRES_CONN_ID", "").strip(),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached). Tests call ``get_settings.cache_clear()``."""
    return load_settings()


__all__ = ["PROJECT_ROOT", "ZONES", "Settings", "SettingsError", "get_settings", "load_settings"]
