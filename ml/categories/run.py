"""The two steps the ``<profile>_categories`` DAG runs, as plain functions (no Airflow).

:func:`find_candidates`: pool of recent scored texts → clusters → report; returns what the
review step shows. :func:`record_decisions`: the reviewers' answers → decision record and
history, next category-map version, pseudo-labelled processed run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from include import lake
from ml.categories.category_map import current_map, diff, read_version
from ml.categories.clusters import Embedding, cluster_pool
from ml.categories.decisions import apply_decisions, parse_response, pseudo_label_rows, publish_pseudo_labels
from ml.categories.pool import load_pool, load_unscored_pool, recent_manifests, weighted_sample
from ml.categories.report import report_dir_uri, write_report


def find_candidates(
    profile: Any,
    *,
    results_uri: str,
    models_uri: str,
    reports_uri: str,
    run_key: str,
    champion: Any,
    champion_classes: Sequence[str],
    champion_version: str | None,
    min_sample: int,
    max_texts: int,
    lookback_batches: int,
    run_keys: Sequence[str] = (),
    k_max: int = 8,
    embedding: Embedding = "pool",
    seed: int = 0,
    unscored_uri: str | None = None,
) -> dict[str, Any]:
    """Cluster recent scored texts; ``status`` is ``insufficient_data``, ``no_clusters`` or ``review``.

    ``unscored_uri`` (validated Parquet of unscored inference inputs) replaces the scored
    batches when there is no champion yet: the bootstrap of a profile with no labels, whose
    first classes are the clusters an analyst names.
    """
    cmap = current_map(profile, models_uri)
    if unscored_uri is not None:
        if champion is not None:
            raise ValueError("unscored_uri is for a profile without a champion; with one, cluster its scored batches")
        manifests: list[dict[str, Any]] = []
        pool = load_unscored_pool(
            unscored_uri, text_fields=profile.fields.text, separator=profile.fields.text_separator
        )
        batches = sorted(set(pool.batches))
    else:
        manifests = recent_manifests(results_uri, limit=lookback_batches, run_keys=run_keys)
        pool = load_pool(
            manifests,
            text_fields=profile.fields.text,
            separator=profile.fields.text_separator,
            classes=champion_classes,
        )
        batches = [str(m.get("run_key")) for m in manifests]
    source = "unscored inputs" if unscored_uri is not None else "scored batches"
    base = {
        "run_key": run_key,
        "source": source,
        "n_scored": pool.n,
        "batches": batches,
        "category_map_version": cmap.version,
        "classes": cmap.classes,
        "min_sample": min_sample,
    }
    if pool.n < min_sample:
        return {**base, "status": "insufficient_data", "clusters": []}
    sample = weighted_sample(pool, max_texts, seed=seed)
    clustering = cluster_pool(sample, champion=champion, embedding=embedding, k_max=k_max, seed=seed).to_dict()
    out_uri = report_dir_uri(reports_uri, profile.name, run_key)
    uris = write_report(
        out_uri,
        clustering,
        profile=profile.name,
        run_key=run_key,
        category_map=cmap,
        champion_version=champion_version,
        source=source,
    )
    summary = [
        {k: v for k, v in c.items() if k not in ("members", "boundary", "predicted")} for c in clustering["clusters"]
    ]
    return {
        **base,
        "clusters_uri": uris["clusters"],
        "report": uris["report"],
        "status": "review" if summary else "no_clusters",
        "n_clustered": clustering["n_texts"],
        "k": clustering["k"],
        "silhouette": clustering["silhouette"],
        "embedding": clustering["embedding"],
        "note": clustering.get("note", ""),
        "clusters": summary,
    }


def review_requests(candidates: Mapping[str, Any], *, report_link: str | None = None) -> list[dict[str, Any]]:
    """One HITL request (subject, body, options, defaults) per cluster, for ``expand_kwargs``.

    ``report_link``: the cluster report's URL in the Model Ops view (the body links it; the
    lake URI follows for readers outside the UI).
    """
    from ml.categories.decisions import OPTION_IGNORE, options_for

    requests = []
    for c in candidates["clusters"]:
        where = f"(in the lake: `{candidates['report']}`)"
        report_line = (
            f"Full report: [cluster report, cluster {c['cluster']}]({report_link}#cluster-{c['cluster']}) {where}"
            if report_link
            else f"Full report: {where}"
        )
        examples = "\n".join(f"- {e['text'][:300]!s}" for e in c["representative"])
        nearest = (
            f"**Nearest existing category:** {c['nearest_category']} (champion predicts it for "
            f"{c['nearest_share']:.0%}, mean confidence {c['nearest_confidence']:.2f})"
            if candidates.get("source", "scored batches") == "scored batches"
            else "**No champion yet:** these texts are unscored; name the cluster to create a class."
        )
        body = (
            f"**{c['size']} texts** ({c['share']:.0%} of {candidates['n_clustered']} clustered), "
            f"novelty **{c['novelty']:.2f}**.\n\n"
            f"**Top terms:** {', '.join(c['top_terms'])}\n\n"
            f"{nearest}\n\n"
            f"**Representative texts:**\n{examples}\n\n"
            f"{report_line}\n\n"
            "Choose *new category* and fill in **name**, or *belongs to …*, or *ignore*. "
            "No answer before the timeout = ignore."
        )
        requests.append(
            {
                "subject": f"Cluster {c['cluster']}: {', '.join(c['top_terms'][:4])}",
                "body": body,
                "options": options_for(candidates["classes"]),
                "defaults": [OPTION_IGNORE],
            }
        )
    return requests


def record_decisions(
    profile: Any,
    *,
    candidates: Mapping[str, Any],
    responses: Sequence[Mapping[str, Any] | None],
    models_uri: str,
    processed_uri: str,
    reports_uri: str,
    threshold: float,
    now: str,
) -> dict[str, Any]:
    """Apply the answers (aligned with ``candidates['clusters']``); return the summary the DAG announces."""
    run_key = str(candidates["run_key"])
    clusters_doc = lake.read_json(candidates["clusters_uri"])
    if len(responses) != len(candidates["clusters"]):
        raise ValueError(
            f"{len(responses)} review answers for {len(candidates['clusters'])} clusters of run {run_key}: "
            "every cluster needs one (a missing review task?)"
        )
    decisions = [
        parse_response(
            r, cluster=int(c["cluster"]), size=int(c["size"]), run_key=run_key, classes=candidates["classes"]
        )
        for r, c in zip(responses, candidates["clusters"], strict=True)
    ]
    old, new = apply_decisions(
        profile, models_uri, decisions, expected_version=int(candidates["category_map_version"]), created_at=now
    )
    rows = pseudo_label_rows(clusters_doc["clusters"], decisions, threshold=threshold)
    per_decision: dict[str, int] = {}
    for r in rows:
        per_decision[r["decision_id"]] = per_decision.get(r["decision_id"], 0) + 1
    decisions = [type(d)(**{**d.to_dict(), "pseudo_labels": per_decision.get(d.decision_id, 0)}) for d in decisions]
    published = None
    if rows:
        published = publish_pseudo_labels(
            rows,
            processed_uri=processed_uri,
            run_key=run_key,
            split_spec=profile.split,
            manifest={
                "source": "categories",
                "category_map_version": (new or old).version,
                "decisions": [d.decision_id for d in decisions if d.action != "ignore"],
                "threshold": threshold,
            },
        )
    cmap = new or read_version(profile, models_uri, old.version)
    record = {
        "run_key": run_key,
        "decided_at": now,
        "report": candidates.get("report"),
        "category_map_version": cmap.version,
        "previous_map_version": old.version,
        "map_diff": diff(old, new) if new is not None else None,
        "threshold": threshold,
        "decisions": [d.to_dict() for d in decisions],
        "pseudo_labels": 0 if published is None else int(published["rows"]),
        "pseudo_label_run": None if published is None else published["uri"],
    }
    out_dir = report_dir_uri(reports_uri, profile.name, run_key)
    lake.write_json(lake.join(out_dir, "decision.json"), record)
    _append_history(lake.join(reports_uri, "categories", profile.name, "decisions.jsonl"), record)
    record["changed"] = new is not None or bool(rows)
    record["classes"] = cmap.classes
    # a bootstrap map with one class waits for a second before anything can be trained
    record["trainable"] = cmap.trainable
    return record


def _append_history(uri: str, record: Mapping[str, Any]) -> None:
    """One JSON line per decision run (read back, appended, rewritten atomically)."""
    old = lake.read_bytes(uri).decode("utf-8") if lake.exists(uri) else ""
    run_key = record["run_key"]
    kept = [line for line in old.splitlines() if line.strip() and json.loads(line).get("run_key") != run_key]
    lake.write_text(uri, "\n".join([*kept, json.dumps(record, sort_keys=True, default=str)]) + "\n")


__all__ = ["find_candidates", "record_decisions", "review_requests"]
