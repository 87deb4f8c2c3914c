"""`make demo`: the whole pipeline on the embedded local target, end to end.

Sets up a fresh local lake and Airflow home, generates sample data with the project's
seeded generator, and runs the DAGs with `airflow dags test` (the same DAGs the
scheduler runs), printing what happened at each step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from include import lake
from include.profiles import get_profile
from include.settings import PROJECT_ROOT, load_settings
from nlpops.runtime import airflow_bin, airflow_environ, ensure_airflow_home

PROFILE = "amazon_polarity"


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 70 - len(text)), flush=True)


class Demo:
    def __init__(self, home: Path, rows: int, seed: int, verbose: bool) -> None:
        self.home = home
        self.rows = rows
        self.seed = seed
        self.verbose = verbose
        self.env = airflow_environ(home)
        self.settings = load_settings(self.env)
        self.profile = get_profile(PROFILE, self.settings)
        self.clock = 0

    # -- plumbing ---------------------------------------------------------------------
    def dags_test(self, dag_id: str, conf: dict[str, Any] | None = None) -> float:
        """Run one DAG with `airflow dags test`; fail the demo if the run fails."""
        self.clock += 1
        logical = f"2026-01-01T{self.clock:02d}:00:00+00:00"
        cmd = [airflow_bin(), "dags", "test", dag_id, logical]
        if conf:
            cmd += ["-c", json.dumps(conf)]
        print(f"$ airflow dags test {dag_id} {logical}" + (f" -c '{json.dumps(conf)}'" if conf else ""))
        start = time.monotonic()
        log_path = self.home / "demo-logs" / f"{dag_id}-{self.clock:02d}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log:
            proc = subprocess.run(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, check=False)
        elapsed = time.monotonic() - start
        if proc.returncode != 0:
            tail = log_path.read_text(errors="replace").splitlines()[-60:]
            print("\n".join(tail))
            sys.exit(f"demo: {dag_id} failed (exit {proc.returncode}); full log: {log_path}")
        print(f"  ok in {elapsed:.0f}s (log: {log_path.relative_to(PROJECT_ROOT)})")
        return elapsed

    def generate(self, zone: str, name: str, rows: int, seed: int, **kw: Any) -> str:
        from ml.generator import generate

        uri = self.settings.zone_uri(zone, PROFILE, name)
        path = Path(lake.local_path(uri))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as fh:
            generate(self.profile, rows, seed=seed, out=fh, **kw)
        tmp.rename(path)  # appears whole: the sensor never sees a half-written file
        return uri

    # -- stages -----------------------------------------------------------------------
    def setup(self) -> None:
        banner("setup: fresh local lake and Airflow home")
        for stale in ("lake", "mlflow.db", "mlartifacts", "notifications", "demo-logs"):
            target = self.home / stale
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        ensure_airflow_home(self.env)
        # Register every DAG in the metadata DB, so asset events find their consumers
        # (drift -> train) exactly as under a running scheduler.
        subprocess.run([airflow_bin(), "dags", "reserialize"], env=self.env, check=True, capture_output=True)
        # Asset events only queue DAGs that are not paused (new DAGs start paused here).
        for kind in ("ingest", "train", "batch_inference", "drift"):
            subprocess.run(
                [airflow_bin(), "dags", "unpause", f"{PROFILE}_{kind}"], env=self.env, check=True, capture_output=True
            )
        print(f"AIRFLOW_HOME={self.home}\nlake={self.settings.lake_uri}")

    def ingest(self) -> None:
        from ml.generator import generate_dirty_corpus

        banner("1. ingest: raw files -> GX validation -> Spark ETL -> processed")
        self.generate("raw", "reviews-2026-01-01.csv", self.rows // 2, self.seed)
        self.generate("raw", "reviews-2026-01-02.csv.gz", self.rows - self.rows // 2, self.seed + 1)
        dirty_dir = Path(lake.local_path(self.settings.zone_uri("raw", PROFILE, "dirty")))
        outside = self.home / "outside-the-lake"
        dirty = generate_dirty_corpus(self.profile, dirty_dir, seed=self.seed, outside_dir=outside)
        print(f"generated {self.rows} clean rows in 2 files and a dirty corpus of {len(dirty)} files")
        self.dags_test(f"{PROFILE}_ingest", {"quiet_seconds": 0, "wait_timeout_minutes": 0})
        self.print_ingest_summary()
        banner("1b. ingest again: nothing new -> the sensor skips, nothing is reprocessed")
        self.dags_test(f"{PROFILE}_ingest", {"quiet_seconds": 0, "wait_timeout_minutes": 0})
        runs = list(lake.published(self.settings.zone_uri("processed", PROFILE)))
        print(f"processed runs after the second ingest: {len(runs)} (unchanged)")

    def print_ingest_summary(self) -> None:
        s = self.settings
        [val_uri] = list(lake.published(s.zone_uri("validated", PROFILE)))[-1:]
        vm = lake.read_json(lake.join(val_uri, lake.MANIFEST))
        [proc_uri] = list(lake.published(s.zone_uri("processed", PROFILE)))[-1:]
        pm = lake.read_json(lake.join(proc_uri, lake.MANIFEST))
        print(f"files seen          : {len(vm['files'])}")
        for f in vm["files"]:
            note = f" ({f.get('reason')})" if f.get("status") != "ok" else ""
            print(
                f"  {f['rows_in']:>7} in {f['rows_valid']:>7} valid {f['rows_quarantined']:>5} quarantined"
                f"  {f['uri'].rsplit('/', 1)[-1]}{note}"[:150]
            )
        print(f"rows in             : {vm['rows_in']}")
        print(f"rows valid          : {vm['rows_valid']}")
        print(f"rows quarantined    : {vm['rows_quarantined']}  -> {s.zone_uri('quarantine', PROFILE)}")
        print(f"duplicates removed  : {pm.get('duplicates_removed')}")
        print(f"processed per split : {pm['rows_per_split']}  -> {proc_uri}")
        print(f"validation report   : {vm.get('report_uri')}")
        assert vm["rows_in"] == vm["rows_valid"] + vm["rows_quarantined"], "row conservation broken"

    # -- training ---------------------------------------------------------------------
    def registry(self) -> Any:
        from ml.registry import get_registry

        return get_registry(self.settings)

    def print_registry(self) -> None:
        reg = self.registry()
        for mv in reg.list_versions(PROFILE):
            metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(mv.metrics.items()) if isinstance(v, float))
            aliases = ",".join(mv.aliases) or "-"
            reason = mv.tags.get("status_reason") or mv.tags.get("approval_reason") or ""
            print(f"  v{mv.version:<3} {mv.status:<22} aliases={aliases:<12} {metrics}")
            if reason:
                print(f"       reason: {reason[:150]}")

    def train(self, title: str) -> None:
        banner(title)
        self.dags_test(f"{PROFILE}_train")
        print("model registry (MLflow, sqlite):")
        self.print_registry()
        champion = self.registry().get_by_alias(PROFILE, "champion")
        if champion is not None:
            report = self.settings.zone_uri("reports", "evaluation", PROFILE)
            print(f"champion: v{champion.version}  artefact: {champion.artifact_uri}")
            print(f"evaluation reports (JSON + HTML with the confusion matrix): {report}/<job>/index.html")

    # -- batch inference ------------------------------------------------------------------
    def score(self, title: str, name: str, rows: int, seed: int, magnitude: float = 0.0) -> str:
        from ml.generator import DriftKnobs

        banner(title)
        drift = DriftKnobs.from_magnitude(magnitude) if magnitude else None
        self.generate("inference-input", name, rows, seed, with_label=False, drift=drift)
        print(
            f"dropped {rows} unlabelled rows into inference-input/{PROFILE}/{name}"
            + (f" (drift magnitude {magnitude})" if magnitude else "")
        )
        self.dags_test(f"{PROFILE}_batch_inference", {"quiet_seconds": 0, "wait_timeout_minutes": 0})
        run_key = f"20260101T{self.clock:02d}0000"  # the run key of the logical date dags_test used
        self.print_results()
        return run_key

    def print_results(self) -> None:
        from ml.results import format_summary, run_summary_queries

        results = self.settings.zone_uri("results", PROFILE)
        print(format_summary(run_summary_queries(results, self.profile.drift.low_confidence)))
        glob = f"{lake.local_path(results)}/**/*.parquet"
        sql = f"SELECT label, count(*) AS n FROM read_parquet('{glob}', hive_partitioning=true) GROUP BY 1"  # noqa: S608 - printed for the user, not run
        print("query it yourself with DuckDB (one row per valid input row):")
        print(f"  {sql};")
        print(f'  .venv/bin/python -c "import duckdb; print(duckdb.sql(\\"{sql}\\"))"')

    # -- drift ------------------------------------------------------------------------------
    def drift(self, title: str, inference_run_key: str) -> dict[str, Any]:
        banner(title)
        self.dags_test(f"{PROFILE}_drift", {"inference_run_key": inference_run_key})
        from ml.drift.policy import history_uri, load_history

        last = load_history(history_uri(PROFILE, self.settings))[-1]
        report_dir = self.settings.zone_uri("reports", "drift", PROFILE)
        decision = lake.read_json(f"{report_dir}/{last.run_key}/decision.json")
        d = decision.get("decision", decision)
        print(f"decision: {d.get('status')}  retrain={d.get('retrain')}  n={d.get('n')}")
        for reason in d.get("reasons", []):
            print(f"  - {reason}"[:200])
        metrics = d.get("metrics", {})
        print("  metrics: " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(metrics.items()) if isinstance(v, float)))
        print(f"  report: {report_dir}/{last.run_key}/report.html")
        queued = self.queued_runs(f"{PROFILE}_train")
        print(f"  {PROFILE}_train queued by the drift asset event: {'yes' if queued else 'no'}")
        return {"retrain": bool(d.get("retrain")), "queued": queued}

    def queued_runs(self, dag_id: str) -> bool:
        """Is ``dag_id`` queued by an asset event (what the scheduler would start next)?"""
        code = (
            "from airflow.utils.session import create_session\n"
            "from airflow.models.asset import AssetDagRunQueue\n"
            "with create_session() as s:\n"
            f"    print(s.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == {dag_id!r}).count())\n"
        )
        out = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True, check=False)
        lines = out.stdout.strip().splitlines()
        return bool(lines) and lines[-1].isdigit() and int(lines[-1]) > 0


def main(argv: list[str] | None = None) -> int:
    from ml.generator import DriftKnobs

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000, help="clean rows generated for training")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--home", type=Path, default=PROJECT_ROOT / ".airflow")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    demo = Demo(args.home.resolve(), args.rows, args.seed, args.verbose)
    start = time.monotonic()
    demo.setup()
    demo.ingest()
    demo.train("2. train: train -> evaluate -> register -> gate -> promote v1")
    demo.train("2b. train again on the same data: no better model -> v1 stays champion")
    clean = demo.score("3. batch inference: a new batch scored by the champion", "batch-clean.csv", 3000, 1001)
    quiet = demo.drift("4. drift check of the clean batch: expect no drift, no retrain", clean)
    drifted = demo.score(
        "5. a drifted batch arrives (new vocabulary, longer texts, a new topic)",
        "batch-drifted.csv",
        3000,
        2002,
        magnitude=0.6,
    )
    loud = demo.drift("6. drift check of the drifted batch: expect drift -> retrain", drifted)
    if loud["retrain"]:
        banner("7. labelled examples of the new kind arrive and are ingested")
        demo.generate("raw", "reviews-new-era.csv", 6000, 3003, drift=DriftKnobs.from_magnitude(0.6))
        demo.dags_test(f"{PROFILE}_ingest", {"quiet_seconds": 0, "wait_timeout_minutes": 0})
        demo.print_ingest_summary()
        demo.train("8. the retraining run the drift event queued (`dags test` runs it here): gate decides")
    print(f"\nclean batch retrain={quiet['retrain']}; drifted batch retrain={loud['retrain']}")
    banner(f"done in {time.monotonic() - start:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
