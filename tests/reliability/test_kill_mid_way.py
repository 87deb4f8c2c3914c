"""kill -9 each long task mid-way (ETL, training, transform), then re-run it.

Each test runs the real operator in a task process (``faults.run_and_kill``), pauses it at
the worst point (everything written, nothing published), SIGKILLs the task process only,
and checks the promises:

* the job processes the task started die with it (nothing goes on writing behind the retry);
* readers (``include.lake.published``, the artefact URI) see no partial output;
* the re-run of the same run key completes and leaves exactly one directory for the run
  (no ``_tmp_`` staging, no second job folder);
* its output equals a clean run's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from faults import (
    assert_died_with_task,
    build_training_operator,
    build_transform_operator,
    etl_task,
    names,
    run_and_kill,
    task_context,
)
from unit.ml.test_inference_support import make_model_dir

from include import lake as lk

pytestmark = pytest.mark.reliability

RUN = "20260301T020000"  # the run key of faults.LOGICAL


def _published_rows(uri: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A published processed run as readers see it: manifest (minus timing) and rows in id order."""
    manifest = lk.read_json(lk.join(uri, lk.MANIFEST))
    manifest.pop("seconds")
    assert manifest.pop("published_at") > 0  # when it was published differs from run to run, by design
    rows = pq.read_table(lk.local_path(uri)).to_pylist()
    return manifest, sorted(rows, key=lambda r: (r["id"], r["content_hash"]))


@pytest.mark.spark
def test_etl_killed_mid_way_rerun_publishes_once_and_matches_a_clean_run(
    lake: str, task_env: dict[str, str], ready: Path, tmp_path: Path, spark: Any
) -> None:
    from unit.validation.validation_helpers import profile, validate

    from etl.jobs import prepare_text as job
    from include.naming import job_name
    from include.settings import get_settings
    from ml.generator import generate

    s = get_settings()
    prof = profile("amazon_polarity")
    raw = tmp_path / "reviews.csv"
    generate(prof, 300, seed=11, out=str(raw))
    validated = validate(prof, {"reviews.csv": raw.read_bytes()}, run_key=RUN).validated_uri
    zone = s.zone_uri("processed", prof.name)
    args = {"profile_json": prof.to_json(), "input_uris": validated, "output_uri": f"{zone}/run={RUN}", "run_key": RUN}

    killed = run_and_kill("etl", task_env, "paused_prepare_text", args, ready=ready)
    assert "staged" in killed.fault_point and killed.tree, killed
    assert_died_with_task(killed, "the Spark job")
    assert list(lk.published(zone)) == []  # readers see nothing of the killed attempt
    [staging] = names(zone)  # what it had written is only in its hidden staging prefix
    assert staging.startswith(f"_tmp_run={RUN}_") and any(Path(lk.local_path(f"{zone}/{staging}")).rglob("*.parquet"))

    etl_task(task_env, "etl.jobs.prepare_text", args)  # the retry: same run key, same job name
    assert names(zone) == [f"run={RUN}"] and list(lk.published(zone)) == [f"{zone}/run={RUN}"]

    # The clean run: the same job, in the session's SparkSession (no third JVM), into another zone.
    clean_zone = s.zone_uri("processed", "clean")
    argv = [f"--{k}={v}" for k, v in {**args, "output_uri": f"{clean_zone}/run={RUN}"}.items()]
    job.run(spark, job.parse_args(["--JOB_NAME", job_name("reliability_ingest", "prepare_text", RUN), *argv]))
    rerun, clean = _published_rows(f"{zone}/run={RUN}"), _published_rows(f"{clean_zone}/run={RUN}")
    assert rerun[0]["rows_out"] > 250 and rerun == clean


def _training_kwargs(s: Any, output: str = "tiny") -> dict[str, Any]:
    return {
        "profile_name": "tiny",
        "processed_uri": s.zone_uri("processed", "tiny"),
        "output_uri": s.zone_uri("models", output),
        "hyperparameters": {"profile": "tiny", "classes": ["negative", "positive"], "min_df": 1, "char_ngram_max": 3},
    }


