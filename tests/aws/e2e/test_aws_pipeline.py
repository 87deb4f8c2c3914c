"""The aws target end to end: ``airflow dags test`` of the same DAG files against moto + service players.

Tests run in file order and share one moto server, lake and Airflow home (module-scoped
``aws_airflow``). Each stage's test records what later stages need in ``aws_airflow.shared``:

* ``test_ingest_on_aws`` → ``shared["ingest_run_key"]``, ``shared["processed_uri"]``.

Parts B (training/registry) and C (transform/Athena/drift) append their tests below.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile

import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.aws, pytest.mark.e2e]

PROFILE = "amazon_polarity"
FAST = {"quiet_seconds": 0, "wait_timeout_minutes": 0}
BAD_ROWS = 5


def _raw_csv(rows: int, seed: int) -> bytes:
    from include.profiles import get_profile
    from ml.generator import generate

    buf = io.BytesIO()
    generate(get_profile(PROFILE), rows, seed=seed, out=buf)
    # rows with a label outside the profile's label set: quarantined row by row
    bad = "".join(f'"7","bad title {i}","bad text number {i}"\n' for i in range(BAD_ROWS))
    return buf.getvalue() + bad.encode()


def test_ingest_on_aws(aws_airflow) -> None:
    from include import lake
    from include.naming import is_valid_job_name
    from include.settings import PROJECT_ROOT

    af = aws_airflow
    s = af.settings()
    lake_bucket = s.lake_uri[len("s3://") :]
    af.put(s.zone_uri("raw", PROFILE, "batch1/reviews.csv"), _raw_csv(300, seed=11))
    af.put(s.zone_uri("raw", PROFILE, "broken.csv"), b"\x00\x01\x02\xff binary, not a csv" * 10)

    run = af.dags_test(f"{PROFILE}_ingest", FAST)
    assert run.returncode == 0, run.output[-8000:]
    af.shared["ingest_seconds"] = run.seconds

    # -- the Glue job definition and run the DAG asked for ---------------------------------------
    from include.profiles import get_profile

    profile = get_profile(PROFILE, s)
    [job] = af.recorder.params("glue", "CreateJob")
    assert job["Name"].startswith("nlpops-") and len(job["Name"]) <= 63 and is_valid_job_name(job["Name"])
    assert job["Role"] == af.glue_role_arn
    assert (job["GlueVersion"], job["WorkerType"], job["NumberOfWorkers"]) == (
        profile.aws.glue_version,
        profile.aws.glue_worker_type,
        profile.aws.glue_workers,
    )
    assert job["SecurityConfiguration"] == "nlpops-kms"
    script_uri = job["Command"]["ScriptLocation"]
    zip_uri = job["DefaultArguments"]["--extra-py-files"]
    assert job["Command"]["Name"] == "glueetl"
    assert re.fullmatch(rf"s3://{lake_bucket}-artifacts/glue/[0-9a-f]{{16}}/prepare_text\.py", script_uri)
    assert zip_uri == script_uri.rsplit("/", 1)[0] + "/nlpops_code.zip"
    # the uploaded script is the local job script, byte for byte; the zip carries its imports
    assert af.get(script_uri) == (PROJECT_ROOT / "etl/jobs/prepare_text.py").read_bytes()
    names = set(zipfile.ZipFile(io.BytesIO(af.get(zip_uri))).namelist())
    assert {"etl/jobs/prepare_text.py", "etl/transforms/text.py", "include/lake.py", "include/profiles.py"} <= names

    [start] = af.recorder.params("glue", "StartJobRun")
    assert start["JobName"] == job["Name"]
    args = start["Arguments"]
    run_key = args["--run_key"]
    assert args["--input_uris"] == s.zone_uri("validated", PROFILE, run_key)
    assert args["--output_uri"] == s.zone_uri("processed", PROFILE, f"run={run_key}")
    assert json.loads(args["--profile_json"])["name"] == PROFILE
    assert args["--nlpops_run_name"].startswith("nlpops-") and len(args["--nlpops_run_name"]) <= 63
    # the player ran the uploaded bundle, not the work tree
    [played] = af.players["glue"].jobs.values()
    assert played.state == "SUCCEEDED", played.output[-3000:]
    assert played.info["pythonpath"].endswith("nlpops_code.zip")

    # -- objects in S3 -----------------------------------------------------------------------------
    processed = s.zone_uri("processed", PROFILE)
    assert list(lake.published(processed)) == [f"{processed}/run={run_key}"], (
        af.keys(processed + "/"),
        played.info.get("uploaded"),
    )
    manifest = json.loads(af.get(f"{processed}/run={run_key}/_manifest.json"))
    keys = af.keys(f"{processed}/run={run_key}/")
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert {re.search(r"split=(\w+)/", k).group(1) for k in parquet} == {"train", "validation", "test"}
    assert not [k for k in af.keys(processed + "/") if "/_tmp_" in k]  # no staging left behind
    rows = sum(pq.read_table(io.BytesIO(af.get(f"s3://{lake_bucket}/{k}"))).num_rows for k in parquet)
    assert rows == manifest["rows_out"] == sum(manifest["rows_per_split"].values()) > 0
    assert manifest["input"][0]["uri"] == s.zone_uri("validated", PROFILE, run_key)
    head = af.player_client("s3").head_object(Bucket=lake_bucket, Key=parquet[0])
    assert head.get("ServerSideEncryption") == "aws:kms"

    validated = json.loads(af.get(s.zone_uri("validated", PROFILE, run_key, "_manifest.json")))
    assert validated["rows_in"] == validated["rows_valid"] + validated["rows_quarantined"]
    assert manifest["rows_out"] + manifest["duplicates_removed"] == validated["rows_valid"]
    quarantined = [
        json.loads(line) for line in af.get(s.zone_uri("quarantine", PROFILE, run_key, "rows.jsonl")).splitlines()
    ]
    assert len([q for q in quarantined if "bad title" in q["raw"]]) == BAD_ROWS
    assert all(q["reasons"] for q in quarantined)
    whole = af.keys(s.zone_uri("quarantine", PROFILE, run_key, "files") + "/")
    assert any(k.endswith("broken.csv") for k in whole) and any(k.endswith("broken.csv.reason.json") for k in whole)

    ledger = json.loads(af.get(s.zone_uri("ledger", PROFILE, "raw", f"{run_key}.json")))
    assert sorted(o["key"] for o in ledger["objects"]) == ["batch1/reviews.csv"]
    # the file refused whole is in the ledger as refused, with its reason (plugins/nlpops/ledger.py)
    refused = json.loads(af.get(s.zone_uri("ledger", PROFILE, "raw", f"{run_key}.refused.json")))
    assert [(r["key"], bool(r["reason"])) for r in refused["refused"]] == [("broken.csv", True)]

    af.shared["ingest_run_key"] = run_key
    af.shared["processed_uri"] = f"{processed}/run={run_key}"


_DAG_SHAPE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
assert not bag.import_errors, bag.import_errors
print(json.dumps({d: {"file": bag.dags[d].fileloc, "tasks": sorted(bag.dags[d].task_ids)} for d in sorted(bag.dags)}))
"""


