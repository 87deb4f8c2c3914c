"""What every nlpops DAG file shares: default args, assets, run keys, docs.

Cheap to import (DAG files import it at parse time): no pandas, Spark, GX, boto3.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from include.naming import run_key

if TYPE_CHECKING:
    from airflow.sdk import DAG, Asset

    from include.profiles import Profile
    from include.settings import Settings

#: Kinds of asset each profile produces. Assets are identified by name only
#: (``nlpops.<profile>.<kind>``): the identity does not change with the target or lake URI,
#: and a URI with a scheme would make Airflow load every provider's URI handler (boto3
#: among them) while a DAG file is parsed.
ASSET_KINDS = ("processed", "champion", "predictions", "drift", "categories")


@dataclass(frozen=True)
class ProfileAssets:
    processed: Asset
    champion: Asset
    predictions: Asset
    drift: Asset
    categories: Asset  # a category decision changed the label set or added pseudo-labels: retrain


def profile_assets(profile_name: str) -> ProfileAssets:
    """The assets of a profile (shared by the DAG files that produce and consume them)."""
    from airflow.sdk import Asset

    made = {kind: Asset(name=f"nlpops.{profile_name}.{kind}", group="nlpops") for kind in ASSET_KINDS}
    return ProfileAssets(**made)


def default_args(profile: Profile, settings: Settings, *, retries: int = 2) -> dict[str, Any]:
    """Owner, retries with back-off and the failure notifier, the same for every DAG.

    The first retry waits Airflow's ``[core] default_task_retry_delay`` (the project sets 60 s
    in ``nlpops.runtime.airflow_environ`` and docker-compose; the tests set 1 s), doubling up to
    15 minutes.
    """
    from nlpops.notifiers.callbacks import on_task_failure

    return {
        "owner": settings.owner,
        "retries": retries,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": on_task_failure,
    }


def context_run_key(context: Any) -> str:
    """The run key of the running task's DAG run (logical date, else the run id)."""
    return run_key(context.get("run_id"), context.get("logical_date"))


def tags(profile: Profile, kind: str) -> list[str]:
    return ["nlpops", kind, f"profile:{profile.name}", *profile.tags]


def wait_params(profile: Profile, what: str) -> dict[str, Any]:
    """The Params of a DAG that starts with a NewDataSensor (``what``: e.g. "raw files")."""
    from airflow.sdk import Param

    sched = profile.schedule
    return {
        "wait_timeout_minutes": Param(
            sched.sensor_timeout_minutes,
            type="integer",
            minimum=0,
            description=f"How long to wait for new {what} before skipping the run (0 = look once).",
        ),
        "quiet_seconds": Param(
            sched.quiet_seconds,
            type="integer",
            minimum=0,
            description="A file must be unmodified this long to be picked up (still being written otherwise).",
        ),
        "max_files": Param(
            sched.max_files_per_batch,
            type="integer",
            minimum=1,
            description="At most this many new files per run; the rest wait for the next run.",
        ),
    }


def new_data_sensor(*, task_id: str, profile: Profile, settings: Settings, zone: str) -> Any:
    """The deferrable NewDataSensor on ``<zone>/<profile>/`` with its ledger, driven by :func:`wait_params`."""
    from nlpops.sensors.new_data import NewDataSensor

    sched = profile.schedule
    return NewDataSensor(
        task_id=task_id,
        prefix_uri=settings.zone_uri(zone, profile.name),
        ledger_uri=settings.zone_uri("ledger", profile.name, zone),
        patterns=list(profile.input.file_patterns),
        quiet_seconds="{{ params.quiet_seconds }}",
        max_files="{{ params.max_files }}",
        max_bytes=sched.max_bytes_per_batch,
        wait_timeout_minutes="{{ params.wait_timeout_minutes }}",
        lake_root_uri=settings.lake_uri,
        poke_interval=sched.sensor_poke_seconds,
        timeout=sched.sensor_timeout_minutes * 60,
        soft_fail=True,
        deferrable=True,
    )


