"""Results in PostgreSQL against a real server: COPY + upsert, row counts, retries, dashboards, operators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from include import lake as lk
from ml.results import publish_results
from ml.results_postgres import dashboard_query, load_drift_decision, load_predictions

PROFILE = "amazon_polarity"


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    from pgcluster import PgCluster, PostgresUnavailable

    try:
        cluster = PgCluster()
    except PostgresUnavailable as exc:  # not root without the package: `make pg-deps` as root installs it
        pytest.skip(str(exc))
    with cluster:
        yield cluster


@pytest.fixture
def conn(pg: Any) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(pg.dsn) as c:
        c.execute("DROP TABLE IF EXISTS nlpops_predictions, nlpops_drift_decisions")
        c.commit()
        yield c


def _pred(i: str, label: str, conf: float) -> dict:
    other = "negative" if label == "positive" else "positive"
    return {"id": i, "label": label, "confidence": conf, "probabilities": {label: conf, other: round(1 - conf, 6)}}


def _batch(lake: str, job: str, lines: dict[str, list[dict]], version: str = "5", day: str = "2024-05-01") -> dict:
    out = f"{lake}/inference-output/{PROFILE}/{job}"
    objs = []
    for key, preds in lines.items():
        lk.write_text(lk.join(out, f"{key}.out"), "".join(json.dumps(x) + "\n" for x in preds))
        objs.append({"uri": f"{lake}/inference-input/{PROFILE}/{key}", "key": key, "etag": f"etag-{job}"})
    return publish_results(out, objs, results_uri=f"{lake}/results/{PROFILE}", model_version=version, date=day)


def _load(conn: Any, published: dict, version: str = "5", run: str = "run-1") -> dict[str, int]:
    files = [f["uri"] for f in published["files"]]
    day = published["partition_uri"].split("date=")[1][:10]
    return load_predictions(conn, files, profile=PROFILE, model_version=version, scored_date=day, run_key=run)


def _rows(conn: Any) -> list[tuple]:
    return conn.execute(
        "SELECT source_uri, source_record, model_version, id, label, confidence, probabilities, run_key "
        "FROM nlpops_predictions ORDER BY source_uri, source_record, model_version"
    ).fetchall()


def test_a_batch_loads_one_row_per_scored_record_with_its_key(lake: str, conn) -> None:
    published = _batch(
        lake,
        "j1",
        {"a.csv": [_pred("r1", "positive", 0.9), {"id": "r2", "error": "bad"}, _pred("r3", "negative", 0.6)]},
    )
    loaded = _load(conn, published)
    assert loaded == {"rows": 2, "upserted": 2, "removed": 0} and published["rows"] == 2
    rows = _rows(conn)
    src = f"{lake}/inference-input/{PROFILE}/a.csv"
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        (src, 1, "5", "r1", "positive"),
        (src, 3, "5", "r3", "negative"),
    ]
    assert rows[0][6] == {"positive": 0.9, "negative": 0.1} and rows[0][7] == "run-1"


def test_a_retry_or_rerun_never_duplicates_rows(lake: str, conn) -> None:
    published = _batch(lake, "j1", {"a.csv": [_pred("r1", "positive", 0.9)], "b.csv": [_pred("s1", "negative", 0.8)]})
    _load(conn, published)
    again = _load(conn, published, run="run-1-retry")
    assert again == {"rows": 2, "upserted": 2, "removed": 0}
    assert conn.execute("SELECT count(*), count(DISTINCT run_key) FROM nlpops_predictions").fetchone() == (2, 1)
    # another model version scoring the same inputs is another set of predictions
    _load(conn, _batch(lake, "j2", {"a.csv": [_pred("r1", "negative", 0.7)]}, version="6"), version="6")
    assert conn.execute("SELECT count(*) FROM nlpops_predictions").fetchone() == (3,)


def test_a_replaced_input_object_drops_its_records_that_are_gone(lake: str, conn) -> None:
    _load(conn, _batch(lake, "j1", {"a.csv": [_pred(f"r{i}", "positive", 0.9) for i in range(1, 5)]}))
    loaded = _load(conn, _batch(lake, "j2", {"a.csv": [_pred("r1", "negative", 0.8)]}), run="run-2")
    assert loaded == {"rows": 1, "upserted": 1, "removed": 3}
    assert [(r[1], r[4]) for r in _rows(conn)] == [(1, "negative")]


class _FailingUpsert:
    """A connection whose cursor fails on the upsert, after the COPY into the staging table."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def cursor(self) -> Any:
        real = self.conn.cursor()

        class Cursor:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def execute(self, sql: str, *args: Any) -> Any:
                if sql.lstrip().startswith("INSERT INTO nlpops_predictions"):
                    raise RuntimeError("worker killed during the upsert")
                return real.execute(sql, *args)

        return Cursor()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_a_failure_half_way_leaves_the_table_unchanged_and_the_retry_loads_once(lake: str, conn) -> None:
    _load(conn, _batch(lake, "j0", {"a.csv": [_pred(f"r{i}", "positive", 0.9) for i in range(1, 5)]}))
    published = _batch(lake, "j1", {"a.csv": [_pred("r1", "negative", 0.9), _pred("r2", "negative", 0.6)]})
    with pytest.raises(RuntimeError, match="worker killed"):
        _load(_FailingUpsert(conn), published, run="run-2")  # the stale-row DELETE ran, the upsert failed
    assert [(r[1], r[4], r[7]) for r in _rows(conn)] == [(i, "positive", "run-1") for i in range(1, 5)]
    _load(conn, published, run="run-2")
    assert [(r[1], r[4]) for r in _rows(conn)] == [(1, "negative"), (2, "negative")]


