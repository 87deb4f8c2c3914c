"""The Glue runtime contract: ``etl/jobs/prepare_text.py`` on the Glue version's own Python and Spark.

The job runs from exactly what the Glue operator uploads (the script and ``nlpops_code.zip``,
via :func:`nlpops.aws.etl.upload_code`) in ``.venv-glue``: the Glue version's Python, its Spark,
the modules that Glue version provides and the job's ``--additional-python-modules`` as the
operator sends them — nothing else (no project tree on the path). Its output on a slice of the
real airline tweets must equal the local target's output for the same input, row for row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from runtime_helpers import glue_operator, installed, run_in, runtime_python, tweets

from include import runtimes
from include.profiles import load_profile
from include.settings import PROJECT_ROOT

pytestmark = [pytest.mark.spark, pytest.mark.realdata]

VERSION = runtimes.DEFAULT_GLUE_VERSION
N_ROWS = 700


def _validated(root: Path, profile, run_key: str, rows: list[dict[str, str]], first: int) -> str:
    """A published validated-zone folder (docs/CONTRACTS.md) of real records, ids by the shared row-id rule."""
    from ml.textnorm import row_id

    source = "file:///raw/airline_tweets/Tweets.csv"
    folder = root / "validated" / profile.name / run_key
    folder.mkdir(parents=True)
    columns = list(profile.input.columns)
    data = {c: pa.array([r[c] for r in rows], pa.string()) for c in columns}
    records = list(range(first, first + len(rows)))
    raw = [",".join(r[c] for c in columns) for r in rows]  # stands in for the raw record: ids only need to differ
    data["_row_id"] = pa.array([row_id(t, source_uri=source, record=i) for t, i in zip(raw, records, strict=True)])
    data["_source_uri"] = pa.array([source] * len(rows), pa.string())
    data["_source_record"] = pa.array(records, pa.int64())
    data["_source_line"] = pa.array([i + 1 for i in records], pa.int64())
    pq.write_table(pa.table(data), folder / "part-00000.parquet")
    manifest = {"profile": profile.name, "run_key": run_key, "rows_in": len(rows), "rows_valid": len(rows)}
    (folder / "_manifest.json").write_text(json.dumps(manifest))
    return f"file://{folder}"


def _argv(profile, inputs: list[str], output: str) -> list[str]:
    return [
        "--JOB_NAME", "contract-prepare-text",
        "--profile_json", profile.to_json(),
        "--input_uris", ",".join(inputs),
        "--output_uri", output,
        "--run_key", "k2",
        "--job-bookmark-option", "job-bookmark-disable",  # Glue adds its own arguments
    ]  # fmt: skip


def _output(folder: Path) -> tuple[list[dict], dict]:
    table = pq.read_table(folder)  # hive partitioning gives the split column back
    rows = sorted(table.to_pylist(), key=lambda r: (r["id"], r["content_hash"]))
    for row in rows:
        row["split"] = str(row["split"])
    manifest = json.loads((folder / "_manifest.json").read_text())
    return rows, manifest


def test_the_glue_venv_is_the_glue_runtime_with_the_modules_the_operator_sends(monkeypatch, tmp_path):
    python = runtime_python(".venv-glue")
    found = installed(python)
    runtime = runtimes.GLUE_RUNTIMES[VERSION]
    assert found["python"] == runtime.python, f".venv-glue: Python {found['python']}, Glue {VERSION}: {runtime.python}"
    dists = found["dists"]
    assert dists.get("pyspark") == runtime.spark
    for name, version in runtime.provided.items():
        assert dists.get(name) == version, f"{name}: Glue {VERSION} has {version}, .venv-glue {dists.get(name)}"
    op = glue_operator("airline_tweets")
    assert op.job_config["GlueVersion"] == VERSION
    for spec in runtimes.split_glue_modules(op.job_config["DefaultArguments"]["--additional-python-modules"]):
        name, _, version = spec.partition("==")
        have = dists.get(runtimes.canonical(name))
        assert have == version, f"{spec}: .venv-glue has {have}"
    # only the runtime's and the job's packages: none of the worker's (Airflow, GX, scikit-learn …)
    assert not {"apache-airflow", "great-expectations", "scikit-learn", "mlflow", "duckdb"} & set(dists)


def test_prepare_text_on_the_glue_runtime_equals_the_local_target(spark, shared_datasets, tmp_path, monkeypatch):
    from etl.jobs import prepare_text
    from include.settings import load_settings
    from nlpops.aws.etl import upload_code

    python = runtime_python(".venv-glue")
    profile = load_profile(PROJECT_ROOT / "include" / "profiles" / "airline_tweets.yaml")
    rows = tweets(shared_datasets, N_ROWS)
    # two runs that overlap: the job unions them and drops the duplicates
    inputs = [
        _validated(tmp_path, profile, "k1", rows[:450], 1),
        _validated(tmp_path, profile, "k2", rows[350:], 351),
    ]

    # what the Glue operator uploads: the script and the code zip, by content digest
    artifacts = tmp_path / "artifacts"
    settings = load_settings(
        {"NLPOPS_LAKE_URI": f"file://{tmp_path}/lake", "NLPOPS_ARTIFACTS_URI": f"file://{artifacts}"}
    )
    code = upload_code(settings, "etl.jobs.prepare_text")
    script, bundle = Path(code.script_uri[len("file://") :]), Path(code.py_files_uri[len("file://") :])
    assert script.parent == bundle.parent and sorted(p.name for p in script.parent.iterdir()) == [
        "nlpops_code.zip",
        "prepare_text.py",
    ]

    # Glue: `python <script>` with --extra-py-files on the path and nothing of the project tree
    glue_out = tmp_path / "glue" / "processed" / "run=k2"
    run_in(
        python,
        [str(script), *_argv(profile, inputs, f"file://{glue_out}")],
        cwd=script.parent,
        timeout=900,
        PYTHONPATH=str(bundle),
        NLPOPS_SPARK_MASTER="local[2]",
        NLPOPS_SPARK_DRIVER_MEMORY="1g",
    )
    # the local target: the same module in the worker's venv (the session SparkSession)
    local_out = tmp_path / "local" / "processed" / "run=k2"
    assert prepare_text.main(_argv(profile, inputs, f"file://{local_out}")) == 0

    glue_rows, glue_manifest = _output(glue_out)
    local_rows, local_manifest = _output(local_out)
    assert local_manifest["rows_in"] == N_ROWS + 100 and local_manifest["duplicates_removed"] >= 100
    assert len(glue_rows) == len(local_rows) == local_manifest["rows_out"]
    assert [r["id"] for r in glue_rows] == [r["id"] for r in local_rows]
    for glue_row, local_row in zip(glue_rows, local_rows, strict=True):
        assert glue_row == local_row, f"row {local_row['id']} differs between Glue {VERSION} and local"
    keys = ("rows_in", "rows_out", "duplicates_removed", "rows_per_split", "schema", "input", "profile_fingerprint")
    for key in keys:
        assert glue_manifest[key] == local_manifest[key], key
