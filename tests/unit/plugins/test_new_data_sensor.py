"""NewDataSensor: defer with the right trigger, resume from events, poke mode, soft-fail skip."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from include import lake as lakefs
from nlpops.ledger import Ledger
from nlpops.sensors.new_data import NewDataSensor
from nlpops.triggers.new_data import NewDataTrigger

if TYPE_CHECKING:
    from conftest import RawPrefix

CONTEXT: dict[str, Any] = {}  # the sensor reads nothing from the context outside reschedule mode


def sensor(raw: RawPrefix, lake: str, **kwargs: Any) -> NewDataSensor:
    _, prefix, ledger_uri = raw
    args: dict[str, Any] = {
        "task_id": "wait_for_raw",
        "prefix_uri": prefix,
        "ledger_uri": ledger_uri,
        "patterns": ["*.csv"],
        "quiet_seconds": 60,
        "max_files": 10,
        "max_bytes": 1_000_000,
        "lake_root_uri": lake,
        "poke_interval": 0,
        "timeout": 600,
    }
    return NewDataSensor(**(args | kwargs))


def test_constructor_is_keyword_only_and_declares_template_fields() -> None:
    with pytest.raises(TypeError):
        NewDataSensor("file:///l/raw/p", "file:///l/ledger/p/raw")  # type: ignore[misc]
    assert {"prefix_uri", "ledger_uri"} <= set(NewDataSensor.template_fields)


def test_execute_defers_with_the_right_trigger_when_nothing_is_new(raw: RawPrefix, lake: str) -> None:
    _, prefix, ledger_uri = raw
    task = sensor(raw, lake, poke_interval=20, timeout=900)
    assert task.deferrable is True  # the default
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(CONTEXT)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=900)
    trigger = deferred.value.trigger
    assert isinstance(trigger, NewDataTrigger)
    assert trigger.serialize() == (
        "nlpops.triggers.new_data.NewDataTrigger",
        {
            "prefix_uri": prefix,
            "ledger_uri": ledger_uri,
            "patterns": ["*.csv"],
            "quiet_seconds": 60,
            "max_files": 10,
            "max_bytes": 1_000_000,
            "poke_interval": 20.0,
            "lake_root_uri": lake,
        },
    )


def test_execute_returns_at_once_when_new_data_is_already_there(raw: RawPrefix, lake: str) -> None:
    _, prefix, _ = raw
    raw.put("a.csv")
    manifest = sensor(raw, lake).execute(CONTEXT)  # no TaskDeferred raised
    assert manifest == [o.to_dict() for o in lakefs.list_objects(prefix)]


def test_rendered_string_fields_are_coerced_and_bad_ones_name_the_field(raw: RawPrefix, lake: str) -> None:
    task = sensor(raw, lake, quiet_seconds="30", max_files="5", max_bytes="")
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(CONTEXT)
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["quiet_seconds"], kwargs["max_files"], kwargs["max_bytes"]) == (30, 5, None)
    with pytest.raises(ValueError, match=r"wait_for_raw: max_files='many' is not a number"):
        sensor(raw, lake, max_files="many").execute(CONTEXT)


def test_execute_complete_returns_the_manifest_on_success(raw: RawPrefix, lake: str) -> None:
    _, prefix, _ = raw
    raw.put("a.csv")
    objects = [o.to_dict() for o in lakefs.list_objects(prefix)]
    event = {"status": "success", "objects": objects, "prefix_uri": prefix}
    assert sensor(raw, lake).execute_complete(CONTEXT, event) == objects


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"status": "error", "message": "cannot list new objects under s3://b/raw: AccessDenied"}, "AccessDenied"),
        ({"status": "success", "objects": []}, "no objects"),
        ({"status": "weird"}, "unexpected trigger event status 'weird'"),
        (None, "ended without an event"),
    ],
)
def test_execute_complete_raises_on_bad_events(raw: RawPrefix, lake: str, event: dict | None, message: str) -> None:
    with pytest.raises(AirflowException, match=message):
        sensor(raw, lake).execute_complete(CONTEXT, event)


def test_poke_true_with_manifest_and_false_when_nothing_new(raw: RawPrefix, lake: str) -> None:
    _, prefix, ledger_uri = raw
    task = sensor(raw, lake, deferrable=False)
    first = task.poke(CONTEXT)
    assert isinstance(first, PokeReturnValue)
    assert not first

    raw.put("a.csv")
    raw.put("b.csv", mtime=time.time())  # inside the quiet period
    second = task.poke(CONTEXT)
    assert second.is_done is True
    assert [o["key"] for o in second.xcom_value] == ["a.csv"]

    Ledger(ledger_uri).mark_done("run-1", lakefs.list_objects(prefix)[:1])
    assert not task.poke(CONTEXT)


def test_poke_mode_execute_returns_the_manifest(raw: RawPrefix, lake: str) -> None:
    raw.put("a.csv")
    manifest = sensor(raw, lake, deferrable=False).execute(CONTEXT)
    assert [o["key"] for o in manifest] == ["a.csv"]


@pytest.mark.parametrize("deferrable", [True, False])
def test_timeout_skips_with_soft_fail_and_fails_without(raw: RawPrefix, lake: str, deferrable: bool) -> None:
    # wait_timeout_minutes=0 (rendered from a DAG param, hence a string): look once, then time out.
    with pytest.raises(AirflowSkipException):
        sensor(raw, lake, deferrable=deferrable, wait_timeout_minutes="0", soft_fail=True).execute(CONTEXT)
    with pytest.raises(AirflowSensorTimeout):
        sensor(raw, lake, deferrable=deferrable, wait_timeout_minutes="0").execute(CONTEXT)


def test_wait_timeout_minutes_replaces_timeout(raw: RawPrefix, lake: str) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        sensor(raw, lake, wait_timeout_minutes=3, timeout=10).execute(CONTEXT)
    assert deferred.value.timeout == timedelta(minutes=3)


def test_deferred_timeout_skips_with_soft_fail_and_fails_without(raw: RawPrefix, lake: str) -> None:
    # What the scheduler hands back to the task when the trigger's timeout expired.
    timeout_kwargs = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    with pytest.raises(AirflowSkipException):
        sensor(raw, lake, soft_fail=True).resume_execution(TRIGGER_FAIL_REPR, timeout_kwargs, CONTEXT)
    with pytest.raises(AirflowSensorTimeout):
        sensor(raw, lake).resume_execution(TRIGGER_FAIL_REPR, timeout_kwargs, CONTEXT)


def test_resume_runs_execute_complete(raw: RawPrefix, lake: str) -> None:
    raw.put("a.csv")
    objects = [o.to_dict() for o in lakefs.list_objects(raw.uri)]
    event = {"status": "success", "objects": objects, "prefix_uri": raw.uri}
    assert sensor(raw, lake).resume_execution("execute_complete", {"event": event}, CONTEXT) == objects


def dag_sensor(lake: str) -> NewDataSensor:
    """The sensor exactly as the ingest DAG builds it (``soft_fail=True``, deferrable)."""
    from include.profiles import get_profile
    from include.settings import get_settings
    from nlpops.dagkit import new_data_sensor

    s = get_settings()
    task = new_data_sensor(task_id="wait_for_raw", profile=get_profile("amazon_polarity", s), settings=s, zone="raw")
    assert task.soft_fail is True and task.deferrable is True
    return task


def test_trigger_error_event_fails_the_dag_sensor_through_airflows_resume_path(raw: RawPrefix, lake: str) -> None:
    """A corrupt ledger (or S3 AccessDenied) is an error event: with soft_fail the task must fail, not skip."""
    import asyncio

    from include.settings import get_settings
    from nlpops.sensors.new_data import NewDataSensorError

    s = get_settings()
    task = dag_sensor(lake)
    raw.put("a.csv", root=Path(lakefs.local_path(s.zone_uri("raw", "amazon_polarity"))))
    ledger_dir = Path(lakefs.local_path(s.zone_uri("ledger", "amazon_polarity", "raw")))
    ledger_dir.mkdir(parents=True)
    (ledger_dir / "20260101T000000.json").write_text("{not json")
    trigger = NewDataTrigger(
        prefix_uri=task.prefix_uri, ledger_uri=task.ledger_uri, patterns=task.patterns, lake_root_uri=lake
    )

    async def first_event() -> dict[str, Any]:
        async for ev in trigger.run():
            return ev.payload
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "error" and "not valid JSON" in event["message"]
    with pytest.raises(NewDataSensorError, match="not valid JSON") as failed:
        task.resume_execution("execute_complete", {"event": event}, CONTEXT)
    assert not isinstance(failed.value, AirflowSkipException)


@pytest.mark.parametrize(
    ("next_method", "kwargs", "message"),
    [
        ("execute_complete", {"event": {"status": "error", "message": "AccessDenied on s3://b/raw"}}, "AccessDenied"),
        ("execute_complete", {"event": None}, "ended without an event"),
        ("execute_complete", {"event": {"status": "success", "objects": [{"uri": 1}]}}, "malformed object"),
        (TRIGGER_FAIL_REPR, {"error": "Trigger failure", "traceback": ["boom"]}, "crashed|failed"),
    ],
)
def test_only_the_wait_timeout_skips_a_soft_fail_sensor(
    raw: RawPrefix, lake: str, next_method: str, kwargs: dict[str, Any], message: str
) -> None:
    from nlpops.sensors.new_data import NewDataSensorError

    for task in (sensor(raw, lake, soft_fail=True), sensor(raw, lake)):
        with pytest.raises(NewDataSensorError, match=message):
            task.resume_execution(next_method, kwargs, CONTEXT)
    timeout_kwargs = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    with pytest.raises(AirflowSkipException):
        dag_sensor(lake).resume_execution(TRIGGER_FAIL_REPR, timeout_kwargs, CONTEXT)


@pytest.mark.parametrize("deferrable", [True, False])
def test_timeout_names_files_that_match_no_pattern(raw: RawPrefix, lake: str, deferrable: bool) -> None:
    """Files are there but none matches input.file_patterns: the timeout says so and lists a few."""
    for i in range(7):
        raw.put(f"yelp_{i}_labelled.txt")
    with pytest.raises(AirflowSensorTimeout) as timed_out:
        sensor(raw, lake, deferrable=deferrable, wait_timeout_minutes="0").execute(CONTEXT)
    message = str(timed_out.value)
    assert "7 file(s)" in message and "match none of the patterns ['*.csv']" in message
    assert "yelp_0_labelled.txt" in message and "and 2 more" in message
    assert "input.file_patterns" in message
    with pytest.raises(AirflowSkipException, match=r"input\.file_patterns"):
        sensor(raw, lake, deferrable=deferrable, wait_timeout_minutes="0", soft_fail=True).execute(CONTEXT)


def test_deferred_timeout_names_unmatched_files_and_is_quiet_without(raw: RawPrefix, lake: str) -> None:
    timeout_kwargs = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    with pytest.raises(AirflowSensorTimeout) as plain:
        sensor(raw, lake).resume_execution(TRIGGER_FAIL_REPR, timeout_kwargs, CONTEXT)
    assert "match none" not in str(plain.value)
    raw.put("imdb_labelled.txt")
    with pytest.raises(AirflowSensorTimeout, match=r"1 file\(s\) .* imdb_labelled\.txt"):
        sensor(raw, lake).resume_execution(TRIGGER_FAIL_REPR, timeout_kwargs, CONTEXT)
    with pytest.raises(AirflowSkipException, match=r"imdb_labelled\.txt"):
        sensor(raw, lake, soft_fail=True).resume_execution(TRIGGER_FAIL_REPR, timeout_kwargs, CONTEXT)
