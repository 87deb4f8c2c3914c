"""Evaluation of a fitted pipeline on a labelled split, and the challenger-vs-champion report.

:func:`evaluate` is pure (metrics as a JSON-serialisable dict); :func:`write_report`
renders confusion-matrix PNGs and an HTML page next to ``evaluation.json`` in the lake
(``reports/evaluation/<profile>/<version>/``).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np


def evaluate(pipeline: Any, texts: Sequence[str], labels: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class P/R/F1/support, confusion matrix, ROC-AUC (binary) of ``pipeline``.

    ``classes`` fixes the order of the per-class table and the confusion matrix (rows =
    true class, columns = predicted class). Labels outside ``classes`` are an error: they
    would silently score as wrong forever.

    ``macro_f1`` (what the gate compares) averages over the classes **present in the
    evaluated split** (``classes_present``): a class of the profile with no example there
    has no recall to measure, and counting it as F1 = 0 would report a number that means
    nothing (CFPB: 0.305 over every class, 0.583 over the present ones). The classes left
    out are listed in ``absent_classes``; ``macro_f1_all_classes`` keeps the average over
    every class of the profile for reference.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    classes = [str(c) for c in classes]
    y_true = np.asarray([str(v) for v in labels], dtype=object)
    if len(y_true) == 0:
        raise ValueError("evaluate: the evaluation split is empty")
    unknown = sorted(set(y_true) - set(classes))
    if unknown:
        raise ValueError(f"evaluate: labels {unknown} are not among the model's classes {classes}")
    proba = np.asarray(pipeline.predict_proba(list(texts)))
    model_classes = [str(c) for c in pipeline.classes_]
    y_pred = np.asarray(model_classes, dtype=object)[proba.argmax(axis=1)]
    prec, rec, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    seen = set(y_true.tolist())
    present = [c for c in classes if c in seen]
    out: dict[str, Any] = {
        "n": len(y_true),
        "classes": classes,
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "macro_f1_all_classes": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "classes_present": present,
        "absent_classes": [c for c in classes if c not in seen],
        "weighted_f1": float(f1_score(y_true, y_pred, labels=classes, average="weighted", zero_division=0)),
        "per_class": {
            c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for c, p, r, f, s in zip(classes, prec, rec, f1, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
        "mean_confidence": float(proba.max(axis=1).mean()),
    }
    if len(model_classes) == 2 and len(set(y_true)) == 2:
        from sklearn.metrics import roc_auc_score

        positive = model_classes[1]
        out["roc_auc"] = float(roc_auc_score(y_true == positive, proba[:, 1]))
    return out


def confusion_png(evaluation: dict[str, Any], title: str) -> bytes:
    """The confusion matrix of an :func:`evaluate` result as PNG bytes (row-normalised colours, counts shown)."""
    import matplotlib

    matplotlib.use("Agg")  # no display in workers and containers
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(evaluation["confusion_matrix"])
    classes = evaluation["classes"]
    size = max(4.0, 0.6 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        ConfusionMatrixDisplay(cm, display_labels=[c[:24] for c in classes]).plot(
            ax=ax, colorbar=False, xticks_rotation="vertical", values_format="d"
        )
        ax.set_title(title)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
    finally:
        plt.close(fig)
    return buf.getvalue()


#: what the report's header names, in this order (label, key of ``about``)
ABOUT_FIELDS = (
    ("Profile", "profile"),
    ("Model version", "version"),
    ("Training job", "job_name"),
    ("DAG run", "run_id"),
    ("Training data", "training_data"),
    ("Compared with champion", "champion_version"),
    ("Code version", "code_version"),
)


def write_report(
    challenger_eval: dict[str, Any],
    champion_eval: dict[str, Any] | None,
    out_uri: str,
    *,
    about: dict[str, str] | None = None,
    model_ops_url: str | None = None,
) -> str:
    """Write ``evaluation.json``, confusion PNGs and ``index.html`` under ``out_uri``; return the HTML URI.

    ``out_uri`` is ``reports/evaluation/<profile>/<job name>/`` from ``Settings.zone_uri``.
    The two evaluations must come from the same test split to be comparable. ``about`` names
    what was evaluated (keys of :data:`ABOUT_FIELDS`: profile, run, training data, …) and
    ``model_ops_url`` is the page the report links back to; both are kept in ``evaluation.json``
    so :func:`add_version` can re-render the page once the registry assigned the version.
    """
    from include import lake

    evals = {"challenger": challenger_eval, "champion": champion_eval}
    lake.write_json(
        lake.join(out_uri, "evaluation.json"), {**evals, "about": about or {}, "model_ops_url": model_ops_url}
    )
    images: dict[str, str] = {}
    for role, ev in evals.items():
        if ev is None:
            continue
        png = confusion_png(ev, f"{role}: confusion matrix")
        lake.write_bytes(lake.join(out_uri, f"{role}_confusion.png"), png)
        images[role] = base64.b64encode(png).decode("ascii")
    html_uri = lake.join(out_uri, "index.html")
    lake.write_text(
        html_uri, render_html(challenger_eval, champion_eval, images, about=about, model_ops_url=model_ops_url)
    )
    return html_uri


def add_version(out_uri: str, version: str) -> str:
    """Re-render the report under ``out_uri`` naming the registry ``version`` of its challenger."""
    from include import lake

    saved = lake.read_json(lake.join(out_uri, "evaluation.json"))
    about = {**(saved.get("about") or {}), "version": str(version)}
    return write_report(
        saved["challenger"], saved.get("champion"), out_uri, about=about, model_ops_url=saved.get("model_ops_url")
    )


def _about_html(about: dict[str, str] | None, model_ops_url: str | None) -> str:
    rows = [
        f"<tr><th>{label}</th><td>{html.escape(str(about[key]))}</td></tr>"
        for label, key in ABOUT_FIELDS
        if about and about.get(key) not in (None, "")
    ]
    table = f"<table class='about'>{''.join(rows)}</table>" if rows else ""
    link = f'<p><a href="{html.escape(model_ops_url, quote=True)}">Model Ops</a></p>' if model_ops_url else ""
    return table + link


def render_html(
    challenger: dict[str, Any],
    champion: dict[str, Any] | None,
    images: dict[str, str],
    *,
    about: dict[str, str] | None = None,
    model_ops_url: str | None = None,
) -> str:
    """Side-by-side HTML page; the PNGs are embedded (base64) so the page is one self-contained file."""

    def cell(ev: dict[str, Any] | None, key: str) -> str:
        if ev is None or key not in ev:
            return "–"
        return str(ev[key]) if key == "n" else f"{ev[key]:.4f}"

    rows = []
    for key in ("accuracy", "macro_f1", "weighted_f1", "roc_auc", "mean_confidence", "n"):
        delta = ""
        if champion is not None and key in challenger and key in champion and key != "n":
            delta = f"{challenger[key] - champion[key]:+.4f}"
        rows.append(
            f"<tr><th>{key}</th><td>{cell(challenger, key)}</td><td>{cell(champion, key)}</td><td>{delta}</td></tr>"
        )
    per_class = []
    for c in challenger["classes"]:
        ch = challenger["per_class"][c]
        cp = champion["per_class"].get(c) if champion else None
        champion_f1 = "–" if cp is None else f"{cp['f1']:.3f}"
        per_class.append(
            f"<tr><th>{html.escape(c)}</th><td>{ch['precision']:.3f}</td><td>{ch['recall']:.3f}</td>"
            f"<td>{ch['f1']:.3f}</td><td>{ch['support']}</td>"
            f"<td>{champion_f1}</td></tr>"
        )
    figs = "".join(
        f'<figure><img alt="{role} confusion matrix" src="data:image/png;base64,{b64}">'
        f"<figcaption>{role}</figcaption></figure>"
        for role, b64 in images.items()
    )
    from ml.search import selection_html

    data = html.escape(json.dumps({"challenger": challenger, "champion": champion}, indent=1))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nlpops evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}.about td,.about th{{text-align:left}}
figure{{display:inline-block;margin:0 1em}}</style>
</head><body>
<h1>Challenger vs champion{": " + html.escape(str(about["profile"])) if about and about.get("profile") else ""}</h1>
{_about_html(about, model_ops_url)}
<p>{"No champion yet: the challenger is evaluated alone." if champion is None else "Same test split for both."}
macro_f1 averages over the {len(challenger.get("classes_present") or challenger["classes"])} classes present in the
test split; absent from it: {html.escape(", ".join(challenger.get("absent_classes") or []) or "none")}.</p>
<table><tr><th>metric</th><th>challenger</th><th>champion</th><th>Δ</th></tr>{"".join(rows)}</table>
<h2>Per class (challenger)</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>champion F1</th></tr>
{"".join(per_class)}</table>
{selection_html(challenger.get("selection"))}
<h2>Confusion matrices</h2>{figs}
<details><summary>raw evaluation.json</summary><pre>{data}</pre></details>
</body></html>
"""


def evaluate_model_archive(
    archive_uri: str, texts: Sequence[str], labels: Sequence[str], classes: Sequence[str]
) -> dict[str, Any]:
    """Download ``model.tar.gz`` from the lake, load it safely (skops) and :func:`evaluate` it."""
    import tempfile

    from include import lake
    from ml.artefact import MODEL_FILE, load_pipeline, unpack_model_archive

    with tempfile.TemporaryDirectory(prefix="nlpops-eval-") as tmp:
        model_dir = unpack_model_archive(lake.read_bytes(archive_uri), tmp)
        pipeline = load_pipeline(model_dir / MODEL_FILE)
        return evaluate(pipeline, texts, labels, classes)
