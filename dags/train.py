"""``<profile>_train``: train → evaluate → register → champion/challenger gate → promote | reject.

One DAG per enabled dataset profile. Runs nightly (the profile's ``schedule.train`` cron)
or when the drift DAG announces drift (asset ``<profile>.drift``). Thin by design: the
logic lives in ``ml/`` and is imported inside the tasks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, AssetOrTimeSchedule, Param, task

# Public in airflow.sdk, but its type stub (__init__.pyi) does not list them yet.
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from include.profiles import Profile
from include.settings import Settings, get_settings
from nlpops.dagkit import build_profile_dags, default_args, profile_assets, tags
from nlpops.factory import endpoint_operator, training_operator
from nlpops.notifiers.callbacks import on_dag_deadline_missed
from nlpops.timetables import NextCronTimetable

DOC = """
### {name}: train

{description}

**What it does.** Reads every published run under `processed/{name}/` (repeated texts
dropped), trains the profile's classifier (`ml/train.py`, SageMaker script mode; word +
character TF-IDF into a linear model) in a job named from DAG, task and run, evaluates it
and the current champion on the **same** test split (report under
`reports/evaluation/{name}/<job>/index.html`), registers it as a new version
(alias `challenger`, status PendingManualApproval, lineage tags) and applies the gate:
promote when `{metric}` ≥ {floor} and it beats the champion by ≥ {margin}
(the first model only needs the floor). With the Param `require_approval` a human
approves the promotion in the Airflow UI (Required Actions) first.

**Outputs.** `models/{name}/<job>/output/model.tar.gz` (skops, trusted types only),
registry alias `champion`, asset `{name}.champion` (extra: version, metrics).

**Deadline.** A run not finished {deadline} min after it was queued is announced through the
notifier (file/log, SNS, webhook), as is every failed task.

**Model selection.** With `search_budget_seconds` > 0 (default {budget} s) training first
chooses the classifier family and hyper-parameters by a cross-validated successive-halving
search (`ml/search.py`) within that budget; the Params below are its first candidate. The
winner, the trials and the k-fold mean ± sd go to `model.json`, the registry tags and the
evaluation report. 0 trains exactly the Params (the profile pins its configuration).

