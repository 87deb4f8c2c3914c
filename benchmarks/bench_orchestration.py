"""Orchestration cost of the demo pipeline and the landing-to-queryable latency of a scored batch.

(a) **Overhead**: the four DAGs of one profile (ingest → train → batch_inference → drift) run
with ``airflow dags test`` on a small generated dataset in a fresh Airflow home (SQLite,
the same DAG files the scheduler runs). Task compute time is read from the metadata DB
(``task_instance`` start/end of every task, retries from ``task_instance_history`` too);
overhead = wall time of the ``dags test`` processes ÷ the sum of task times (goal ≤ 1.5).
The in-run span (first task start → last task end) ÷ the same sum separates in-run overhead
(state changes between tasks) from CLI start-up, DAG parsing and serialisation.

(b) **Latency**: ``<profile>_batch_inference`` is started with no new input, so its
deferrable ``wait_for_input`` sensor waits; then a file lands in ``inference-input/``
(atomic rename) and the clock runs until a DuckDB query over the results zone returns its
rows. ``airflow dags test`` has no triggerer: it runs the sensor's trigger inline, in the
same process, with the same poll interval (the profile's ``sensor_poke_seconds``).

Usage: python benchmarks/bench_orchestration.py [--rows 4000] [--batch-rows 1000] [--keep]
Writes benchmarks/results/orchestration.json and orchestration.md; prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include import lake
from include.profiles import get_profile
from include.settings import load_settings
from nlpops.runtime import airflow_bin, airflow_environ, ensure_airflow_home

PROJECT = Path(__file__).resolve().parent.parent

PROFILE = "amazon_polarity"
NO_WAIT = {"quiet_seconds": 0, "wait_timeout_minutes": 0}


def _ts(value: str | None) -> datetime | None:
    """A timestamp as SQLite stores it for Airflow (UTC, with or without offset)."""
    if not value:
        return None
    dt = datetime.fromisoformat(str(value).replace(" ", "T"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class Bench:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = airflow_environ(home, NLPOPS_PROFILES=PROFILE, PYTHONUNBUFFERED="1")
        self.settings = load_settings(self.env)
        self.profile = get_profile(PROFILE, self.settings)
        self.clock = 0
        self.runs: list[dict[str, Any]] = []

    # -- plumbing ------------------------------------------------------------------------
    def next_logical(self) -> str:
        self.clock += 1
        return f"2026-01-01T{self.clock:02d}:00:00+00:00"

    def cmd(self, dag_id: str, logical: str, conf: dict[str, Any] | None) -> list[str]:
        return [airflow_bin(), "dags", "test", dag_id, logical, *(["-c", json.dumps(conf)] if conf else [])]

    def dags_test(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        logical = self.next_logical()
        log_path = self.home / "bench-logs" / f"{self.clock:02d}-{dag_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with log_path.open("w") as log:
            proc = subprocess.run(
                self.cmd(dag_id, logical, conf), env=self.env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        wall = time.monotonic() - start
        if proc.returncode != 0:
            print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
            raise SystemExit(f"{dag_id} failed (exit {proc.returncode}); log: {log_path}")
        run = {"dag_id": dag_id, "logical_date": logical, "wall_s": round(wall, 2)}
        self.runs.append(run)
        print(f"  {dag_id} {logical}: {wall:.1f} s wall", file=sys.stderr, flush=True)
        return run

    def generate(self, zone: str, name: str, rows: int, seed: int, **kw: Any) -> Path:
        """Write a generated file into ``<zone>/<profile>/`` atomically (the sensor never sees half a file)."""
        from ml.generator import generate

        path = Path(lake.local_path(self.settings.zone_uri(zone, PROFILE, name)))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as fh:
            generate(self.profile, rows, seed=seed, out=fh, **kw)
        tmp.rename(path)
        return path

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.home / "airflow.db", timeout=30)

    def task_times(self, dag_id: str, logical: str) -> list[dict[str, Any]]:
        """Every task try of one run: (task, try, state, seconds) from task_instance + task_instance_history."""
        out: list[dict[str, Any]] = []
        with self.db() as con:
            [run_id] = con.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = ? AND logical_date LIKE ?",
                (dag_id, logical[:19].replace("T", " ") + "%"),
            ).fetchone()
            for table in ("task_instance", "task_instance_history"):
                rows = con.execute(
                    f"SELECT task_id, try_number, state, start_date, end_date FROM {table} "
                    "WHERE dag_id = ? AND run_id = ?",
                    (dag_id, run_id),
                ).fetchall()
                for task_id, try_number, state, start, end in rows:
                    s, e = _ts(start), _ts(end)
                    secs = (e - s).total_seconds() if s and e else 0.0
                    out.append({"task_id": task_id, "try": try_number, "state": state, "seconds": round(secs, 2)})
        return out

    def run_span(self, dag_id: str, logical: str) -> tuple[str, float]:
        """Run id and in-run span: first task start → last task end.

        Not ``dag_run.start_date``: ``dags test`` sets that to the logical date.
        """
        with self.db() as con:
            run_id, start, end = con.execute(
                "SELECT dr.run_id, min(ti.start_date), max(ti.end_date) FROM dag_run dr JOIN task_instance ti "
                "ON ti.dag_id = dr.dag_id AND ti.run_id = dr.run_id WHERE dr.dag_id = ? AND dr.logical_date LIKE ? "
                "GROUP BY dr.run_id",
                (dag_id, logical[:19].replace("T", " ") + "%"),
            ).fetchone()
        s, e = _ts(start), _ts(end)
        return run_id, (e - s).total_seconds() if s and e else 0.0

    # -- (a) overhead ----------------------------------------------------------------------
    def setup(self) -> None:
        ensure_airflow_home(self.env)
        subprocess.run([airflow_bin(), "dags", "reserialize"], env=self.env, check=True, capture_output=True)

    def pipeline(self, rows: int, batch_rows: int, seed: int) -> dict[str, Any]:
        self.generate("raw", "bench-reviews.csv", rows, seed)
        ingest = self.dags_test(f"{PROFILE}_ingest", NO_WAIT)
        train = self.dags_test(f"{PROFILE}_train")
        self.generate("inference-input", "bench-batch.csv", batch_rows, seed + 1, with_label=False)
        score = self.dags_test(f"{PROFILE}_batch_inference", NO_WAIT)
        run_key = score["logical_date"][:19].replace("-", "").replace(":", "")
        drift = self.dags_test(f"{PROFILE}_drift", {"inference_run_key": run_key})
        per_dag = []
        for run in (ingest, train, score, drift):
            tasks = self.task_times(run["dag_id"], run["logical_date"])
            run_id, span = self.run_span(run["dag_id"], run["logical_date"])
            task_s = sum(t["seconds"] for t in tasks)
            per_dag.append(
                run
                | {
                    "run_id": run_id,
                    "run_span_s": round(span, 2),
                    "task_sum_s": round(task_s, 2),
                    "tasks": tasks,
                    "wall_over_tasks": round(run["wall_s"] / task_s, 2) if task_s else None,
                }
            )
        wall = sum(r["wall_s"] for r in per_dag)
        span = sum(r["run_span_s"] for r in per_dag)
        task_s = sum(r["task_sum_s"] for r in per_dag)
        return {
            "rows": rows,
            "batch_rows": batch_rows,
            "runs": per_dag,
            "wall_s": round(wall, 2),
            "run_span_s": round(span, 2),
            "task_sum_s": round(task_s, 2),
            "overhead_wall_over_tasks": round(wall / task_s, 2),
            "overhead_span_over_tasks": round(span / task_s, 2),
        }

    # -- (b) landing -> queryable -------------------------------------------------------------
    def results_rows(self) -> int:
        """Rows a DuckDB query over the results zone returns now (0 before anything is published)."""
        from ml.results import connect_results

        root = Path(lake.local_path(self.settings.zone_uri("results", PROFILE)))
        if not any(root.glob("**/*.parquet")):
            return 0
        con = connect_results(self.settings.zone_uri("results", PROFILE))
        try:
            row = con.execute("SELECT count(*) FROM nlpops_results").fetchone()
            return int(row[0]) if row else 0
        finally:
            con.close()

    def sensor(self, dag_id: str, logical: str) -> tuple[str | None, datetime | None, datetime | None]:
        """State, start and end time of the run's ``wait_for_input`` sensor (None before it exists)."""
        with self.db() as con:
            row = con.execute(
                "SELECT ti.state, ti.start_date, ti.end_date FROM task_instance ti JOIN dag_run dr "
                "ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id "
                "WHERE ti.dag_id = ? AND ti.task_id = 'wait_for_input' AND dr.logical_date LIKE ?",
                (dag_id, logical[:19].replace("T", " ") + "%"),
            ).fetchone()
        return (None, None, None) if row is None else (row[0], _ts(row[1]), _ts(row[2]))

    def sensor_waiting(self, dag_id: str, logical: str, log_path: Path) -> bool:
        """Has the sensor looked once and handed over to its trigger?

        ``dags test`` marks a deferred task QUEUED again while it runs the trigger inline, so
        "deferred" shows only for a moment: a started sensor that is deferred or queued again
        is waiting, and so is one whose run logged the inline trigger start.
        """
        state, start, _ = self.sensor(dag_id, logical)
        if state in ("deferred", "queued") and start is not None:
            return True
        return "running trigger in line" in log_path.read_text(errors="replace")

    def latency(self, batch_rows: int, seed: int, wait_timeout_minutes: int) -> dict[str, Any]:
        dag_id = f"{PROFILE}_batch_inference"
        before = self.results_rows()
        logical = self.next_logical()
        conf = {"quiet_seconds": 0, "wait_timeout_minutes": wait_timeout_minutes}
        log_path = self.home / "bench-logs" / f"{self.clock:02d}-{dag_id}-latency.log"
        started = time.monotonic()
        with log_path.open("w") as log:
            proc = subprocess.Popen(self.cmd(dag_id, logical, conf), env=self.env, stdout=log, stderr=subprocess.STDOUT)
            try:
                # Wait until the sensor has looked once and is waiting (deferred; its trigger runs inline).
                while not self.sensor_waiting(dag_id, logical, log_path):
                    if proc.poll() is not None:
                        raise SystemExit(f"{dag_id} ended before its sensor waited; log: {log_path}")
                    if time.monotonic() - started > 300:
                        raise SystemExit(f"{dag_id}: sensor not waiting after 300 s; log: {log_path}")
                    time.sleep(0.5)
                waiting_after = time.monotonic() - started
                # Land just after the first look: close to the worst case, almost a whole poll interval to wait.
                time.sleep(2.0)
                landed_wall = datetime.now(UTC)
                landed = time.monotonic()
                self.generate("inference-input", "bench-latency.csv", batch_rows, seed, with_label=False)
                rows = before
                while rows <= before:
                    if proc.poll() is not None and self.results_rows() <= before:
                        raise SystemExit(f"{dag_id} ended and the results did not grow; log: {log_path}")
                    if time.monotonic() - landed > 900:
                        raise SystemExit(f"no results 900 s after landing; log: {log_path}")
                    time.sleep(0.5)
                    rows = self.results_rows()
                queryable = time.monotonic() - landed
                code = proc.wait(timeout=900)
            finally:
                if proc.poll() is None:
                    proc.kill()
        total = time.monotonic() - started
        tasks = self.task_times(dag_id, logical)
        _, _, sensor_end = self.sensor(dag_id, logical)
        detected = (sensor_end - landed_wall).total_seconds() if sensor_end else None
        return {
            "batch_rows": batch_rows,
            "new_result_rows": rows - before,
            "exit_code": code,
            "sensor_waiting_after_s": round(waiting_after, 2),
            "landing_to_queryable_s": round(queryable, 2),
            "landing_to_sensor_done_s": None if detected is None else round(detected, 2),
            "poke_interval_s": self.profile.schedule.sensor_poke_seconds,
            "run_wall_s": round(total, 2),
            "tasks": tasks,
        }


