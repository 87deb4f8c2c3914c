"""The notifier: file + log always, a Slack-compatible webhook when configured, never failing its caller."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from include.settings import load_settings
from nlpops.notifiers import callbacks
from nlpops.notifiers.callbacks import notify, on_task_failure

TOKEN = "T0NLPOPS/B0NLPOPS/s3cr3tW3bh00kT0k3n"
RUN_ID = "scheduled__2026-11-23T02:00:00+00:00"


def _settings(tmp_path: Path, **env: str):
    return load_settings(
        {"AIRFLOW_HOME": str(tmp_path / "airflow"), "NLPOPS_NOTIFY_DIR": str(tmp_path / "notes"), **env}
    )


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "notes" / "notifications.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _failure_context() -> dict[str, Any]:
    ti = mock.MagicMock(dag_id="amazon_polarity_train", task_id="train", try_number=2, map_index=-1, run_id=RUN_ID)
    return {"ti": ti, "run_id": RUN_ID, "exception": RuntimeError("training job failed: out of memory")}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]):
    """All log output so far: Airflow may route stdlib logging through structlog to stdout."""
    caplog.set_level(logging.DEBUG)

    def read() -> str:
        out, err = capfd.readouterr()
        return caplog.text + out + err

    return read


@pytest.fixture
def env_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings from the environment (what tasks see), notices under tmp_path/notes."""
    from include.settings import get_settings

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("NLPOPS_NOTIFY_DIR", str(tmp_path / "notes"))
    monkeypatch.setenv("NLPOPS_LAKE_URI", (tmp_path / "lake").as_uri())
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080/")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_task_failure_is_written_with_dag_task_run_try_error_and_log_link(env_settings: Path, logs):
    on_task_failure(_failure_context())
    [rec] = _records(env_settings)
    assert rec["event"] == "task_failed"
    assert (rec["dag_id"], rec["task_id"], rec["run_id"], rec["try_number"]) == (
        "amazon_polarity_train",
        "train",
        RUN_ID,
        "2",
    )
    assert rec["error"] == "RuntimeError: training job failed: out of memory"
    assert rec["log_url"] == (
        "http://airflow.example:8080/dags/amazon_polarity_train/runs/"
        "scheduled__2026-11-23T02%3A00%3A00%2B00%3A00/tasks/train?try_number=2"
    )
    assert "amazon_polarity_train.train failed (try 2)" in logs()


def test_notify_appends_one_line_per_notice(tmp_path: Path):
    s = _settings(tmp_path)
    notify("drift", "nlpops: p drift confirmed\nmore detail", settings=s, report="file:///r.html")
    notify("insufficient_data", "nlpops: too few rows", settings=s, n=3)
    first, second = _records(tmp_path)
    assert (first["event"], first["subject"], first["report"]) == (
        "drift",
        "nlpops: p drift confirmed",
        "file:///r.html",
    )
    assert (second["event"], second["n"]) == ("insufficient_data", "3")


class _Webhook:
    """A Slack-compatible incoming webhook on 127.0.0.1 that records what it is sent."""

    def __init__(self, status: int = 200) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:  # keep the test output quiet
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _slack_connection(monkeypatch: pytest.MonkeyPatch, host: str, password: str) -> None:
    conn = {"conn_type": "http", "host": host, "password": password}
    monkeypatch.setenv("AIRFLOW_CONN_NLPOPS_SLACK", json.dumps(conn))


@pytest.mark.parametrize("shape", ["host+token", "full-url-in-password"])
def test_webhook_gets_the_json_payload_and_the_token_is_never_logged(tmp_path, monkeypatch, logs, shape):
    with _Webhook() as hook:
        if shape == "host+token":
            _slack_connection(monkeypatch, hook.base, f"/services/{TOKEN}")
        else:
            _slack_connection(monkeypatch, "", f"{hook.base}/services/{TOKEN}")
        s = _settings(tmp_path, NLPOPS_SLACK_CONN_ID="nlpops_slack")
        with mock.patch("include.settings.get_settings", return_value=s):
            on_task_failure(_failure_context())
    text_logged = logs()
    [req] = hook.received
    assert req["path"] == f"/services/{TOKEN}"
    assert req["content_type"] == "application/json"
    text = req["body"]["text"]
    assert set(req["body"]) == {"text"}
    for part in ("amazon_polarity_train.train failed (try 2)", RUN_ID, "RuntimeError: training job failed", "/tasks/"):
        assert part in text
    assert "nlpops notification [task_failed]" in text_logged  # the capture works
    assert TOKEN not in text_logged and hook.base not in text_logged
    assert TOKEN not in (tmp_path / "notes" / "notifications.jsonl").read_text()


@pytest.mark.parametrize("status", [500, 404])
def test_webhook_error_is_logged_without_the_url_and_does_not_raise(tmp_path, monkeypatch, logs, status):
    with _Webhook(status=status) as hook:
        _slack_connection(monkeypatch, hook.base, f"services/{TOKEN}")
        s = _settings(tmp_path, NLPOPS_SLACK_CONN_ID="nlpops_slack")
        written = notify("drift", "nlpops: drift confirmed", settings=s)
    text_logged = logs()
    assert len(hook.received) == 1
    assert written is not None and len(_records(tmp_path)) == 1  # the file channel still delivered
    assert f"not sent via send_webhook: WebhookError: webhook answered HTTP {status}" in text_logged
    assert TOKEN not in text_logged and hook.base not in text_logged


