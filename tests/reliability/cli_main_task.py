"""``supervised_task.py`` with the ``__main__`` of a real worker: a script that imports Airflow.

In a LocalExecutor (or Celery) worker the task process is forked from ``airflow scheduler``
(``airflow celery worker``): its ``__main__`` is the ``airflow`` console script, which
imports ``airflow.__main__`` — and with it ``airflow.settings.initialize()`` — at module
level. The task supervisor replaces the database URL in the task process with
``airflow-db-not-allowed:///``, so re-running that ``__main__`` there (what a ``spawn`` or
``forkserver`` child does by default) raises. This wrapper reproduces both.
"""

from __future__ import annotations

import sys

from airflow.__main__ import main as _airflow_cli  # noqa: F401  (what the console script does at import)
from supervised_task import main

if __name__ == "__main__":
    sys.exit(main())
