"""``<profile>_drift``: after each scored batch, compare it with the model's baseline; real drift → retrain.

Scheduled on the asset ``<profile>.predictions``. A policy from the profile decides
(thresholds, minimum sample, hysteresis, cooldown, daily cap); a drift decision updates the
asset ``<profile>.drift``, which schedules ``<profile>_train``. Thin by design: which batches
to check, the metrics, the policy and the report live in ``ml/drift`` (``ml.drift.check``);
every triggering event's batch is checked, one decision per batch.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from include.naming import run_key
from include.profiles import Profile
from include.settings import Settings, get_settings
from nlpops.dagkit import build_profile_dags, default_args, profile_assets, tags

DOC = """
### {name}: drift

{description}

**When.** After updates of the asset `{name}.predictions` (a batch scored by
`{name}_batch_inference`), or by hand with the Param `inference_run_key`.

**Every batch is checked, one decision per batch.** Airflow hands the `predictions`
events since the previous drift run to one run (after a pause, or while a run was active);
every one of them is checked, and so is every scored batch that has no decision yet (its
`results/{name}/_batches/<run>.json`, e.g. an event Airflow left for a later run). Each
batch is checked on its own, in order, against the baseline of the model
version that scored it, with its own report and history line; the policy sees the batches
before it (so one run retrains at most once within the cooldown). The run retrains when
any batch's decision says so. With several batches, a decision's key is
`<run>--<batch_inference run>`.

**What it does.** Loads the scored rows of each batch (their text and class probabilities)
and the baseline statistics stored with the model version that scored them; computes text
length PSI, out-of-vocabulary rate, token-profile Jensen–Shannon distance, a domain
classifier's ROC-AUC (reference vs current text), predicted-class PSI and chi-square, the
confidence drop and the low-confidence share; clusters the low-confidence texts for a
person to review (new topics; labels never change automatically); then applies the policy:
below {min_sample} rows → *insufficient data* (never an alarm); a window counts when at least
{min_over} metrics pass their thresholds; retrain after {windows} such window(s) in a row,
not within {cooldown} h of the last retrain and at most {cap} per day.

