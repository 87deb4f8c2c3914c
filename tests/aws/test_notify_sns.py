"""SNS channel of the notifier against moto: a topic with an SQS subscriber receives the notice."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from include.settings import load_settings
from nlpops.notifiers.callbacks import notify, on_task_failure

REGION = "us-east-1"
RUN_ID = "scheduled__2026-11-23T02:00:00+00:00"


def _topic_with_queue() -> tuple[str, str, Any]:
    import boto3

    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="nlpops-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="nlpops-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url, sqs


def _received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in msgs]  # the SNS envelope (raw delivery off)


def _aws_settings(tmp_path: Path, topic_arn: str):
    return load_settings(
        {
            "AIRFLOW_HOME": str(tmp_path),
            "NLPOPS_TARGET": "aws",
            "NLPOPS_LAKE_URI": "s3://nlpops-test-lake",
            "NLPOPS_NOTIFY_DIR": str(tmp_path / "notes"),
            "NLPOPS_SNS_TOPIC_ARN": topic_arn,
        }
    )


def test_task_failure_is_published_to_the_topic(aws: None, tmp_path: Path):
    topic_arn, queue_url, sqs = _topic_with_queue()
    s = _aws_settings(tmp_path, topic_arn)
    ti = mock.MagicMock(dag_id="amazon_polarity_train", task_id="train", try_number=1, map_index=-1)
    context = {"ti": ti, "run_id": RUN_ID, "exception": ValueError("job nlpops-x failed: AlgorithmError")}
    with mock.patch("include.settings.get_settings", return_value=s):
        on_task_failure(context)
    [envelope] = _received(sqs, queue_url)
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == "nlpops: amazon_polarity_train.train failed (try 1)"
    body = envelope["Message"]
    for line in (
        f"Run id: {RUN_ID}",
        "Try number: 1",
        "Error: ValueError: job nlpops-x failed: AlgorithmError",
        "Log url: http",
    ):
        assert line in body, body
    assert envelope["MessageAttributes"]["event"]["Value"] == "task_failed"
    assert envelope["MessageAttributes"]["dag_id"]["Value"] == "amazon_polarity_train"
    assert (tmp_path / "notes" / "notifications.jsonl").is_file()  # the file channel as well


def test_long_multiline_subject_is_cut_to_what_sns_accepts(aws: None, tmp_path: Path):
    topic_arn, queue_url, sqs = _topic_with_queue()
    notify("drift", "nlpops: " + "x" * 300 + "\nsecond line", settings=_aws_settings(tmp_path, topic_arn))
    [envelope] = _received(sqs, queue_url)
    assert len(envelope["Subject"]) == 100 and "\n" not in envelope["Subject"]
    assert envelope["Message"].endswith("second line")


def test_missing_topic_is_logged_and_does_not_raise(
    aws: None, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
):
    caplog.set_level(logging.INFO)
    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    written = notify("drift", "nlpops: drift", settings=_aws_settings(tmp_path, missing))
    out, err = capfd.readouterr()
    assert written is not None  # the file channel delivered
    assert "not sent via send_sns: NotFoundException" in caplog.text + out + err  # Airflow may route logs to stdout