def test_dag_files_and_task_ids_are_the_same_on_both_targets(aws_airflow, tmp_path) -> None:
    """The aws home loads the same DAG files as the local target and gets the same DAG and task ids."""
    from nlpops.runtime import airflow_environ

    def shape(env: dict[str, str]) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", _DAG_SHAPE], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    local_env = airflow_environ(
        tmp_path / "local-home",
        NLPOPS_PROFILES=PROFILE,
        NLPOPS_TARGET="local",
        NLPOPS_PROFILES_DIR=aws_airflow.env["NLPOPS_PROFILES_DIR"],  # serving.endpoint: true (conftest)
    )
    local_env["NLPOPS_LAKE_URI"] = (tmp_path / "local-home" / "lake").as_uri()
    aws, local = shape(aws_airflow.env), shape(local_env)
    assert aws == local
    assert {f"{PROFILE}_ingest", f"{PROFILE}_train", f"{PROFILE}_batch_inference", f"{PROFILE}_drift"} <= set(aws)
    assert aws[f"{PROFILE}_ingest"]["tasks"] == ["mark_ledger", "prepare_text", "validate", "wait_for_raw"]
    assert "deploy_endpoint" in aws[f"{PROFILE}_train"]["tasks"]
    assert aws_airflow.env["AIRFLOW__CORE__DAGS_FOLDER"] == local_env["AIRFLOW__CORE__DAGS_FOLDER"]


# -- part B: training on SageMaker and the SageMaker Model Registry -------------------------------------

TRAIN_DAG = f"{PROFILE}_train"
EXTRA_RUN = "20260301T013000"


