"""AthenaResultsOperator against moto: every statement submitted, in the workgroup, results encrypted with the key.

moto's Athena answers SUCCEEDED without running anything, so the test checks what was
submitted (``GetQueryExecution`` gives back query, workgroup and result configuration) and
that the summary rows moto is told to return come back as the local twin returns them.
"""

from __future__ import annotations

import json
from unittest import mock

import boto3
import pytest

from ml.results import SUMMARY_QUERIES

pytestmark = pytest.mark.aws

REGION = "us-east-1"
KMS = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
OUTPUT = "s3://nlpops-lake/results/_athena/"


def _operator(**kwargs):
    from airflow.sdk import DAG

    from nlpops.aws.athena import AthenaResultsOperator

    with DAG("amazon_polarity_batch_inference", schedule=None):
        return AthenaResultsOperator(
            task_id="query_results",
            profile_name="amazon_polarity",
            database="nlpops",
            results_uri="s3://nlpops-lake/results/amazon_polarity",
            processed_uri="s3://nlpops-lake/processed/amazon_polarity",
            published={"partitions": [{"date": "2026-03-01", "model_version": "7"}]},
            low_confidence="0.6",
            kms_key_arn=KMS,
            workgroup="nlpops",
            output_location=OUTPUT,
            sleep_time=0,
            **kwargs,
        )


@pytest.fixture
def athena(aws):
    """moto's Athena with the stack's workgroup (include/infra/nlpops.yaml: AthenaWorkGroup)."""
    client = boto3.client("athena", region_name=REGION)
    client.create_work_group(
        Name="nlpops",
        Configuration={
            "ResultConfiguration": {
                "OutputLocation": OUTPUT,
                "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": KMS},
            },
            "EnforceWorkGroupConfiguration": True,
        },
    )
    return client


def test_statements_are_submitted_in_the_workgroup_with_encrypted_results(athena, context):
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook

    with mock.patch.object(AthenaHook, "run_query", autospec=True, side_effect=AthenaHook.run_query) as run_query:
        out = _operator().execute(context)
    assert run_query.call_count == 5 + len(SUMMARY_QUERIES)
    names = [e["name"] for e in out["executions"]]
    assert names[:5] == [
        "create_database",
        "results_table",
        "processed_table",
        "results_partition",
        "processed_partitions",
    ]
    for execution in out["executions"]:
        got = athena.get_query_execution(QueryExecutionId=execution["query_execution_id"])["QueryExecution"]
        assert got["WorkGroup"] == "nlpops"
        assert got["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)  # Athena adds <id>.csv
        assert got["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_KMS", "KmsKey": KMS}
        assert got["Status"]["State"] == "SUCCEEDED"
    queries = [c.args[1] for c in run_query.call_args_list]
    assert queries[0] == "CREATE DATABASE IF NOT EXISTS nlpops"
    assert "PARTITION (`date` = '2026-03-01', model_version = '7')" in queries[3]
    assert all("confidence < 0.6" in q for q in queries if "low_confidence_share" in q)
    assert "?" not in " ".join(queries)
    # the database exists in the catalog moto keeps (its Athena handles CREATE DATABASE only)
    assert athena.get_database(CatalogName="AwsDataCatalog", DatabaseName="nlpops")["Database"]["Name"] == "nlpops"
    assert out["engine"] == "athena" and list(out["queries"]) == list(SUMMARY_QUERIES)
    json.dumps(out)


def test_summary_rows_come_back_like_duckdb_rows(athena, context):
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook

    header = {"Data": [{"VarCharValue": "date"}, {"VarCharValue": "label"}, {"VarCharValue": "predictions"}]}
    row = {"Data": [{"VarCharValue": "2026-03-01"}, {"VarCharValue": "positive"}, {"VarCharValue": "2"}]}
    answer = {
        "ResultSet": {
            "Rows": [header, row],
            "ResultSetMetadata": {"ColumnInfo": [{"Name": "date"}, {"Name": "label"}, {"Name": "predictions"}]},
        }
    }
    with mock.patch.object(AthenaHook, "get_query_results", return_value=answer):
        out = _operator().execute(context)
    assert out["queries"]["class_distribution_per_day"] == [
        {"date": "2026-03-01", "label": "positive", "predictions": "2"}
    ]


def test_a_failed_statement_fails_the_task(athena, context):
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook
    from airflow.providers.common.compat.sdk import AirflowException

    with (
        mock.patch.object(AthenaHook, "poll_query_status", return_value="FAILED"),
        mock.patch.object(AthenaHook, "get_state_change_reason", return_value="SYNTAX_ERROR: line 1"),
        pytest.raises(AirflowException, match="SYNTAX_ERROR"),
    ):
        _operator().execute(context)


def test_factory_builds_it_from_the_settings(monkeypatch, tmp_path):
    from include.profiles import get_profile
    from include.settings import load_settings
    from nlpops.factory import results_query_operator

    settings = load_settings(
        {
            "NLPOPS_TARGET": "aws",
            "NLPOPS_LAKE_URI": "s3://nlpops-lake",
            "NLPOPS_KMS_KEY_ARN": KMS,
            "NLPOPS_ATHENA_WORKGROUP": "analytics",
            "NLPOPS_GLUE_DATABASE": "ml_results",
            "AIRFLOW_HOME": str(tmp_path),
        }
    )
    op = results_query_operator(
        task_id="query_results",
        profile=get_profile("amazon_polarity", settings),
        settings=settings,
        published="{{ ti.xcom_pull(task_ids='publish_results') }}",
        low_confidence="{{ params.low_confidence }}",
    )
    assert (op.workgroup, op.catalog_database, op.output_location) == ("analytics", "ml_results", OUTPUT)
    assert op.result_configuration == {"EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": KMS}}
    assert {"published", "low_confidence", "query"} <= set(op.template_fields)
