"""``<profile>_ingest``: new raw files → Great Expectations validation → Spark ETL → ``processed``.

One DAG per enabled dataset profile (include/profiles/*.yaml). Thin by design: the
logic lives in ``etl/`` and is imported inside the tasks; this file imports nothing
heavy and reads no Variables, so it parses in milliseconds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task

from include.naming import run_key
from include.profiles import Profile
from include.settings import Settings
from nlpops.dagkit import (
    arrival_dag,
    build_profile_dags,
    context_run_key,
    mark_ledger_done,
    profile_assets,
    validate_new_objects,
)
from nlpops.factory import etl_operator

DOC = """
### {name}: ingest

{description}

**What it does.** Waits (deferrable, no worker slot held) for new files under
`{raw}` that are not in the ledger and have been quiet for `quiet_seconds`;
validates them with Great Expectations Core — bad rows go to
`quarantine/{name}/<run>/rows.jsonl` with the failed expectation(s) per row, unparseable
files go to quarantine whole — runs the PySpark job `etl/jobs/prepare_text.py`
(normalise, combine title+text, dedup by content hash, stable split) into
`processed/{name}/run=<run>/`, then records the files in the ledger and updates the
asset `{name}.processed`.

**Guarantees.** Rows in = rows valid + rows quarantined. Outputs are keyed by the run, so a
retry replaces its own output. Files are marked done only after the ETL succeeded
(at-least-once); a second run over the same files (or a touched file: files are known by
their content digest) does nothing. A file with more than {rate:.0%} of its rows bad, or
unparseable, is refused whole: recorded as refused in the ledger (reason + digest), notified
once, never retried; the files behind it proceed and a corrected upload is new. The task
`validate` fails loudly when more than {rate:.0%} of the run's rows are quarantined.
To process files again on purpose: `make reprocess PROFILE={name} MATCH='<key pattern>'`.

**Reports.** Validation JSON + GX Data Docs under `reports/validation/{name}/<run>/`.
"""


def build_ingest_dag(profile: Profile, settings: Settings) -> DAG:
    """The ingest DAG of one profile."""
    assets = profile_assets(profile.name)
    with arrival_dag(
        profile,
        settings,
        kind="ingest",
        zone="raw",
        sensor_task_id="wait_for_raw",
        what="raw files",
        description=f"Validate and prepare new raw files of {profile.name}",
        doc_md=DOC.format(
            name=profile.name,
            description=profile.description,
            raw=settings.zone_uri("raw", profile.name),
            rate=profile.validation.max_quarantine_rate,
        ),
        user_defined_macros={"nlpops_run_key": run_key},
    ) as (dag, wait_for_raw):

        @task(task_id="validate", execution_timeout=timedelta(minutes=45), retries=1)
        def validate(objects: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
            """Validate the new files with GX; quarantine bad rows; refuse unparseable and over-breaker files."""
            from etl.validation.errors import REFUSED_STATUSES

            manifest, validated_uri = validate_new_objects(
                profile.name, objects, context, area=profile.name, require_label=True, ledger_zone="raw"
            )
            return {k: v for k, v in manifest.items() if k != "files"} | {
                "validated_uri": validated_uri,
                "files": len(manifest.get("files", [])),
                "files_refused": [f["uri"] for f in manifest.get("files", []) if f["status"] in REFUSED_STATUSES],
            }

        validated: Any = validate(wait_for_raw.output)

        prepare_text = etl_operator(
            task_id="prepare_text",
            profile=profile,
            settings=settings,
            input_uris="{{ ti.xcom_pull(task_ids='validate')['validated_uri'] }}",
            # the profile validation used: its labels follow the current category-map version
            profile_json="{{ ti.xcom_pull(task_ids='validate')['profile_json'] }}",
            output_uri=settings.zone_uri("processed", profile.name) + "/run={{ nlpops_run_key(run_id, logical_date) }}",
            run_key="{{ nlpops_run_key(run_id, logical_date) }}",
        )

        @task(task_id="mark_ledger", outlets=[assets.processed], retries=3)
        def mark_ledger(objects: list[dict[str, Any]], summary: dict[str, Any], **context: Any) -> int:
            """Record the files as done (only after the ETL succeeded) and announce new processed data."""
            processed_uri = settings.zone_uri("processed", profile.name) + f"/run={context_run_key(context)}"
            return mark_ledger_done(
                profile.name,
                "raw",
                objects,
                context,
                outlet=assets.processed,
                extra={"rows_valid": summary.get("rows_valid"), "rows_quarantined": summary.get("rows_quarantined")},
                outputs=[processed_uri],
            )

        done = mark_ledger(wait_for_raw.output, validated)
        validated >> prepare_text >> done
    return dag


# One broken profile gets a failing placeholder DAG; the other profiles' DAGs still load.
globals().update(build_profile_dags("ingest", build_ingest_dag))
