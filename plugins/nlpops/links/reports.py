"""Extra links from the training and transform tasks to their reports in the Model Ops view.

In Airflow 3 a link is resolved once, in the worker, when the task finishes
(``get_link`` runs there and its URL is stored as an XCom the UI reads). The operators push
what the links need under the XCom key :data:`LINK_TARGETS_KEY` at the start of
``execute`` (:func:`push_link_targets`), so the links exist even when the job fails, and
point at the Model Ops app (``/nlpops/…``), which serves files of the reports zone only.

The evaluation report is written by the downstream ``evaluate`` task under a name known in
advance (``reports/evaluation/<profile>/<job name>/index.html``): the link from ``train``
opens it as soon as ``evaluate`` has run.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

log = logging.getLogger(__name__)

#: XCom key of the dict the operators push for their links (URIs and names, nothing secret).
LINK_TARGETS_KEY = "nlpops_link_targets"
#: Where the Model Ops FastAPI app is mounted on the api-server.
URL_PREFIX = "/nlpops"


def ui_base_url() -> str:
    """The api-server's public base URL (``[api] base_url``), '' when unset (links stay host-relative)."""
    try:
        from airflow.configuration import conf

        return str(conf.get("api", "base_url", fallback="") or "").rstrip("/")
    except Exception:  # no configuration in this process: a host-relative link still works in the UI
        return ""


def model_ops_url(path: str = "", base_url: str | None = None) -> str:
    """URL of ``path`` (already quoted) in the Model Ops app, e.g. ``reports/evaluation/…``."""
    base = ui_base_url() if base_url is None else base_url.rstrip("/")
    return f"{base}{URL_PREFIX}/{path.lstrip('/')}"


def report_url(key: str, base_url: str | None = None) -> str:
    """URL that serves the report file ``key`` (relative to the reports zone)."""
    return model_ops_url("reports/" + urllib.parse.quote(key.strip("/")), base_url)


def transform_url(profile: str, job_name: str, base_url: str | None = None) -> str:
    """URL of the Model Ops summary of one batch transform job."""
    q = urllib.parse.quote
    return model_ops_url(f"transform/{q(profile, safe='')}/{q(job_name, safe='')}", base_url)


def link_targets(
    *, settings: Any, profile: str, job_name: str, run_key: str | None = None, kind: str
) -> dict[str, str]:
    """What the links of a ``kind`` (``training`` | ``transform``) task need, as report keys and names."""
    from nlpops.ui.model_ops import data_docs_uri, evaluation_report_uri, report_key

    targets = {"profile": profile, "job_name": job_name, "kind": kind}
    if kind == "training":
        key = report_key(settings, evaluation_report_uri(settings, profile, job_name))
        if key:
            targets["evaluation_report"] = key
    elif kind == "transform" and run_key:
        key = report_key(settings, data_docs_uri(settings, f"{profile}-inference", run_key))
        if key:
            targets["input_data_docs"] = key
    return targets


def push_link_targets(context: Context, targets: dict[str, str]) -> bool:
    """Store ``targets`` for this task's links (XCom :data:`LINK_TARGETS_KEY`); True when stored.

    Links are a convenience: a context without a task instance (an operator executed
    directly, as in unit tests) or a failed push never fails the task.
    """
    ti = context.get("ti")
    if ti is None:
        return False
    try:
        ti.xcom_push(key=LINK_TARGETS_KEY, value=targets)
    except Exception as exc:
        log.warning("extra-link targets not stored (%s): the task's report links stay empty", exc)
        return False
    return True


def _targets(ti_key: TaskInstanceKey) -> dict[str, Any]:
    from airflow.sdk.execution_time.xcom import XCom

    value = XCom.get_value(key=LINK_TARGETS_KEY, ti_key=ti_key)
    return value if isinstance(value, dict) else {}


class _TargetLink(BaseOperatorLink):
    """A link built from the task's :data:`LINK_TARGETS_KEY` XCom; '' (no link) when absent."""

    name: ClassVar[str]

    def url(self, targets: dict[str, Any]) -> str:
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return self.url(_targets(ti_key))


class EvaluationReportLink(_TargetLink):
    """Training task → the challenger-vs-champion evaluation report of its job."""

    name = "Evaluation report"

    def url(self, targets: dict[str, Any]) -> str:
        key = targets.get("evaluation_report")
        return report_url(str(key)) if key else ""


class ModelOpsLink(_TargetLink):
    """Any nlpops task → its profile's section of the Model Ops page."""

    name = "Model Ops"

    def url(self, targets: dict[str, Any]) -> str:
        profile = targets.get("profile")
        return model_ops_url(f"#profile-{urllib.parse.quote(str(profile), safe='')}") if profile else ""


class TransformOutputLink(_TargetLink):
    """Transform task → the summary of its output (records in, scored, errors per input file)."""

    name = "Transform output"

    def url(self, targets: dict[str, Any]) -> str:
        profile, job = targets.get("profile"), targets.get("job_name")
        return transform_url(str(profile), str(job)) if profile and job else ""


class InputDataDocsLink(_TargetLink):
    """Transform task → the GX Data Docs of the validated scoring input of the same run."""

    name = "Input Data Docs"

    def url(self, targets: dict[str, Any]) -> str:
        key = targets.get("input_data_docs")
        return report_url(str(key)) if key else ""


TRAINING_LINKS = (EvaluationReportLink(), ModelOpsLink())
TRANSFORM_LINKS = (TransformOutputLink(), InputDataDocsLink(), ModelOpsLink())

__all__ = [
    "LINK_TARGETS_KEY",
    "TRAINING_LINKS",
    "TRANSFORM_LINKS",
    "EvaluationReportLink",
    "InputDataDocsLink",
    "ModelOpsLink",
    "TransformOutputLink",
    "link_targets",
    "model_ops_url",
    "push_link_targets",
    "report_url",
    "transform_url",
]
