"""``<profile>_categories``: new topics in scored texts → cluster report → a person decides → new label set.

Scheduled daily and on the asset ``<profile>.predictions``. Thin by design: pooling,
clustering, the report, the versioned category map and the pseudo-labels live in
``ml/categories``; the review is Airflow's own human-in-the-loop operator.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG, AssetOrTimeSchedule, Param, task

from include.naming import run_key
from include.profiles import Profile
from include.settings import Settings, get_settings
from nlpops.dagkit import build_profile_dags, default_args, profile_assets, tags
from nlpops.timetables import NextCronTimetable

#: Daily look even without new predictions (03:30 UTC), plus every predictions event.
CRON = "30 3 * * *"
#: How long a review stays open; no answer = "ignore" (nothing changes without a person).
REVIEW_TIMEOUT = timedelta(days=2)

DOC = """
### {name}: categories

{description}

**When.** Daily (`{cron}` UTC) and after every update of `{name}.predictions`, or by hand.

**What it does.** Gathers the texts of the most recent scored batches (at most
`lookback_batches`; the triggering batches always included), samples at most `max_texts`
of them weighted towards low-confidence predictions, and with fewer than `min_sample`
stops (*insufficient data*). Otherwise it embeds them (TF-IDF word + character n-grams
fitted on the pool, reduced with TruncatedSVD; or the champion's own features),
clusters them with k-means (k in 2..`k_max` with the best cosine silhouette) and writes
the cluster report `reports/categories/{name}/<run>/index.html` (size, top terms,
representative and boundary texts, nearest existing category and the champion's
confidence in it, novelty) with `clusters.json`.

**No champion yet (bootstrap).** A profile with `labels: {{}}` (no labels at all), or any
profile before its first model, has no scored batches: the pool is then the newest
unscored files under `inference-input/{name}/` (at most `lookback_files`), validated as
batch inference validates them (no label; bad rows quarantined), and the clusters have no
nearest category. The analyst names clusters as *new category*; once the map has two
classes, the event queues `{name}_train`, which trains the first model on the
pseudo-labelled rows, and batch inference can score.

**Review (Required Actions).** One form per cluster: *new category* with a **name**,
*belongs to &lt;class&gt;*, or *ignore*. No answer within {timeout} = ignore.

**Outputs.** The decision (who, when, what) in `reports/categories/{name}/<run>/decision.json`
and `reports/categories/{name}/decisions.jsonl`; a new category map version
`models/{name}/_category_map/vNNNN.json` when a class is added; members of accepted clusters
with membership ≥ `pseudo_label_threshold` as pseudo-labelled training rows
(`processed/{name}/run=categories-<run>`); and, when anything changed, an event on
`{name}.categories`, which queues `{name}_train` on the new label set.
"""


def build_categories_dag(profile: Profile, settings: Settings) -> DAG:
    """The categories DAG of one profile."""
    assets = profile_assets(profile.name)
    with DAG(
        dag_id=f"{profile.name}_categories",
        description=f"Find new categories in scored {profile.name} texts; a person decides; retrain",
        schedule=AssetOrTimeSchedule(timetable=NextCronTimetable(CRON, timezone="UTC"), assets=assets.predictions),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=REVIEW_TIMEOUT + timedelta(hours=2),
        default_args=default_args(profile, settings),
        doc_md=DOC.format(name=profile.name, description=profile.description, cron=CRON, timeout=REVIEW_TIMEOUT),
        tags=tags(profile, "categories"),
        params={
            "min_sample": Param(
                profile.drift.min_sample, type="integer", minimum=1, description="Fewer scored texts: no clustering."
            ),
            "max_texts": Param(2000, type="integer", minimum=20, description="Texts clustered at most (sampled)."),
            "lookback_batches": Param(
                10, type="integer", minimum=1, description="Most recent scored batches read into the pool."
            ),
            "k_max": Param(8, type="integer", minimum=2, maximum=30, description="Largest k tried by k-means."),
            "embedding": Param(
                "pool", type="string", enum=["pool", "champion"], description="Text features the clusters use."
            ),
            "pseudo_label_threshold": Param(
                0.1,
                type="number",
                minimum=0,
                maximum=1,
                description="Members of an accepted cluster with membership at least this become training rows.",
            ),
            "seed": Param(0, type="integer", minimum=0, description="Seed of sampling, SVD and k-means."),
            "lookback_files": Param(
                50,
                type="integer",
                minimum=1,
                description="Without a champion (bootstrap): newest unscored inference-input files read.",
            ),
        },
    ) as dag:

        @task(task_id="find_candidates", execution_timeout=timedelta(minutes=30), retries=1)
        def find_candidates(**context: Any) -> dict[str, Any]:
            """Pool → clusters → report; the minimum-sample guard."""
            import tempfile
            from pathlib import Path

            from include import lake
            from include.profiles import get_profile
            from ml.artefact import MODEL_FILE, load_pipeline, read_meta, unpack_model_archive
            from ml.categories.run import find_candidates as find
            from ml.registry import CHAMPION, get_registry

            s = get_settings()
            prof = get_profile(profile.name, s)
            params = context["params"]
            champion = get_registry(s).get_by_alias(prof.name, CHAMPION)
            pipeline, classes, version = None, list(prof.classes), None
            if champion is not None:
                with tempfile.TemporaryDirectory(prefix="nlpops-categories-") as tmp:
                    model_dir = unpack_model_archive(lake.read_bytes(champion.artifact_uri), Path(tmp))
                    pipeline = load_pipeline(model_dir / MODEL_FILE)
                    classes = [str(c) for c in read_meta(model_dir)["classes"]]
                version = champion.version
            unscored_uri = None
            if champion is None:
                # bootstrap: nothing is scored yet, so the pool is the unscored inference inputs, validated
                unscored_uri = _validate_unscored_inputs(prof, s, int(params["lookback_files"]), context)
            events = (context.get("triggering_asset_events") or {}).items()
            batch_keys = [
                str((ev.extra or {}).get("run_key"))
                for asset, evs in events
                if getattr(asset, "name", None) == assets.predictions.name
                for ev in evs
                if (ev.extra or {}).get("run_key")
            ]
            out = find(
                prof,
                results_uri=s.zone_uri("results", prof.name),
                models_uri=s.zone_uri("models", prof.name),
                reports_uri=s.zone_uri("reports"),
                run_key=run_key(context["run_id"], context.get("logical_date")),
                champion=pipeline,
                champion_classes=classes,
                champion_version=version,
                min_sample=int(params["min_sample"]),
                max_texts=int(params["max_texts"]),
                lookback_batches=int(params["lookback_batches"]),
                run_keys=batch_keys,
                k_max=int(params["k_max"]),
                embedding=params["embedding"],
                seed=int(params["seed"]),
                unscored_uri=unscored_uri,
            )
            print(
                f"categories {prof.name}: {out['status']}: {out['n_scored']} texts from {out['source']} "
                f"({len(out['batches'])} batch(es) or file(s)), {len(out['clusters'])} cluster(s); "
                f"report {out.get('report')}"
            )
            return out

        @task.branch(task_id="anything_to_review")
        def anything_to_review(candidates: dict[str, Any]) -> str:
            """Clusters → ask a person; too few texts or no clusters → stop here."""
            return "review_requests" if candidates["status"] == "review" else "nothing_to_review"

        @task(task_id="review_requests", execution_timeout=timedelta(minutes=5))
        def review_requests(candidates: dict[str, Any]) -> list[dict[str, Any]]:
            """One HITL form per cluster (subject, body, options, default)."""
            from ml.categories.run import review_requests as requests
            from nlpops.links.reports import report_url

            reports = get_settings().zone_uri("reports").rstrip("/") + "/"
            uri = str(candidates.get("report") or "")
            return requests(
                candidates, report_link=report_url(uri[len(reports) :]) if uri.startswith(reports) else None
            )

        review = HITLOperator.partial(
            task_id="review",
            params={
                "name": Param("", type="string", description="Name of the new category (only with 'new category')."),
            },
            response_timeout=REVIEW_TIMEOUT,
            # longer than the response window, so the human's time is bounded by response_timeout only
            execution_timeout=REVIEW_TIMEOUT + timedelta(hours=1),
            retries=1,
        )

        @task(task_id="record_decisions", execution_timeout=timedelta(minutes=30), retries=1)
        def record_decisions(candidates: dict[str, Any], answers: Any, **context: Any) -> dict[str, Any]:
            """Decisions → history, next category map version, pseudo-labelled rows."""
            from include.profiles import get_profile
            from ml.categories.run import record_decisions as record

            s = get_settings()
            prof = get_profile(profile.name, s)
            now = (context.get("logical_date") or context["dag_run"].run_after).isoformat()
            out = record(
                prof,
                candidates=candidates,
                responses=[_as_response(a) for a in list(answers)],
                models_uri=s.zone_uri("models", prof.name),
                processed_uri=s.zone_uri("processed", prof.name),
                reports_uri=s.zone_uri("reports"),
                threshold=float(context["params"]["pseudo_label_threshold"]),
                now=now,
            )
            for d in out["decisions"]:
                print(f"  cluster {d['cluster']}: {d['action']} {d['category'] or ''} by {d['by']} at {d['at']}")
            print(f"category map v{out['category_map_version']}, {out['pseudo_labels']} pseudo-labelled rows")
            return out

        @task.branch(task_id="changed")
        def changed(record: dict[str, Any]) -> str:
            """A new class or new pseudo-labels → announce (retrain); otherwise stop.

            A map with fewer than two classes (a bootstrap where one cluster was named so far)
            is kept, but nothing can be trained on it: no event, and the log says what is missing.
            """
            if record["changed"] and not record.get("trainable", True):
                print(
                    f"category map v{record['category_map_version']} has {len(record['classes'])} class(es) "
                    f"{record['classes']}: a first model needs two; name another cluster in a later review"
                )
                return "no_change"
            return "announce_categories" if record["changed"] else "no_change"

        @task(task_id="announce_categories", outlets=[assets.categories], retries=2)
        def announce_categories(record: dict[str, Any], **context: Any) -> dict[str, Any]:
            """The asset event that queues ``<profile>_train`` on the new label set."""
            from nlpops.notifiers.callbacks import notify

            extra = {
                "category_map_version": record["category_map_version"],
                "classes": record["classes"],
                "pseudo_labels": record["pseudo_labels"],
                "pseudo_label_run": record["pseudo_label_run"],
                "decisions": [d["decision_id"] for d in record["decisions"] if d["action"] != "ignore"],
            }
            context["outlet_events"][assets.categories].extra = extra
            notify(
                "categories",
                f"nlpops: {profile.name} category map v{record['category_map_version']} "
                f"({', '.join(record['classes'])}), {record['pseudo_labels']} pseudo-labels: retraining",
                dag_id=f"{profile.name}_categories",
                run_id=context["run_id"],
            )
            return extra

        nothing_to_review = EmptyOperator(task_id="nothing_to_review")
        no_change = EmptyOperator(task_id="no_change")

        candidates: Any = find_candidates()
        requests: Any = review_requests(candidates)
        anything_to_review(candidates) >> [requests, nothing_to_review]
        answers = review.expand_kwargs(requests)
        record: Any = record_decisions(candidates, answers.output)
        changed(record) >> [announce_categories(record), no_change]
    return dag


def _validate_unscored_inputs(profile: Profile, settings: Settings, max_files: int, context: Any) -> str:
    """Validate the newest unscored inference-input files (no label); return the validated rows' URI.

    The same validation as batch inference (GX suite without the label, quarantine with reasons,
    refused files recorded in the inference ledger), into ``validated/<profile>-categories/<run>``.
    The files stay unscored: batch inference scores them once a champion exists.
    """
    from nlpops.dagkit import validate_new_objects
    from nlpops.ledger import find_new_objects

    found = find_new_objects(
        settings.zone_uri("inference-input", profile.name),
        settings.zone_uri("ledger", profile.name, "inference-input"),
        patterns=profile.input.file_patterns,
        quiet_seconds=profile.schedule.quiet_seconds,
        lake_root_uri=settings.lake_uri,
    )
    newest = sorted(found, key=lambda o: (o.mtime, o.key), reverse=True)[:max_files]
    print(f"no champion for {profile.name}: clustering {len(newest)} unscored inference-input file(s)")
    if not newest:
        return settings.zone_uri("validated", f"{profile.name}-categories", "none")
    _, validated_uri = validate_new_objects(
        profile.name,
        [o.to_dict() for o in newest],
        context,
        area=f"{profile.name}-categories",
        require_label=False,
        ledger_zone="inference-input",
    )
    return validated_uri


def _as_response(answer: Any) -> dict[str, Any] | None:
    """A HITL result (dict or HITLTriggerEventSuccessPayload) as a plain dict; None = no answer."""
    if answer is None:
        return None
    return dict(answer)


# One broken profile gets a failing placeholder DAG; the other profiles' DAGs still load.
globals().update(build_profile_dags("categories", build_categories_dag))