def _publish_processed(af, run_key: str, rows: int = 1200) -> None:
    """A published processed run (docs/CONTRACTS.md, Processed) of generated reviews, as ingest leaves it."""
    import pandas as pd

    from include.profiles import get_profile
    from ml.generator import generate

    s = af.settings()
    profile = get_profile(PROFILE, s)
    buf = io.BytesIO()
    generate(profile, rows, seed=5, out=buf)
    raw = pd.read_csv(io.BytesIO(buf.getvalue()), header=None, names=["polarity", "title", "text"])
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(len(raw))],
            "text": (raw["title"].astype(str) + " " + raw["text"].astype(str)).str.lower(),
            "label": raw["polarity"].astype(str).map(profile.labels),
            "content_hash": [f"e{i:015x}" for i in range(len(raw))],
            "source_uri": "s3://generated.csv",
            "ingest_run": run_key,
        }
    )
    base = s.zone_uri("processed", PROFILE, f"run={run_key}")
    splits = {"train": frame.iloc[: rows * 8 // 10], "validation": frame.iloc[rows * 8 // 10 : rows * 9 // 10]}
    splits["test"] = frame.iloc[rows * 9 // 10 :]
    for split, part in splits.items():
        out = io.BytesIO()
        part.to_parquet(out, index=False)
        af.put(f"{base}/split={split}/part-00000.parquet", out.getvalue())
    af.put(f"{base}/_manifest.json", json.dumps({"run_key": run_key, "rows_out": rows}).encode())


def _registry(af):
    from ml.registry import get_registry

    return get_registry(af.settings(), sagemaker_client=af.player_client("sagemaker"))


def test_train_on_aws(aws_airflow) -> None:
    """train (SageMaker) → evaluate → register (Model Registry) → gate → promote, on the processed run of ingest."""
    from include.naming import is_valid_job_name
    from include.profiles import get_profile
    from ml.registry import APPROVED, CHAMPION
    from ml.registry.sagemaker_registry import ALIAS_TAG, group_name

    af = aws_airflow
    # Training reads every published processed run: ingest's (300 rows, too few to clear the
    # profile's metric floor on their own) plus a second, generated run, as a later ingest would add.
    runs = sorted([*([af.shared["ingest_run_key"]] if "ingest_run_key" in af.shared else []), EXTRA_RUN])
    _publish_processed(af, EXTRA_RUN)
    s = af.settings()
    profile = get_profile(PROFILE, s)
    run = af.dags_test(TRAIN_DAG)
    assert run.returncode == 0, run.output[-8000:]
    af.shared["train_seconds"] = run.seconds

    # -- the CreateTrainingJob request -------------------------------------------------------------
    [request] = af.recorder.params("sagemaker", "CreateTrainingJob")
    name = request["TrainingJobName"]
    assert name.startswith("nlpops-") and len(name) <= 63 and is_valid_job_name(name)
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": s.sagemaker_image_uri,
        "TrainingInputMode": "File",
    }
    assert request["RoleArn"] == s.sagemaker_role_arn
    assert request["OutputDataConfig"] == {"S3OutputPath": s.zone_uri("models", PROFILE), "KmsKeyId": af.kms_key_arn}
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == af.kms_key_arn
    assert request["ResourceConfig"]["InstanceType"] == profile.aws.training_instance_type
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": profile.model.training_timeout_minutes * 60}
    hps = {k: json.loads(v) for k, v in request["HyperParameters"].items()}
    assert hps["sagemaker_program"] == "train.py" and hps["sagemaker_region"] == s.aws_region
    assert hps["sagemaker_job_name"] == name
    assert re.fullmatch(
        rf"{s.artifacts('sagemaker', 'training')}/sourcedir-[0-9a-f]{{16}}\.tar\.gz", hps["sagemaker_submit_directory"]
    )
    assert float(hps["C"]) == profile.model.C and hps["classifier"] == profile.model.classifier
    assert json.loads(hps["classes"]) == profile.classes
    lineage = json.loads(hps["lineage"])
    assert lineage["run_keys"] == runs and lineage["job_name"] == name
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}
    job_uri = s.zone_uri("models", PROFILE, name)
    assert channels == {c: f"{job_uri}/input/data/{c}/" for c in ("train", "validation", "test")}
    assert af.keys(channels["train"])  # the staged channel is in S3

    # -- the job the player ran, and what it left in S3 --------------------------------------------
    played = af.players["sagemaker_training"].jobs[name]
    assert played.state == "SUCCEEDED", played.output[-3000:]
    assert played.info["cmd"][1] == "train.py"
    described = af.player_client("sagemaker").describe_training_job(TrainingJobName=name)
    assert described["TrainingJobStatus"] == "Completed"
    artefact = f"{job_uri}/output/model.tar.gz"
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == artefact
    assert af.keys(artefact) == [artefact.split("/", 3)[3]]
    assert af.keys(f"{job_uri}/output/output.tar.gz")

    # -- the Model Registry: v1 approved by the gate, champion ------------------------------------
    registry = _registry(af)
    [v1] = registry.list_versions(PROFILE)
    gate = af.player_client("sagemaker").describe_model_package(ModelPackageName=registry._package_arn(PROFILE, "1"))[
        "ApprovalDescription"
    ]
    assert (v1.version, v1.status, v1.artifact_uri, v1.aliases) == ("1", APPROVED, artefact, (CHAMPION,)), gate
    assert v1.tags["job_name"] == name and v1.metrics["macro_f1"] >= profile.model.metric_floor
    sm = af.player_client("sagemaker")
    group = group_name(PROFILE)
    [summary] = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "Approved" and package["ApprovalDescription"]
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == artefact
    group_arn = sm.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    assert {"Key": f"{ALIAS_TAG}{CHAMPION}", "Value": "1"} in sm.list_tags(ResourceArn=group_arn)["Tags"]
    [registered] = af.recorder.params("sagemaker", "CreateModelPackage")
    assert registered["ModelApprovalStatus"] == "PendingManualApproval"
    assert af.recorder.params("sagemaker", "UpdateModelPackage")[-1]["ModelApprovalStatus"] == "Approved"
    # the evaluation report went to the reports zone on S3
    assert af.keys(s.zone_uri("reports", "evaluation", PROFILE, name) + "/")

    # -- promote → deploy_endpoint (serving.endpoint: true): the endpoint serves v1, its alarms exist ----
    endpoint = sm.describe_endpoint(EndpointName=f"nlpops-{PROFILE.replace('_', '-')}")
    assert endpoint["EndpointStatus"] == "InService"
    [config] = af.recorder.params("sagemaker", "CreateEndpointConfig")
    assert endpoint["EndpointConfigName"] == config["EndpointConfigName"]
    assert config["ProductionVariants"][0]["InstanceType"] == profile.serving.instance_type
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == artefact
    alarms = af.player_client("cloudwatch").describe_alarms(AlarmNamePrefix=endpoint["EndpointName"])["MetricAlarms"]
    assert sorted((a["MetricName"], a["Threshold"]) for a in alarms) == [
        ("Invocation5XXErrors", float(profile.serving.alarms.errors_5xx)),
        ("ModelLatency", profile.serving.alarms.latency_p99_ms * 1000),
    ]
    af.shared["train_job_name"] = name
    af.shared["champion_artifact_uri"] = artefact


def _popen_dags_test(af, dag_id: str, date: str) -> subprocess.Popen:
    from nlpops.runtime import airflow_bin

    return subprocess.Popen(
        [airflow_bin(), "dags", "test", dag_id, date],
        env=af.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: killed as a whole, like a lost worker
    )


def _wait_for(predicate, what: str, timeout: float = 300) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_train_killed_mid_job_is_re_attached_on_aws(aws_airflow) -> None:
    """The worker dies while the job runs (no on_kill); the retry waits for that job: one CreateTrainingJob."""
    import os
    import signal

    from ml.registry import CHAMPION, REJECTED

    af = aws_airflow
    assert "train_job_name" in af.shared, "needs test_train_on_aws first"
    player = af.players["sagemaker_training"]
    before = len(af.recorder.params("sagemaker", "CreateTrainingJob"))
    date = "2026-03-02T02:00:00+00:00"
    with player.hold():
        first = _popen_dags_test(af, TRAIN_DAG, date)
        _wait_for(lambda: len(af.recorder.params("sagemaker", "CreateTrainingJob")) > before, "CreateTrainingJob")
        name = af.recorder.params("sagemaker", "CreateTrainingJob")[-1]["TrainingJobName"]
        _wait_for(lambda: name in player.jobs, "the player to take the job")
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=60)
        assert player.jobs[name].state == "RUNNING"  # the job outlives the killed task, as on SageMaker

        retry = _popen_dags_test(af, TRAIN_DAG, date)
        attached = [
            r for r in af.recorder.params("sagemaker", "DescribeTrainingJob") if r.get("TrainingJobName") == name
        ]
        _wait_for(
            lambda: (
                len(
                    [
                        r
                        for r in af.recorder.params("sagemaker", "DescribeTrainingJob")
                        if r == {"TrainingJobName": name}
                    ]
                )
                > len(attached) + 1
            ),
            "the retry to look the job up and wait for it",
        )
    output, _ = retry.communicate(timeout=900)
    assert retry.returncode == 0, output[-8000:]
    assert "is running (started by an earlier try): waiting for it" in output
    creates = af.recorder.params("sagemaker", "CreateTrainingJob")
    assert len(creates) == before + 1 and creates[-1]["TrainingJobName"] == name
    assert player.jobs[name].state == "SUCCEEDED"
    af.recorder.assert_valid()
    # same data, same hyper-parameters: v2 does not beat v1 by the margin → rejected, v1 stays champion
    registry = _registry(af)
    assert registry.get_version(PROFILE, "2").status == REJECTED
    assert registry.get_by_alias(PROFILE, CHAMPION).version == "1"