def test_drift_decisions_upsert_and_dashboard_queries(lake: str, conn) -> None:
    _load(conn, _batch(lake, "j1", {"a.csv": [_pred("r1", "positive", 0.9), _pred("r2", "negative", 0.55)]}))
    decision = {
        "run_key": "drift-1", "time": "2024-05-01T10:00:00+00:00", "status": "drift", "retrain": True, "n": 2,
        "metrics": {"psi_length": 0.4}, "metrics_over": ["psi_length"], "reasons": ["psi_length 0.4 > 0.2"],
        "model_version": "5", "inference_run_key": "run-1", "report": "file:///r/report.html",
    }  # fmt: skip
    load_drift_decision(conn, PROFILE, decision)
    load_drift_decision(conn, PROFILE, {**decision, "status": "suppressed", "retrain": False})
    with conn.cursor() as cur:
        cur.execute(dashboard_query("drift_decisions"), {"profile": PROFILE})
        assert [(r[1], r[2], r[6]) for r in cur.fetchall()] == [("suppressed", False, ["psi_length"])]
        cur.execute(dashboard_query("class_distribution_per_day"), {"profile": PROFILE})
        assert [(str(r[0]), r[1], r[2]) for r in cur.fetchall()] == [
            ("2024-05-01", "negative", 1),
            ("2024-05-01", "positive", 1),
        ]
        cur.execute(dashboard_query("low_confidence_share"), {"profile": PROFILE, "low_confidence": 0.6})
        assert [(r[1], r[2], float(r[3])) for r in cur.fetchall()] == [("5", 2, 0.5)]
        cur.execute(dashboard_query("volume_per_source_file"), {"profile": PROFILE})
        assert [(r[0], r[2]) for r in cur.fetchall()] == [("a.csv", 2)]
        cur.execute("EXPLAIN SELECT label, count(*) FROM nlpops_predictions WHERE profile = 'x' GROUP BY 1")
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'nlpops_predictions' ORDER BY 1")
        assert {r[0] for r in cur.fetchall()} >= {"nlpops_predictions_pkey", "nlpops_predictions_profile_day"}


