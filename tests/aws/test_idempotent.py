"""No duplicate paid jobs: SageMaker training/transform and Glue runs against moto.

moto completes every job at once and accepts duplicate training job names, so each
test counts the ``create``/``start`` calls and, where a state moto cannot reach is
needed (InProgress, Failed), patches ``describe`` on the hook.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from airflow.providers.amazon.aws.hooks.glue import GlueJobHook
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred
from airflow.sdk import DAG
from botocore.exceptions import ClientError

from include.naming import is_valid_job_name, run_key
from nlpops.aws.idempotent import (
    FAILED,
    NOT_FOUND,
    RUNNING,
    SUCCEEDED,
    IdempotentGlueJobOperator,
    IdempotentSageMakerTrainingOperator,
    IdempotentSageMakerTransformOperator,
    JobAttemptsExhaustedError,
    decide_job,
    remote_job_name,
)

pytestmark = pytest.mark.aws

DAG_ID = "amazon_polarity_train"
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/nlpops-sagemaker-execution"
# The run of the `context` fixture (tests/aws/conftest.py).
RUN = run_key("scheduled__2026-11-23T02:00:00+00:00", datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


def not_found(name: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ValidationException", "Message": f"Could not find job '{name}'."}}, "Describe"
    )


# --- the decision, without AWS -------------------------------------------------------------------


def test_decide_job_walks_failed_names_to_the_first_free_one():
    states = {remote_job_name("d", "t", "r"): FAILED, remote_job_name("d", "t", "r", attempt=1): FAILED}
    decision = decide_job("d", "t", "r", lambda n: (states.get(n, NOT_FOUND), None))
    assert decision.action == "create"
    assert decision.attempt == 2
    assert decision.name == remote_job_name("d", "t", "r", attempt=2)


@pytest.mark.parametrize(("state", "action"), [(RUNNING, "attach"), (SUCCEEDED, "reuse"), (NOT_FOUND, "create")])
def test_decide_job_first_name(state, action):
    decision = decide_job("d", "t", "r", lambda n: (state, {"n": n}))
    assert (decision.action, decision.name, decision.attempt) == (action, remote_job_name("d", "t", "r"), 0)


def test_decide_job_gives_up_with_a_clear_error():
    with pytest.raises(
        JobAttemptsExhaustedError,
        match=r"nlpops-d-t-r-[0-9a-f]{8} … nlpops-d-t-r-[0-9a-f]{8}-a3 \(4 of them\).*max_job_attempts",
    ):
        decide_job("d", "t", "r", lambda n: (FAILED, None), max_attempts=3)


# --- SageMaker training --------------------------------------------------------------------------


def training_config() -> dict[str, Any]:
    return {
        "TrainingJobName": "ignored-replaced-by-deterministic-name",
        "AlgorithmSpecification": {
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "TrainingInputMode": "File",
        },
        "RoleArn": ROLE_ARN,
        "OutputDataConfig": {"S3OutputPath": "s3://nlpops-models/amazon_polarity/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def training_op(dag_id: str = DAG_ID, **kwargs: Any) -> IdempotentSageMakerTrainingOperator:
    with DAG(dag_id, schedule=None):
        return IdempotentSageMakerTrainingOperator(
            task_id="train", config=training_config(), print_log=False, check_interval=0, **kwargs
        )


def count_training_creates():
    return mock.patch.object(
        SageMakerHook, "create_training_job", autospec=True, side_effect=SageMakerHook.create_training_job
    )


def with_status(status: str, *, after: int = 0):
    """A describe_training_job that reports ``status`` (after ``after`` calls of the real one)."""
    real = SageMakerHook.describe_training_job
    calls = itertools.count()

    def describe(self, name):
        desc = real(self, name)
        return (
            {**desc, "TrainingJobStatus": status, "FailureReason": "AlgorithmError: boom"}
            if next(calls) >= after
            else desc
        )

    return describe


def test_training_first_run_creates_once_then_a_retry_reuses(aws, context):
    expected = remote_job_name(DAG_ID, "train", RUN)
    with count_training_creates() as create:
        result = training_op().execute(context)
        assert create.call_count == 1
        assert result["Training"]["TrainingJobName"] == expected
        assert result["Training"]["TrainingJobStatus"] == "Completed"
        # The retry (or a re-run of the task for the same DAG run) finds it Completed.
        again = training_op().execute(context)
        assert create.call_count == 1
        assert again["Training"]["TrainingJobName"] == expected


def test_training_retry_while_in_progress_reattaches(aws, context):
    name = remote_job_name(DAG_ID, "train", RUN)
    in_progress = {"TrainingJobName": name, "TrainingJobStatus": "InProgress", "ResourceConfig": {"InstanceCount": 1}}
    completed = {**in_progress, "TrainingJobStatus": "Completed"}
    with (
        count_training_creates() as create,
        mock.patch.object(
            SageMakerHook, "describe_training_job", side_effect=[in_progress, in_progress, completed, completed]
        ) as describe,
    ):
        result = training_op().execute(context)
    assert create.call_count == 0
    assert result["Training"]["TrainingJobStatus"] == "Completed"
    assert {c.args[0] for c in describe.call_args_list} == {name}


def test_training_reattach_deferrable_defers_on_the_same_job(aws, context):
    name = remote_job_name(DAG_ID, "train", RUN)
    in_progress = {"TrainingJobName": name, "TrainingJobStatus": "InProgress"}
    op = training_op(deferrable=True)
    with (
        count_training_creates() as create,
        mock.patch.object(SageMakerHook, "describe_training_job", return_value=in_progress),
        pytest.raises(TaskDeferred) as deferred,
    ):
        op.execute(context)
    assert create.call_count == 0
    assert deferred.value.trigger.job_name == name
    assert deferred.value.method_name == "execute_complete"
    with (
        mock.patch.object(
            SageMakerHook, "describe_training_job", return_value={**in_progress, "TrainingJobStatus": "Failed"}
        ),
        pytest.raises(AirflowException, match="ended Failed"),
    ):
        op.execute_complete(context, {"status": "success", "job_name": name})


def test_training_after_a_failed_job_creates_attempt_1(aws, context):
    base = remote_job_name(DAG_ID, "train", RUN)
    with count_training_creates() as create:
        training_op().execute(context)
        with mock.patch.object(
            SageMakerHook, "describe_training_job", autospec=True, side_effect=lambda hook, n: _failed_if(hook, n, base)
        ):
            result = training_op().execute(context)
    assert create.call_count == 2
    retry = remote_job_name(DAG_ID, "train", RUN, attempt=1)
    assert retry.endswith("-a1")
    assert create.call_args.args[1]["TrainingJobName"] == retry
    assert result["Training"]["TrainingJobName"] == retry


_REAL_DESCRIBE_TRAINING = SageMakerHook.describe_training_job


def _failed_if(hook: SageMakerHook, name: str, failed_name: str) -> dict[str, Any]:
    desc = _REAL_DESCRIBE_TRAINING(hook, name)
    if name == failed_name:
        return {**desc, "TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: boom"}
    return desc


def test_training_that_fails_fails_the_task(aws, context):
    name = remote_job_name(DAG_ID, "train", RUN)
    with (
        count_training_creates() as create,
        mock.patch.object(
            SageMakerHook, "describe_training_job", autospec=True, side_effect=with_status("Failed", after=1)
        ),
        pytest.raises(AirflowException, match=f"training job {name} ended Failed: AlgorithmError"),
    ):
        training_op().execute(context)
    assert create.call_count == 1


def test_training_deferred_error_event_fails(aws, context):
    with pytest.raises(AirflowException, match="Error while running job"):
        training_op(deferrable=True).execute_complete(context, {"status": "error", "message": "Failed"})


def test_training_on_kill_stops_the_job(aws, context):
    op = training_op()
    op.execute(context)
    with mock.patch.object(op.hook.conn, "stop_training_job") as stop:
        op.on_kill()
    # moto finished it at once, so this try reused nothing: it created the job and must stop it
    stop.assert_called_once_with(TrainingJobName=remote_job_name(DAG_ID, "train", RUN))


def test_training_on_kill_after_reuse_stops_nothing(aws, context):
    training_op().execute(context)
    op = training_op()
    op.execute(context)  # reused
    with mock.patch.object(op.hook.conn, "stop_training_job") as stop:
        op.on_kill()
    stop.assert_not_called()


def test_two_profiles_never_share_a_job(aws, context):
    with count_training_creates() as create:
        a = training_op("amazon_polarity_train").execute(context)
        b = training_op("airline_tweets_train").execute(context)
    assert create.call_count == 2
    assert a["Training"]["TrainingJobName"] != b["Training"]["TrainingJobName"]


# --- SageMaker batch transform -------------------------------------------------------------------


def transform_config() -> dict[str, Any]:
    return {
        "Model": {
            "ModelName": "nlpops-amazon-polarity-v3",
            "ExecutionRoleArn": ROLE_ARN,
            "PrimaryContainer": {
                "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                "ModelDataUrl": "s3://nlpops-models/amazon_polarity/job/output/model.tar.gz",
            },
        },
        "Transform": {
            "TransformJobName": "replaced",
            "ModelName": "nlpops-amazon-polarity-v3",
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://nlpops-in/amazon_polarity/"}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {"S3OutputPath": "s3://nlpops-out/amazon_polarity/", "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        },
    }


@pytest.fixture
def scoring_input(aws) -> None:
    """The input prefix the provider checks before creating a transform job."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="nlpops-in")
    s3.put_object(Bucket="nlpops-in", Key="amazon_polarity/batch.csv", Body=b"1,title,text\n")


