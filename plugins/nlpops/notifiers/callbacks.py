"""Failure callbacks: every DAG's tasks report failures through one notifier module.

Locally the notice is logged and appended to a JSON-lines file under the Airflow home
(``NLPOPS_NOTIFY_DIR``); the aws target adds SNS through the same function.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def notify(event: str, message: str, **fields: Any) -> Path:
    """Record a notification (log + file). Returns the file written to."""
    from include.settings import get_settings

    out_dir = Path(get_settings().notify_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "notifications.jsonl"
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, "message": message}
    record.update({k: str(v) for k, v in fields.items()})
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    log.warning("nlpops notification [%s]: %s", event, message)
    return path


def on_task_failure(context: Any) -> None:
    """``on_failure_callback`` of every nlpops task."""
    ti = context.get("ti") or context.get("task_instance")
    exc = context.get("exception")
    notify(
        "task_failed",
        f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')} failed: {exc}",
        dag_id=getattr(ti, "dag_id", ""),
        task_id=getattr(ti, "task_id", ""),
        run_id=context.get("run_id", ""),
        try_number=getattr(ti, "try_number", ""),
    )
