"""SageMaker Batch Transform player: a ``CreateTransformJob`` scores its inputs with the model's own code, locally.

What the scikit-learn serving container and Batch Transform do, done here:

* the job is ``InProgress`` while it works; ``CreateTransformJob`` of an unknown model is a
  ``ValidationException`` and a used job name ``ResourceInUse`` (moto accepts both);
* the model (``CreateModel``: ``PrimaryContainer.ModelDataUrl`` and ``Environment``) is read
  back from moto; ``model.tar.gz`` is extracted as ``/opt/ml/model``; the code is the
  archive at ``SAGEMAKER_SUBMIT_DIRECTORY`` (or ``code/`` inside the model when it is
  ``/opt/ml/model/code``, network isolation);
* the inputs (``S3Prefix``: every object under the prefix; ``ManifestFile``: the listed keys)
  are downloaded; in a fresh interpreter, with the container's environment and the
  extracted code first on ``sys.path``, ``SAGEMAKER_PROGRAM`` is imported (it must expose
  ``model_fn``/``input_fn``/``predict_fn``/``output_fn``) and the *same* local Batch
  Transform (``ml.transform.BatchTransform`` from that code, with ``ml/inference.py``) runs
  with the job's ``SplitType``/``BatchStrategy``/``MaxPayloadInMB``/``Accept``;
* each ``<input path under the prefix>.out`` is uploaded under ``S3OutputPath`` (SSE-KMS
  with ``KmsKeyId``) — nothing else, as the service writes nothing else;
* ``Completed``; or ``Failed`` with ``FailureReason`` (``ClientError: …`` for bad inputs or
  code, ``AlgorithmError: …`` for the scoring process); ``StopTransformJob`` (not in moto)
  → ``Stopping`` → ``Stopped``, the scoring process killed.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path
from typing import Any

from players.base import (
    FAILED,
    RUNNING,
    STOPPED,
    SUCCEEDED,
    JobFailed,
    PlayedJob,
    ServicePlayer,
    last_error_line,
    run_local,
)

SAGEMAKER_STATES = {RUNNING: "InProgress", SUCCEEDED: "Completed", FAILED: "Failed", STOPPED: "Stopped"}
ISOLATED_CODE_DIR = "/opt/ml/model/code"

#: Run in the job's interpreter: the container's import of the entry, then the local transform.
RUNNER = """
import importlib, json, sys
spec = json.load(open(sys.argv[1], encoding="utf-8"))
sys.path.insert(0, spec["code_dir"])
entry = importlib.import_module(spec["program"].removesuffix(".py"))
missing = [f for f in ("model_fn", "input_fn", "predict_fn", "output_fn") if not callable(getattr(entry, f, None))]
if missing:
    sys.exit("ClientError: " + spec["program"] + " does not define " + ", ".join(missing))
import ml.transform
if not ml.transform.__file__.startswith(spec["code_dir"]):
    sys.exit("ClientError: ml.transform was not imported from the model's code: " + ml.transform.__file__)