def test_train_failed_job_fails_the_task_on_aws(aws_airflow) -> None:
    """train.py fails in the job: Failed with its reason; the retry starts `-a1`; the task fails with the reason."""
    af = aws_airflow
    player = af.players["sagemaker_training"]
    before = len(af.recorder.params("sagemaker", "CreateTrainingJob"))
    # min_df above the number of documents: scikit-learn refuses to fit (a ValueError naming min_df)
    run = af.dags_test(TRAIN_DAG, {"min_df": 1_000_000})
    assert run.returncode != 0
    creates = af.recorder.params("sagemaker", "CreateTrainingJob")[before:]
    assert len(creates) == 2  # try 1 and its retry (train has retries=1), never the same name twice
    first, second = (c["TrainingJobName"] for c in creates)
    assert second.startswith(first.rsplit("-", 1)[0]) and second.endswith("-a1")
    for name in (first, second):
        described = af.player_client("sagemaker").describe_training_job(TrainingJobName=name)
        assert described["TrainingJobStatus"] == "Failed"
        assert described["FailureReason"].startswith("AlgorithmError: ValueError")
        assert "min_df" in described["FailureReason"]
        assert player.jobs[name].state == "FAILED"
    assert described["FailureReason"] in run.output  # the task failed with the job's reason


