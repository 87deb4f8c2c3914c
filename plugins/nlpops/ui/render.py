"""Server-side HTML of the Model Ops page and the transform-job page: escaped, self-contained, offline.

Every value from the registry or the lake goes through :func:`html.escape`; links are
relative to the app's mount point (``reports/<key>``), so the page works behind a proxy
prefix and inside the Airflow UI's iframe. No scripts, no external styles or fonts.
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from nlpops.ui.model_ops import DriftDecisionSummary, ModelOpsSummary, ProfileSummary, VersionSummary

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.2rem;color:#1a202c;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:1.6rem 0 .3rem;border-bottom:1px solid #cbd5e0}
h3{font-size:1rem;margin:1rem 0 .3rem}p.meta{color:#4a5568;font-size:.85rem;margin:.2rem 0}
table{border-collapse:collapse;font-size:.85rem;margin:.3rem 0}th,td{border:1px solid #e2e8f0;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f7fafc}code{font-size:.8rem}
.st-Approved,.st-no_drift{color:#276749}.st-Rejected,.st-drift{color:#c53030}
.st-PendingManualApproval,.st-drift_window,.st-suppressed_cooldown,.st-suppressed_daily_cap{color:#b7791f}
.st-insufficient_data{color:#718096}.err{color:#c53030}nav a{margin-right:1rem}ul.links li{margin:.15rem 0}
@media (prefers-color-scheme: dark){body{background:#1a202c;color:#e2e8f0}th{background:#2d3748}
th,td{border-color:#4a5568}p.meta{color:#a0aec0}a{color:#90cdf4}}
"""


