"""The cron timetable of the nlpops DAGs: unpausing a DAG starts no run, the schedule starts at its next time.

Airflow's cron timetables with ``catchup=False`` schedule the latest cron time already past
as soon as a DAG is unpaused. The trigger form's "Unpause on trigger" (ticked by default)
therefore made one click two runs: the triggered one and a scheduled one for the last cron
time (the train DAG trained twice, and the scheduled ingest run took the file the triggered
one waited for). :class:`NextCronTimetable` never schedules a time that has passed: after an
unpause the first scheduled run is the next cron time, and a manual trigger is the only run
until then.

It is a core timetable registered by the nlpops plugin (``plugins/nlpops_plugin.py``), as
Airflow requires of custom timetables: the scheduler and the dag-processor load it from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.timetables.base import DagRunInfo
from airflow.timetables.trigger import CronTriggerTimetable

if TYPE_CHECKING:
    from airflow.timetables.base import DataInterval, TimeRestriction


class NextCronTimetable(CronTriggerTimetable):
    """A cron trigger timetable whose next run is never a cron time already past (``catchup=False``).

    The next run is the later of the next cron time from now and the cron time after the last
    scheduled run; with ``catchup=True`` it behaves exactly like ``CronTriggerTimetable``.
    """

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if restriction.catchup:
            return super().next_dagrun_info(
                last_automated_data_interval=last_automated_data_interval, restriction=restriction
            )
        import pendulum

        candidates = [self._align_to_next(pendulum.now("UTC"))]
        if last_automated_data_interval is not None:
            candidates.append(self._get_next(last_automated_data_interval.end))
        if restriction.earliest is not None:
            candidates.append(self._align_to_next(restriction.earliest))
        start = max(candidates)
        if restriction.latest is not None and restriction.latest < start:
            return None
        return DagRunInfo.interval(start - self._interval, start)


def next_cron(cron: str | None) -> NextCronTimetable | None:
    """The schedule of a DAG run by ``cron`` (UTC), or None (triggered only) when ``cron`` is None."""
    return NextCronTimetable(cron, timezone="UTC") if cron else None


__all__ = ["NextCronTimetable", "next_cron"]
