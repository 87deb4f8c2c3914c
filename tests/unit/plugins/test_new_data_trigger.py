"""NewDataTrigger: serialization round-trip and the async wait on a tmp file:// lake."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.triggers.base import TriggerEvent

from include import lake as lakefs
from nlpops.ledger import Ledger
from nlpops.triggers.new_data import NewDataTrigger

if TYPE_CHECKING:
    from conftest import RawPrefix


def watching(raw: RawPrefix) -> dict[str, Any]:
    """NewDataTrigger kwargs watching the test's raw prefix."""
    return {
        "prefix_uri": raw.uri,
        "ledger_uri": raw.ledger_uri,
        "patterns": ["*.csv", "*.csv.gz"],
        "quiet_seconds": 60,
        "max_files": None,
        "max_bytes": None,
        "poke_interval": 0.05,
        "lake_root_uri": raw.uri.removesuffix("/raw/p"),
    }


def import_string(classpath: str) -> Any:
    """What the triggerer does with a stored classpath."""
    module, name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def first_event(trigger: NewDataTrigger, timeout: float = 5.0) -> TriggerEvent:
    async def go() -> TriggerEvent:
        return await asyncio.wait_for(anext(trigger.run()), timeout)

    return asyncio.run(go())


def keys(event: TriggerEvent) -> list[str]:
    assert event.payload["status"] == "success", event.payload
    return [o["key"] for o in event.payload["objects"]]