def transform_op(**kwargs: Any) -> IdempotentSageMakerTransformOperator:
    with DAG("amazon_polarity_batch_inference", schedule=None):
        return IdempotentSageMakerTransformOperator(
            task_id="transform", config=transform_config(), check_interval=0, **kwargs
        )


def count_transform_creates():
    return mock.patch.object(
        SageMakerHook, "create_transform_job", autospec=True, side_effect=SageMakerHook.create_transform_job
    )


def test_transform_creates_once_reuses_and_keeps_one_model(scoring_input, context):
    name = remote_job_name("amazon_polarity_batch_inference", "transform", RUN)
    with (
        count_transform_creates() as create,
        mock.patch.object(
            SageMakerHook, "create_model", autospec=True, side_effect=SageMakerHook.create_model
        ) as create_model,
    ):
        first = transform_op().execute(context)
        second = transform_op().execute(context)
    assert create.call_count == 1
    assert create_model.call_count == 1
    assert first["Transform"]["TransformJobName"] == second["Transform"]["TransformJobName"] == name
    assert first["Model"]["ModelName"] == "nlpops-amazon-polarity-v3"


def test_transform_in_progress_reattaches_and_stopped_fails(aws, context):
    name = remote_job_name("amazon_polarity_batch_inference", "transform", RUN)
    running = {"TransformJobName": name, "TransformJobStatus": "InProgress", "ModelName": "m"}
    stopped = {**running, "TransformJobStatus": "Stopped"}
    # The provider's wait counts Stopped as finished; ours must still fail the task.
    with (
        count_transform_creates() as create,
        mock.patch.object(SageMakerHook, "describe_transform_job", side_effect=[running, stopped, stopped]),
        pytest.raises(AirflowException, match="ended Stopped"),
    ):
        transform_op().execute(context)
    assert create.call_count == 0


