"""A task that handles a connection's password and token the careless way: logs, prints, raises.

Run by ``tests/reliability/test_secret_masking.py`` through Airflow's task supervisor: the
secrets masker must turn every occurrence into ``***`` in the task log.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

CONN_ID = "nlpops_reliability_secret"

with DAG(
    "reliability_secret_masking",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["nlpops", "reliability"],
    doc_md="Logs a connection's secrets on purpose; the masker must hide them.",
    default_args={"retries": 0},
):

    @task
    def leak_the_connection() -> None:
        """Every careless way a secret reaches a log: logger args, f-strings, print, the URI,
        the extras, the nlpops notifier, and an exception's message in the traceback."""
        import logging

        from airflow.sdk import BaseHook

        from nlpops.notifiers.callbacks import notify

        log = logging.getLogger("nlpops.reliability")
        conn = BaseHook.get_connection(CONN_ID)
        token = conn.extra_dejson["token"]
        log.info("password=%s token=%s", conn.password, token)
        log.warning(f"connection {conn.get_uri()} extras {conn.extra_dejson} raw extra {conn.extra}")
        print(f"stdout: password {conn.password} token {token}")
        notify("reliability_check", f"calling the service with {conn.password} and {token}")
        raise RuntimeError(f"service refused password {conn.password} token {token}")

    leak_the_connection()
