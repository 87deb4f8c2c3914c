"""Model quality on the real datasets: the project's training job vs three untuned baselines.

    .venv/bin/python benchmarks/bench_quality.py [--datasets airline_tweets,uci_yelp] [--set C=8 ...]
        [--search-budget SECONDS]

Each (dataset, model) pair runs in its own child process so its training time and peak
RSS (``ru_maxrss``, interpreter and imports included) are measured in isolation. The
split is stable: a text goes to test when ``sha1(text) % 5 == 0`` (20 %), else to train.

* ``project``: the training job itself (``ml.train.main``, the SageMaker script-mode entry
  the train DAG runs) on the train split written as a Parquet channel, with the matching
  profile's ``model:`` section — including its model-selection search
  (``search_budget_seconds``; ``--search-budget`` overrides it). The saved ``model.skops`` is
  then loaded back and scored, so the artefact columns (write / read seconds, size against
  ``pickle`` of the same object) and ``job wall ÷ fit`` describe what ships.
* ``word_char_linearsvc``: word 1–2 + char_wb 2–5 TF-IDF (sublinear) into
  ``LinearSVC(C=0.5, class_weight="balanced")``, untuned: the strongest classical baseline.
* ``plain_tfidf_logreg``: ``TfidfVectorizer()`` + ``LogisticRegression()``, defaults.
* ``fasttext_bigrams``: fastText supervised, word bigrams.

Every model gets the same raw texts and is scored the same way (scikit-learn accuracy and
macro-F1 over the labels present), in a child process held to one BLAS/OpenMP thread.
Results: ``benchmarks/results/quality.{json,md}``.

fastText (``fasttext-wheel``, benchmark only) is called through its binding because its
``predict()`` breaks under numpy 2 (see /work/shared/FACTS.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets"
RESULTS = Path(__file__).resolve().parent / "results"

#: dataset -> (profile whose model section applies, description)
DATASETS: dict[str, tuple[str, str]] = {
    "airline_tweets": ("airline_tweets", "3-class tweet sentiment"),
    "cfpb_complaints": ("cfpb_complaints", "product from complaint narrative"),
    "amazon_ratings": ("amazon_ratings", "star rating 1-5"),
    "amazon_ratings_polarity": ("amazon_polarity", "1-2 vs 4-5 stars"),
    "uci_amazon": ("uci_sentences", "UCI sentences, amazon_cells"),
    "uci_imdb": ("uci_sentences", "UCI sentences, imdb"),
    "uci_yelp": ("uci_sentences", "UCI sentences, yelp"),
    "uci_pooled": ("uci_sentences", "UCI sentences, 3 files pooled"),
}
MODELS = ("project", "word_char_linearsvc", "plain_tfidf_logreg", "fasttext_bigrams")
BASELINES = MODELS[1:]


def load(dataset: str) -> tuple[list[str], list[str]]:
    """Texts and labels of one real dataset, deduplicated by text, rows without text/label dropped."""
    import pandas as pd

    if dataset == "airline_tweets":
        d = pd.read_csv(DATA / "airline_tweets" / "Tweets.csv", dtype=str)
        texts, labels = d["text"], d["airline_sentiment"]
    elif dataset == "cfpb_complaints":
        d = pd.read_csv(DATA / "cfpb_complaints" / "Consumer_Complaints.csv", dtype=str)
        texts, labels = d["Consumer complaint narrative"], d["Product"]
    elif dataset.startswith("amazon_ratings"):
        d = pd.read_csv(
            DATA / "amazon_ratings" / "Datafiniti_Amazon_Consumer_Reviews_of_Amazon_Products.csv",
            dtype=str,
            encoding="utf-8-sig",
        )
        texts = d["reviews.title"].fillna("") + " . " + d["reviews.text"].fillna("")
        labels = d["reviews.rating"].str.strip().str.replace(r"\.0$", "", regex=True)
        if dataset.endswith("polarity"):
            labels = labels.map({"1": "negative", "2": "negative", "4": "positive", "5": "positive"})
    else:
        names = {"amazon": ["amazon_cells"], "imdb": ["imdb"], "yelp": ["yelp"]}
        files = names.get(dataset.removeprefix("uci_"), ["amazon_cells", "imdb", "yelp"])
        rows = []
        for name in files:
            # split on LF only: imdb has U+0085 (NEL) inside sentences, which str.splitlines() breaks on
            for line in (DATA / "uci_sentences" / f"{name}_labelled.txt").read_text(encoding="utf-8").split("\n"):
                text, _, label = line.rpartition("\t")
                if label.strip() in {"0", "1"}:
                    rows.append((text.strip(), "positive" if label.strip() == "1" else "negative"))
        d = pd.DataFrame(rows, columns=["text", "label"])
        texts, labels = d["text"], d["label"]
    frame = pd.DataFrame({"text": texts, "label": labels}).dropna()
    frame = frame[frame["text"].str.strip().str.len() > 0]
    frame = frame.drop_duplicates("text")
    return frame["text"].tolist(), frame["label"].astype(str).tolist()


def split(texts: list[str], labels: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """Stable 80/20 split by a hash of the text (same rows in test for every model and run)."""
    tr_x, tr_y, te_x, te_y = [], [], [], []
    for t, y in zip(texts, labels, strict=True):
        if int(hashlib.sha1(t.encode()).hexdigest(), 16) % 5 == 0:
            te_x.append(t)
            te_y.append(y)
        else:
            tr_x.append(t)
            tr_y.append(y)
    return tr_x, tr_y, te_x, te_y


def project_hyperparameters(dataset: str, overrides: dict[str, str]) -> dict[str, Any]:
    from include.profiles import load_profile

    profile = load_profile(ROOT / "include" / "profiles" / f"{DATASETS[dataset][0]}.yaml")
    hp = profile.model.model_dump()
    for key, raw in overrides.items():
        hp[key] = type(hp[key])(raw) if key in hp else raw
    return hp


def train_project(
    tr_x: list[str], tr_y: list[str], te_x: list[str], te_y: list[str], hp: dict[str, Any], work: Path
) -> dict[str, Any]:
    """Run the training job (``ml.train.main``) on Parquet channels; load its model back; time each step."""
    import pickle
    from dataclasses import fields

    import pandas as pd

    from ml.artefact import MODEL_FILE, load_pipeline
    from ml.features import Hyperparameters
    from ml.train import main

    def channel(name: str, texts: list[str], labels: list[str]) -> Path:
        d = work / "input" / name
        d.mkdir(parents=True)
        ids = [f"{name}-{i}" for i in range(len(texts))]
        hashes = [hashlib.sha1(t.encode()).hexdigest()[:16] for t in texts]
        pd.DataFrame({"id": ids, "text": texts, "label": labels, "content_hash": hashes}).to_parquet(
            d / "part-0.parquet"
        )
        return d

    # validation channel: the held-out rows (the job only reports on them; the search uses k-fold on train)
    argv = ["--train", str(channel("train", tr_x, tr_y)), "--validation", str(channel("validation", te_x, te_y))]
    argv += ["--model-dir", str(work / "model"), "--output-data-dir", str(work / "output"), "--profile", "bench"]
    argv += ["--classes", json.dumps(sorted(set(tr_y) | set(te_y)))]
    names = {f.name for f in fields(Hyperparameters)}
    argv += [a for key, value in hp.items() if key in names for a in (f"--{key}", str(value))]
    t0 = time.perf_counter()
    main(argv)
    wall = time.perf_counter() - t0
    metrics = json.loads((work / "output" / "metrics.json").read_text())
    meta = json.loads((work / "model" / "model.json").read_text())
    t0 = time.perf_counter()
    pipe = load_pipeline(work / "model" / MODEL_FILE)
    read_s = time.perf_counter() - t0
    size = (work / "model" / MODEL_FILE).stat().st_size
    pickled = len(pickle.dumps(pipe, protocol=pickle.HIGHEST_PROTOCOL))
    fit_s = float(metrics["train_seconds"])
    write_s = float(metrics["save_seconds"])
    return {
        "pipe": pipe,
        "fit_seconds": round(fit_s, 2),
        "job_wall_seconds": round(wall, 2),
        "search_seconds": metrics.get("search_seconds", 0.0),
        "write_seconds": round(write_s, 3),
        "read_seconds": round(read_s, 3),
        "model_mb": round(size / 1e6, 2),
        "pickle_mb": round(pickled / 1e6, 2),
        "io_over_fit": round((write_s + read_s) / fit_s, 3) if fit_s else None,
        "size_over_pickle": round(size / pickled, 2),
        "wall_over_fit": round(wall / fit_s, 1) if fit_s else None,
        "selection": meta.get("selection"),
        "hyperparameters": meta.get("hyperparameters"),
    }


def fit_predict(model: str, dataset: str, overrides: dict[str, str]) -> dict[str, Any]:
    """Train one model on the train split, predict the test split; return metrics and timings."""
    from sklearn.metrics import accuracy_score, f1_score

    texts, labels = load(dataset)
    tr_x, tr_y, te_x, te_y = split(texts, labels)
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    if model == "project":
        hp = project_hyperparameters(dataset, overrides)
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
            info = train_project(tr_x, tr_y, te_x, te_y, hp, Path(tmp))
        pipe = info.pop("pipe")
        fit_s = info.pop("fit_seconds")
        pred = list(pipe.predict(te_x))
    elif model == "word_char_linearsvc":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.svm import LinearSVC

        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        )
        pipe = make_pipeline(features, LinearSVC(C=0.5, class_weight="balanced")).fit(tr_x, tr_y)
        fit_s = time.perf_counter() - t0
        pred = list(pipe.predict(te_x))
    elif model == "plain_tfidf_logreg":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(tr_x, tr_y)
        fit_s = time.perf_counter() - t0
        pred = list(pipe.predict(te_x))
    else:
        import fasttext

        def clean(t: str) -> str:
            return " ".join(re.findall(r"\w+|[^\w\s]", t.lower()))

        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
            for t, y in zip(tr_x, tr_y, strict=True):
                fh.write(f"__label__{y.replace(' ', '_')} {clean(t)}\n")
        ft_params = {"wordNgrams": 2, "epoch": 25, "lr": 0.5, "minCount": 1, "dim": 50, "seed": 0, "thread": 1}
        info["hyperparameters"] = ft_params
        ft = fasttext.train_supervised(input=fh.name, verbose=0, **ft_params)
        os.unlink(fh.name)
        fit_s = time.perf_counter() - t0
        back = {y.replace(" ", "_"): y for y in set(tr_y)}
        pred = []
        for t in te_x:
            got = ft.f.predict(clean(t), 1, 0.0, "strict")
            pred.append(back[got[0][1].removeprefix("__label__")] if got else tr_y[0])
    return {
        "dataset": dataset,
        "model": model,
        "n_train": len(tr_x),
        "n_test": len(te_x),
        "classes": len(set(labels)),
        "accuracy": accuracy_score(te_y, pred),
        "macro_f1": f1_score(te_y, pred, average="macro", zero_division=0),
        "fit_seconds": round(fit_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **info,
    }


def run_child(model: str, dataset: str, overrides: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", dataset, model, *(a for o in overrides for a in ("--set", o))]
    # one BLAS/OpenMP thread for every model (ml.train holds itself to one): same footing, no oversubscription
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{dataset}/{model} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def markdown(rows: list[dict[str, Any]]) -> str:
    """Quality table, per-dataset winner and project − best baseline, artefact and wall-time columns."""
    lines = [
        "| dataset | classes | train/test | model | accuracy | macro-F1 | fit s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['classes']} | {r['n_train']}/{r['n_test']} | {r['model']} | "
            f"{r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['fit_seconds']} | {r['peak_rss_mb']} |"
        )
    by = {(r["dataset"], r["model"]): r for r in rows}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    verdict = [
        "",
        "Winner per dataset and figure; Δ = project − best baseline (positive: the project's model is ahead).",
        "",
        "| dataset | winner (accuracy) | winner (macro-F1) | Δ accuracy | Δ macro-F1 | best baseline (macro-F1) |",
        "|---|---|---|---|---|---|",
    ]
    for ds in datasets:
        present = [by[(ds, m)] for m in MODELS if (ds, m) in by]
        base = [r for r in present if r["model"] in BASELINES]
        p = by.get((ds, "project"))
        win_acc = max(present, key=lambda r: r["accuracy"])["model"]
        win_f1 = max(present, key=lambda r: r["macro_f1"])["model"]
        if p and base:
            best_acc = max(r["accuracy"] for r in base)
            best_f1 = max(base, key=lambda r: r["macro_f1"])
            verdict.append(
                f"| {ds} | {win_acc} | {win_f1} | {p['accuracy'] - best_acc:+.4f} | "
                f"{p['macro_f1'] - best_f1['macro_f1']:+.4f} | {best_f1['model']} |"
            )
        else:
            verdict.append(f"| {ds} | {win_acc} | {win_f1} | – | – | – |")
    artefact = [
        "",
        "The project's training job (`ml.train`, the entry the train DAG runs): model selection, final fit, "
        "artefact. Goal: write + read ≤ 0.2 × fit, size ≤ 3 × pickle.",
        "",
        "| dataset | search s | fit s | job wall s | wall ÷ fit | write s | read s | (write+read) ÷ fit | "
        "model MB | pickle MB | size ÷ pickle | winner (k-fold macro-F1) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ds in datasets:
        p = by.get((ds, "project"))
        if not p or "write_seconds" not in p:
            continue
        sel = p.get("selection") or {}
        w = sel.get("winner") or {}
        chosen = (
            f"{w.get('classifier')} C={w.get('C')} word≤{w.get('word_ngram_max')} "
            f"char {w.get('char_ngram_min')}-{w.get('char_ngram_max')} min_df={w.get('min_df')} "
            f"{w.get('class_weight')}{' + tuned offsets' if w.get('decision_bias') == 'tuned' else ''}"
            if w
            else "pinned (no search)"
        )
        if sel.get("cv_mean") is not None:
            chosen += f" ({sel['cv_mean']:.4f} ± {sel['cv_std']:.4f})"
        artefact.append(
            f"| {ds} | {p.get('search_seconds', 0)} | {p['fit_seconds']} | {p['job_wall_seconds']} | "
            f"{p['wall_over_fit']} | {p['write_seconds']} | {p['read_seconds']} | {p['io_over_fit']} | "
            f"{p['model_mb']} | {p['pickle_mb']} | {p['size_over_pickle']} | {chosen} |"
        )
    return "\n".join(lines + verdict + artefact) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--set", action="append", default=[], help="override a project hyper-parameter: key=value")
    ap.add_argument(
        "--search-budget",
        type=int,
        default=None,
        help="seconds of model selection for the project's model (default: each profile's search_budget_seconds)",
    )
    ap.add_argument("--one", nargs=2, metavar=("DATASET", "MODEL"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default="quality", help="results file stem under benchmarks/results/")
    ap.add_argument(
        "--render", action="store_true", help="rewrite <out>.md from <out>.json (no training): the same run's figures"
    )
    args = ap.parse_args()
    if args.search_budget is not None:
        args.set.append(f"search_budget_seconds={args.search_budget}")
    overrides = dict(s.split("=", 1) for s in args.set)
    if args.render:
        rows = json.loads((RESULTS / f"{args.out}.json").read_text())
        (RESULTS / f"{args.out}.md").write_text(markdown(rows))
        print(markdown(rows))
        return 0
    if args.one:
        print(json.dumps(fit_predict(args.one[1], args.one[0], overrides), default=str))
        return 0
    rows = []
    for ds in args.datasets.split(","):
        for model in args.models.split(","):
            row = run_child(model, ds, args.set)
            rows.append(row)
            print(f"{ds:26s} {model:20s} acc={row['accuracy']:.4f} f1={row['macro_f1']:.4f} "
                  f"fit={row['fit_seconds']}s rss={row['peak_rss_mb']}MB", flush=True)  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(rows, indent=2, default=str))
    (RESULTS / f"{args.out}.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