def test_transform_failed_gets_attempt_suffix_and_on_kill_stops(scoring_input, context):
    base = remote_job_name("amazon_polarity_batch_inference", "transform", RUN)
    real = SageMakerHook.describe_transform_job
    transform_op().execute(context)

    def describe(self, n):
        desc = real(self, n)
        return {**desc, "TransformJobStatus": "Failed", "FailureReason": "ClientError"} if n == base else desc

    op = transform_op()
    with (
        count_transform_creates() as create,
        mock.patch.object(SageMakerHook, "describe_transform_job", autospec=True, side_effect=describe),
    ):
        result = op.execute(context)
    assert create.call_count == 1
    retry_name = remote_job_name("amazon_polarity_batch_inference", "transform", RUN, attempt=1)
    # Long names are shortened with a digest of the identity, so -a1 is a suffix, not base + "-a1".
    assert retry_name.endswith("-a1") and retry_name != base
    assert result["Transform"]["TransformJobName"] == retry_name
    with mock.patch.object(op.hook.conn, "stop_transform_job") as stop:
        op.on_kill()
    stop.assert_called_once_with(TransformJobName=retry_name)


# --- Glue ----------------------------------------------------------------------------------------

GLUE_JOB = "nlpops-prepare-text"


@pytest.fixture
def glue_job(aws) -> str:
    boto3.client("glue", region_name=REGION).create_job(
        Name=GLUE_JOB,
        Role="arn:aws:iam::123456789012:role/nlpops-glue-job",
        Command={"Name": "glueetl", "ScriptLocation": "s3://nlpops-artifacts/glue/prepare_text.py"},
        GlueVersion="5.0",
    )
    return GLUE_JOB


