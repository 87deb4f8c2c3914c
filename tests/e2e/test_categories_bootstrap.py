"""A profile with no labels at all gets its first model from clusters a person names (issue 15, item 4).

The profile declares ``labels: {}``. Unlabelled complaints arrive in its inference input;
with no champion, ``<profile>_categories`` validates those unscored files and clusters them →
the analyst, through Airflow's REST API (HITL), names every cluster that is clearly one
product and ignores the rest → category map v1 with those classes and pseudo-labelled rows →
the event queues ``<profile>_train``, which trains and promotes the first model → batch
inference scores a fresh batch of the named products with macro-F1 ≥ 0.8. One stage per
test, in file order; a stage whose predecessor failed is skipped naming it.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from e2e_hitl import queued, require_stages, results_of, review_run, start_loop

pytestmark = pytest.mark.e2e

PROFILE = "complaints_unlabelled"
SOURCE = "cfpb_complaints"  # the generator's texts (and truth) come from this profile
STAGES = ("categories", "first_model", "fresh_batch")


def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The module's Airflow home sees one profile: the CFPB layout with no labels."""
    import yaml

    from include.settings import PROJECT_ROOT

    data = yaml.safe_load((PROJECT_ROOT / "include" / "profiles" / f"{SOURCE}.yaml").read_text(encoding="utf-8"))
    data.update(name=PROFILE, labels={}, description="Complaints with no labels yet (bootstrap test)")
    data["split"]["salt"] = PROFILE
    data["schedule"] = {**data.get("schedule", {}), "quiet_seconds": 0}  # the test writes whole files
    data["model"] = {**data["model"], "search_budget_seconds": 0}  # train the profile's settings: keeps it short
    folder = tmp_path_factory.mktemp("profiles")
    (folder / f"{PROFILE}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return {"NLPOPS_PROFILES": PROFILE, "NLPOPS_PROFILES_DIR": str(folder)}


def _slug(cls: str) -> str:
    return re.sub(r"[^a-z]+", "_", cls.lower().split(",")[0]).strip("_")


def _write(af, name: str, rows: int, seed: int, **kw) -> list[str]:
    """Unlabelled complaints in the profile's inference input; returns the true product per record."""
    from include import lake
    from ml.generator import generate

    path = Path(lake.local_path(af.settings().zone_uri("inference-input", PROFILE, name)))
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = path.parent.parent / f".{name}.truth"  # outside the watched prefix
    with path.open("wb") as fh:
        generate(SOURCE, rows, seed=seed, out=fh, truth_out=truth, with_label=False, **kw)
    return truth.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def loop(airflow_home) -> dict:
    return start_loop(airflow_home, PROFILE)


def _stage(loop: dict, name: str) -> None:
    require_stages(loop, STAGES, name)


@pytest.mark.timeout(600)
def test_unscored_inputs_are_clustered_and_named_through_the_rest_api(airflow_home, loop, tmp_path) -> None:
    from include import lake
    from include.profiles import get_profile
    from ml.categories.category_map import current_map
    from ml.categories.decisions import OPTION_IGNORE, OPTION_NEW

    _stage(loop, "categories")
    af, s = airflow_home, airflow_home.settings()
    truth = _write(af, "backlog.csv", 700, seed=21)
    # no champion: the train DAG refuses the empty label set and says where the first classes come from
    refused = af.dags_test(f"{PROFILE}_train")
    assert refused.returncode != 0 and f"{PROFILE}_categories" in refused.output, refused.output[-3000:]

    seen: dict = {}

    def decide(doc: dict) -> dict:
        assert doc["source"] == "unscored inputs" and doc["champion_version"] is None
        # ids are batch inference's: (source uri, record) → the generator's truth for that record
        import pandas as pd

        record_of = {}
        for part in Path(lake.local_path(s.zone_uri("validated", f"{PROFILE}-categories"))).rglob("*.parquet"):
            frame = pd.read_parquet(part, columns=["_row_id", "_source_record"])
            record_of.update(zip(frame["_row_id"], frame["_source_record"], strict=True))
        # the analyst names each cluster that is one product (≥ 80 %), as its report shows, and ignores the rest
        answers, named = {}, {}
        for c in doc["clusters"]:
            products = Counter(truth[int(record_of[m["id"]]) - 1] for m in c["members"])
            product, count = products.most_common(1)[0]
            if count / c["size"] >= 0.8:
                answers[f"Cluster {c['cluster']}:"] = (OPTION_NEW, {"name": _slug(product)})
                named[_slug(product)] = product
            else:
                answers[f"Cluster {c['cluster']}:"] = (OPTION_IGNORE, {"name": ""})
        assert len(named) >= 3, f"fewer than three clusters are one product: {doc['clusters']}"
        seen["named"] = named
        return answers

    _, _, output = review_run(af, PROFILE, {"min_sample": 100, "k_max": 8}, tmp_path / "categories.log", decide)
    named = seen["named"]
    assert "clustering 1 unscored inference-input file(s)" in output

    cmap = current_map(get_profile(PROFILE, s), s.zone_uri("models", PROFILE))
    assert cmap.version == 1 and sorted(cmap.classes) == sorted(named), cmap
    assert queued(af, f"{PROFILE}_train") == 1
    loop.update(named=named)
    loop["passed"].append("categories")


def test_first_model_from_pseudo_labels(airflow_home, loop) -> None:
    from ml.registry import get_registry

    _stage(loop, "first_model")
    assert (r := airflow_home.dags_test(f"{PROFILE}_train")).returncode == 0, r.output[-4000:]
    assert "category map v1" in r.output
    champion = get_registry(airflow_home.settings()).get_by_alias(PROFILE, "champion")
    assert champion is not None and champion.version == "1" and champion.tags["category_map_version"] == "1"
    loop["passed"].append("first_model")


def test_fresh_batch_is_scored_with_the_named_classes(airflow_home, loop) -> None:
    from sklearn.metrics import f1_score

    _stage(loop, "fresh_batch")
    named: dict[str, str] = loop["named"]
    truth = _write(airflow_home, "fresh.csv", 300, seed=22, class_weights=dict.fromkeys(named.values(), 1.0))
    run = airflow_home.dags_test(f"{PROFILE}_batch_inference", {"quiet_seconds": 0, "wait_timeout_minutes": 0})
    assert run.returncode == 0, run.output[-4000:]
    rows = [(r["source_record"], r["label"]) for r in results_of(airflow_home, PROFILE, "fresh.csv")]
    assert len(rows) == 300
    y_true = [_slug(truth[rec - 1]) for rec, _ in rows]
    y_pred = [label for _, label in rows]
    f1 = f1_score(y_true, y_pred, average="macro", labels=sorted(named))
    print(f"first model of {PROFILE}: macro-F1 {f1:.3f} on a fresh batch of {len(rows)} ({sorted(named)})")
    assert f1 >= 0.8, f"macro-F1 {f1:.3f} of the first model on a fresh batch of the named products"