def esc(value: Any) -> str:
    """HTML-escaped text of ``value`` (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


def report_href(key: str) -> str:
    """Relative URL of a report key (the page is served at the app's root)."""
    return "reports/" + urllib.parse.quote(key)


def _link(key: str | None, label: str) -> str:
    if not key:
        return '<span class="meta">–</span>'
    return f'<a href="{esc(report_href(key))}" target="_blank" rel="noopener">{esc(label)}</a>'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metrics(metrics: Mapping[str, Any], first: str = "") -> str:
    if not metrics:
        return "–"
    names = sorted(metrics, key=lambda m: (m != first, m))
    return "<br>".join(f"<code>{esc(m)}</code> = {esc(_fmt(metrics[m]))}" for m in names)


def _status(status: str) -> str:
    return f'<span class="st-{esc(status)}">{esc(status)}</span>'


def _version_rows(rows: Iterable[tuple[str, VersionSummary | None]], primary: str) -> str:
    out = []
    for role, v in rows:
        if v is None:
            out.append(f"<tr><th>{esc(role)}</th><td colspan=5>none</td></tr>")
            continue
        out.append(
            f"<tr><th>{esc(role)}</th><td>{esc(v.version)}</td><td>{_status(v.status)}</td>"
            f"<td>{_metrics(v.metrics, primary)}</td><td>{esc(v.reason) or '–'}</td>"
            f"<td>{_link(v.evaluation_report, 'evaluation report')}</td></tr>"
        )
    head = "<tr><th>role</th><th>version</th><th>status</th><th>metrics</th><th>reason</th><th>report</th></tr>"
    return f"<table>{head}{''.join(out)}</table>"


def _decision_rows(decisions: list[DriftDecisionSummary]) -> str:
    if not decisions:
        return '<p class="meta">no drift decision yet</p>'
    head = (
        "<tr><th>time (UTC)</th><th>decision</th><th>retrain</th><th>rows</th>"
        "<th>metrics over threshold</th><th>reasons</th><th>report</th></tr>"
    )
    rows = []
    for d in decisions:
        over = "<br>".join(
            f"<code>{esc(m)}</code>" + ("" if v is None else f" = {esc(_fmt(v))}") for m, v in d.metrics_over.items()
        )
        rows.append(
            f"<tr><td>{esc(d.time)}</td><td>{_status(d.status)}</td><td>{'yes' if d.retrain else 'no'}</td>"
            f"<td>{esc(d.n)}</td><td>{over or '–'}</td><td>{'<br>'.join(esc(r) for r in d.reasons) or '–'}</td>"
            f"<td>{_link(d.report, 'drift report')}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _profile(p: ProfileSummary) -> str:
    anchor = esc(f"profile-{p.name}")
    parts = [f'<h2 id="{anchor}">{esc(p.name)}</h2>', f'<p class="meta">{esc(p.description)}</p>']
    if p.errors:
        parts.append("<ul>" + "".join(f'<li class="err">{esc(e)}</li>' for e in p.errors) + "</ul>")
    parts.append(f"<h3>Champion and challenger <span class='meta'>(gate metric: {esc(p.primary_metric)})</span></h3>")
    parts.append(_version_rows([("champion", p.champion), ("challenger", p.challenger)], p.primary_metric))
    if p.recent_versions:
        parts.append("<h3>Recent versions</h3>")
        parts.append(
            _version_rows(
                [(", ".join(v.aliases) or "–", v) for v in p.recent_versions],
                p.primary_metric,
            )
        )
    parts.append("<h3>Last drift decisions</h3>")
    parts.append(_decision_rows(p.decisions))
    parts.append("<h3>Reports</h3><ul class='links'>")
    parts.append(f"<li>Latest GX Data Docs, training data: {_link(p.validation_docs, 'open')}</li>")
    parts.append(f"<li>Latest GX Data Docs, scoring input: {_link(p.inference_validation_docs, 'open')}</li>")
    champion_report = p.champion.evaluation_report if p.champion else None
    parts.append(f"<li>Champion's evaluation report: {_link(champion_report, 'open')}</li>")
    latest_drift = next((d.report for d in p.decisions if d.report), None)
    parts.append(f"<li>Latest drift report: {_link(latest_drift, 'open')}</li>")
    parts.append(f"<li>Latest cluster report (new categories): {_link(p.cluster_report, 'open')}</li></ul>")
    return "\n".join(parts)


def render_page(summary: ModelOpsSummary) -> str:
    """The Model Ops HTML page."""
    nav = " ".join(f'<a href="#{esc("profile-" + p.name)}">{esc(p.name)}</a>' for p in summary.profiles)
    body = "\n".join(_profile(p) for p in summary.profiles) or "<p>No enabled profile.</p>"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>nlpops · Model Ops</title><style>{CSS}</style></head><body>"
        "<h1>nlpops · Model Ops</h1>"
        f"<p class='meta'>target <b>{esc(summary.target)}</b> · lake <code>{esc(summary.lake_uri)}</code> · "
        f"generated {esc(summary.generated_at)} · <a href='api/profiles'>JSON</a></p>"
        f"<nav>{nav}</nav>\n{body}\n</body></html>"
    )


def render_transform(profile: str, job_name: str, manifest: Mapping[str, Any]) -> str:
    """Summary page of one batch transform job (its manifest: counts per input file, no predictions)."""
    keys = ("model_version", "records_in", "scored", "errors", "requests", "files", "seconds", "workers")
    head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_fmt(manifest.get(k, '–')))}</td></tr>" for k in keys)
    files = manifest.get("file_results") or []
    rows = "".join(
        f"<tr><td><code>{esc(f.get('key', ''))}</code></td><td>{esc(f.get('records', ''))}</td>"
        f"<td>{esc(f.get('scored', ''))}</td><td>{esc(f.get('errors', ''))}</td>"
        f"<td><code>{esc(f.get('output_uri', ''))}</code></td></tr>"
        for f in files
        if isinstance(f, Mapping)
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>nlpops · transform {esc(job_name)}</title><style>{CSS}</style></head><body>"
        f"<p><a href='../../#{esc('profile-' + profile)}'>← Model Ops</a></p>"
        f"<h1>Batch transform {esc(job_name)}</h1><p class='meta'>profile {esc(profile)} · output "
        f"<code>{esc(manifest.get('output_uri', ''))}</code></p><table>{head}</table>"
        "<h3>Input files</h3><table><tr><th>input</th><th>records</th><th>scored</th><th>errors</th>"
        f"<th>output</th></tr>{rows}</table></body></html>"
    )


__all__ = ["esc", "render_page", "render_transform", "report_href"]