def test_training_killed_mid_way_leaves_no_archive_one_job_dir_and_rerun_matches_a_clean_run(
    lake: str, task_env: dict[str, str], ready: Path, publish_processed: Callable[..., None]
) -> None:
    from include.settings import get_settings
    from ml.artefact import ARCHIVE, DIGESTS_KEY, META_FILE, MODEL_FILE, load_pipeline, unpack_model_archive

    s = get_settings()
    publish_processed(s.zone_uri("processed", "tiny"), RUN, n=60)
    kwargs = _training_kwargs(s)
    models = s.zone_uri("models", "tiny")

    killed = run_and_kill("training", task_env, {**kwargs, "entry_module": "paused_train"}, ready=ready)
    assert "model directory written" in killed.fault_point and killed.tree, killed
    assert_died_with_task(killed, "the training process")
    [job] = names(models)
    job_dir = Path(lk.local_path(f"{models}/{job}"))
    assert (job_dir / "model" / MODEL_FILE).is_file()  # the killed try had written its model …
    assert not list((job_dir / "output").glob("*.tar.gz*"))  # … but readers have no artefact to load

    out = build_training_operator(**kwargs).execute(task_context())  # the retry
    assert out["job_name"] == job and names(models) == [job]
    assert sorted(p.name for p in (job_dir / "output").iterdir()) == ["data", ARCHIVE]

    clean = build_training_operator(**_training_kwargs(s, "clean")).execute(task_context())
    dirs = [
        unpack_model_archive(lk.read_bytes(o["model_artifact_uri"]), job_dir.parent / f"unpacked-{i}")
        for i, o in enumerate((out, clean))
    ]
    metas = [json.loads((d / META_FILE).read_text()) for d in dirs]
    assert metas[0]["classes"] == metas[1]["classes"] and metas[0]["rows"] == metas[1]["rows"]
    assert all(DIGESTS_KEY in m for m in metas)  # skops files are not byte-stable (zip times): compare behaviour
    timing = {"train_seconds", "save_seconds", "load_seconds"}
    assert {k: v for k, v in out["metrics"].items() if k not in timing} == {
        k: v for k, v in clean["metrics"].items() if k not in timing
    }
    texts = ["it was great really love", "awful and broken, i hate it"]
    a, b = (load_pipeline(d / MODEL_FILE).predict_proba(texts) for d in dirs)
    assert (a == b).all()


def test_transform_killed_mid_way_publishes_nothing_partial_and_rerun_matches_a_clean_run(
    lake: str, task_env: dict[str, str], ready: Path, tmp_path: Path
) -> None:
    from include.settings import get_settings
    from ml.artefact import pack_model_dir
    from ml.generator import generate

    s = get_settings()
    archive = tmp_path / "model.tar.gz"
    pack_model_dir(make_model_dir(tmp_path / "m", "airline_tweets", version="7"), archive)
    inputs = s.zone_uri("inference-input", "airline_tweets")
    generate("airline_tweets", 300, seed=3, out=lk.join(inputs, "batch.csv"), with_label=False)
    objects = [o.to_dict() for o in lk.list_objects(inputs)]
    kwargs = {
        "profile_name": "airline_tweets",
        "objects": objects,
        "model_artifact_uri": archive.as_uri(),
        "model_version": "7",
        "max_payload_mb": 0.002,  # ~2 KB requests: many of them, so the kill lands mid-file
        "workers": 1,
    }
    zone = s.zone_uri("inference-output", "airline_tweets")

    killed = run_and_kill("transform", task_env, kwargs, ready=ready)
    assert "wrote" in killed.fault_point and killed.tree, killed
    assert_died_with_task(killed, "the transform workers")
    assert list(lk.published(zone)) == []
    [staging] = names(zone)
    half = list(Path(lk.local_path(f"{zone}/{staging}")).rglob("*.out"))
    assert staging.startswith("_tmp_") and half and half[0].stat().st_size > 0  # partial, hidden

    out = build_transform_operator(**kwargs).execute(task_context())  # the retry
    assert names(zone) == [out["job_name"]] and list(lk.published(zone)) == [out["output_uri"]]

    clean = build_transform_operator(**kwargs, output_uri=s.zone_uri("inference-output", "clean")).execute(
        task_context()
    )
    assert out["summary"]["records_in"] == clean["summary"]["records_in"] == 300
    mine, theirs = (lk.read_bytes(o["files"][0]["output_uri"]) for o in (out, clean))
    assert mine == theirs and len(mine.splitlines()) == 300
