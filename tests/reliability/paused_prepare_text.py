"""``python -m paused_prepare_text``: the real ETL job, paused right before it publishes.

Everything is written to the staging prefix, nothing is published yet: the worst moment
for the job (and its task) to be killed.
"""

from __future__ import annotations

import sys

from faults import pause_here

from etl.jobs import prepare_text
from include import lake


def _publish_paused(staging: str, final_uri: str, manifest: dict) -> None:
    pause_here(f"staged {staging} for {final_uri}")


if __name__ == "__main__":
    lake.publish_dir = _publish_paused  # type: ignore[assignment]
    sys.exit(prepare_text.main())