job = ml.transform.BatchTransform(
    spec["model_dir"],
    max_payload_mb=spec["max_payload_mb"],
    workers=0,
    batch_strategy=spec["batch_strategy"],
    accept=spec["accept"],
    content_type=spec["content_type"],
)
summary = job.run(spec["objects"], spec["output_uri"], spec["job_name"])
print("SCORED " + json.dumps({"records": summary.records_in, "scored": summary.scored, "errors": summary.errors}))
"""


class SageMakerTransformPlayer(ServicePlayer):
    """Plays SageMaker transform jobs for moto (``create_transform_job``, ``stop_transform_job``)."""

    name = "sagemaker_transform"

    def install(self) -> None:
        from moto.sagemaker.exceptions import ResourceInUseException
        from moto.sagemaker.models import SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse

        player = self
        original_create = SageMakerModelBackend.create_transform_job

        def create_transform_job(backend: Any, transform_job_name: str, model_name: str, *a: Any, **kw: Any) -> Any:
            if transform_job_name in backend.transform_jobs:
                raise ResourceInUseException(message=f"Transform job names must be unique: {transform_job_name}")
            model = backend.describe_model(model_name)  # ValidationException for an unknown model, as SageMaker
            job = original_create(backend, transform_job_name, model_name, *a, **kw)
            job.nlpops_model = model
            player.start(transform_job_name, job, player._work)
            return job

        def stop_transform_job(response: Any) -> str:
            name = json.loads(response.body)["TransformJobName"]
            response.sagemaker_backend.describe_transform_job(name)  # ValidationException for an unknown job
            played = player.jobs.get(name)
            if played is not None and not played.done.is_set():
                player.set_state(played, "Stopping")
                player.stop(played)
            return "{}"

        self.patch(SageMakerModelBackend, "create_transform_job", create_transform_job)
        self.patch(SageMakerResponse, "stop_transform_job", stop_transform_job)

    def set_state(self, job: PlayedJob, state: str, message: str = "") -> None:
        from moto.core.utils import utcnow

        obj = job.moto_obj
        status = SAGEMAKER_STATES.get(state, state)
        now = utcnow()
        obj.transform_job_status = status
        obj.failure_reason = message or None
        obj.last_modified_time = now
        obj.transform_end_time = now if status in {"Completed", "Failed", "Stopped"} else None

    # -- the job's work ----------------------------------------------------------------------

    def _work(self, played: PlayedJob) -> None:
        job = played.moto_obj
        container = dict(job.nlpops_model.primary_container or {})
        env = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
        s3 = self.client_as(job.nlpops_model.execution_role_arn, "s3")  # as the model's execution role
        job_dir = Path(self.harness.tmp_path) / "sagemaker-transform" / job.transform_job_name
        model_dir = job_dir / "opt-ml-model"
        _extract(_download(s3, str(container.get("ModelDataUrl")), job_dir / "model.tar.gz"), model_dir)
        program, submit = env.get("SAGEMAKER_PROGRAM"), env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        if not program:
            raise JobFailed("ClientError: the model's Environment has no SAGEMAKER_PROGRAM")
        if submit == ISOLATED_CODE_DIR:
            code_dir = model_dir / "code"
        else:
            code_dir = job_dir / "code"
            _extract(_download(s3, submit, job_dir / "sourcedir.tar.gz"), code_dir)
        if not (code_dir / program).is_file():
            raise JobFailed(f"ClientError: {program} is not in the model's code ({submit})")

        objects = self._inputs(s3, job.transform_input, job_dir / "input")
        played.info.update(model=job.model_name, environment=env, inputs=[o["key"] for o in objects])
        out_dir = job_dir / "output" / "job"
        spec = {
            "code_dir": str(code_dir),
            "program": program,
            "model_dir": str(model_dir),
            "max_payload_mb": float(job.max_payload_in_mb or 6),
            "batch_strategy": job.batch_strategy or "MultiRecord",
            "accept": (job.transform_output or {}).get("Accept") or "application/jsonlines",
            "content_type": (job.transform_input or {}).get("ContentType") or None,
            "objects": objects,
            "output_uri": out_dir.as_uri(),
            "job_name": job.transform_job_name,
        }
        spec_path = job_dir / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        result = run_local([sys.executable, "-c", RUNNER, str(spec_path)], env=env, cwd=code_dir, stop=played.stop)
        played.output = result.output
        if played.stop.is_set():
            return
        if result.returncode != 0:
            line = last_error_line(result.output)
            reason = line if line.startswith("ClientError") else f"AlgorithmError: {line}"
            raise JobFailed(reason[:1024])
        played.info["uploaded"] = self._upload_outputs(s3, out_dir, job.transform_output or {})

    @staticmethod
    def _inputs(s3: Any, transform_input: dict[str, Any], target: Path) -> list[dict[str, Any]]:
        """Download the job's input objects; ``[{"uri": file://…, "key": path under the prefix}]``."""
        source = transform_input["DataSource"]["S3DataSource"]
        uri = str(source["S3Uri"])
        if source.get("S3DataType") == "ManifestFile":
            manifest = json.loads(_get(s3, uri))
            prefix = str(manifest[0]["prefix"])
            keys = [str(k) for k in manifest[1:]]
        else:
            prefix = uri
            bucket, key_prefix = uri[len("s3://") :].split("/", 1)
            keys = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
                keys += [o["Key"][len(key_prefix) :].lstrip("/") for o in page.get("Contents", [])]
            keys = [k for k in keys if k]
        if not keys:
            raise JobFailed(f"ClientError: no input objects under {uri}")
        objects = []
        for key in sorted(keys):
            path = _download(s3, f"{prefix.rstrip('/')}/{key}", target / key)
            objects.append({"uri": path.as_uri(), "key": key, "etag": ""})
        return objects

    @staticmethod
    def _upload_outputs(s3: Any, out_dir: Path, transform_output: dict[str, Any]) -> list[str]:
        """Every ``*.out`` under ``S3OutputPath`` at its input's relative path, SSE-KMS with the job's key."""
        base = str(transform_output["S3OutputPath"]).rstrip("/")
        bucket, _, prefix = base[len("s3://") :].partition("/")
        kms = transform_output.get("KmsKeyId")
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {}
        uploaded = []
        for path in sorted(out_dir.rglob("*.out")):
            key = "/".join(p for p in (prefix, path.relative_to(out_dir).as_posix()) if p)
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), **extra)
            uploaded.append(f"s3://{bucket}/{key}")
        return uploaded


def _get(s3: Any, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:
        raise JobFailed(f"ClientError: cannot read {uri}: {exc}") from exc


def _download(s3: Any, uri: str, target: Path) -> Path:
    if not uri.startswith("s3://"):
        raise JobFailed(f"ClientError: {uri!r} is not an s3:// URI")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_get(s3, uri))
    return target


def _extract(archive: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise JobFailed(f"ClientError: {archive.name} is not a readable .tar.gz: {exc}") from exc
