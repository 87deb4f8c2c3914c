"""The cluster report: one self-contained HTML page (no external assets) plus ``clusters.json``.

Written to ``reports/categories/<profile>/<run key>/``: ``index.html`` for the analyst
(linked from the HITL form and Model Ops), ``clusters.json`` for the decision step (every
member with its membership score, so pseudo-labels come from exactly what was shown).
"""

from __future__ import annotations

import html
import json
from typing import Any

from include import lake
from ml.categories.category_map import CategoryMap

REPORT_FILE = "index.html"
CLUSTERS_FILE = "clusters.json"


def report_dir_uri(reports_uri: str, profile: str, run_key: str) -> str:
    """``reports/categories/<profile>/<run key>`` (``reports_uri`` is the reports zone)."""
    return lake.join(reports_uri, "categories", profile, lake.safe_key(run_key))


def write_report(
    out_uri: str,
    clustering: dict[str, Any],
    *,
    profile: str,
    run_key: str,
    category_map: CategoryMap,
    champion_version: str | None,
    source: str = "scored batches",
) -> dict[str, str]:
    """Write ``clusters.json`` then ``index.html`` under ``out_uri``; return both URIs."""
    doc = {
        "profile": profile,
        "run_key": run_key,
        "source": source,
        "category_map_version": category_map.version,
        "classes": category_map.classes,
        "champion_version": champion_version,
        **clustering,
    }
    json_uri = lake.join(out_uri, CLUSTERS_FILE)
    html_uri = lake.join(out_uri, REPORT_FILE)
    lake.write_json(json_uri, doc)
    lake.write_text(html_uri, render_html(doc))
    return {"clusters": json_uri, "report": html_uri}


def nearest_html(c: dict[str, Any], oov: str, scored: bool) -> str:
    """The cluster's nearest existing category, or (no champion yet) why there is none."""
    if not scored:
        return (
            "<p><b>Nearest existing category:</b> none (no champion yet: these texts are unscored). "
            "Name the cluster to create a class; the first model is trained once two classes exist.</p>"
        )
    return (
        f"<p><b>Nearest existing category:</b> {html.escape(str(c['nearest_category']))} (predicted for "
        f"{c['nearest_share']:.0%} of the cluster, mean confidence {c['nearest_confidence']:.2f}); "
        f"words unseen by the champion: {oov}.</p>"
    )


def render_html(doc: dict[str, Any]) -> str:
    """The analyst's page: one section per cluster, most novel first."""
    e = html.escape
    scored = doc.get("champion_version") is not None
    sections = []
    for c in doc.get("clusters", []):
        rows = "".join(
            f"<tr><td>{e(x['text'][:400])}</td><td>{e(str(x['predicted']))}</td>"
            f"<td>{x['confidence']:.2f}</td><td>{x['membership']:.2f}</td></tr>"
            for kind in ("representative", "boundary")
            for x in c[kind]
        )
        oov = "–" if c.get("oov_share") is None else f"{c['oov_share']:.0%}"
        sections.append(
            f"""<section id="cluster-{c["cluster"]}"><h2>Cluster {c["cluster"]}: {c["size"]} texts
({c["share"]:.0%}), novelty {c["novelty"]:.2f}</h2>
<p><b>Top terms:</b> {e(", ".join(c["top_terms"]))}</p>
{nearest_html(c, oov, scored)}
<table><tr><th>example (first 3 representative, then 3 boundary)</th><th>champion says</th>
<th>confidence</th><th>membership</th></tr>{rows}</table></section>"""
        )
    body = "".join(sections) or f"<p>No clusters: {e(str(doc.get('note') or 'nothing to show'))}</p>"
    meta = (
        f"{doc.get('n_texts', 0)} texts, k={doc.get('k')} (best cosine silhouette "
        f"{doc.get('silhouette')}), embedding {e(str(doc.get('embedding')))}; category map "
        f"v{doc.get('category_map_version')} ({e(', '.join(doc.get('classes', [])))}); champion "
        f"{e(str(doc.get('champion_version') or 'none yet: unscored inputs (bootstrap)'))}; "
        f"texts from {e(str(doc.get('source', 'scored batches')))}"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nlpops categories: {e(str(doc.get("profile")))}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}section{{margin-bottom:2em}}</style>
</head><body>
<h1>Candidate categories for {e(str(doc.get("profile")))} (run {e(str(doc.get("run_key")))})</h1>
<p>{meta}</p>
<p>Decide per cluster in Airflow (Required Actions): <i>new category &lt;name&gt;</i>, <i>belongs to
&lt;existing&gt;</i> or <i>ignore</i>. Nothing changes without a decision.</p>
{body}
<details><summary>clusters.json (without member lists)</summary><pre>{
        e(
            json.dumps(
                {**doc, "clusters": [{k: v for k, v in c.items() if k != "members"} for c in doc.get("clusters", [])]},
                indent=1,
            )
        )
    }</pre></details>
</body></html>
"""


__all__ = ["CLUSTERS_FILE", "REPORT_FILE", "render_html", "report_dir_uri", "write_report"]