# -- part C: batch scoring on SageMaker Batch Transform, results in S3 + Athena, drift ---------------------

INFERENCE_DAG = f"{PROFILE}_batch_inference"
DRIFT_DAG = f"{PROFILE}_drift"
INFERENCE_ROWS = 400  # above the profile's drift.min_sample (300): the drift check can decide


def _inference_csv(rows: int, seed: int, magnitude: float = 0.0) -> bytes:
    from include.profiles import get_profile
    from ml.generator import DriftKnobs, generate

    buf = io.BytesIO()
    drift = DriftKnobs.from_magnitude(magnitude) if magnitude else None
    generate(get_profile(PROFILE), rows, seed=seed, out=buf, with_label=False, drift=drift)
    return buf.getvalue()


def _seed_champion(af) -> tuple[str, str]:
    """Without test_train_on_aws in this run: the local trainer's model.tar.gz, uploaded, registered, promoted."""
    import hashlib
    import tempfile
    from pathlib import Path

    import pandas as pd

    from include.profiles import get_profile
    from ml.artefact import pack_model_dir
    from ml.generator import generate
    from ml.registry.lifecycle import promote, register_challenger

    profile = get_profile(PROFILE)
    buf = io.BytesIO()
    generate(profile, 1200, seed=5, out=buf)
    frame = pd.read_csv(io.BytesIO(buf.getvalue()), header=None, names=profile.input.columns, dtype=str)
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(len(frame))],
            "text": (frame["title"].fillna("") + " . " + frame["text"].fillna("")).tolist(),
            "label": frame["polarity"].map(profile.labels).tolist(),
        }
    )
    frame["content_hash"] = [hashlib.sha256(t.encode()).hexdigest()[:16] for t in frame["text"]]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, part in (("train", frame.iloc[:1000]), ("validation", frame.iloc[1000:])):
            (root / name).mkdir()
            part.to_parquet(root / name / "part-0.parquet")
        args = ["--profile", PROFILE, "--classes", json.dumps(profile.classes)]
        args += ["--model-dir", str(root / "model"), "--output-data-dir", str(root / "out")]
        args += ["--train", str(root / "train"), "--validation", str(root / "validation")]
        (root / "model").mkdir()
        (root / "out").mkdir()
        done = subprocess.run([sys.executable, "-m", "ml.train", *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        pack_model_dir(root / "model", root / "model.tar.gz")
        artefact = af.settings().zone_uri("models", PROFILE, "seeded-local", "output", "model.tar.gz")
        af.put(artefact, (root / "model.tar.gz").read_bytes())
    registry = _registry(af)
    version = register_challenger(registry, PROFILE, artefact, {"macro_f1": 0.9}, {"job_name": "seeded-local"})
    promote(registry, PROFILE, version.version, "seeded by test_batch_inference_on_aws (no train test in this run)")
    return version.version, artefact


def _athena_workgroup(af) -> None:
    """The stack's Athena workgroup (include/infra/nlpops.yaml): results location encrypted with the lake key."""
    athena = af.player_client("athena")
    if "nlpops" in [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]:
        return
    athena.create_work_group(
        Name="nlpops",
        Configuration={
            "ResultConfiguration": {
                "OutputLocation": af.settings().athena_output(),
                "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": af.kms_key_arn},
            },
            "EnforceWorkGroupConfiguration": True,
        },
    )


def _ddl_columns(ddl: str) -> list[str]:
    body = re.search(r"CREATE EXTERNAL TABLE[^(]*\((.*?)\)\s*PARTITIONED BY", ddl, re.S)
    assert body, ddl
    return re.findall(r"^\s*`?(\w+)`?\s+\w+", body.group(1), re.M)


def test_batch_inference_on_aws(aws_airflow) -> None:
    """sensor → champion → validate → SageMaker Batch Transform → results Parquet + manifest → Athena → ledger."""
    from include.naming import is_valid_job_name
    from include.profiles import get_profile
    from ml.registry import CHAMPION

    af = aws_airflow
    s = af.settings()
    profile = get_profile(PROFILE, s)
    if "champion_artifact_uri" in af.shared:
        champion = _registry(af).get_by_alias(PROFILE, CHAMPION)
        assert champion is not None and champion.artifact_uri == af.shared["champion_artifact_uri"]
        version, artefact = str(champion.version), champion.artifact_uri
    else:
        version, artefact = _seed_champion(af)
        af.shared["seeded_champion"] = True
    _athena_workgroup(af)
    af.put(s.zone_uri("inference-input", PROFILE, "day1/batch-1.csv"), _inference_csv(INFERENCE_ROWS, seed=21))
    models_before = len(af.recorder.params("sagemaker", "CreateModel"))

    run = af.dags_test(INFERENCE_DAG, FAST)
    assert run.returncode == 0, run.output[-8000:]
    af.shared["inference_seconds"] = run.seconds

    # -- CreateModel: the champion's artefact in the scikit-learn image, ml/inference.py as the entry -----
    # One SageMaker model per champion version: created here, or already by the promotion's
    # deploy_endpoint (serving.endpoint: true) and shared, never created twice.
    created = af.recorder.params("sagemaker", "CreateModel")
    [model] = [m for m in created if m["ModelName"].startswith(f"nlpops-amazon-polarity-v{version}-")]
    assert len(created) - models_before == (0 if "champion_artifact_uri" in af.shared else 1)
    assert is_valid_job_name(model["ModelName"])
    container = model["PrimaryContainer"]
    assert container["Image"] == s.sagemaker_image_uri != ""
    assert container["ModelDataUrl"] == artefact
    env = container["Environment"]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py" and env["NLPOPS_MODEL_VERSION"] == version
    assert re.fullmatch(
        rf"{s.artifacts('sagemaker', 'inference')}/sourcedir-[0-9a-f]{{16}}\.tar\.gz", env["SAGEMAKER_SUBMIT_DIRECTORY"]
    )
    assert af.keys(env["SAGEMAKER_SUBMIT_DIRECTORY"])  # uploaded before the model was created
    assert model["ExecutionRoleArn"] == s.sagemaker_role_arn and model["EnableNetworkIsolation"] is False

    # -- CreateTransformJob: the local transform's file semantics, KMS, deterministic name -----------------
    [job] = af.recorder.params("sagemaker", "CreateTransformJob")
    name = job["TransformJobName"]
    assert name.startswith("nlpops-amazon-polarity-batch-inference-transform-") and is_valid_job_name(name)
    assert job["ModelName"] == model["ModelName"]
    assert (job["BatchStrategy"], job["MaxPayloadInMB"], job["MaxConcurrentTransforms"]) == (
        "MultiRecord",
        profile.inference.max_payload_mb,
        profile.inference.max_concurrent_transforms,
    )
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["ContentType"] == "application/jsonlines"
    source = job["TransformInput"]["DataSource"]["S3DataSource"]
    assert source["S3DataType"] == "S3Prefix"
    assert re.fullmatch(rf"{s.zone_uri('validated', f'{PROFILE}-inference')}/\w+-transform-input/", source["S3Uri"])
    out = job["TransformOutput"]
    assert out == {
        "S3OutputPath": s.zone_uri("inference-output", PROFILE, name),
        "Accept": "application/jsonlines",
        "AssembleWith": "Line",
        "KmsKeyId": af.kms_key_arn,
    }
    assert job["TransformResources"]["VolumeKmsKeyId"] == af.kms_key_arn
    assert job["TransformResources"]["InstanceType"] == profile.inference.instance_type

    # -- the job the player ran, its .out files ---------------------------------------------------------
    played = af.players["sagemaker_transform"].jobs[name]
    assert played.state == "SUCCEEDED", played.output[-3000:]
    assert played.info["inputs"] == ["day1/batch-1.csv.jsonl"]
    [out_key] = af.keys(out["S3OutputPath"] + "/")
    assert out_key.endswith(f"{name}/day1/batch-1.csv.jsonl.out")
    lake_bucket = s.lake_uri[len("s3://") :]
    lines = [json.loads(x) for x in af.get(f"s3://{lake_bucket}/{out_key}").splitlines()]
    staged = af.get(source["S3Uri"] + "day1/batch-1.csv.jsonl").splitlines()
    assert len(lines) == len(staged) == INFERENCE_ROWS  # one prediction per valid record, in order
    assert [x["id"] for x in lines] == [json.loads(x)["id"] for x in staged]
    assert {x["model_version"] for x in lines} == {version}

    # -- results Parquet in S3, and the run's batch manifest ---------------------------------------------
    results = s.zone_uri("results", PROFILE)
    parquet = [k for k in af.keys(results + "/") if k.endswith(".parquet")]
    assert len(parquet) == 1 and f"/model_version={version}/" in parquet[0] and "/date=2026-03-" in parquet[0]
    table = pq.read_table(io.BytesIO(af.get(f"s3://{lake_bucket}/{parquet[0]}")))
    assert table.num_rows == INFERENCE_ROWS and set(table.column("job_name").to_pylist()) == {name}
    head = af.player_client("s3").head_object(Bucket=lake_bucket, Key=parquet[0])
    assert head.get("ServerSideEncryption") == "aws:kms"
    [manifest_key] = af.keys(f"{results}/_batches/")
    batch = json.loads(af.get(f"s3://{lake_bucket}/{manifest_key}"))
    assert batch["result_files"] == [f"s3://{lake_bucket}/{parquet[0]}"] and batch["model_version"] == version
    assert (batch["rows"], batch["job_name"]) == (INFERENCE_ROWS, name)

    # -- Athena: catalog DDL + partition + summary queries, in the workgroup, encrypted results ------------
    queries = af.recorder.params("athena", "StartQueryExecution")
    assert len(queries) == 8
    for q in queries:
        assert q["WorkGroup"] == s.athena_workgroup == "nlpops"
        assert q["ResultConfiguration"] == {
            "OutputLocation": s.athena_output(),
            "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": af.kms_key_arn},
        }
    texts = [q["QueryString"] for q in queries]
    assert texts[0] == f"CREATE DATABASE IF NOT EXISTS {s.glue_database}"
    assert f"CREATE EXTERNAL TABLE IF NOT EXISTS nlpops.{PROFILE}_results" in texts[1]
    assert f"LOCATION '{results}/'" in texts[1]
    assert _ddl_columns(texts[1]) == table.schema.names  # the DDL describes the Parquet just written
    assert f"CREATE EXTERNAL TABLE IF NOT EXISTS nlpops.{PROFILE}_processed" in texts[2]
    day = re.search(r"/date=([\d-]+)/", parquet[0]).group(1)
    assert f"PARTITION (`date` = '{day}', model_version = '{version}')" in texts[3]
    assert texts[4] == f"MSCK REPAIR TABLE nlpops.{PROFILE}_processed"
    assert all(f"FROM nlpops.{PROFILE}_results" in t for t in texts[5:])

    ledger = af.keys(s.zone_uri("ledger", PROFILE, "inference-input") + "/")
    assert len(ledger) == 1
    af.shared["inference_run_key"] = batch["run_key"]
    af.shared["champion_version"] = version


