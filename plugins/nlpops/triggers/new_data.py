"""The async wait of :class:`nlpops.sensors.new_data.NewDataSensor`, run by the triggerer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from nlpops.ledger import DEFAULT_PATTERNS, find_new_objects


class NewDataTrigger(BaseTrigger):
    """Poll a lake prefix until objects not yet in the ledger appear, then fire once with them.

    The listing runs in a thread (``asyncio.to_thread``) through ``include.lake`` so
    ``file://`` and ``s3://`` share one code path and the triggerer's event loop is
    never blocked. The trigger keeps polling while nothing is new; the sensor's
    ``timeout`` ends the wait. Events:
    ``{"status": "success", "objects": [ObjectInfo.to_dict(), ...], "prefix_uri": ...}`` or
    ``{"status": "error", "message": ..., "prefix_uri": ...}``.

    :param prefix_uri: lake prefix to watch (recursive).
    :param ledger_uri: ledger of the objects already processed for this prefix.
    :param patterns: fnmatch patterns on the file name, e.g. ``["*.csv", "*.csv.gz"]``.
    :param quiet_seconds: an object modified less than this long ago is still being written.
    :param max_files: at most this many objects per batch (oldest first).
    :param max_bytes: at most this many bytes per batch (the oldest object is always taken).
    :param poke_interval: seconds between two listings.
    :param lake_root_uri: the deployment's lake; prefix and ledger must lie under it.
    """

    def __init__(
        self,
        *,
        prefix_uri: str,
        ledger_uri: str,
        patterns: Sequence[str] = DEFAULT_PATTERNS,
        quiet_seconds: float = 0,
        max_files: int | None = None,
        max_bytes: int | None = None,
        poke_interval: float = 30.0,
        lake_root_uri: str | None = None,
    ) -> None:
        super().__init__()
        self.prefix_uri = prefix_uri
        self.ledger_uri = ledger_uri
        # A list of plain str, so serialize() round-trips through JSON unchanged.
        self.patterns = [str(p) for p in patterns]
        self.quiet_seconds = quiet_seconds
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.poke_interval = poke_interval
        self.lake_root_uri = lake_root_uri

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and constructor kwargs (plain types), as stored by the scheduler."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "prefix_uri": self.prefix_uri,
                "ledger_uri": self.ledger_uri,
                "patterns": list(self.patterns),
                "quiet_seconds": self.quiet_seconds,
                "max_files": self.max_files,
                "max_bytes": self.max_bytes,
                "poke_interval": self.poke_interval,
                "lake_root_uri": self.lake_root_uri,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll every ``poke_interval`` seconds; yield one event when new objects are found or on error."""
        # The triggerer parses no DAG file: s3:// lake URIs need the connection wired in here.
        from nlpops.aws.session import use_airflow_connection

        use_airflow_connection()
        while True:
            try:
                found = await asyncio.to_thread(
                    find_new_objects,
                    self.prefix_uri,
                    self.ledger_uri,
                    patterns=self.patterns,
                    quiet_seconds=self.quiet_seconds,
                    max_files=self.max_files,
                    max_bytes=self.max_bytes,
                    lake_root_uri=self.lake_root_uri,
                )
            except Exception as exc:
                self.log.exception("listing %s failed", self.prefix_uri)
                yield TriggerEvent(
                    {
                        "status": "error",
                        "message": f"cannot list new objects under {self.prefix_uri}: {type(exc).__name__}: {exc}",
                        "prefix_uri": self.prefix_uri,
                    }
                )
                return
            if found:
                self.log.info("%d new object(s) under %s", len(found), self.prefix_uri)
                yield TriggerEvent(
                    {
                        "status": "success",
                        "objects": [o.to_dict() for o in found],
                        "prefix_uri": self.prefix_uri,
                    }
                )
                return
            self.log.debug("nothing new under %s; next look in %ss", self.prefix_uri, self.poke_interval)
            await asyncio.sleep(self.poke_interval)
