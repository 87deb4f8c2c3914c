"""End-to-end fixtures: a fresh SQLite Airflow home and lake per test module, `airflow dags test`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class AirflowRun:
    returncode: int
    output: str


@dataclass
class EmbeddedAirflow:
    home: Path
    env: dict[str, str]
    lake_uri: str
    _clock: int = 0

    def dags_test(self, dag_id: str, conf: dict[str, Any] | None = None, timeout: int = 900) -> AirflowRun:
        from nlpops.runtime import airflow_bin

        self._clock += 1
        cmd = [airflow_bin(), "dags", "test", dag_id, f"2026-02-01T{self._clock:02d}:00:00+00:00"]
        if conf:
            cmd += ["-c", json.dumps(conf)]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        return AirflowRun(proc.returncode, proc.stdout + proc.stderr)

    def settings(self):
        from include.settings import load_settings

        return load_settings(self.env)


@pytest.fixture(scope="module")
def airflow_home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> EmbeddedAirflow:
    """One Airflow home per module; a module's ``airflow_env(tmp_path_factory)`` may set its own profiles."""
    from nlpops.runtime import airflow_environ, ensure_airflow_home

    home = tmp_path_factory.mktemp("airflow")
    custom = getattr(request.module, "airflow_env", None)
    env = airflow_environ(home, **(custom(tmp_path_factory) if custom else {"NLPOPS_PROFILES": "amazon_polarity"}))
    ensure_airflow_home(env)
    return EmbeddedAirflow(home=home, env=env, lake_uri=env["NLPOPS_LAKE_URI"])


@pytest.fixture
def write_raw() -> Callable[..., Path]:
    """Write generated raw files of a profile into a zone of the embedded lake."""

    def _write(af: EmbeddedAirflow, name: str, rows: int, seed: int, zone: str = "raw", **kw: Any) -> Path:
        from include import lake
        from include.profiles import get_profile
        from ml.generator import generate

        s = af.settings()
        profile = get_profile("amazon_polarity", s)
        path = Path(lake.local_path(s.zone_uri(zone, profile.name, name)))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            generate(profile, rows, seed=seed, out=fh, **kw)
        return path

    return _write