def test_drift_on_aws(aws_airflow) -> None:
    """drift by run key: the batch manifest on S3 → metrics vs the champion's baseline → decision + report in S3."""
    af = aws_airflow
    assert "inference_run_key" in af.shared, "needs test_batch_inference_on_aws first"
    s = af.settings()
    run = af.dags_test(DRIFT_DAG, {"inference_run_key": af.shared["inference_run_key"]})
    assert run.returncode == 0, run.output[-8000:]
    af.shared["drift_seconds"] = run.seconds
    found = re.search(
        r"drift decision for amazon_polarity(?: batch \S+)?: (\w+) \(retrain=(True|False)\) n=(\d+)", run.output
    )
    assert found, run.output[-5000:]
    assert int(found.group(3)) == INFERENCE_ROWS
    reports = s.zone_uri("reports", "drift", PROFILE)
    keys = af.keys(reports + "/")
    [decision_key] = [k for k in keys if k.endswith("/decision.json")]
    assert any(k.endswith("/report.html") for k in keys) and any(k.endswith("history.jsonl") for k in keys)
    lake_bucket = s.lake_uri[len("s3://") :]
    report = json.loads(af.get(f"s3://{lake_bucket}/{decision_key}"))
    decision = report["decision"]
    assert decision["status"] == found.group(1) and str(decision["retrain"]) == found.group(2)
    assert decision["n"] == INFERENCE_ROWS and report["profile"] == PROFILE and report["metrics"]
    af.shared["drift_decision"] = decision["status"]


