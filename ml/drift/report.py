"""The drift report: decision + metrics as JSON and a self-contained HTML page with plots.

Written under ``reports/drift/<profile>/<run key>/`` through ``include.lake`` (``file://``
or ``s3://``): ``decision.json`` and ``report.html`` (plots embedded as PNG data URIs, so
the page can be opened from S3 or attached to an alert without its folder).
"""

from __future__ import annotations

import base64
import html
import io
import itertools
from collections.abc import Mapping
from typing import Any

from ml.drift.metrics import DriftResult
from ml.drift.policy import Decision


def report_prefix(profile: str, run_key: str, settings: Any = None) -> str:
    """``reports/drift/<profile>/<run_key>`` in the lake."""
    from include.settings import get_settings

    return (settings or get_settings()).zone_uri("reports", "drift", profile, run_key)


def report_payload(
    profile: str, decision: Decision, result: DriftResult, topics: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON document of one drift check."""
    return {
        "profile": profile,
        "decision": decision.to_dict(),
        "metrics": result.metrics,
        "shifted_tokens": [{"token": t, "reference": r, "current": c} for t, r, c in result.shifted_tokens],
        "topics": dict(topics) if topics else None,
    }


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _bars(ax: Any, labels: list[str], ref: list[float], cur: list[float], title: str, xlabel: str) -> None:
    import numpy as np

    x = np.arange(len(labels))
    ax.bar(x - 0.2, ref, 0.4, label="reference")
    ax.bar(x + 0.2, cur, 0.4, label="current")
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share")
    ax.legend(fontsize=7)


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    out = [f"≤{edges[0]:.0f}"]
    out += [f"{a:.0f}–{b:.0f}" for a, b in itertools.pairwise(edges)]
    return [*out, f">{edges[-1]:.0f}"]


def render_plots(baseline: Mapping[str, Any], result: DriftResult) -> dict[str, str]:
    """PNG data URIs: length and confidence histograms, predicted classes, shifted tokens."""
    import matplotlib

    matplotlib.use("Agg")  # no display in workers
    import matplotlib.pyplot as plt

    cur = result.current
    plots: dict[str, str] = {}
    fig, ax = plt.subplots(figsize=(6, 3.2))
    edges = list(baseline["length_chars"]["edges"])
    _bars(
        ax,
        _bin_labels(edges),
        baseline["length_chars"]["proportions"],
        cur["length_chars"]["proportions"],
        f"text length (PSI {result.metrics['length_psi']:.3f})",
        "characters (reference decile bins)",
    )
    plots["length"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.2))
    conf_edges = baseline["confidence"]["edges"]
    labels = [f"{a:.1f}–{b:.1f}" for a, b in itertools.pairwise(conf_edges)]
    _bars(
        ax,
        labels,
        baseline["confidence"]["proportions"],
        cur["confidence"]["proportions"],
        f"top-class probability (mean drop {result.metrics['confidence_drop']:.3f})",
        "confidence",
    )
    plots["confidence"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.2))
    classes = list(baseline["classes"])
    _bars(
        ax,
        classes,
        [baseline["prediction"]["prior"][c] for c in classes],
        [cur["prediction"]["prior"][c] for c in classes],
        f"predicted classes (PSI {result.metrics['prediction_psi']:.3f})",
        "class",
    )
    plots["prediction"] = _png(fig)

    if result.shifted_tokens:
        fig, ax = plt.subplots(figsize=(6, 0.25 * len(result.shifted_tokens) + 1))
        toks = [t for t, _, _ in result.shifted_tokens][::-1]
        delta = [c - r for _, r, c in result.shifted_tokens][::-1]
        ax.barh(toks, delta, color=["tab:red" if d > 0 else "tab:blue" for d in delta])
        ax.set_title(f"most shifted tokens (JS distance {result.metrics['token_js']:.3f})")
        ax.set_xlabel("current − reference relative frequency")
        ax.tick_params(axis="y", labelsize=7)
        plots["tokens"] = _png(fig)
    return plots


def render_html(profile: str, payload: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    """A self-contained HTML page of the drift check (all text escaped)."""
    e = html.escape
    d = payload["decision"]
    rows = "".join(
        f"<tr><td>{e(k)}</td><td>{v:.4g}</td><td>{'over' if k in d['metrics_over'] else ''}</td></tr>"
        for k, v in sorted(payload["metrics"].items())
    )
    reasons = "".join(f"<li>{e(r)}</li>" for r in d["reasons"])
    images = "".join(f'<figure><img alt="{e(k)}" src="{v}"></figure>' for k, v in plots.items())
    topics = payload.get("topics") or {}
    topic_html = f"<p>{e(str(topics.get('note', 'no low-confidence texts clustered')))}</p>"
    if topics.get("clusters"):
        items = []
        for i, c in enumerate(topics["clusters"], 1):
            ex = "".join(f"<li>{e(t[:300])}</li>" for t in c["examples"])
            items.append(
                f"<h3>cluster {i}: {c['size']} texts ({c['share']:.0%})</h3>"
                f"<p><b>top terms:</b> {e(', '.join(c['top_terms']))}</p><ul>{ex}</ul>"
            )
        topic_html = (
            f"<p>{topics['n_texts']} low-confidence texts, k={topics['k']} "
            f"(silhouette {topics['silhouette']:.3f}). For review only: no label was changed.</p>" + "".join(items)
        )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>drift {e(profile)} {e(d["run_key"])}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td{{padding:2px 8px}}
figure{{display:inline-block;margin:4px}}</style></head><body>
<h1>Drift check: {e(profile)}</h1>
<p>run <code>{e(d["run_key"])}</code>, {e(d["time"])}, {d["n"]} rows</p>
<h2>Decision: {e(d["status"])} (retrain: {"yes" if d["retrain"] else "no"})</h2><ul>{reasons}</ul>
<h2>Metrics</h2><table>{rows}</table>
<h2>Plots</h2>{images}
<h2>Possible new topics among low-confidence texts</h2>{topic_html}
</body></html>
"""


def write_report(
    profile: str,
    decision: Decision,
    result: DriftResult,
    baseline: Mapping[str, Any],
    *,
    topics: Mapping[str, Any] | None = None,
    prefix: str | None = None,
    settings: Any = None,
) -> dict[str, str]:
    """Write ``decision.json`` and ``report.html``; return their URIs.

    ``prefix`` defaults to ``reports/drift/<profile>/<decision.run_key>``; a retry of the
    same run overwrites its own report.
    """
    from include import lake

    if prefix is None:
        if not decision.run_key:
            raise ValueError("write_report needs decision.run_key (or an explicit prefix) to name the report folder")
        prefix = report_prefix(profile, decision.run_key, settings)
    payload = report_payload(profile, decision, result, topics)
    json_uri, html_uri = lake.join(prefix, "decision.json"), lake.join(prefix, "report.html")
    lake.write_json(json_uri, payload)
    lake.write_text(html_uri, render_html(profile, payload, render_plots(baseline, result)))
    return {"decision": json_uri, "report": html_uri}


__all__ = ["render_html", "render_plots", "report_payload", "report_prefix", "write_report"]