**Triggers.** Cron `{cron}` or the asset `{name}.drift`. Hyper-parameters can be
overridden per run with the Params below (defaults: the profile's `model:` section).
"""

#: ModelSpec fields exposed as run Params (the rest stay as the profile says).
TUNABLE = (
    "classifier",
    "C",
    "word_ngram_max",
    "char_ngram_min",
    "char_ngram_max",
    "min_df",
    "class_weight",
    "decision_bias",
)
#: Other ModelSpec fields a run may override.
PER_RUN = ("cv_folds", "sample_size", "search_budget_seconds")


def _params(profile: Profile, settings: Settings) -> dict[str, Param]:
    spec = profile.model
    params: dict[str, Param] = {
        "classifier": Param(
            spec.classifier,
            type="string",
            enum=["logreg", "linear_svm", "sgd", "nblr"],
            description="Linear classifier.",
        ),
        "C": Param(spec.C, type="number", exclusiveMinimum=0, description="Inverse regularisation strength."),
        "word_ngram_max": Param(
            spec.word_ngram_max, type="integer", minimum=1, maximum=3, description="Word n-grams 1..n."
        ),
        "char_ngram_min": Param(
            spec.char_ngram_min, type="integer", minimum=1, maximum=6, description="Shortest char n-gram."
        ),
        "char_ngram_max": Param(
            spec.char_ngram_max, type="integer", minimum=0, maximum=6, description="Longest char n-gram (0 = none)."
        ),
        "min_df": Param(spec.min_df, type="integer", minimum=1, description="Ignore n-grams in fewer documents."),
        "class_weight": Param(
            spec.class_weight, type="string", enum=["balanced", "none"], description="Re-weight rare classes."
        ),
        "decision_bias": Param(
            spec.decision_bias,
            type="string",
            enum=["none", "tuned"],
            description="tuned: per-class decision offsets chosen on k-fold scores of the training rows.",
        ),
        "cv_folds": Param(spec.cv_folds, type="integer", minimum=0, maximum=10, description="0 = no CV"),
        "search_budget_seconds": Param(
            settings.search_budget(spec.search_budget_seconds),
            type="integer",
            minimum=0,
            description="Seconds of cross-validated model selection (0 = train the Params as set).",
        ),
        "sample_size": Param(
            spec.sample_size, type="integer", minimum=0, description="Train on at most this many rows (0 = all)."
        ),
        "require_approval": Param(
            False, type="boolean", description="Ask a human to approve before a passing model becomes champion."
        ),
    }
    return params


def build_train_dag(profile: Profile, settings: Settings) -> DAG:
    """The training DAG of one profile."""
    assets = profile_assets(profile.name)
    spec = profile.model
    hyperparameters: dict[str, Any] = {
        **{k: v for k, v in spec.model_dump().items() if k not in (*TUNABLE, *PER_RUN)},
        **{k: f"{{{{ params.{k} }}}}" for k in (*TUNABLE, *PER_RUN)},
        "profile": profile.name,
        # the current category map's classes (profile YAML = version 0), read when the run starts
        "classes": "{{ ti.xcom_pull(task_ids='category_map')['classes'] }}",
        "low_confidence": profile.drift.low_confidence,
        "code_version": settings.resolved_code_version(),
    }
    with DAG(
        dag_id=f"{profile.name}_train",
        # the DAG list shows an AssetOrTimeSchedule as its assets only: say the cron here too
        description=(
            f"Train, evaluate, register and gate a model for {profile.name}: "
            f"cron {profile.schedule.train} (UTC), or on drift / new categories"
        ),
        schedule=AssetOrTimeSchedule(
            timetable=NextCronTimetable(profile.schedule.train, timezone="UTC"),
            assets=(assets.drift | assets.categories),
        ),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=6),
        default_args=default_args(profile, settings, retries=1),
        doc_md=DOC.format(
            name=profile.name,
            description=profile.description,
            metric=spec.primary_metric,
            floor=spec.metric_floor,
            margin=spec.promotion_margin,
            cron=profile.schedule.train,
            deadline=profile.schedule.train_deadline_minutes,
            budget=settings.search_budget(spec.search_budget_seconds),
        ),
        tags=tags(profile, "train"),
        render_template_as_native_obj=True,
        params=_params(profile, settings),
        # Airflow 3 deadline alert (the SLA successor): a run still going this long after it was
        # queued is announced through the notifier; the triggerer runs the callback. Off with
        # NLPOPS_DEADLINE_ALERTS=false: Airflow 3.3.2's `dags test` cannot finish a DAG that has one.
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=profile.schedule.train_deadline_minutes),
            callback=AsyncCallback(
                on_dag_deadline_missed,
                kwargs={"profile": profile.name, "deadline_minutes": profile.schedule.train_deadline_minutes},
            ),
        )
        if settings.deadline_alerts
        else None,
    ) as dag:
        train = training_operator(
            task_id="train",
            profile=profile,
            settings=settings,
            hyperparameters=hyperparameters,
            lineage={
                "profile": profile.name,
                "profile_fingerprint": profile.fingerprint(),
                "category_map_version": "{{ ti.xcom_pull(task_ids='category_map')['version'] }}",
            },
        )

        @task(task_id="category_map", execution_timeout=timedelta(minutes=5), retries=2)
        def category_map() -> dict[str, Any]:
            """The current category map version (ml.categories): the classes this model is trained on."""
            from airflow.sdk.exceptions import AirflowFailException

            from include.profiles import get_profile
            from ml.categories.category_map import current_map

            s = get_settings()
            cmap = current_map(get_profile(profile.name, s), s.zone_uri("models", profile.name))
            print(f"category map v{cmap.version}: {cmap.classes}")
            if not cmap.trainable:
                raise AirflowFailException(
                    f"category map v{cmap.version} of {profile.name} has {len(cmap.classes)} class(es) "
                    f"{cmap.classes}: a classifier needs two. A profile with no labels starts from "
                    f"{profile.name}_categories: it clusters the unscored inference inputs and an analyst "
                    "names the clusters (Required Actions); or add labels to the profile YAML"
                )
            return {"version": cmap.version, "classes": cmap.classes}

        category_map() >> train

        @task(task_id="evaluate", execution_timeout=timedelta(minutes=30))
        def evaluate(trained: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Challenger and champion on the same test split; report under reports/evaluation/."""
            from include.lake import local_copy
            from ml.categories.gate import evaluate_on_map
            from ml.data import read_channel
            from ml.evaluate import write_report
            from ml.registry import CHAMPION, get_registry

            s = get_settings()
            # the job's own test channel: a local folder, or downloaded from S3 for the read
            with local_copy(trained["test_channel_uri"]) as test_dir:
                test = read_channel(test_dir, name="test")
            classes = context["ti"].xcom_pull(task_ids="category_map")["classes"]
            champion_version = get_registry(s).get_by_alias(profile.name, CHAMPION)
            # A grown label set is compared on the classes both models know; new classes are judged apart.
            evaluated = evaluate_on_map(
                trained["model_artifact_uri"],
                None if champion_version is None else champion_version.artifact_uri,
                test["text"].astype(str).tolist(),
                test["label"].astype(str).tolist(),
                classes,
            )
            challenger, champion, shared = (
                evaluated["challenger"],
                evaluated["champion"],
                evaluated["challenger_shared"],
            )
            if champion is not None and champion_version is not None:
                champion["version"] = champion_version.version
            challenger["selection"] = trained["metrics"].get("selection")  # shown in the report
            from nlpops.links.reports import model_ops_url

            lineage = trained["lineage"]
            report = write_report(
                challenger,
                champion,
                s.zone_uri("reports", "evaluation", profile.name, trained["job_name"]),
                about={
                    "profile": profile.name,
                    "job_name": trained["job_name"],
                    "run_id": str(context["run_id"]),
                    "training_data": (
                        f"{lineage.get('processed_uri', '')} (runs {', '.join(lineage.get('run_keys', [])) or '–'})"
                    ),
                    "champion_version": "none yet" if champion_version is None else str(champion_version.version),
                    "code_version": s.resolved_code_version(),
                },
                model_ops_url=model_ops_url(f"#profile-{profile.name}"),
            )
            keys = ("accuracy", "macro_f1", "roc_auc", "n")
            return {
                "challenger": {k: challenger[k] for k in keys if k in challenger},
                "champion": None if champion is None else {k: champion[k] for k in keys if k in champion},
                "champion_version": None if champion_version is None else champion_version.version,
                "report_uri": report,
                "challenger_shared": None if shared is None else {k: shared[k] for k in keys if k in shared},
                "new_class_f1": evaluated["new_class_f1"],
            }

        @task(task_id="register", retries=2)
        def register(trained: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Any]:
            """New registry version (alias challenger, PendingManualApproval) with lineage tags."""

            from ml.registry import get_registry
            from ml.registry.lifecycle import register_challenger
            from ml.search import selection_tags

            lineage = trained["lineage"]
            mv = register_challenger(
                get_registry(get_settings()),
                profile.name,
                trained["model_artifact_uri"],
                {k: float(v) for k, v in evaluation["challenger"].items()},
                {
                    "job_name": trained["job_name"],
                    "processed_run_keys": ",".join(lineage.get("run_keys", [])),
                    "processed_uri": lineage.get("processed_uri", ""),
                    "profile_fingerprint": lineage.get("profile_fingerprint", ""),
                    "code_version": settings.resolved_code_version(),
                    "evaluation_report": evaluation["report_uri"],
                    **selection_tags(trained["metrics"].get("selection")),
                    "category_map_version": str(lineage.get("category_map_version", "0")),
                },
                params=trained["Training"]["HyperParameters"],
            )
            from ml.evaluate import add_version

            # the report names the version the registry just gave the challenger
            add_version(evaluation["report_uri"].rsplit("/", 1)[0], mv.version)
            return mv.to_dict()

        @task.branch(task_id="gate")
        def gate(evaluation: dict[str, Any], version: dict[str, Any], **context: Any) -> str:
            """Champion/challenger decision (ml.gate; on a grown label set ml.categories.gate); reason to XCom."""
            from ml.categories.gate import decide

            decision = decide(
                evaluation.get("challenger_shared") or evaluation["challenger"],
                evaluation["champion"],
                evaluation.get("new_class_f1") or {},
                primary_metric=spec.primary_metric,
                margin=spec.promotion_margin,
                floor=spec.metric_floor,
            )
            context["ti"].xcom_push(key="decision", value=decision.to_dict())
            if not decision.promote:
                return "reject"
            return "approve" if context["params"]["require_approval"] else "auto_approve"

        approve = ApprovalOperator(
            task_id="approve",
            subject=f"Promote a new {profile.name} model to champion?",
            body="Version {{ ti.xcom_pull(task_ids='register')['version'] }}: "
            "{{ ti.xcom_pull(task_ids='gate', key='decision')['reason'] }}. "
            "Report: {{ ti.xcom_pull(task_ids='evaluate')['report_uri'] }}",
            response_timeout=timedelta(days=2),
            # longer than the response window, so the human's time is bounded by response_timeout only
            execution_timeout=timedelta(days=2, hours=1),
        )
        auto_approve = EmptyOperator(task_id="auto_approve")

        @task(task_id="promote", outlets=[assets.champion], trigger_rule="one_success")
        def promote(**context: Any) -> dict[str, Any]:
            """Approve the version and move the ``champion`` alias to it; announce the new champion."""
            from ml.registry import get_registry
            from ml.registry.lifecycle import promote as promote_version

            # Pulled, not passed: an argument would make `register` an upstream and fire one_success early.
            version = context["ti"].xcom_pull(task_ids="register")
            decision = context["ti"].xcom_pull(task_ids="gate", key="decision")
            previous = promote_version(
                get_registry(get_settings()), profile.name, version["version"], decision["reason"]
            )
            context["outlet_events"][assets.champion].extra = {
                "version": version["version"],
                "artifact_uri": version["artifact_uri"],
                "metrics": version["metrics"],
                "previous_version": None if previous is None else previous.version,
            }
            return {"champion": version["version"], "previous": None if previous is None else previous.version}

        @task(task_id="reject")
        def reject(version: dict[str, Any], **context: Any) -> str:
            """Mark the version Rejected with the gate's reason; the champion stays."""
            from ml.registry import get_registry
            from ml.registry.lifecycle import reject as reject_version

            decision = context["ti"].xcom_pull(task_ids="gate", key="decision")
            reject_version(get_registry(get_settings()), profile.name, version["version"], decision["reason"])
            return str(decision["reason"])

        # Task calls return XComArgs that resolve to the annotated dicts at run time.
        evaluation: Any = evaluate(train.output)
        version: Any = register(train.output, evaluation)
        decided = gate(evaluation, version)
        decided >> [approve, auto_approve, reject(version)]
        promoted = promote()
        [approve, auto_approve] >> promoted
        if profile.serving.endpoint:
            # Real-time serving of the new champion: a SageMaker endpoint (blue/green) or the local alias check.
            promoted >> endpoint_operator(
                task_id="deploy_endpoint",
                profile=profile,
                settings=settings,
                model_version="{{ ti.xcom_pull(task_ids='register')['version'] }}",
                model_artifact_uri="{{ ti.xcom_pull(task_ids='register')['artifact_uri'] }}",
            )
    return dag


# One broken profile gets a failing placeholder DAG; the other profiles' DAGs still load.
globals().update(build_profile_dags("train", build_train_dag))