# -- model selection on aws (issue 14): the train DAG submits a SageMaker tuning job ---------------------


def test_train_dag_submits_a_tuning_job_on_aws(aws_airflow) -> None:
    """With a search budget the train task is a tuning job; its best training job's model is registered."""
    af = aws_airflow
    _publish_processed(af, EXTRA_RUN)
    before = {v.version for v in _registry(af).list_versions(PROFILE)}
    af.env["NLPOPS_SEARCH_BUDGET_SECONDS"] = "600"
    try:
        run = af.dags_test(TRAIN_DAG)
    finally:
        af.env["NLPOPS_SEARCH_BUDGET_SECONDS"] = "0"
    assert run.returncode == 0, run.output[-8000:]
    [request] = af.recorder.params("sagemaker", "CreateHyperParameterTuningJob")
    name = request["HyperParameterTuningJobName"]
    assert name.startswith("nlpops-") and len(name) <= 32
    config = request["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"]["MetricName"] == "validation:macro_f1"
    assert config["ResourceLimits"]["MaxRuntimeInSeconds"] == 300  # the profile's budget (the setting only caps it)
    played = af.players["sagemaker_tuning"].jobs[name]
    assert played.state == "SUCCEEDED" and len(played.info["training_jobs"]) == 2
    best = played.info["best"]
    [new] = [v for v in _registry(af).list_versions(PROFILE) if v.version not in before]
    assert new.artifact_uri.endswith(f"/{best}/output/model.tar.gz")
    assert new.tags["job_name"] == best and "classifier=" in new.tags["selection_winner"]
    assert new.tags["cv_macro_f1"].startswith(f"{played.info['objectives'][best]:.4f}")
    af.shared["tuning_job"] = name


