"""Model quality on the real datasets: the project's pipeline vs plain TF-IDF+LogReg vs fastText.

    .venv/bin/python benchmarks/bench_quality.py [--datasets airline_tweets,uci_yelp] [--set C=8 ...]

Each (dataset, model) pair runs in its own child process so its training time and peak
RSS (``ru_maxrss``, interpreter and imports included) are measured in isolation. The
split is stable: a text goes to test when ``sha1(text) % 5 == 0`` (20 %), else to train.
The project's model uses the hyper-parameters of the matching profile's ``model:``
section (include/profiles/*.yaml), built by ``ml.features.build_pipeline`` — the code
``ml/train.py`` runs. Results: ``benchmarks/results/quality.{json,md}``.

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
    "uci_amazon": ("amazon_polarity", "UCI sentences, amazon_cells"),
    "uci_imdb": ("amazon_polarity", "UCI sentences, imdb"),
    "uci_yelp": ("amazon_polarity", "UCI sentences, yelp"),
    "uci_pooled": ("amazon_polarity", "UCI sentences, 3 files pooled"),
}
MODELS = ("project", "plain_tfidf_logreg", "fasttext_bigrams")


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
            for line in (DATA / "uci_sentences" / f"{name}_labelled.txt").read_text(encoding="utf-8").splitlines():
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


def fit_predict(model: str, dataset: str, overrides: dict[str, str]) -> dict[str, Any]:
    """Train one model on the train split, predict the test split; return metrics and timings."""
    from sklearn.metrics import accuracy_score, f1_score

    texts, labels = load(dataset)
    tr_x, tr_y, te_x, te_y = split(texts, labels)
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    if model == "project":
        from ml.features import Hyperparameters, build_pipeline

        hp = project_hyperparameters(dataset, overrides)
        info["hyperparameters"] = hp
        pipe = build_pipeline(Hyperparameters.from_mapping(hp), n_samples=len(tr_x)).fit(tr_x, tr_y)
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
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{dataset}/{model} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | classes | train/test | model | accuracy | macro-F1 | fit s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['classes']} | {r['n_train']}/{r['n_test']} | {r['model']} | "
            f"{r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['fit_seconds']} | {r['peak_rss_mb']} |"
        )
    verdict = ["", "| dataset | project − fastText (macro-F1) | project − plain (macro-F1) |", "|---|---|---|"]
    by = {(r["dataset"], r["model"]): r for r in rows}
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        p, b, f = (by.get((ds, m)) for m in MODELS)  # project, plain, fastText
        if p and f and b:
            verdict.append(f"| {ds} | {p['macro_f1'] - f['macro_f1']:+.4f} | {p['macro_f1'] - b['macro_f1']:+.4f} |")
    return "\n".join(lines + verdict) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--set", action="append", default=[], help="override a project hyper-parameter: key=value")
    ap.add_argument("--one", nargs=2, metavar=("DATASET", "MODEL"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default="quality", help="results file stem under benchmarks/results/")
    args = ap.parse_args()
    overrides = dict(s.split("=", 1) for s in args.set)
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
