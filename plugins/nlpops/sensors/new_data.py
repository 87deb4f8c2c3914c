"""Wait for new data files in a lake prefix (``file://`` or ``s3://``) that the ledger has not seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferralError,
    TaskDeferralTimeout,
)

from include.lake import ObjectInfo
from nlpops.ledger import DEFAULT_PATTERNS, Ledger, find_new_objects
from nlpops.triggers.new_data import NewDataTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class NewDataSensorError(AirflowException):
    """The wait for new data broke (listing or ledger error, crashed trigger, bad event): the task fails."""


class NewDataSensor(BaseSensorOperator):
    """Succeed with the manifest of new objects under ``prefix_uri``; the XCom is what downstream must process.

    An object is new when its name matches ``patterns``, it is not hidden/temporary, it
    has been quiet for ``quiet_seconds`` and its fingerprint (key|size|etag) is not in
    the ledger at ``ledger_uri``. The batch is oldest first, capped by ``max_files`` and
    ``max_bytes``. The returned list of ``ObjectInfo.to_dict()`` is exactly the batch;
    mark it done with :class:`nlpops.ledger.Ledger` after the downstream tasks succeeded.

    Deferrable by default: ``execute`` looks once, then defers to
    :class:`~nlpops.triggers.new_data.NewDataTrigger` (no worker slot held) with the
    sensor's ``timeout``. With ``deferrable=False`` the same scan runs in ``poke``.
    On timeout the task fails with ``AirflowSensorTimeout``, or is skipped when
    ``soft_fail=True`` (in both modes; Airflow's sensor base turns the trigger timeout
    into a sensor timeout). Only the timeout skips: any other error (a trigger error
    event such as S3 AccessDenied or an unreadable ledger, a crashed trigger, a malformed
    event) raises :class:`NewDataSensorError` and fails the task, so it retries and its
    failure is notified. (Airflow's sensor base alone would turn every ``AirflowException``
    of a resumed sensor into SKIPPED when ``soft_fail=True``; :meth:`resume_execution`
    undoes that for everything but the timeout.)

    :param prefix_uri: lake prefix to watch, recursively (templated).
    :param ledger_uri: the ledger of this prefix, ``settings.zone_uri("ledger", profile, zone)`` (templated).
    :param patterns: fnmatch patterns on the file name (case-insensitive), e.g. ``["*.csv", "*.csv.gz"]``.
    :param quiet_seconds: objects modified more recently are still being written (templated).
    :param max_files: cap on the number of objects per batch (templated).
    :param max_bytes: cap on the bytes per batch; the oldest object is always taken (templated).
    :param wait_timeout_minutes: when set, replaces ``timeout`` at run time (templated, e.g. from a
        DAG param); ``0`` means look once and time out at once when nothing is new.
    :param lake_root_uri: the deployment's lake; prefix and ledger must lie under it.
    :param deferrable: wait in the triggerer (default) instead of poking in a worker.
    """

    template_fields: Sequence[str] = (
        "prefix_uri",
        "ledger_uri",
        "quiet_seconds",
        "max_files",
        "max_bytes",
        "wait_timeout_minutes",
    )
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        prefix_uri: str,
        ledger_uri: str,
        patterns: Sequence[str] = DEFAULT_PATTERNS,
        quiet_seconds: int | float | str = 30,
        max_files: int | str | None = 100,
        max_bytes: int | str | None = None,
        wait_timeout_minutes: int | float | str | None = None,
        lake_root_uri: str | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prefix_uri = prefix_uri
        self.ledger_uri = ledger_uri
        self.patterns = [str(p) for p in patterns]
        if not self.patterns:
            raise ValueError(f"{self.task_id}: patterns is empty; give e.g. ['*.csv'] (profile input.file_patterns)")
        self.quiet_seconds = quiet_seconds
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.wait_timeout_minutes = wait_timeout_minutes
        self.lake_root_uri = lake_root_uri
        self.deferrable = deferrable

    # -- the one scan, shared with the trigger -------------------------------------------------

    def _scan_kwargs(self) -> dict[str, Any]:
        """The trigger's kwargs (plain types) from the rendered fields; bad values name the field."""
        return {
            "prefix_uri": self.prefix_uri,
            "ledger_uri": self.ledger_uri,
            "patterns": list(self.patterns),
            "quiet_seconds": self._number("quiet_seconds", self.quiet_seconds, minimum=0) or 0,
            "max_files": self._number("max_files", self.max_files, minimum=1, integer=True),
            "max_bytes": self._number("max_bytes", self.max_bytes, minimum=1, integer=True),
            "lake_root_uri": self.lake_root_uri,
        }

    def _find(self) -> list[dict[str, Any]]:
        found = find_new_objects(**self._scan_kwargs())
        if found:
            self.log.info(
                "%d new object(s) under %s (%d bytes): %s",
                len(found),
                self.prefix_uri,
                sum(o.size for o in found),
                ", ".join(o.key for o in found[:10]) + (" …" if len(found) > 10 else ""),
            )
        return [o.to_dict() for o in found]

    def _apply_wait_timeout(self) -> None:
        minutes = self._number("wait_timeout_minutes", self.wait_timeout_minutes, minimum=0)
        if minutes is not None:
            self.timeout = float(minutes) * 60

    # -- Airflow entry points ------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue:
        """One scan (poke mode): done with the manifest as XCom when something is new."""
        manifest = self._find()
        return PokeReturnValue(is_done=bool(manifest), xcom_value=manifest or None)

    def execute(self, context: Context) -> Any:
        """Look once; if nothing is new, defer to the trigger (or poke, when not deferrable)."""
        self._apply_wait_timeout()
        self._warn_missing_outputs()
        if not self.deferrable:
            try:
                return super().execute(context)
            except (AirflowSensorTimeout, AirflowSkipException) as exc:
                raise self._with_unmatched_note(exc) from exc.__cause__
        manifest = self._find()
        if manifest:
            return manifest
        if self.timeout <= 0:
            self._timed_out(f"nothing new under {self.prefix_uri} and the wait timeout is 0 (look once)")
        self.defer(
            trigger=NewDataTrigger(poke_interval=float(self.poke_interval), **self._scan_kwargs()),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after the deferral: skip (``soft_fail``) only on the wait timeout, fail on anything else.

        Airflow's sensor base converts the deferral timeout into ``AirflowSensorTimeout`` and,
        with ``soft_fail``/``never_fail``, turns *every* ``AirflowException`` into a skip. Here
        a skip whose cause is not the timeout (or a deliberate skip) is turned back into
        :class:`NewDataSensorError`, so a broken listing never passes for "nothing new".
        """
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException as skip:
            cause = skip.__cause__
            if cause is None or isinstance(cause, (AirflowSensorTimeout, TaskDeferralTimeout, AirflowSkipException)):
                raise self._with_unmatched_note(skip) from cause
            if isinstance(cause, NewDataSensorError):
                raise cause from cause.__cause__
            raise NewDataSensorError(
                f"{self.task_id}: the wait for new data under {self.prefix_uri} failed: {type(cause).__name__}: {cause}"
            ) from cause
        except AirflowSensorTimeout as timeout:
            raise self._with_unmatched_note(timeout) from timeout.__cause__
        except TaskDeferralError as exc:
            raise NewDataSensorError(f"{self.task_id}: the trigger for {self.prefix_uri} crashed: {exc}") from exc

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Resume after the trigger fired: fail on an error event, else return the manifest (XCom)."""
        if not event:
            raise NewDataSensorError(f"{self.task_id}: the trigger for {self.prefix_uri} ended without an event")
        status = event.get("status")
        if status == "error":
            raise NewDataSensorError(f"{self.task_id}: {event.get('message', 'unknown trigger error')}")
        if status != "success":
            raise NewDataSensorError(f"{self.task_id}: unexpected trigger event status {status!r}: {event!r}")
        objects = event.get("objects") or []
        if not objects:
            raise NewDataSensorError(f"{self.task_id}: the trigger reported success with no objects: {event!r}")
        # Re-parse so a malformed event fails here, not in the downstream validation task.
        try:
            manifest = [ObjectInfo.from_dict(dict(o)).to_dict() for o in objects]
        except (TypeError, ValueError) as exc:
            raise NewDataSensorError(f"{self.task_id}: malformed object in the trigger event: {exc}") from exc
        self.log.info("%d new object(s) under %s", len(manifest), event.get("prefix_uri", self.prefix_uri))
        return manifest

    # -- helpers -------------------------------------------------------------------------------

    def _warn_missing_outputs(self) -> None:
        """Warn (once per run) about ledger entries whose recorded output has disappeared."""
        for run_key, output in Ledger(self.ledger_uri).missing_outputs():
            self.log.warning(
                "the ledger %s says run %s processed its files into %s, which no longer exists: those files "
                "count as done and are not picked up again; to process them again on purpose run "
                "`make reprocess PROFILE=<profile> ZONE=<zone> MATCH='<key pattern>'`",
                self.ledger_uri,
                run_key,
                output,
            )

    def _timed_out(self, message: str) -> None:
        note = self._unmatched_note()
        message = f"{message} {note}" if note else message
        if self.soft_fail or self.never_fail:
            raise AirflowSkipException(message)
        raise AirflowSensorTimeout(message)

    def _unmatched_note(self, shown: int = 5) -> str:
        """When files under the prefix match none of the patterns: say so and name a few (else '')."""
        import posixpath

        from include import lake
        from nlpops.ledger import matches

        try:
            names = [
                posixpath.basename(o.key)
                for o in lake.list_objects(self.prefix_uri)
                if not lake.is_ignorable(o.key) and not matches(posixpath.basename(o.key), self.patterns)
            ]
        except Exception as exc:  # the note is a hint: a failing listing must not hide the timeout itself
            self.log.warning("could not list %s to explain the timeout: %s", self.prefix_uri, exc)
            return ""
        if not names:
            return ""
        more = f" and {len(names) - shown} more" if len(names) > shown else ""
        return (
            f"{len(names)} file(s) under {self.prefix_uri} match none of the patterns {list(self.patterns)} "
            f"and were ignored: {', '.join(sorted(names)[:shown])}{more}; if they are this profile's data, "
            "add their pattern to the profile's input.file_patterns (e.g. '*.txt')."
        )

    def _with_unmatched_note(self, exc: BaseException) -> BaseException:
        """``exc`` with the unmatched-files note appended to its message (``exc`` itself when there is none)."""
        note = self._unmatched_note()
        return type(exc)(f"{exc} {note}") if note else exc

    def _number(self, field: str, value: Any, *, minimum: float, integer: bool = False) -> Any:
        """A rendered numeric field (templates may render to str) checked against ``minimum``."""
        if value is None or value == "":
            return None
        try:
            number = int(value) if integer else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.task_id}: {field}={value!r} is not a number") from None
        if number < minimum:
            raise ValueError(f"{self.task_id}: {field}={number} must be >= {minimum}")
        if not integer and number == int(number):
            number = int(number)  # keep the trigger's kwargs as simple as they were given
        return number