def glue_op(**kwargs: Any) -> IdempotentGlueJobOperator:
    with DAG("amazon_polarity_ingest", schedule=None):
        return IdempotentGlueJobOperator(
            task_id="etl",
            job_name=GLUE_JOB,
            script_args={"--profile": "amazon_polarity"},
            job_poll_interval=0,
            **kwargs,
        )


def count_glue_starts():
    return mock.patch.object(GlueJobHook, "initialize_job", autospec=True, side_effect=GlueJobHook.initialize_job)


def glue_runs() -> list[dict[str, Any]]:
    return boto3.client("glue", region_name=REGION).get_job_runs(JobName=GLUE_JOB)["JobRuns"]


def test_glue_first_run_starts_once_with_its_name_then_reuses(glue_job, context):
    name = remote_job_name("amazon_polarity_ingest", "etl", RUN)
    with count_glue_starts() as start:
        run_id = glue_op().execute(context)
        again = glue_op().execute(context)
    assert start.call_count == 1
    assert again == run_id
    (run,) = glue_runs()
    assert run["Arguments"] == {"--profile": "amazon_polarity", "--nlpops_run_name": name}


def test_glue_running_run_is_reattached(glue_job, context):
    op = glue_op()
    op.execute(context)
    (run,) = glue_runs()
    running = {"JobRuns": [{**run, "JobRunState": "RUNNING"}]}
    op = glue_op()
    with count_glue_starts() as start, mock.patch.object(op.hook.conn, "get_job_runs", return_value=running):
        assert op.execute(context) == run["Id"]
    assert start.call_count == 0
    with mock.patch.object(op.hook.conn, "batch_stop_job_run", return_value={"SuccessfulSubmissions": [1]}) as stop:
        op.on_kill()
    stop.assert_called_once_with(JobName=GLUE_JOB, JobRunIds=[run["Id"]])


def test_glue_deferrable_reattach_defers_on_the_run_and_reuse_does_not(glue_job, context):
    glue_op().execute(context)
    (run,) = glue_runs()
    op = glue_op(deferrable=True)
    with (
        mock.patch.object(op.hook.conn, "get_job_runs", return_value={"JobRuns": [{**run, "JobRunState": "RUNNING"}]}),
        pytest.raises(TaskDeferred) as deferred,
    ):
        op.execute(context)
    assert deferred.value.trigger.run_id == run["Id"]
    assert glue_op(deferrable=True).execute(context) == run["Id"]  # succeeded: returned, not deferred