def markdown(r: dict[str, Any]) -> str:
    a, b = r["pipeline"], r["latency"]
    goal = "met" if a["overhead_wall_over_tasks"] <= 1.5 else "not met"
    lines = [
        f"Profile `{PROFILE}`, {a['rows']} training rows, batches of {a['batch_rows']} rows; fresh Airflow home "
        "(SQLite, LocalExecutor settings), every DAG run with `airflow dags test` (tasks in the CLI process).",
        "",
        "**(a) Orchestration overhead**: wall time of the `dags test` processes ÷ sum of task times "
        "(metadata DB `task_instance` start → end).",
        "",
        "| DAG run | wall s | in-run span s | Σ task s | wall ÷ Σ task | tasks (s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for run in a["runs"]:
        tasks = ", ".join(f"{t['task_id']} {t['seconds']:.1f}" for t in run["tasks"] if t["seconds"] > 0)
        lines.append(
            f"| {run['dag_id']} | {run['wall_s']:.1f} | {run['run_span_s']:.1f} | {run['task_sum_s']:.1f} | "
            f"{run['wall_over_tasks']} | {tasks} |"
        )
    lines += [
        f"| **all four** | **{a['wall_s']:.1f}** | **{a['run_span_s']:.1f}** | **{a['task_sum_s']:.1f}** | "
        f"**{a['overhead_wall_over_tasks']}** | |",
        "",
        f"1-min load average at start, after (a), after (b): {', '.join(f'{x:.1f}' for x in r['load_avg_1m'])} "
        f"on {r['cpus']} CPUs (a shared machine inflates every time, task times included).",
        "",
        f"Overhead ratio **{a['overhead_wall_over_tasks']}** (goal ≤ 1.5: {goal}); inside the DAG runs "
        f"(span ÷ Σ task) {a['overhead_span_over_tasks']}. The rest is per-process: `airflow` CLI start, "
        "DAG parsing and serialisation, metadata DB writes — fixed seconds per run that weigh less as the data grows.",
        "",
        "**(b) New file landing → its predictions queryable** (DuckDB `SELECT count(*)` over the results "
        "zone, polled every 0.5 s), deferrable `wait_for_input` sensor already waiting:",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| landing → predictions queryable | **{b['landing_to_queryable_s']:.1f} s** |",
        f"| landing → sensor done (file detected) | {b['landing_to_sensor_done_s']} s |",
        f"| sensor poll interval (profile `sensor_poke_seconds`) | {b['poke_interval_s']} s |",
        f"| rows scored and queryable | {b['new_result_rows']} of {b['batch_rows']} |",
        "",
        "Under `airflow dags test` there is no triggerer: the sensor's trigger runs inline in the CLI process "
        "with the same poll interval, so detection costs up to one poll interval, as with a triggerer; the "
        "remainder is validation (GX), the transform and publishing the Parquet results. Tasks of that run (s): "
        + ", ".join(f"{t['task_id']} {t['seconds']:.1f}" for t in b["tasks"] if t["seconds"] > 0)
        + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=4000, help="generated training rows")
    ap.add_argument("--batch-rows", type=int, default=1000, help="rows per inference batch")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--home", type=Path, default=None, help="Airflow home (default: a fresh temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary Airflow home")
    ap.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "results" / "orchestration.json")
    args = ap.parse_args(argv)
    home = (args.home or Path(tempfile.mkdtemp(prefix="nlpops-bench-orch-"))).resolve()
    bench = Bench(home)
    try:
        print(f"Airflow home {home}", file=sys.stderr, flush=True)
        load = [os.getloadavg()[0]]
        bench.setup()
        pipeline = bench.pipeline(args.rows, args.batch_rows, args.seed)
        load.append(os.getloadavg()[0])
        latency = bench.latency(args.batch_rows, args.seed + 2, wait_timeout_minutes=10)
        load.append(os.getloadavg()[0])
    finally:
        if args.home is None and not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    # The machine may be shared: the 1-min load average at start, after (a), after (b).
    result = {"profile": PROFILE, "pipeline": pipeline, "latency": latency, "load_avg_1m": load, "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    md = markdown(result)
    args.out.with_suffix(".md").write_text(md + "\n", encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
