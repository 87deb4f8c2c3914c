"""`make demo-categories`: the category-evolution loop on the embedded local target.

Trains a two-class model, scores an era in which a new category appears (the generator's
``new_category`` knob), runs ``<profile>_categories`` (clusters + report), answers its
human-in-the-loop review through Airflow's REST API as an analyst would in the UI
(Required Actions), then retrains on the new category map and scores a fresh batch.
Separate from `make demo` to keep that one short.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from demo import PROFILE, Demo, banner
from hitl_answer import answer_listed

from include import lake
from include.settings import PROJECT_ROOT
from nlpops.runtime import airflow_bin

NEW = "counterfeit"


def review(demo: Demo) -> None:
    """Run the categories DAG; answer its review (most novel cluster = a new category) via the REST API."""
    from ml.categories.decisions import OPTION_IGNORE, OPTION_NEW

    banner("4. categories: cluster recent scored texts, report, human review (HITL)")
    demo.clock += 1
    logical = f"2026-01-01T{demo.clock:02d}:00:00+00:00"
    dag_id = f"{PROFILE}_categories"
    conf = {"min_sample": 100, "k_max": 6}
    print(f"$ airflow dags test {dag_id} {logical} -c '{json.dumps(conf)}'  (waits for the review)")
    log_path = demo.home / "demo-logs" / f"{dag_id}-{demo.clock:02d}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # the run parks its review tasks in awaiting_input until answered
            [airflow_bin(), "dags", "test", dag_id, logical, "-c", json.dumps(conf)],
            env=demo.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            root = Path(lake.local_path(demo.settings.zone_uri("reports", "categories", PROFILE)))
            found: list[Path] = []
            while not found and proc.poll() is None:
                time.sleep(2)
                found = sorted(root.glob("*/clusters.json"))
            if not found:
                sys.exit(f"demo: {dag_id} ended without a cluster report; log: {log_path}")
            doc = json.loads(found[-1].read_text(encoding="utf-8"))
            print(f"report: {found[-1].parent / 'index.html'}")
            for c in doc["clusters"]:
                print(
                    f"  cluster {c['cluster']}: {c['size']:>4} texts, novelty {c['novelty']:.2f}, nearest "
                    f"{c['nearest_category']} ({c['nearest_confidence']:.2f}); {', '.join(c['top_terms'][:6])}"
                )
            novel = doc["clusters"][0]["cluster"]  # listed most novel first
            print(f"analyst (through the REST API): cluster {novel} -> new category {NEW!r}; the others -> ignore")
            by_subject = {f"Cluster {c['cluster']}:": (OPTION_IGNORE, {"name": ""}) for c in doc["clusters"]}
            by_subject[f"Cluster {novel}:"] = (OPTION_NEW, {"name": NEW})
            done = answer_listed(demo.env, demo.home, dag_id, by_subject, expected=len(doc["clusters"]))
            for a in done["answered"]:
                if a["status"] != 200:
                    sys.exit(f"demo: answering {a['subject']!r} failed: {a}")
                print(
                    f"  {a['subject'][:40]:<40} -> {a['body']['chosen_options']} by {a['body']['responded_by']['name']}"
                )
            proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
    if proc.returncode != 0:
        sys.exit(f"demo: {dag_id} failed (exit {proc.returncode}); log: {log_path}")
    decision = json.loads((found[-1].parent / "decision.json").read_text(encoding="utf-8"))
    print(
        f"category map v{decision['category_map_version']} (was v{decision['previous_map_version']}), "
        f"{decision['pseudo_labels']} pseudo-labelled rows; {PROFILE}_train queued: "
        f"{'yes' if demo.queued_runs(f'{PROFILE}_train') else 'no'}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--home", type=Path, default=PROJECT_ROOT / ".airflow-categories")
    p.add_argument("--rows", type=int, default=1500)
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    from ml.generator import DriftKnobs

    demo = Demo(args.home, args.rows, args.seed, verbose=False)
    demo.setup()
    subprocess.run(
        [airflow_bin(), "dags", "unpause", f"{PROFILE}_categories"], env=demo.env, check=True, capture_output=True
    )
    banner("1. training era: two classes")
    demo.generate("raw", "era1.csv", args.rows, args.seed)
    demo.dags_test(f"{PROFILE}_ingest", {"quiet_seconds": 0, "wait_timeout_minutes": 0})
    demo.train("2. first model")
    banner("3. a scored era in which 30 % of the texts are about a category that did not exist")
    demo.generate("inference-input", "era2.csv", 400, args.seed + 1, with_label=False,
                  drift=DriftKnobs(new_category=0.3))  # fmt: skip
    demo.dags_test(f"{PROFILE}_batch_inference", {"quiet_seconds": 0, "wait_timeout_minutes": 0})
    review(demo)
    demo.train("5. retrain on the new category map (queued by the decision's asset event)")
    banner("6. a fresh batch: the champion now emits the new class")
    demo.generate("inference-input", "era3.csv", 300, args.seed + 2, with_label=False,
                  drift=DriftKnobs(new_category=0.3))  # fmt: skip
    demo.dags_test(f"{PROFILE}_batch_inference", {"quiet_seconds": 0, "wait_timeout_minutes": 0})
    demo.print_results()
    return 0


if __name__ == "__main__":
    sys.exit(main())
