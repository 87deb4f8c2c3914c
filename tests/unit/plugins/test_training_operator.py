"""LocalTrainingOperator: SageMaker layout, deterministic job name, one job dir per run, on_kill."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include import lake as lk

LOGICAL = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def make_operator(settings, **kwargs):
    from airflow.sdk import DAG

    from nlpops.operators.training import LocalTrainingOperator

    with DAG("tiny_train", schedule=None, start_date=LOGICAL):
        return LocalTrainingOperator(
            task_id="train",
            profile_name="tiny",
            processed_uri=settings.zone_uri("processed", "tiny"),
            output_uri=settings.zone_uri("models", "tiny"),
            hyperparameters={
                "profile": "tiny",
                "classes": ["negative", "positive"],
                "min_df": 1,
                "char_ngram_max": 3,
                "training_timeout_minutes": 5,
            },
            lineage={"profile_fingerprint": "f00"},
            **kwargs,
        )


def context() -> dict:
    return {"run_id": "scheduled__2026-03-01T02:00:00+00:00", "logical_date": LOGICAL}


@pytest.fixture
def fake_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A stand-in entry module: echoes its channels, writes a model dir, optionally sleeps."""
    mod = tmp_path / "pkg_fake" / "fake_train_entry.py"
    mod.parent.mkdir()
    mod.write_text(
        "import json, os, sys, time\n"
        "print('[train] channels', os.environ['SM_CHANNELS'], flush=True)\n"
        "open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.skops'), 'wb').write(b'x')\n"
        "json.dump({'macro_f1': 0.9}, open(os.path.join(os.environ['SM_OUTPUT_DATA_DIR'], 'metrics.json'), 'w'))\n"
        "if os.environ.get('FAKE_SLEEP'):\n"
        "    open(os.environ['FAKE_PIDFILE'], 'w').write(str(os.getpid()))\n"
        "    time.sleep(float(os.environ['FAKE_SLEEP']))\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(mod.parent), os.environ.get("PYTHONPATH", "")]))
    return "fake_train_entry"


def test_job_name_is_deterministic_and_a_retry_leaves_one_job_dir(
    lake: str, fake_entry: str, publish_processed: Callable[..., None]
) -> None:
    from include.naming import is_valid_job_name
    from include.settings import get_settings

    s = get_settings()
    publish_processed(s.zone_uri("processed", "tiny"), "20260301T020000")
    op = make_operator(s, entry_module=fake_entry)
    first = op.execute(context())
    name = first["job_name"]
    assert name == op.job_name(context()) and is_valid_job_name(name)
    assert name.startswith("tiny-train-train-20260301t020000-")
    job_dir = Path(lk.local_path(first["job_uri"]))
    (job_dir / "model" / "leftover-from-try-1").write_text("x")

    second = op.execute(context())  # the retry of the same run
    assert second["job_name"] == name
    assert [p.name for p in Path(lk.local_path(s.zone_uri("models", "tiny"))).iterdir()] == [name]
    assert not (job_dir / "model" / "leftover-from-try-1").exists()
    hps = json.loads((job_dir / "input" / "config" / "hyperparameters.json").read_text())
    assert hps["classes"] == '["negative", "positive"]' and hps["min_df"] == "1"  # strings, as SageMaker passes
    assert json.loads(hps["lineage"])["run_keys"] == ["20260301T020000"]
    assert second["Training"]["ModelArtifacts"]["S3ModelArtifacts"] == f"{first['job_uri']}/output/model.tar.gz"
    assert (job_dir / "output" / "model.tar.gz").is_file()
    assert second["metrics"] == {"macro_f1": 0.9}


def test_on_kill_stops_the_child(
    lake: str, fake_entry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, publish_processed: Callable[..., None]
) -> None:
    from include.settings import get_settings
    from nlpops.jobs.local import LocalJobError

    pidfile = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_SLEEP", "120")
    monkeypatch.setenv("FAKE_PIDFILE", str(pidfile))
    s = get_settings()
    publish_processed(s.zone_uri("processed", "tiny"), "20260301T020000", n=8)
    op = make_operator(s, entry_module=fake_entry)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = int(pidfile.read_text())
    op.on_kill()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors and isinstance(errors[0], LocalJobError) and "stopped" in str(errors[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_real_entry_end_to_end(lake: str, publish_processed: Callable[..., None]) -> None:
    """The real ``ml.train`` in a child process: artefact is loadable, metrics come back."""
    from include.settings import get_settings
    from ml.artefact import META_FILE, MODEL_FILE, load_pipeline, unpack_model_archive

    s = get_settings()
    publish_processed(s.zone_uri("processed", "tiny"), "20260301T020000")
    publish_processed(s.zone_uri("processed", "tiny"), "20260302T020000")
    out = make_operator(s).execute(context())
    assert out["metrics"]["test_accuracy"] >= 0.9
    assert out["lineage"]["run_keys"] == ["20260301T020000", "20260302T020000"]
    model_dir = unpack_model_archive(lk.read_bytes(out["model_artifact_uri"]), Path(lk.local_path(lake)) / "unpacked")
    meta = json.loads((model_dir / META_FILE).read_text())
    assert meta["data"]["job_name"] == out["job_name"] and meta["data"]["profile_fingerprint"] == "f00"
    assert meta["rows"]["train"] == 80  # both runs, distinct hashes
    assert load_pipeline(model_dir / MODEL_FILE).predict(["it was great"])[0] == "positive"
