"""moto for the aws target: in-process ``mock_aws`` and, for fsspec/s3fs, a ThreadedMotoServer.

The Airflow connection comes from ``AIRFLOW_CONN_AWS_DEFAULT`` with dummy keys; real
credentials are removed from the environment so nothing can reach a real account.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest

REGION = "us-east-1"


def _dummy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def _connection(extra: dict[str, Any]) -> str:
    return json.dumps(
        {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": REGION, **extra}}
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in process, and the ``aws_default`` connection pointing at it."""
    from moto import mock_aws

    _dummy_env(monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", _connection({}))
    with mock_aws():
        yield


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A ThreadedMotoServer on a free port; ``AWS_ENDPOINT_URL`` points boto3 and s3fs at it."""
    from moto.server import ThreadedMotoServer

    _dummy_env(monkeypatch)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", _connection({"endpoint_url": endpoint}))
    try:
        yield endpoint
    finally:
        server.stop()


RUN_ID = "scheduled__2026-11-23T02:00:00+00:00"
LOGICAL_DATE = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def context() -> dict[str, Any]:
    """A minimal task context: the run's identity and a TaskInstance stand-in for XCom/links."""
    ti = mock.MagicMock(try_number=1, map_index=-1, run_id=RUN_ID)
    return {"ti": ti, "run_id": RUN_ID, "logical_date": LOGICAL_DATE, "task_state_store": None}