def test_unreachable_webhook_missing_connection_and_unwritable_dir_never_raise(tmp_path, monkeypatch, logs):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _slack_connection(monkeypatch, dead, TOKEN)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    s = load_settings(
        {"AIRFLOW_HOME": str(tmp_path), "NLPOPS_NOTIFY_DIR": str(blocker), "NLPOPS_SLACK_CONN_ID": "nlpops_slack"}
    )
    assert notify("task_failed", "boom", settings=s) is None
    s_missing = load_settings({"AIRFLOW_HOME": str(tmp_path), "NLPOPS_SLACK_CONN_ID": "no_such_connection"})
    assert notify("task_failed", "boom", settings=s_missing) is not None
    text_logged = logs()
    assert "not sent via send_file" in text_logged
    assert "not sent via send_webhook: WebhookError: webhook unreachable" in text_logged
    assert text_logged.count("not sent via send_webhook") == 2  # the missing connection, logged too
    assert TOKEN not in text_logged and dead not in text_logged


def test_failure_callback_never_raises_on_a_broken_context(env_settings: Path):
    on_task_failure({})  # no ti, no exception: still a notice, no error
    [rec] = _records(env_settings)
    assert rec["dag_id"] == "?" and rec["error"] == "unknown error"


# --- deadline alert ------------------------------------------------------------------------


def _load_dag_module(name: str, monkeypatch: pytest.MonkeyPatch):
    from include.settings import get_settings

    monkeypatch.setenv("NLPOPS_PROFILES", "amazon_polarity")
    get_settings.cache_clear()
    path = Path(__file__).resolve().parents[3] / "dags" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"nlpops_test_dag_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_dag_has_a_deadline_from_the_profile_that_calls_the_notifier(env_settings: Path, monkeypatch):
    from datetime import timedelta

    from airflow.sdk import AsyncCallback, DeadlineReference
    from airflow.sdk._shared.module_loading import import_string

    from include.profiles import get_profile

    dag = _load_dag_module("train", monkeypatch).amazon_polarity_train
    minutes = get_profile("amazon_polarity").schedule.train_deadline_minutes
    [alert] = dag.deadline
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == timedelta(minutes=minutes)
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == callbacks.DEADLINE_CALLBACK
    assert alert.callback.kwargs == {"profile": "amazon_polarity", "deadline_minutes": minutes}
    fn = import_string(alert.callback.path)
    assert asyncio.iscoroutinefunction(fn)

    # What the triggerer passes: the alert's kwargs plus a small context (dag_run, deadline).
    context = {
        "dag_run": {"dag_id": dag.dag_id, "dag_run_id": RUN_ID, "state": "running", "queued_at": "2026-11-23T02:00"},
        "deadline": {"id": "d-1", "deadline_time": "2026-11-23T06:00:00+00:00"},
    }
    written = asyncio.run(fn(context=context, **alert.callback.kwargs))
    [rec] = _records(env_settings)
    assert written == str(env_settings / "notes" / "notifications.jsonl")
    assert rec["event"] == "deadline_missed"
    assert (
        rec["subject"]
        == f"nlpops: amazon_polarity_train run {RUN_ID} is not finished {minutes} min after it was queued"
    )
    assert rec["deadline"] == "2026-11-23T06:00:00+00:00" and rec["profile"] == "amazon_polarity"
    assert rec["run_url"].startswith("http://airflow.example:8080/dags/amazon_polarity_train/runs/scheduled__")


def test_train_dag_without_deadline_when_the_setting_says_so(env_settings: Path, monkeypatch):
    """Airflow 3.3.2: `dags test` of a DAG with a deadline exits 1; harnesses set NLPOPS_DEADLINE_ALERTS=false."""
    monkeypatch.setenv("NLPOPS_DEADLINE_ALERTS", "false")
    dag = _load_dag_module("train", monkeypatch).amazon_polarity_train
    assert not dag.deadline


def test_dag_shape_does_not_depend_on_the_command_line(env_settings: Path, monkeypatch):
    """The alert follows the setting only: the same DAG under `dags test` argv as under the scheduler."""
    monkeypatch.setenv("NLPOPS_DEADLINE_ALERTS", "true")
    monkeypatch.setattr("sys.argv", ["airflow", "dags", "test", "amazon_polarity_train"])
    dag = _load_dag_module("train", monkeypatch).amazon_polarity_train
    assert dag.deadline


def test_train_dag_with_deadline_survives_serialization_round_trip(env_settings: Path, monkeypatch):
    """What the dag-processor stores and the scheduler reads back keeps the alert and its callback."""
    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.setenv("NLPOPS_DEADLINE_ALERTS", "true")
    dag = _load_dag_module("train", monkeypatch).amazon_polarity_train
    data = DagSerialization.to_dict(dag)
    text = json.dumps(data)
    assert "on_dag_deadline_missed" in text and "deadline" in text
    restored = DagSerialization.from_dict(json.loads(text))
    assert restored.dag_id == dag.dag_id
    assert restored.deadline, "the DeadlineAlert was lost in serialization"
    assert set(restored.task_ids) == set(dag.task_ids)


def test_redaction_fails_closed_when_the_masker_cannot_load(monkeypatch):
    """A notice whose text cannot be masked is withheld, never sent in clear."""
    import builtins

    real_import = builtins.__import__

    def broken_import(name, *args, **kwargs):
        if name.startswith("airflow.sdk._shared.secrets_masker"):
            raise ImportError("simulated: private module moved")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken_import)
    out = callbacks._redact("password=hunter2")
    assert "hunter2" not in out and "withheld" in out
