"""NextCronTimetable: unpausing a DAG schedules no cron time already past (one click, one run)."""

from __future__ import annotations

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable

from nlpops.timetables import NextCronTimetable, next_cron

YEARLY = "0 0 1 1 *"  # the last cron time is months away from any "now": no race with the clock
START = pendulum.datetime(2020, 1, 1, tz="UTC")


def _next(timetable, last=None, catchup=False):
    restriction = TimeRestriction(earliest=START, latest=None, catchup=catchup)
    return timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)


def test_airflow_cron_timetable_runs_the_past_cron_time_on_unpause():
    """The behaviour this module exists for (a negative control): the stock timetable's first run is due now."""
    info = _next(CronTriggerTimetable(YEARLY, timezone="UTC"))
    assert info.run_after <= pendulum.now("UTC")


def test_first_run_after_unpause_is_the_next_cron_time():
    now = pendulum.now("UTC")
    info = _next(NextCronTimetable(YEARLY, timezone="UTC"))
    assert info.run_after > now
    assert info.run_after == pendulum.datetime(now.year + 1, 1, 1, tz="UTC")


def test_a_missed_cron_time_is_not_run_after_a_pause():
    """Paused across a cron time: unpausing starts nothing; the schedule resumes at its next time."""
    now = pendulum.now("UTC")
    last_end = pendulum.datetime(now.year - 2, 1, 1, tz="UTC")
    info = _next(NextCronTimetable(YEARLY, timezone="UTC"), last=DataInterval(last_end, last_end))
    assert info.run_after == pendulum.datetime(now.year + 1, 1, 1, tz="UTC")


def test_back_to_back_runs_follow_the_cron():
    """A run just created: the next one is the following cron time (nothing skipped, nothing doubled)."""
    tt = NextCronTimetable("*/30 * * * *", timezone="UTC")
    now = pendulum.now("UTC")
    just_ran = now.subtract(minutes=now.minute % 30, seconds=now.second, microseconds=now.microsecond)
    info = _next(tt, last=DataInterval(just_ran, just_ran))
    assert info.run_after == just_ran.add(minutes=30)


def test_catchup_behaves_like_airflow():
    last = DataInterval(START, START)
    ours = _next(NextCronTimetable(YEARLY, timezone="UTC"), last=last, catchup=True)
    stock = _next(CronTriggerTimetable(YEARLY, timezone="UTC"), last=last, catchup=True)
    assert ours.run_after == stock.run_after == pendulum.datetime(2021, 1, 1, tz="UTC")


def test_manual_only_when_no_cron():
    assert next_cron(None) is None and next_cron("") is None


@pytest.mark.parametrize("asset_or_time", [False, True])
def test_survives_serialization_with_the_plugin_registered(asset_or_time):
    """What the dag-processor stores, the scheduler reads back as the same timetable (plugin-registered)."""
    from airflow.sdk import DAG, Asset, AssetOrTimeSchedule
    from airflow.serialization.serialized_objects import DagSerialization

    tt = NextCronTimetable("0 2 * * *", timezone="UTC")
    schedule = AssetOrTimeSchedule(timetable=tt, assets=Asset("nlpops.x.drift")) if asset_or_time else tt
    with DAG("d", schedule=schedule, start_date=START, catchup=False) as dag:
        pass
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable
    inner = restored.timetable if asset_or_time else restored
    assert type(inner) is NextCronTimetable
    assert "0 2 * * *" in restored.summary