# -- permissions: every call the run made, the role that made it, the statement that allowed it ------------

PERMISSIONS_DOC = "docs/AWS_PERMISSIONS.md"
STAGES = ("ingest_run_key", "train_job_name", "inference_run_key", "drift_decision", "tuning_job")


def test_every_aws_call_is_allowed_and_documented(aws_airflow) -> None:
    """docs/AWS_PERMISSIONS.md lists each (action, role, statement) the run used; a full run, nothing more."""
    from iam_enforce import parse_permissions, permission_rows, render_permissions

    from include.settings import PROJECT_ROOT

    af = aws_airflow
    af.enforcer.assert_no_denials()
    observed = permission_rows(af.enforcer.checks)
    assert {a.split(":")[0] for a, _, _ in observed} >= {"s3"}, observed
    if "train_job_name" in af.shared:  # the promotion deployed the endpoint: its calls were judged too
        endpoint_calls = {"sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "cloudwatch:PutMetricAlarm"}
        assert endpoint_calls <= {a for a, _, _ in observed}, observed
    fresh = af.tmp_path / "AWS_PERMISSIONS.md"
    fresh.write_text(render_permissions(observed), encoding="utf-8")
    path = PROJECT_ROOT / PERMISSIONS_DOC
    documented = parse_permissions(path.read_text(encoding="utf-8")) if path.exists() else []
    missing = sorted(set(observed) - set(documented))
    regenerate = f"regenerate it: cp {fresh} {path}\n(or take this text:)\n{render_permissions(observed)}"
    assert not missing, f"{PERMISSIONS_DOC} lacks calls the run made: {missing}; {regenerate}"
    if all(stage in af.shared for stage in STAGES):  # the whole module ran: nothing stale either
        stale = sorted(set(documented) - set(observed))
        assert not stale, f"{PERMISSIONS_DOC} lists calls the run no longer makes: {stale}; {regenerate}"
