"""The lake, the ledger and the NewDataSensor's trigger on ``s3://`` (moto server, credentials from ``aws_default``)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest

pytestmark = pytest.mark.aws

BUCKET = "nlpops-lake-test"


@pytest.fixture
def s3_lake(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on the moto server; the lake reaches it only through the ``aws_default`` connection."""
    from include.settings import get_settings
    from nlpops.aws import session

    # s3fs must not find the endpoint in the environment: only the connection's extra has it.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("NLPOPS_TARGET", "aws")
    monkeypatch.setenv("NLPOPS_LAKE_URI", f"s3://{BUCKET}")
    get_settings.cache_clear()
    session.clear_cache()
    session.install()
    # moto's backends are process-wide: start from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield f"s3://{BUCKET}"
    session.clear_cache()
    get_settings.cache_clear()


def test_storage_options_come_from_the_connection(s3_lake: str, moto_server: str) -> None:
    from nlpops.aws.session import s3_storage_options

    options = s3_storage_options()
    assert options["endpoint_url"] == moto_server
    assert options["key"] == "testing" and options["secret"] == "testing"
    assert options["use_listings_cache"] is False


def test_write_read_list_publish_on_s3(s3_lake: str, moto_server: str) -> None:
    from include import lake

    lake.write_json(f"{s3_lake}/raw/p/a.json", {"x": 1})
    assert lake.read_json(f"{s3_lake}/raw/p/a.json") == {"x": 1}
    lake.write_bytes(f"{s3_lake}/raw/p/sub/b.csv", b"1,2\n")
    objs = lake.list_objects(f"{s3_lake}/raw/p")
    assert [o.key for o in objs] == ["a.json", "sub/b.csv"]
    assert objs[1].size == 4 and objs[1].etag and objs[1].mtime > 0

    # publish_dir: staging copied, manifest last, staging gone; a retry replaces its own output
    for attempt in ("first", "second"):
        staging = lake.staging_uri(f"{s3_lake}/processed/p/run=k1")
        lake.write_bytes(f"{staging}/split=train/part-0.parquet", attempt.encode())
        if attempt == "first":
            lake.write_bytes(f"{staging}/split=test/part-0.parquet", b"old")
        lake.publish_dir(staging, f"{s3_lake}/processed/p/run=k1", {"attempt": attempt})
        assert not lake.exists(staging)
    keys = sorted(
        o["Key"]
        for o in boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
        .list_objects_v2(Bucket=BUCKET, Prefix="processed/")
        .get("Contents", [])
    )
    assert keys == ["processed/p/run=k1/_manifest.json", "processed/p/run=k1/split=train/part-0.parquet"]
    assert lake.read_json(f"{s3_lake}/processed/p/run=k1/_manifest.json") == {"attempt": "second"}
    assert lake.read_bytes(f"{s3_lake}/processed/p/run=k1/split=train/part-0.parquet") == b"second"
    # only prefixes with a manifest are published
    lake.write_bytes(f"{s3_lake}/processed/p/run=k2/split=train/x.parquet", b"partial")
    assert list(lake.published(f"{s3_lake}/processed/p")) == [f"{s3_lake}/processed/p/run=k1"]


def test_ledger_and_trigger_on_s3(s3_lake: str) -> None:
    from include import lake
    from nlpops.ledger import Ledger, find_new_objects
    from nlpops.triggers.new_data import NewDataTrigger

    raw, ledger_uri = f"{s3_lake}/raw/p", f"{s3_lake}/ledger/p/raw"
    lake.write_bytes(f"{raw}/one.csv", b"a\n")
    lake.write_bytes(f"{raw}/_tmp/partial.csv", b"x\n")  # hidden prefix: never data
    lake.write_bytes(f"{raw}/notes.txt", b"x\n")  # no pattern match
    trigger = NewDataTrigger(
        prefix_uri=raw, ledger_uri=ledger_uri, patterns=["*.csv"], poke_interval=0.05, lake_root_uri=s3_lake
    )
    _cls, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs  # round-trips through the metadata DB

    async def first_event() -> dict:
        gen = NewDataTrigger(**kwargs).run()
        event = await asyncio.wait_for(gen.__anext__(), timeout=30)
        await gen.aclose()
        return event.payload

    event = asyncio.run(first_event())
    assert event["status"] == "success"
    assert [o["key"] for o in event["objects"]] == ["one.csv"]

    Ledger(ledger_uri).mark_done("20260101T000000", event["objects"])
    assert find_new_objects(raw, ledger_uri, patterns=["*.csv"]) == []

    async def wait_for_second() -> dict:
        gen = NewDataTrigger(**kwargs).run()
        task = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.3)
        assert not task.done(), "the trigger fired although nothing new arrived"
        # a new object and a re-uploaded one with new content are new (fingerprint key|size|etag)
        await asyncio.to_thread(lake.write_bytes, f"{raw}/two.csv", b"b\n")
        await asyncio.to_thread(lake.write_bytes, f"{raw}/one.csv", b"changed\n")
        event = await asyncio.wait_for(task, timeout=30)
        await gen.aclose()
        return event.payload

    # The trigger polls every 0.05 s, so it may fire between the two writes: the object it has
    # not reported yet must then be new on the next run (nothing is lost, nothing reported twice).
    seen: list[str] = []
    event = asyncio.run(wait_for_second())
    while True:
        assert event["status"] == "success"
        keys = [o["key"] for o in event["objects"]]
        assert keys and not set(keys) & set(seen), keys
        seen += keys
        Ledger(ledger_uri).mark_done(f"2026010{len(seen)}T000000", event["objects"])
        if len(seen) >= 2:
            break
        event = asyncio.run(first_event())
    assert sorted(seen) == ["one.csv", "two.csv"]
    assert find_new_objects(raw, ledger_uri, patterns=["*.csv"]) == []


def test_trigger_reports_a_broken_ledger(s3_lake: str) -> None:
    from include import lake
    from nlpops.triggers.new_data import NewDataTrigger

    lake.write_bytes(f"{s3_lake}/raw/p/one.csv", b"a\n")
    lake.write_bytes(f"{s3_lake}/ledger/p/raw/20260101T000000.json", b"{not json")

    async def first_event() -> dict:
        gen = NewDataTrigger(
            prefix_uri=f"{s3_lake}/raw/p", ledger_uri=f"{s3_lake}/ledger/p/raw", patterns=["*.csv"], poke_interval=0.05
        ).run()
        event = await asyncio.wait_for(gen.__anext__(), timeout=30)
        await gen.aclose()
        return event.payload

    event = asyncio.run(first_event())
    assert event["status"] == "error"
    assert "20260101T000000.json is not valid JSON" in event["message"]
