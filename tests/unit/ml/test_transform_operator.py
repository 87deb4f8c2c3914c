"""LocalBatchTransformOperator: deterministic job name, XCom shape, retry replaces, on_kill stops."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

from test_inference_support import make_model_dir

from include import lake as lk

LOGICAL = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _operator(objects, artifact: str, **kwargs):
    from airflow.sdk import DAG

    from nlpops.operators.transform import LocalBatchTransformOperator

    with DAG("airline_tweets_batch_inference", schedule=None, start_date=LOGICAL):
        return LocalBatchTransformOperator(
            task_id="transform",
            profile_name="airline_tweets",
            objects=objects,
            model_artifact_uri=artifact,
            model_version="4",
            workers=0,
            **kwargs,
        )


def test_execute_scores_and_returns_a_sagemaker_shaped_result(lake: str, tmp_path: Path) -> None:
    from include.settings import get_settings
    from ml.artefact import pack_model_dir

    archive = tmp_path / "model.tar.gz"
    pack_model_dir(make_model_dir(tmp_path / "m"), archive)
    root = get_settings().zone_uri("inference-input", "airline_tweets")
    lk.write_text(lk.join(root, "t.jsonl"), '{"tweet_id": "9", "text": "great flight thanks"}\n')
    objects = [o.to_dict() for o in lk.list_objects(root)]
    op = _operator(objects, archive.as_uri())
    ctx = {"run_id": "scheduled__2026-03-01T02:00:00+00:00", "logical_date": LOGICAL}
    first = op.execute(ctx)
    again = op.execute(ctx)  # a retry: same job name, same output folder, replaced
    from include.naming import is_valid_job_name, job_name

    expected = job_name("airline_tweets_batch_inference", "transform", "20260301T020000")
    assert first["job_name"] == again["job_name"] == expected and is_valid_job_name(expected)
    assert first["Transform"]["TransformJobStatus"] == "Completed"
    assert first["Transform"]["TransformOutput"]["AssembleWith"] == "Line"
    assert first["output_uri"] == get_settings().zone_uri("inference-output", "airline_tweets", first["job_name"])
    assert first["summary"]["scored"] == 1 and first["summary"]["model_version"] == "4"
    line = json.loads(lk.read_bytes(first["files"][0]["output_uri"]))
    assert line["id"] == "9" and line["model_version"] == "4" and line["label"] == "positive"
    json.dumps(first)  # the XCom is JSON-serialisable


def test_templated_fields_and_on_kill(tmp_path: Path) -> None:
    op = _operator("{{ ti.xcom_pull('wait') }}", "file:///m/model.tar.gz")
    assert set(op.template_fields) >= {"objects", "model_artifact_uri", "model_version", "output_uri"}
    op.on_kill()  # nothing started: nothing to stop
    op._job = mock.Mock()
    op.on_kill()
    op._job.stop.assert_called_once_with()
