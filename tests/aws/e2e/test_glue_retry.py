"""Glue retries at operator level, with the Glue player driving the run states.

* a second try while the first try's run is still RUNNING re-attaches: one StartJobRun;
* ``on_kill`` stops the run (BatchStopJobRun → STOPPED); the next try never reports it as
  success and starts ``<name>-a1``;
* a failed run fails the task with the run's own failure reason, through the provider's trigger.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException
from airflow.sdk.exceptions import TaskDeferred

pytestmark = [pytest.mark.aws, pytest.mark.e2e]

PROFILE = "amazon_polarity"


class FakeTI:
    """The bits of a TaskInstance the Glue operators use: XCom and the try number."""

    def __init__(self, try_number: int) -> None:
        self.try_number = try_number
        self.map_index = -1
        self.dag_id = "retry_dag"
        self.task_id = "prepare_text"
        self.run_id = "scheduled__2026-03-02T00:00:00+00:00"
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)


def _context(ti: FakeTI) -> dict[str, Any]:
    return {
        "ti": ti,
        "run_id": ti.run_id,
        "logical_date": datetime(2026, 3, 2, tzinfo=UTC),
        "task_state_store": None,
    }


def _operator(af: Any, run: str) -> Any:
    from include.profiles import get_profile
    from nlpops.aws.etl import glue_etl_operator

    s = af.settings()
    return glue_etl_operator(
        task_id="prepare_text",
        profile=get_profile(PROFILE, s),
        settings=s,
        job_module="etl.jobs.prepare_text",
        script_args={
            "profile_json": "{}",
            "input_uris": s.zone_uri("validated", PROFILE, run),
            "output_uri": s.zone_uri("processed", PROFILE, f"run={run}"),
            "run_key": run,
        },
        run_key=run,
        waiter_delay=1,
        verbose=False,
    )


def _deferred_run_id(op: Any, ti: FakeTI) -> tuple[str, Any]:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(_context(ti))
    trigger = deferred.value.trigger
    return trigger.run_id, trigger


def _first_event(trigger: Any) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        gen = trigger.run()
        event = await asyncio.wait_for(gen.__anext__(), timeout=120)
        await gen.aclose()
        return dict(event.payload)

    return asyncio.run(first())


def test_retry_while_running_reattaches_to_the_same_run(aws_airflow) -> None:
    af = aws_airflow
    glue = af.players["glue"]
    starts_before = len(af.recorder.calls("glue", "StartJobRun"))
    with glue.hold():
        first_id, _ = _deferred_run_id(_operator(af, "k-attach"), FakeTI(try_number=1))
        assert (
            af.player_client("glue").get_job_runs(JobName=af.recorder.params("glue", "CreateJob")[-1]["Name"])[
                "JobRuns"
            ][0]["JobRunState"]
            == "RUNNING"
        )
        # the worker died; Airflow retries the task while the run is still going
        second_id, trigger = _deferred_run_id(_operator(af, "k-attach"), FakeTI(try_number=2))
        assert second_id == first_id
        assert len(af.recorder.calls("glue", "StartJobRun")) == starts_before + 1
    glue.wait_all()
    # released: the run does its work (a bad profile: it fails) and the retry's trigger follows that one run
    event = _first_event(trigger)
    assert event["run_id"] == first_id and event["status"] != "success"
    assert len(af.recorder.calls("glue", "StartJobRun")) == starts_before + 1


def test_on_kill_stops_the_run_and_the_retry_never_reuses_it(aws_airflow) -> None:
    af = aws_airflow
    glue = af.players["glue"]
    with glue.hold():
        op = _operator(af, "k-kill")
        run_id, _ = _deferred_run_id(op, FakeTI(try_number=1))
        op.on_kill()  # the task is killed: the billed run must stop
        played = glue.jobs[run_id]
        assert played.done.wait(30)
    assert played.state == "STOPPED"
    stops = af.recorder.params("glue", "BatchStopJobRun")
    assert stops and stops[-1]["JobRunIds"] == [run_id]

    op2 = _operator(af, "k-kill")
    glue.fail_next("stopped run replaced")
    new_id, _ = _deferred_run_id(op2, FakeTI(try_number=2))
    assert new_id != run_id
    assert op2.run_name.endswith("-a1")  # a stopped run is never reported as success


def test_failed_run_fails_the_task_with_the_jobs_reason(aws_airflow) -> None:
    af = aws_airflow
    glue = af.players["glue"]
    glue.fail_next("UnknownLabel: raw label '7' is not in the profile's label set")
    op = _operator(af, "k-fail")
    ti = FakeTI(try_number=1)
    run_id, trigger = _deferred_run_id(op, ti)
    glue.jobs[run_id].done.wait(60)
    event = _first_event(trigger)
    assert event["status"] != "success"
    resumed = _operator(af, "k-fail")  # Airflow resumes a deferred task on a fresh instance
    with pytest.raises(AirflowException, match="UnknownLabel: raw label '7'"):
        resumed.execute_complete(_context(ti), event)


def _validated_parquet(rows: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "polarity": [str(1 + i % 2) for i in range(rows)],
            "title": [f"title {i}" for i in range(rows)],
            "text": [f"review number {i} says {'great' if i % 2 else 'awful'} things" for i in range(rows)],
            "_row_id": [f"r{i}" for i in range(rows)],
            "_source_uri": ["s3://x/raw/a.csv"] * rows,
            "_source_record": list(range(1, rows + 1)),
            "_source_line": list(range(1, rows + 1)),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_successful_run_publishes_what_the_job_wrote(aws_airflow) -> None:
    """The player runs the uploaded script on the S3 inputs and puts its output where Glue would."""
    from include.profiles import get_profile
    from nlpops.aws.etl import glue_etl_operator

    af = aws_airflow
    s = af.settings()
    validated = s.zone_uri("validated", PROFILE, "k-ok")
    af.put(f"{validated}/part-00000.parquet", _validated_parquet(60))
    af.put(f"{validated}/_manifest.json", json.dumps({"rows_valid": 60}).encode())
    output = s.zone_uri("processed", PROFILE, "run=k-ok")
    op = glue_etl_operator(
        task_id="prepare_text",
        profile=get_profile(PROFILE, s),
        settings=s,
        job_module="etl.jobs.prepare_text",
        script_args={
            "profile_json": get_profile(PROFILE, s).to_json(),
            "input_uris": validated,
            "output_uri": output,
            "run_key": "k-ok",
        },
        run_key="k-ok",
        waiter_delay=1,
        verbose=True,
    )
    run_id, trigger = _deferred_run_id(op, FakeTI(try_number=1))
    played = af.players["glue"].jobs[run_id]
    assert played.done.wait(600)
    assert played.state == "SUCCEEDED", played.output[-3000:]
    keys = af.keys(output + "/")
    assert any(k.endswith("/_manifest.json") for k in keys), (keys, played.info, played.output[-3000:])
    manifest = json.loads(af.get(f"{output}/_manifest.json"))
    assert manifest["rows_in"] == 60 and manifest["input"][0]["uri"] == validated
    event = _first_event(trigger)  # verbose: the trigger forwards the job's CloudWatch log
    assert event["status"] == "success"
