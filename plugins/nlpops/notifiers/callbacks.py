"""Notifications: every failure, drift decision and missed deadline goes through :func:`notify`.

Channels, chosen by settings, never by the caller:

- **file + log** (always): one JSON line per notice in ``<NLPOPS_NOTIFY_DIR>/notifications.jsonl``
  and a warning in the task log;
- **SNS** when ``NLPOPS_SNS_TOPIC_ARN`` is set (the aws target): published with the Amazon
  provider's ``SnsHook`` over the ``NLPOPS_AWS_CONN_ID`` connection (``aws_default``);
- **Slack-compatible incoming webhook** when ``NLPOPS_SLACK_CONN_ID`` names an Airflow
  connection: the webhook URL lives in that connection (password, or host + password), never
  in code or logs; a JSON ``{"text": ...}`` is POSTed with a timeout.

A channel that fails is logged and skipped: a notification never fails the task that sends it.
Entry points: :func:`on_task_failure` (every task's ``on_failure_callback``, see
``nlpops.dagkit.default_args``), :func:`notify` (drift decisions) and
:func:`on_dag_deadline_missed` (the training DAG's ``DeadlineAlert``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Callable

    from include.settings import Settings

log = logging.getLogger(__name__)

#: SNS rejects subjects over 100 characters (and line breaks).
SNS_SUBJECT_MAX = 100
WEBHOOK_TIMEOUT_SECONDS = 10.0
DEFAULT_BASE_URL = "http://localhost:8080/"


@dataclass(frozen=True)
class Notification:
    """One notice: an event kind, a one-line subject, a body and named fields (DAG, task, run, ...)."""

    event: str
    subject: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    ts: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def text(self) -> str:
        """Human-readable body: the message, then one ``Name: value`` line per non-empty field."""
        lines = [self.message]
        lines += [f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in self.fields.items() if v != ""]
        return "\n".join(lines)

    def record(self) -> dict[str, str]:
        """The JSON-lines record of the file channel."""
        return {"ts": self.ts, "event": self.event, "subject": self.subject, "message": self.message, **self.fields}


def _redact(value: str) -> str:
    """Mask known secrets (connection passwords Airflow has seen) before text leaves the process."""
    try:
        from airflow.sdk._shared.secrets_masker import redact

        return str(redact(value))
    except Exception as exc:  # fail closed: text that cannot be masked does not leave the process
        return f"<message withheld: secret masking unavailable ({type(exc).__name__})>"


# --- channels -------------------------------------------------------------------------------


def send_file(n: Notification, settings: Settings) -> Path:
    """Append the notice to ``notifications.jsonl`` under ``settings.notify_dir`` and log it."""
    out_dir = Path(settings.notify_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "notifications.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(n.record()) + "\n")
    log.warning("nlpops notification [%s]: %s", n.event, n.subject)
    return path


def send_sns(n: Notification, settings: Settings) -> str:
    """Publish the notice to ``settings.sns_topic_arn``; returns the SNS message id."""
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    hook = SnsHook(aws_conn_id=settings.aws_conn_id, region_name=settings.aws_region)
    subject = " ".join(n.subject.split())[:SNS_SUBJECT_MAX]
    attributes = {"event": n.event, **{k: n.fields[k] for k in ("dag_id", "task_id") if n.fields.get(k)}}
    reply = hook.publish_to_target(
        target_arn=settings.sns_topic_arn, message=n.text(), subject=subject, message_attributes=attributes
    )
    return str(reply.get("MessageId", ""))


def webhook_url(conn_id: str) -> str:
    """The webhook URL held by Airflow connection ``conn_id`` (masked in logs from here on).

    Accepted shapes: password = full URL; or host = base URL and password = the path/token
    (the Slack provider's ``slackwebhook`` shape); or host = full URL.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    conn = BaseHook.get_connection(conn_id)
    password = (conn.password or "").strip()
    host = (conn.host or "").strip()
    if password.startswith(("https://", "http://")):
        url = password
    elif host:
        base = host if "://" in host else f"{conn.schema or 'https'}://{host}"
        if conn.port and "://" not in host:
            base = f"{base}:{conn.port}"
        url = f"{base.rstrip('/')}/{password.lstrip('/')}" if password else base
    else:
        raise ValueError(f"connection {conn_id!r} has no webhook URL: put it in the password (or host + password)")
    mask_secret(url)
    if password:
        mask_secret(password)
    return url


class WebhookError(RuntimeError):
    """The webhook did not take the notice; the message never holds the URL."""


def send_webhook(n: Notification, settings: Settings) -> int:
    """POST ``{"text": ...}`` to the Slack-compatible webhook of ``settings.slack_conn_id``; returns the status."""
    url = webhook_url(settings.slack_conn_id)
    if not url.startswith(("https://", "http://")):
        raise WebhookError(f"connection {settings.slack_conn_id!r}: the webhook URL must be http(s)")
    body = json.dumps({"text": f"*{n.subject}*\n{n.text()}"}).encode()
    # The scheme is checked above; the URL comes from an operator-managed Airflow connection.
    req = urllib.request.Request(  # noqa: S310
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    # Errors are re-raised without their cause: urllib's may quote the URL, which holds the token.
    try:
        with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_SECONDS) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookError(f"webhook unreachable ({type(reason).__name__})") from None


# --- entry points ---------------------------------------------------------------------------


def notify(event: str, message: str, *, settings: Settings | None = None, **fields: Any) -> Path | None:
    """Send a notice on every configured channel; never raises. Returns the file written (None if that failed).

    ``message``'s first line is the subject (SNS subject, webhook title); ``fields`` (DAG, task,
    run, try, error, log link, report, ...) are recorded and listed under it.
    """
    from include.settings import get_settings

    try:
        s = settings if settings is not None else get_settings()
    except Exception as exc:
        log.error("nlpops notification [%s] not sent, settings unusable: %s (%s)", event, _describe(exc), message)
        return None
    message = _redact(message)
    n = Notification(
        event=event,
        subject=message.splitlines()[0] if message else event,
        message=message,
        fields={k: _redact(str(v)) for k, v in fields.items() if v is not None},
    )
    written: Path | None = None
    for channel in channels(s):
        try:
            result = channel(n, s)
        except Exception as exc:
            # Named by channel and setting only: a webhook URL or token never reaches the log.
            log.error("nlpops notification [%s] not sent via %s: %s", event, channel.__name__, _describe(exc))
            continue
        if isinstance(result, Path):
            written = result
    return written


def channels(settings: Settings) -> list[Callable[[Notification, Settings], Any]]:
    """The channels ``settings`` switch on: file always, then SNS and the webhook when configured."""
    out: list[Callable[[Notification, Settings], Any]] = [send_file]
    if settings.sns_topic_arn:
        out.append(send_sns)
    elif settings.target == "aws":
        log.info("NLPOPS_SNS_TOPIC_ARN is not set: notifications are not sent to SNS")
    if settings.slack_conn_id:
        out.append(send_webhook)
    return out


def _describe(exc: BaseException) -> str:
    return _redact(f"{type(exc).__name__}: {exc}")


def base_url() -> str:
    """The Airflow UI's base URL (``[api] base_url``), for links in notices."""
    try:
        from airflow.sdk.configuration import conf

        return str(conf.get("api", "base_url", fallback=DEFAULT_BASE_URL)).rstrip("/")
    except Exception:
        return DEFAULT_BASE_URL.rstrip("/")


def task_log_url(dag_id: str, run_id: str, task_id: str, try_number: Any = None, map_index: Any = None) -> str:
    """Link to a task try's log in the Airflow 3 UI (same shape as ``RuntimeTaskInstance.log_url``)."""
    url = f"{base_url()}/dags/{dag_id}/runs/{quote(str(run_id))}/tasks/{task_id}"
    if isinstance(map_index, int) and map_index >= 0:
        url += f"/mapped/{map_index}"
    if isinstance(try_number, int) and try_number > 0:
        url += f"?try_number={try_number}"
    return url


def on_task_failure(context: Any) -> None:
    """``on_failure_callback`` of every nlpops task: DAG, task, run, try, error and a log link."""
    try:
        ti = context.get("ti") or context.get("task_instance")
        dag_id = str(getattr(ti, "dag_id", "") or "?")
        task_id = str(getattr(ti, "task_id", "") or "?")
        run_id = str(context.get("run_id") or getattr(ti, "run_id", "") or "")
        try_number = getattr(ti, "try_number", None)
        exc = context.get("exception")
        error = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
        notify(
            "task_failed",
            f"nlpops: {dag_id}.{task_id} failed (try {try_number})",
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            try_number=try_number,
            error=error,
            log_url=task_log_url(dag_id, run_id, task_id, try_number, getattr(ti, "map_index", None)),
        )
    except Exception:  # a callback that raises only hides the real failure
        log.exception("nlpops failure notification could not be built")


def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> Path | None:
    """Notify that a DAG run missed its deadline (``context`` as Airflow's deadline callbacks pass it)."""
    ctx = context or {}
    run = ctx.get("dag_run") or {}
    deadline = ctx.get("deadline") or {}
    dag_id = str(run.get("dag_id") or kwargs.get("dag_id") or "?")
    run_id = str(run.get("dag_run_id") or run.get("run_id") or "")
    minutes = kwargs.get("deadline_minutes")
    what = f"not finished {minutes} min after it was queued" if minutes else "past its deadline"
    return notify(
        "deadline_missed",
        f"nlpops: {dag_id} run {run_id} is {what}",
        dag_id=dag_id,
        run_id=run_id,
        profile=kwargs.get("profile", ""),
        state=run.get("state", ""),
        queued_at=run.get("queued_at", ""),
        deadline=deadline.get("deadline_time", ""),
        run_url=f"{base_url()}/dags/{dag_id}/runs/{quote(run_id)}" if run_id else "",
    )


async def on_dag_deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> str:
    """``AsyncCallback`` of a ``DeadlineAlert`` (runs in the triggerer): :func:`deadline_missed` off the loop."""
    written = await asyncio.to_thread(deadline_missed, context, **kwargs)
    return str(written or "")


#: Import path of the deadline callback, for ``AsyncCallback`` (resolved by the triggerer).
DEADLINE_CALLBACK = f"{__name__}.on_dag_deadline_missed"