def test_operators_publish_through_the_airflow_postgres_connection(
    lake: str, pg: Any, conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nlpops.operators.postgres_publish import (
        PublishBatchToPostgresOperator,
        PublishDriftDecisionToPostgresOperator,
    )

    monkeypatch.setenv("AIRFLOW_CONN_NLPOPS_RESULTS_PG", pg.airflow_conn)
    published = _batch(lake, "j1", {"a.csv": [_pred("r1", "positive", 0.9), _pred("r2", "negative", 0.6)]})
    published = {**published, "files": [f["uri"] for f in published["files"]], "partitions": [{"date": "2024-05-01"}]}
    op = PublishBatchToPostgresOperator(
        task_id="publish_postgres", postgres_conn_id="nlpops_results_pg", profile_name=PROFILE,
        published=json.dumps(published), model_version="5", run_key="run-1",
    )  # fmt: skip
    assert op.execute({}) == {"rows": 2, "upserted": 2, "removed": 0}
    assert op.execute({})["rows"] == 2  # the task's retry
    assert conn.execute("SELECT count(*) FROM nlpops_predictions").fetchone() == (2,)
    bad = PublishBatchToPostgresOperator(
        task_id="p2", postgres_conn_id="nlpops_results_pg", profile_name=PROFILE,
        published={**published, "rows": 5}, model_version="5", run_key="run-1",
    )  # fmt: skip
    with pytest.raises(ValueError, match="publish_results reported 5"):
        bad.execute({})
    decision = {"run_key": "d1", "time": "2024-05-01T10:00:00+00:00", "status": "no_drift", "retrain": False, "n": 2}
    PublishDriftDecisionToPostgresOperator(
        task_id="publish_decision", postgres_conn_id="nlpops_results_pg", profile_name=PROFILE, decision=decision
    ).execute({})
    assert conn.execute("SELECT status FROM nlpops_drift_decisions").fetchall() == [("no_drift",)]
    # a drift run that checked several batches returns one decision per batch
    summary = {"retrain": True, "batches": [{**decision, "run_key": "d2--b1"}, {**decision, "run_key": "d2--b2"}]}
    keys = PublishDriftDecisionToPostgresOperator(
        task_id="publish_decision", postgres_conn_id="nlpops_results_pg", profile_name=PROFILE, decision=summary
    ).execute({})
    assert keys == ["d2--b1", "d2--b2"]
    assert conn.execute("SELECT count(*) FROM nlpops_drift_decisions").fetchone() == (3,)


def _dag_module(name: str) -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "dags" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"nlpops_{name}_dag_pg", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("conn_id", ["", "nlpops_results_pg"])
def test_the_publish_tasks_exist_only_when_the_setting_names_a_connection(
    lake: str, monkeypatch: pytest.MonkeyPatch, conn_id: str
) -> None:
    from include.settings import get_settings

    monkeypatch.setenv("NLPOPS_PROFILES", PROFILE)
    monkeypatch.setenv("NLPOPS_RESULTS_POSTGRES_CONN_ID", conn_id)
    get_settings.cache_clear()
    inference = getattr(_dag_module("batch_inference"), f"{PROFILE}_batch_inference")
    drift = getattr(_dag_module("drift"), f"{PROFILE}_drift")
    get_settings.cache_clear()
    if not conn_id:
        assert "publish_postgres" not in inference.task_dict and "publish_decision_postgres" not in drift.task_dict
        return
    batch = inference.task_dict["publish_postgres"]
    assert batch.postgres_conn_id == conn_id and batch.retries == 3
    assert batch.upstream_task_ids == {"publish_results"} and batch.downstream_task_ids == {"mark_ledger"}
    decision = drift.task_dict["publish_decision_postgres"]
    assert decision.upstream_task_ids == {"check_drift"}
    # the decision template renders as JSON (the drift DAG does not render native objects)
    from jinja2 import Environment

    rendered = (
        Environment()
        .from_string(decision.decision)
        .render(ti=type("TI", (), {"xcom_pull": staticmethod(lambda task_ids: {"run_key": "k", "retrain": False})})())
    )
    assert json.loads(rendered) == {"run_key": "k", "retrain": False}
