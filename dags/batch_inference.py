"""``<profile>_batch_inference``: new files in inference-input → validate → score with the champion → results.

One DAG per enabled profile. Thin by design: validation, the Batch Transform engine, the
inference handler and the results table live in ``etl/`` and ``ml/``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from include.naming import run_key
from include.profiles import Profile
from include.settings import Settings, get_settings
from nlpops.dagkit import (
    arrival_dag,
    build_profile_dags,
    mark_ledger_done,
    profile_assets,
    validate_new_objects,
)
from nlpops.factory import results_query_operator, transform_operator

DOC = """
### {name}: batch inference

{description}

**What it does.** Waits (deferrable) for new files under `{input}` not yet in the
ledger; resolves the registry alias `champion` **once** (the version is pinned for the
whole run, even if a promotion happens meanwhile; no champion → the run fails and says
to run `{name}_train`); validates the files with the profile's suite without the label
(bad rows → `quarantine/{name}-inference/<run>/`); scores the valid rows with the
inference handler exactly as SageMaker Batch Transform would (`SplitType=Line`,
`MultiRecord`, `MaxPayloadInMB={payload}`, `AssembleWith=Line`, `<input>.out` under
`inference-output/{name}/<job>/`); publishes the predictions as Parquet under
`results/{name}/date=…/model_version=…/` (idempotent by input object, checksum and model
version) with the run's batch manifest `results/{name}/_batches/<run>.json`; `query_results`
runs the SQL summary of `include/sql/` (DuckDB locally; on AWS Athena, after refreshing the
Glue Data Catalog tables `{name}_results` and `{name}_processed`); marks the files done and
updates the asset `{name}.predictions` (extra: rows, model version), which schedules
`{name}_drift`.

**Query the results** (locally, with the `duckdb` CLI or Python package):

    SELECT label, count(*) FROM read_parquet('<lake>/results/{name}/**/*.parquet',
                                             hive_partitioning=true) GROUP BY 1
