"""Helpers of the runtime contract tests: the venvs of ``make runtime-venvs`` (a missing one fails, never skips)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from include.settings import PROJECT_ROOT

#: Variables of this test process that must not leak into a runtime: they would point Spark's
#: workers at this venv's Python, or put the project tree on the runtime's path.
LEAKY = ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME", "VIRTUAL_ENV", "PYTHONHOME")


def runtime_python(venv: str) -> Path:
    """``<venv>/bin/python``, or a failure that says how to build it."""
    python = PROJECT_ROOT / venv / "bin" / "python"
    if not (PROJECT_ROOT / venv / ".installed").is_file() or not python.exists():
        pytest.fail(f"{venv} is missing or incomplete: build it with `make runtime-venvs` (make test does)")
    return python


def runtime_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    return {**env, **extra}


def run_in(python: Path, args: list[str], *, cwd: Path, timeout: float = 600, **env: str) -> str:
    """Run ``python args`` in ``cwd`` with a clean environment; fail with its output if it fails."""
    proc = subprocess.run(
        [str(python), *args], cwd=cwd, env=runtime_env(**env), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        output = f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        pytest.fail(f"{python} {' '.join(args[:1])} exited {proc.returncode}:\n{output}")
    return proc.stdout


def installed(python: Path) -> dict[str, Any]:
    """The runtime's Python version and ``{canonical distribution name: version}``."""
    code = (
        "import json, re, sys; from importlib import metadata\n"
        "d = {re.sub(r'[-_.]+', '-', x.metadata['Name']).lower(): x.version for x in metadata.distributions()}\n"
        "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'dists': d}))\n"
    )
    # not from the project root: its nlpops.egg-info would be found on the '' path entry
    return dict(json.loads(run_in(python, ["-c", code], cwd=Path("/"))))


def tweets(shared_datasets: Path, n: int) -> list[dict[str, str]]:
    """The first ``n`` records of the real airline tweets file (emoji, entities, newlines in text)."""
    path = shared_datasets / "airline_tweets" / "Tweets.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = []
        for row in csv.DictReader(fh):
            rows.append(row)
            if len(rows) == n:
                break
    assert len(rows) == n, f"{path} has fewer than {n} records"
    return rows


def glue_operator(profile_name: str = "amazon_polarity") -> Any:
    """The aws target's Glue ETL operator for ``profile_name``, as the factory builds it."""
    from include.profiles import get_profile
    from include.settings import load_settings
    from nlpops.factory import etl_operator

    lake = "s3://nlpops-pins-test"
    settings = load_settings(
        {
            "NLPOPS_TARGET": "aws",
            "NLPOPS_LAKE_URI": lake,
            "NLPOPS_PROFILES": profile_name,
            "NLPOPS_GLUE_ROLE_ARN": "arn:aws:iam::123456789012:role/nlpops-glue-job",
        }
    )
    return etl_operator(
        task_id="prepare_text",
        profile=get_profile(profile_name, settings),
        settings=settings,
        input_uris=f"{lake}/validated/{profile_name}/k1",
        output_uri=f"{lake}/processed/{profile_name}/run=k1",
        run_key="k1",
    )