def test_serialize_round_trips() -> None:
    trigger = NewDataTrigger(
        prefix_uri="s3://bucket/lake/raw/p",
        ledger_uri="s3://bucket/lake/ledger/p/raw",
        patterns=("*.csv", "*.csv.gz"),
        quiet_seconds=30,
        max_files=100,
        max_bytes=5_000_000_000,
        poke_interval=15.0,
        lake_root_uri="s3://bucket/lake",
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "nlpops.triggers.new_data.NewDataTrigger"
    assert kwargs == {
        "prefix_uri": "s3://bucket/lake/raw/p",
        "ledger_uri": "s3://bucket/lake/ledger/p/raw",
        "patterns": ["*.csv", "*.csv.gz"],
        "quiet_seconds": 30,
        "max_files": 100,
        "max_bytes": 5_000_000_000,
        "poke_interval": 15.0,
        "lake_root_uri": "s3://bucket/lake",
    }
    # Plain types only: the scheduler stores the kwargs and the triggerer rebuilds the trigger.
    stored = json.loads(json.dumps(kwargs))
    rebuilt = import_string(classpath)(**stored)
    assert isinstance(rebuilt, NewDataTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_defaults_serialize_too() -> None:
    classpath, kwargs = NewDataTrigger(prefix_uri="file:///l/raw/p", ledger_uri="file:///l/ledger/p/raw").serialize()
    assert kwargs["patterns"] == ["*.csv", "*.csv.gz"]
    assert kwargs["lake_root_uri"] is None
    assert import_string(classpath)(**kwargs).serialize() == (classpath, kwargs)


def test_yields_new_objects_and_ignores_temp_hidden_and_other_names(raw: RawPrefix) -> None:
    kwargs = watching(raw)
    raw.put("2026/01/a.csv", mtime=raw.OLD)
    raw.put("b.csv.gz", b"\x1f\x8b", mtime=raw.OLD + 1)
    for ignored in [".hidden.csv", "_SUCCESS", "c.csv.tmp", "d.csv.part", "_tmp/e.csv", ".staging/f.csv", "g.txt"]:
        raw.put(ignored)

    event = first_event(NewDataTrigger(**kwargs))

    assert keys(event) == ["2026/01/a.csv", "b.csv.gz"]  # oldest first
    assert event.payload["prefix_uri"] == kwargs["prefix_uri"]
    first = event.payload["objects"][0]
    assert first == lakefs.ObjectInfo.from_dict(first).to_dict()
    assert first["uri"] == f"{kwargs['prefix_uri']}/2026/01/a.csv"


def test_quiet_period_and_polling_until_something_is_new(raw: RawPrefix) -> None:
    kwargs = watching(raw)
    raw.put("fresh.csv", mtime=time.time())  # still being written
    trigger = NewDataTrigger(**kwargs)

    async def go() -> TriggerEvent:
        task = asyncio.create_task(anext(trigger.run()))
        await asyncio.sleep(0.4)  # several polls
        assert not task.done(), "fired on a file inside its quiet period"
        old = raw.OLD - 10
        os.utime(raw.dir / "fresh.csv", (old, old))  # the upload finished long ago
        return await asyncio.wait_for(task, 5)

    assert keys(asyncio.run(go())) == ["fresh.csv"]


def test_keeps_polling_when_the_prefix_does_not_exist_yet(lake: str) -> None:
    trigger = NewDataTrigger(prefix_uri=f"{lake}/raw/none", ledger_uri=f"{lake}/ledger/none/raw", poke_interval=0.05)
    with pytest.raises(TimeoutError):
        first_event(trigger, timeout=0.3)


def test_respects_the_ledger_and_a_changed_reupload_is_new(raw: RawPrefix) -> None:
    kwargs = watching(raw)
    raw.put("a.csv", b"v1", mtime=raw.OLD)
    raw.put("b.csv", b"v1", mtime=raw.OLD + 1)
    ledger = Ledger(kwargs["ledger_uri"])
    ledger.mark_done("run-1", lakefs.list_objects(kwargs["prefix_uri"]))
    with pytest.raises(TimeoutError):
        first_event(NewDataTrigger(**kwargs), timeout=0.3)

    raw.put("b.csv", b"v2 with more rows", mtime=raw.OLD + 2)
    event = first_event(NewDataTrigger(**kwargs))
    assert keys(event) == ["b.csv"]
    assert event.payload["objects"][0]["size"] == len(b"v2 with more rows")


def test_caps_batch_by_files_then_bytes_oldest_first(raw: RawPrefix) -> None:
    kwargs = watching(raw)
    # Name order differs from age order: the batch follows age.
    for i, name in enumerate(["d.csv", "c.csv", "b.csv", "a.csv"]):
        raw.put(name, b"x" * 100, mtime=raw.OLD + i)

    assert keys(first_event(NewDataTrigger(**{**kwargs, "max_files": 2}))) == ["d.csv", "c.csv"]
    assert keys(first_event(NewDataTrigger(**{**kwargs, "max_bytes": 250}))) == ["d.csv", "c.csv"]
    # The oldest object is taken alone even when bigger than the cap, so it cannot block the prefix.
    assert keys(first_event(NewDataTrigger(**{**kwargs, "max_bytes": 50}))) == ["d.csv"]

    # Marking the first batch done moves the next run on to the following files.
    Ledger(kwargs["ledger_uri"]).mark_done("run-1", lakefs.list_objects(kwargs["prefix_uri"])[2:])  # c, d
    assert keys(first_event(NewDataTrigger(**{**kwargs, "max_files": 2}))) == ["b.csv", "a.csv"]


def test_symlink_is_reported_not_skipped(raw: RawPrefix, tmp_path: Path) -> None:
    kwargs = watching(raw)
    target = raw.put("elsewhere/x.csv", root=tmp_path)
    (raw.dir / "x.csv").symlink_to(target)
    os.utime(raw.dir / "x.csv", (raw.OLD, raw.OLD), follow_symlinks=False)
    (obj,) = first_event(NewDataTrigger(**kwargs)).payload["objects"]
    assert obj["is_symlink"] is True
    assert obj["link_target"] == str(target)


def test_error_yields_an_error_event(raw: RawPrefix, tmp_path: Path) -> None:
    kwargs = watching(raw)
    kwargs["lake_root_uri"] = (tmp_path / "another-lake").as_uri()
    event = first_event(NewDataTrigger(**kwargs))
    assert event.payload["status"] == "error"
    assert "outside the lake" in event.payload["message"]
    assert kwargs["prefix_uri"] in event.payload["message"]