"""


def build_inference_dag(profile: Profile, settings: Settings) -> DAG:
    """The batch inference DAG of one profile."""
    assets = profile_assets(profile.name)
    with arrival_dag(
        profile,
        settings,
        kind="batch_inference",
        tag="inference",
        zone="inference-input",
        sensor_task_id="wait_for_input",
        what="input files",
        description=f"Score new inference-input files of {profile.name} with the champion",
        doc_md=DOC.format(
            name=profile.name,
            description=profile.description,
            input=settings.zone_uri("inference-input", profile.name),
            payload=profile.inference.max_payload_mb,
        ),
        params={
            "low_confidence": Param(
                profile.drift.low_confidence,
                type="number",
                minimum=0,
                maximum=1,
                description="Predictions below this confidence count as low-confidence in the summary.",
            ),
        },
    ) as (dag, wait_for_input):

        @task(task_id="resolve_champion", retries=2, execution_timeout=timedelta(minutes=5))
        def resolve_champion() -> dict[str, Any]:
            """Pin the champion for this run: its version and artefact URI."""
            from airflow.sdk.exceptions import AirflowFailException

            from ml.registry import CHAMPION, get_registry

            champion = get_registry(get_settings()).get_by_alias(profile.name, CHAMPION)
            if champion is None:
                first = (
                    f"the profile has no labels yet: trigger {profile.name}_categories, which clusters these "
                    "unscored files for an analyst to name (Required Actions); the named clusters train the "
                    "first model"
                    if profile.bootstrap
                    else f"run the DAG {profile.name}_train (it registers and promotes the first model)"
                )
                raise AirflowFailException(
                    f"no champion model for profile {profile.name!r} yet: {first}, then re-run this one. "
                    "The input files are not marked done and will be scored then"
                )
            return {"version": str(champion.version), "artifact_uri": champion.artifact_uri}

        @task(task_id="validate", execution_timeout=timedelta(minutes=45), retries=1)
        def validate(objects: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
            """Validate without the label; stage the valid rows of each file as the transform's input."""
            from include.profiles import get_profile
            from ml.transform_input import stage_transform_inputs

            s = get_settings()
            prof = get_profile(profile.name, s)
            key = run_key(context["run_id"], context.get("logical_date"))
            zone_name = f"{prof.name}-inference"
            manifest, validated_uri = validate_new_objects(
                prof.name, objects, context, area=zone_name, require_label=False, ledger_zone="inference-input"
            )
            staged = stage_transform_inputs(
                validated_uri, objects, prof.fields.text, s.zone_uri("validated", zone_name, f"{key}-transform-input")
            )
            return {
                "rows_in": manifest["rows_in"],
                "rows_valid": manifest["rows_valid"],
                "rows_quarantined": manifest["rows_quarantined"],
                "report_uri": manifest.get("report_uri"),
                "transform_inputs": staged,
            }

        # Task calls return XComArgs that resolve to the annotated dicts at run time.
        champion: Any = resolve_champion()
        validated: Any = validate(wait_for_input.output)

        transform = transform_operator(
            task_id="transform",
            profile=profile,
            settings=settings,
            objects="{{ ti.xcom_pull(task_ids='validate')['transform_inputs'] }}",
            model_artifact_uri="{{ ti.xcom_pull(task_ids='resolve_champion')['artifact_uri'] }}",
            model_version="{{ ti.xcom_pull(task_ids='resolve_champion')['version'] }}",
        )

        @task(task_id="publish_results", retries=2, execution_timeout=timedelta(minutes=30))
        def publish_results(scored: dict[str, Any], pinned: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Predictions → results Parquet (idempotent), and the run's batch manifest (its result files)."""
            from ml.results import publish_results as publish
            from ml.results import write_batch_manifest

            s = get_settings()
            logical = context.get("logical_date") or context["dag_run"].run_after
            day = logical.strftime("%Y-%m-%d")
            key = run_key(context["run_id"], context.get("logical_date"))
            results_uri = s.zone_uri("results", profile.name)
            published = publish(
                scored["output_uri"],
                scored["objects"],
                results_uri=results_uri,
                model_version=pinned["version"],
                date=day,
                job_name=scored["job_name"],
            )
            manifest_uri = write_batch_manifest(
                results_uri,
                key,
                published,
                model_version=pinned["version"],
                date=day,
                job_name=scored["job_name"],
                transform_input_uri=s.zone_uri("validated", f"{profile.name}-inference", f"{key}-transform-input"),
            )
            version_folder = published["partition_uri"].rstrip("/").rsplit("model_version=", 1)[-1]
            return {
                "rows": published["rows"],
                "errors": published["errors"],
                "files": [f["uri"] for f in published["files"]],
                "results_uri": results_uri,
                "batch_manifest": manifest_uri,
                "run_key": key,
                "partitions": [{"date": day, "model_version": version_folder, "location": published["partition_uri"]}],
            }

        @task(task_id="mark_ledger", outlets=[assets.predictions], retries=3)
        def mark_ledger(
            objects: list[dict[str, Any]], results: dict[str, Any], pinned: dict[str, Any], **context: Any
        ) -> int:
            """Record the input files as scored and announce the batch to the drift DAG."""
            return mark_ledger_done(
                profile.name,
                "inference-input",
                objects,
                context,
                outlet=assets.predictions,
                extra={"rows": results["rows"], "model_version": pinned["version"], "result_files": results["files"]},
                outputs=results["files"],
            )

        results: Any = publish_results(transform.output, champion)
        query_results = results_query_operator(
            task_id="query_results",
            profile=profile,
            settings=settings,
            published="{{ ti.xcom_pull(task_ids='publish_results') }}",
            low_confidence="{{ params.low_confidence }}",
        )
        done = mark_ledger(wait_for_input.output, results, champion)
        [champion, validated] >> transform
        results >> [query_results, done]
        if settings.results_postgres_conn_id:  # optional: results also into PostgreSQL, before the batch is done
            from nlpops.operators.postgres_publish import PublishBatchToPostgresOperator

            to_postgres = PublishBatchToPostgresOperator(
                task_id="publish_postgres",
                postgres_conn_id=settings.results_postgres_conn_id,
                profile_name=profile.name,
                published="{{ ti.xcom_pull(task_ids='publish_results') }}",
                model_version="{{ ti.xcom_pull(task_ids='resolve_champion')['version'] }}",
                run_key="{{ ti.xcom_pull(task_ids='publish_results')['run_key'] }}",
                retries=3,
            )
            results >> to_postgres >> done
    return dag


# One broken profile gets a failing placeholder DAG; the other profiles' DAGs still load.
globals().update(build_profile_dags("batch_inference", build_inference_dag))
