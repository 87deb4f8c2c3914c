"""The one job-name function, and the run key that names a run's outputs in the lake.

SageMaker, Glue and EMR job names must be unique per account and region, at most 63
characters of ``[a-zA-Z0-9-]``, starting and ending alphanumeric. A name built from the
DAG, the task and the logical date (not the try number) is the same on every retry,
so a retried task finds and re-attaches to the job its previous try started.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

MAX_JOB_NAME = 63
_INVALID = re.compile(r"[^a-zA-Z0-9]+")


def _slug(text: str) -> str:
    return _INVALID.sub("-", text).strip("-").lower()


def run_key(run_id: str | None, logical_date: datetime | None = None) -> str:
    """A path-safe key for one DAG run: from the logical date if there is one, else the run id."""
    if logical_date is not None:
        return logical_date.strftime("%Y%m%dT%H%M%S")
    if not run_id:
        raise ValueError("run_key needs a run_id or a logical_date")
    slug = _slug(run_id)[:40]
    digest = hashlib.sha1(run_id.encode()).hexdigest()[:8]  # noqa: S324 - naming, not security
    return f"{slug}-{digest}"


def job_name(
    dag_id: str,
    task_id: str,
    run: str,
    *,
    attempt: int | None = None,
    max_len: int = MAX_JOB_NAME,
) -> str:
    """Deterministic, valid, collision-resistant job name for (dag, task, run).

    ``run`` is the run key (logical date or run id). ``attempt`` is only set when a
    previous job of the same name failed and a fresh one must be started. The readable
    parts are shortened to fit, and an 8-hex digest of the full identity keeps names of
    different profiles, tasks and runs apart.
    """
    identity = f"{dag_id}|{task_id}|{run}|{attempt or ''}"
    digest = hashlib.sha1(identity.encode()).hexdigest()[:8]  # noqa: S324 - naming, not security
    suffix = f"-a{attempt}" if attempt else ""
    # The digest is always there: slugs may contain '-', so the readable part alone could
    # make ("a_train", "x") and ("a", "train_x") collide.
    readable = f"{_slug(dag_id)}-{_slug(task_id)}-{_slug(run)}"
    room = max_len - len(suffix) - len(digest) - 1
    head = readable[:room].rstrip("-")
    return f"{head}-{digest}{suffix}"


def is_valid_job_name(name: str) -> bool:
    return len(name) <= MAX_JOB_NAME and bool(re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", name))