**Outputs.** `reports/drift/{name}/<run>/decision.json` + `report.html` (plots, top shifted
tokens, topic clusters) and the decision history `reports/drift/{name}/history.jsonl`. On
drift: an event on `{name}.drift` (extra: metrics, reason), which runs `{name}_train`, and a
notification.
"""


def build_drift_dag(profile: Profile, settings: Settings) -> DAG:
    """The drift DAG of one profile."""
    assets = profile_assets(profile.name)
    policy = profile.drift
    with DAG(
        dag_id=f"{profile.name}_drift",
        description=f"Drift check of scored {profile.name} batches; drift schedules retraining",
        schedule=[assets.predictions],
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=1),
        default_args=default_args(profile, settings),
        doc_md=DOC.format(
            name=profile.name,
            description=profile.description,
            min_sample=policy.min_sample,
            min_over=policy.min_metrics_over,
            windows=policy.consecutive_windows,
            cooldown=policy.cooldown_hours,
            cap=policy.max_retrains_per_day,
        ),
        tags=tags(profile, "drift"),
        params={
            "inference_run_key": Param(
                "",
                type="string",
                description="Check this batch_inference run (its run key) instead of the triggering asset event.",
            ),
            "seed": Param(0, type="integer", minimum=0, description="Seed of the domain classifier and clustering."),
        },
    ) as dag:

        @task(task_id="check_drift", execution_timeout=timedelta(minutes=30), retries=1)
        def check_drift(**context: Any) -> dict[str, Any]:
            """Every scored batch of this run vs its model's baseline: one decision, report and history line each."""
            from airflow.sdk.exceptions import AirflowFailException

            from include.profiles import get_profile
            from ml.drift.check import check_batches

            s = get_settings()
            prof = get_profile(profile.name, s)
            key = run_key(context["run_id"], context.get("logical_date"))
            batches = _batches_from_context(context, assets.predictions, prof.name, s, key)
            if not batches:
                wanted = context["params"].get("inference_run_key")
                raise AirflowFailException(
                    f"no scored batch with results for inference_run_key={wanted!r}: that batch_inference run "
                    f"wrote no manifest {s.zone_uri('results', prof.name, '_batches', f'{wanted}.json')} "
                    "(check the key in its publish_results log)"
                    if wanted
                    else "no scored batch to check: no predictions event, and every scored batch already has a "
                    "decision; give the Param inference_run_key of a batch_inference run to check one again"
                )
            summary = check_batches(
                prof,
                batches,
                drift_run_key=key,
                now=context.get("logical_date") or context["dag_run"].run_after,
                seed=int(context["params"]["seed"]),
                settings=s,
            )
            for d in summary["batches"]:
                print(
                    f"drift decision for {prof.name} batch {d['inference_run_key']}: {d['status']} "
                    f"(retrain={d['retrain']}) n={d['n']}"
                )
                for reason in d["reasons"]:
                    print(f"  - {reason}")
            print(
                f"drift run for {prof.name}: {len(summary['batches'])} batch(es) checked, retrain={summary['retrain']}"
            )
            return summary

        @task.branch(task_id="policy")
        def policy_branch(decision: dict[str, Any]) -> str:
            """Drift that the policy confirms → announce it; anything else → record and stop."""
            return "announce_drift" if decision["retrain"] else "no_retrain"

        @task(task_id="announce_drift", outlets=[assets.drift], retries=2)
        def announce_drift(decision: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Emit the drift asset event (schedules the train DAG) and notify."""
            from nlpops.notifiers.callbacks import notify

            extra = {
                "batches": [b["inference_run_key"] for b in decision["batches"]],
                "inference_run_key": decision["inference_run_key"],
                "metrics": decision["metrics"],
                "reason": "; ".join(decision["reasons"]),
                "metrics_over": decision["metrics_over"],
                "n": decision["n"],
                "model_version": decision["model_version"],
                "report": decision["report"],
            }
            context["outlet_events"][assets.drift].extra = extra
            notify(
                "drift",
                f"nlpops: {profile.name} drift confirmed, retraining ({extra['reason']})",
                dag_id=f"{profile.name}_drift",
                run_id=context["run_id"],
                model_version=decision["model_version"],
                metrics_over=", ".join(decision["metrics_over"]),
                n=decision["n"],
                report=decision["report"],
            )
            return extra

        @task(task_id="no_retrain", retries=2)
        def no_retrain(decision: dict[str, Any]) -> str:
            """No retrain this time; streaks of insufficient data are worth a notification."""
            from include.settings import get_settings
            from ml.drift.check import INSUFFICIENT_STREAK_NOTICE, insufficient_streak
            from ml.drift.policy import history_uri, load_history
            from nlpops.notifiers.callbacks import notify

            status = str(decision["status"])
            streak = insufficient_streak([p.status for p in load_history(history_uri(profile.name, get_settings()))])
            if streak >= INSUFFICIENT_STREAK_NOTICE:
                notify(
                    "insufficient_data",
                    f"nlpops: {profile.name}: {streak} drift checks in a row had too few rows "
                    f"(< {profile.drift.min_sample}); drift cannot be judged",
                    dag_id=f"{profile.name}_drift",
                    status=status,
                    n=decision["n"],
                    report=decision["report"],
                )
            return status

        decision: Any = check_drift()
        policy_branch(decision) >> [announce_drift(decision), no_retrain(decision)]
        if settings.results_postgres_conn_id:  # optional: every decision also into PostgreSQL
            from nlpops.operators.postgres_publish import PublishDriftDecisionToPostgresOperator

            decision >> PublishDriftDecisionToPostgresOperator(
                task_id="publish_decision_postgres",
                postgres_conn_id=settings.results_postgres_conn_id,
                profile_name=profile.name,
                decision="{{ ti.xcom_pull(task_ids='check_drift') | tojson }}",
                retries=3,
            )
    return dag


def _batches_from_context(
    context: Any, predictions: Any, profile_name: str, settings: Any, drift_run_key: str = ""
) -> list[Any]:
    """The batches to check: the one named by the Param, else every triggering event's batch and every unchecked one."""
    from ml.drift.check import batch_from_manifest, batches_from_events, pending_batches, select_batches
    from ml.drift.policy import history_uri, load_history

    wanted = str(context["params"].get("inference_run_key") or "")
    if wanted:
        # The run's batch manifest lists its result files: no scan of the results zone (file:// or s3://).
        one = batch_from_manifest(settings.zone_uri("results", profile_name), wanted)
        return [one] if one else []
    events = context.get("triggering_asset_events") or {}
    extras = [
        ev.extra or {}
        for asset, evs in events.items()
        if getattr(asset, "name", None) == predictions.name
        for ev in evs  # every event since the previous run: none is dropped
    ]
    history = load_history(history_uri(profile_name, settings))
    pending = pending_batches(settings.zone_uri("results", profile_name), history)
    return select_batches(batches_from_events(extras), pending, history, drift_run_key)


# One broken profile gets a failing placeholder DAG; the other profiles' DAGs still load.
globals().update(build_profile_dags("drift", build_drift_dag))