def test_glue_failed_run_gets_a_new_named_run(glue_job, context):
    base = remote_job_name("amazon_polarity_ingest", "etl", RUN)
    glue_op().execute(context)
    (run,) = glue_runs()
    op = glue_op()
    real = op.hook.conn.get_job_runs

    def failed_first(**kw):
        out = real(**kw)
        return {
            **out,
            "JobRuns": [{**r, "JobRunState": "FAILED"} if r["Id"] == run["Id"] else r for r in out["JobRuns"]],
        }

    with count_glue_starts() as start, mock.patch.object(op.hook.conn, "get_job_runs", side_effect=failed_first):
        new_id = op.execute(context)
    assert start.call_count == 1
    assert new_id != run["Id"]
    names = sorted(r["Arguments"]["--nlpops_run_name"] for r in glue_runs())
    assert len(names) == 2 and base in names and any(n.endswith("-a1") and n != base for n in names)


def test_glue_run_that_fails_fails_the_task(glue_job, context):
    op = glue_op()
    with (
        mock.patch.object(GlueJobHook, "get_job_state", return_value="FAILED"),
        pytest.raises(AirflowException, match="FAILED"),
    ):
        op.execute(context)


# --- names ---------------------------------------------------------------------------------------


def test_names_are_valid_and_collision_free_across_profiles():
    from include.profiles import load_profiles
    from include.settings import PROJECT_ROOT

    profiles = [*load_profiles(PROJECT_ROOT / "include" / "profiles"), "a", "ab_c", "x" * 40, "cfpb_complaints_v2"]
    dag_kinds = ["ingest", "train", "batch_inference", "drift"]
    tasks = ["etl", "train", "transform", "prepare_text", "score.transform", "t" * 60]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = [run_key(None, start + timedelta(hours=7 * i)) for i in range(40)]
    runs += [run_key(f"manual__2026-11-23T0{i}:00:00+00:00__{'x' * 30}") for i in range(5)]
    seen: dict[str, tuple] = {}
    for profile, kind, task, run, attempt in itertools.product(profiles, dag_kinds, tasks, runs, [None, 1, 12]):
        identity = (f"{profile}_{kind}", task, run, attempt)
        name = remote_job_name(*identity[:3], attempt=attempt)
        assert is_valid_job_name(name) and name.startswith("nlpops-"), (identity, name)
        assert seen.setdefault(name, identity) == identity, f"{name} names both {seen[name]} and {identity}"
    assert len(seen) == len(profiles) * len(dag_kinds) * len(tasks) * len(runs) * 3


def test_names_of_different_dag_task_pairs_never_collide():
    assert remote_job_name("foo_train", "train_model", "r") != remote_job_name("foo_train_train", "model", "r")


@pytest.mark.parametrize(("job_type", "max_attempts"), [("tuning", None), ("endpoint", None), ("Training", 7)])
def test_defer_to_sagemaker_hands_the_wait_to_the_providers_trigger(job_type: str, max_attempts: int | None) -> None:
    """The one deferral every re-attaching operator uses (training, transform, tuning, endpoint)."""
    import datetime
    from types import SimpleNamespace

    from nlpops.aws.idempotent import defer_to_sagemaker

    deferred: dict = {}
    op = SimpleNamespace(
        check_interval=5,
        aws_conn_id="aws_default",
        region_name="us-east-1",
        verify=None,
        botocore_config=None,
        max_attempts=max_attempts,
        defer=lambda **kw: deferred.update(kw),
    )
    defer_to_sagemaker(op, "nlpops-job", job_type, timeout=datetime.timedelta(minutes=3))
    trigger = deferred["trigger"]
    _, kwargs = trigger.serialize()
    assert (kwargs["job_name"], kwargs["job_type"], kwargs["waiter_delay"]) == ("nlpops-job", job_type, 5)
    if max_attempts:  # else the trigger's own default
        assert kwargs["waiter_max_attempts"] == max_attempts
    assert deferred["method_name"] == "execute_complete" and deferred["timeout"] == datetime.timedelta(minutes=3)