def validate_new_objects(
    profile_name: str,
    objects: list[dict[str, Any]],
    context: Any,
    *,
    area: str,
    require_label: bool,
    ledger_zone: str,
) -> tuple[dict[str, Any], str]:
    """Run GX validation on the sensor's objects for this run; return (manifest, validated URI).

    ``area`` names the folder in the validated/quarantine/reports zones (the profile for
    training data, ``<profile>-inference`` for scoring input). Files refused whole (unparseable,
    or over the per-file circuit breaker) are recorded as refused in the ledger of
    ``ledger_zone`` at once, with their reason and content digest, and notified once each:
    the same bytes are never retried and the files behind them proceed. A quarantine rate
    over the breaker for the whole run then fails the task without retry.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from etl.validation import QuarantineRateExceeded, validate_objects
    from include.lake import ObjectInfo
    from include.profiles import get_profile
    from include.settings import get_settings

    s = get_settings()
    key = context_run_key(context)
    validated_uri = s.zone_uri("validated", area, key)
    profile = get_profile(profile_name, s)
    if require_label:
        from ml.categories.category_map import profile_with_current_map

        # training input: labels as the current category-map version has them (classes an analyst added)
        profile = profile_with_current_map(profile, s.zone_uri("models", profile_name))
    try:
        manifest = validate_objects(
            profile,
            [ObjectInfo.from_dict(o) for o in objects],
            run_key=key,
            validated_uri=validated_uri,
            quarantine_uri=s.zone_uri("quarantine", area, key),
            report_uri=s.zone_uri("reports", "validation", area, key),
            lake_root_uri=s.lake_uri,
            require_label=require_label,
            # training input: count labels that differ from earlier runs in the run summary
            processed_uri=s.zone_uri("processed", profile_name) if require_label else None,
        )
    except QuarantineRateExceeded as exc:
        refused = _record_refused(profile_name, ledger_zone, key, objects, exc.manifest or {}, context)
        raise AirflowFailException(
            f"QuarantineRateExceeded: {exc}"
            + (f" Refused files (not retried): {', '.join(refused)}" if refused else "")
        ) from exc
    _record_refused(profile_name, ledger_zone, key, objects, manifest, context)
    if require_label:  # the ETL maps the labels with the same version (ingest passes it on)
        manifest = {**manifest, "profile_json": profile.to_json()}
    return manifest, validated_uri


def _record_refused(
    profile_name: str,
    ledger_zone: str,
    key: str,
    objects: list[dict[str, Any]],
    manifest: dict[str, Any],
    context: Any,
) -> list[str]:
    """Ledger + one notice for each file of ``manifest`` refused whole; returns their URIs."""
    from etl.validation.errors import REFUSED_STATUSES
    from nlpops.ledger import Ledger
    from nlpops.notifiers.callbacks import notify

    by_uri = {o["uri"]: o for o in objects}
    refusals = [
        (by_uri[f["uri"]], str(f.get("reason") or f["status"]))
        for f in manifest.get("files", [])
        if f.get("status") in REFUSED_STATUSES and f["uri"] in by_uri
    ]
    if not refusals:
        return []
    ledger = Ledger.for_zone(profile_name, ledger_zone)
    for entry in ledger.mark_refused(key, refusals):
        notify(
            "file_refused",
            f"nlpops: {profile_name}: refused {entry['uri']} ({entry['reason']})",
            dag_id=context.get("dag").dag_id if context.get("dag") else None,
            run_id=context.get("run_id"),
            file=entry["uri"],
            digest=entry["digest"],
            reason=entry["reason"],
        )
    return [str(obj["uri"]) for obj, _ in refusals]


@contextmanager
def arrival_dag(
    profile: Profile,
    settings: Settings,
    *,
    kind: str,
    zone: str,
    sensor_task_id: str,
    what: str,
    description: str,
    doc_md: str,
    tag: str | None = None,
    params: dict[str, Any] | None = None,
    **dag_kwargs: Any,
) -> Iterator[tuple[DAG, Any]]:
    """The scaffolding of a DAG that starts when new files arrive in ``<zone>/<profile>/`` (ingest, batch inference).

    Opens ``<profile>_<kind>`` on the profile's ``schedule.arrivals`` cron (one run at a time,
    no catch-up, 3 h run timeout, the shared default args, the wait Params plus ``params``)
    and yields it with its deferrable :func:`new_data_sensor`; the caller adds the rest inside.
    """
    import pendulum
    from airflow.sdk import DAG

    from nlpops.timetables import next_cron

    with DAG(
        dag_id=f"{profile.name}_{kind}",
        description=description,
        schedule=next_cron(profile.schedule.arrivals),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=3),
        default_args=default_args(profile, settings),
        doc_md=doc_md,
        tags=tags(profile, tag or kind),
        render_template_as_native_obj=True,
        params={**wait_params(profile, what), **(params or {})},
        **dag_kwargs,
    ) as dag:
        yield dag, new_data_sensor(task_id=sensor_task_id, profile=profile, settings=settings, zone=zone)


def mark_ledger_done(
    profile_name: str,
    zone: str,
    objects: list[dict[str, Any]],
    context: Any,
    *,
    outlet: Asset,
    extra: dict[str, Any],
    outputs: list[str],
) -> int:
    """Record the run's files as done in the zone's ledger, then announce ``outlet`` with ``extra``.

    Called last, after every task that processes the files succeeded (at-least-once);
    files the run refused are already in the ledger as refused and are left out.
    """
    from include.lake import ObjectInfo
    from nlpops.ledger import Ledger

    key = context_run_key(context)
    Ledger.for_zone(profile_name, zone).mark_done(key, [ObjectInfo.from_dict(o) for o in objects], outputs=outputs)
    context["outlet_events"][outlet].extra = {"run_key": key, **extra}
    return len(objects)


def build_profile_dags(kind: str, builder: Callable[[Profile, Settings], DAG]) -> dict[str, DAG]:
    """``<profile>_<kind>`` DAGs of every enabled profile, by DAG id (a DAG file's whole module body).

    One broken profile cannot take down the others: a profile that does not load (invalid
    YAML, a bad key, NLPOPS_PROFILES naming a missing file) or whose DAG cannot be built gets
    a placeholder DAG of the same id that says why and fails when run; the others build as usual.
    """
    from include.profiles import scan_profiles
    from include.settings import get_settings
    from nlpops.aws.session import use_airflow_connection

    # Every process that parses the DAG files (dag processor, task runner, `airflow dags test`)
    # reaches s3:// lake URIs and the SageMaker registry with the Airflow AWS connection.
    use_airflow_connection()
    settings = get_settings()
    good, broken = scan_profiles(settings)  # each YAML read once per DAG file
    dags: dict[str, DAG] = {}
    for name, profile in good.items():
        dag_id = f"{name}_{kind}"
        try:
            dags[dag_id] = builder(profile, settings)
        except Exception as exc:
            source = settings.profiles_dir / f"{name}.yaml"
            dags[dag_id] = broken_profile_dag(
                dag_id, kind, f"{source}: the {kind} DAG cannot be built: {type(exc).__name__}: {exc}", settings
            )
    for name, message in broken.items():
        dag_id = f"{_dag_id_part(name)}_{kind}"
        dags[dag_id] = broken_profile_dag(dag_id, kind, message, settings)
    return dags


def broken_profile_dag(dag_id: str, kind: str, message: str, settings: Settings) -> DAG:
    """A placeholder for the DAG of a broken profile: shows the error and fails when run."""
    import pendulum
    from airflow.sdk import DAG, task

    with DAG(
        dag_id=dag_id,
        description=f"BROKEN PROFILE: {message.splitlines()[0][:200]}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        doc_md=(
            f"### {dag_id}: broken profile\n\nThis profile does not load, so its {kind} DAG is a placeholder "
            "that fails when run. The other profiles' DAGs are not affected. Fix the file and key named "
            f"below; the DAG is rebuilt at the next parse.\n\n```\n{message}\n```\n"
        ),
        tags=["nlpops", kind, "broken-profile"],
        default_args={"owner": settings.owner, "retries": 1, "execution_timeout": timedelta(minutes=1)},
    ) as dag:

        @task(task_id="profile_error")
        def profile_error() -> None:
            """Fail with the profile's load error (file and key)."""
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(message)

        profile_error()
    return dag


def _dag_id_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:200] or "unnamed"
