"""What the roles must grant for paths the aws end-to-end tests do not run (EMR Serverless, MWAA).

The e2e suite proves the Glue/SageMaker/Athena path under enforced IAM
(``tests/aws/iam_enforce.py``); these tests evaluate the template's role policies with
``policy_eval`` for the rest: EMR Serverless writes its logs where the operator sends them,
and the Airflow execution role carries the MWAA execution-role baseline.
"""

from __future__ import annotations

import functools

import pytest
from test_infra import EXAMPLE, load_template, role_policy, with_examples

from nlpops.aws.policy_eval import ALLOW, decide

pytestmark = pytest.mark.aws

ACCOUNT = EXAMPLE["${AccountId}"]
REGION = EXAMPLE["${Region}"]


@functools.cache
def policy(logical_id: str) -> dict:
    """The role's policy with example values (parsed once: the template takes a second to decode)."""
    return with_examples(role_policy(load_template(), logical_id))


def test_emr_serverless_role_writes_the_operators_log_uri():
    from include.profiles import get_profile
    from include.settings import load_settings
    from nlpops.aws.etl import emr_serverless_etl_operator

    settings = load_settings(
        {
            "NLPOPS_TARGET": "aws",
            "NLPOPS_LAKE_URI": "s3://nlpops-lake",
            "NLPOPS_EMR_APPLICATION_ID": "00abc",
            "NLPOPS_EMR_ROLE_ARN": EXAMPLE["${EmrServerlessJobRoleArn}"],
            "NLPOPS_KMS_KEY_ARN": EXAMPLE["${LakeKeyArn}"],
        }
    )
    op = emr_serverless_etl_operator(
        task_id="prepare_text",
        profile=get_profile("amazon_polarity", settings),
        settings=settings,
        job_module="etl.jobs.prepare_text",
        script_args={"run_key": "r"},
    )
    log_uri = op.configuration_overrides["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
    bucket, _, prefix = log_uri.removeprefix("s3://").partition("/")
    log_object = f"arn:aws:s3:::{bucket}/{prefix}applications/00abc/jobs/j1/SPARK_DRIVER/stdout.gz"
    emr = policy("EmrServerlessJobRole")
    assert decide([emr], "s3:PutObject", log_object) == ALLOW, log_uri
    # and nowhere else in the artefacts bucket (the code bundles are read-only to the job)
    assert decide([emr], "s3:PutObject", f"arn:aws:s3:::{bucket}/glue/abc/prepare_text.py") != ALLOW


MWAA_BASELINE = [
    ("airflow:PublishMetrics", f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/nlpops", {}),
    ("s3:GetObject", "arn:aws:s3:::airflow-nlpops/dags/ingest.py", {}),
    ("s3:ListBucket", "arn:aws:s3:::airflow-nlpops", {}),
    ("s3:GetBucketPublicAccessBlock", "arn:aws:s3:::airflow-nlpops", {}),
    ("s3:GetAccountPublicAccessBlock", "*", {}),
    ("logs:CreateLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-nlpops-Task", {}),
    (
        "logs:PutLogEvents",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-nlpops-Task:log-stream:dag_id=x/run_id=y",
        {},
    ),
    ("logs:DescribeLogGroups", "*", {}),
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AmazonMWAA"}),
    ("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:999988887777:airflow-celery-abc", {}),
    ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:999988887777:airflow-celery-abc", {}),
    (
        "kms:GenerateDataKey",
        f"arn:aws:kms:{REGION}:999988887777:key/abc",
        {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"},
    ),
]


@pytest.mark.parametrize(("action", "resource", "context"), MWAA_BASELINE, ids=[a for a, _, _ in MWAA_BASELINE])
def test_airflow_role_has_the_mwaa_execution_role_baseline(action, resource, context):
    assert decide([policy("AirflowExecutionRole")], action, resource, context) == ALLOW


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Other"}),
        ("kms:Decrypt", EXAMPLE["${LakeKeyArn}"].replace("key/", "key/other-"), {}),  # not via SQS
        ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-other-Task:log-stream:s", {}),
        ("s3:GetObject", "arn:aws:s3:::airflow-other/dags/x.py", {}),
    ],
)
def test_mwaa_grants_stay_scoped(action, resource, context):
    assert decide([policy("AirflowExecutionRole")], action, resource, context) != ALLOW
