"""SageMaker training player: a ``CreateTrainingJob`` runs the job's own source archive, locally.

What the scikit-learn framework container and the SageMaker training toolkit do, done here:

* the job is ``InProgress`` (secondary status ``Downloading`` then ``Training``) while it works;
* ``sourcedir.tar.gz`` from ``sagemaker_submit_directory`` is extracted into ``code/``;
  each channel's S3 prefix is downloaded to ``input/data/<channel>/`` (``File`` mode);
* ``sagemaker_program`` runs as ``python <program> <args>`` from ``code/`` with the
  toolkit's arguments (:func:`nlpops.aws.sagemaker_config.toolkit_arguments`: JSON-decoded,
  ``sagemaker_*`` dropped, sorted) and the ``SM_*`` environment — through
  :func:`nlpops.operators.training.script_mode_job`, the same runner the local target uses;
* ``model/`` becomes ``model.tar.gz`` at ``ModelArtifacts.S3ModelArtifacts`` and
  ``output/data/`` becomes ``output.tar.gz`` beside it, both SSE-KMS with ``KmsKeyId``;
* ``Completed``; or ``Failed`` with ``FailureReason`` = ``AlgorithmError: <output/failure>``
  (what the script wrote) or the last log line; ``StopTrainingJob`` (not in moto) →
  ``Stopping`` → ``Stopped``, the process tree killed.

moto accepts a second job with a used name; here, as in SageMaker, it is ``ResourceInUse``.
"""

from __future__ import annotations

import json
import tarfile
import threading
from pathlib import Path
from typing import Any

from players.base import FAILED, RUNNING, STOPPED, SUCCEEDED, JobFailed, PlayedJob, ServicePlayer

SAGEMAKER_STATES = {RUNNING: "InProgress", SUCCEEDED: "Completed", FAILED: "Failed", STOPPED: "Stopped"}
SECONDARY = {"InProgress": "Training", "Completed": "Completed", "Failed": "Failed", "Stopped": "Stopped"}


class SageMakerTrainingPlayer(ServicePlayer):
    """Plays SageMaker training jobs for moto (``create_training_job``, ``stop_training_job``)."""

    name = "sagemaker_training"

    def install(self) -> None:
        from moto.sagemaker.exceptions import ResourceInUseException
        from moto.sagemaker.models import SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse

        player = self
        original_create = SageMakerModelBackend.create_training_job

        def create_training_job(backend: Any, training_job_name: str, *args: Any, **kwargs: Any) -> Any:
            if training_job_name in backend.training_jobs:
                raise ResourceInUseException(message=f"Training job names must be unique: {training_job_name}")
            job = original_create(backend, training_job_name, *args, **kwargs)
            player.start(training_job_name, job, player._work)
            return job

        def stop_training_job(response: Any) -> str:
            name = json.loads(response.body)["TrainingJobName"]
            backend = response.sagemaker_backend
            backend.describe_training_job(name)  # ValidationException for an unknown job, as SageMaker
            played = player.jobs.get(name)
            if played is not None and not played.done.is_set():
                player.set_state(played, "Stopping")
                player.stop(played)
            return "{}"

        self.patch(SageMakerModelBackend, "create_training_job", create_training_job)
        self.patch(SageMakerResponse, "stop_training_job", stop_training_job)

    def set_state(self, job: PlayedJob, state: str, message: str = "") -> None:
        from moto.core.utils import utcnow

        obj = job.moto_obj
        status = SAGEMAKER_STATES.get(state, state)
        now = utcnow()
        obj.training_job_status = status
        obj.secondary_status = SECONDARY.get(status, status)
        obj.last_modified_time = now
        obj.failure_reason = message or None
        obj.training_end_time = now if status in {"Completed", "Failed", "Stopped"} else None
        if status != "Completed":
            obj.final_metric_data_list = []  # moto's canned metric is for a finished job

    # -- the job's work ----------------------------------------------------------------------

    def _work(self, played: PlayedJob) -> None:
        from nlpops.aws.sagemaker_config import decode_hyperparameters, toolkit_arguments
        from nlpops.jobs.local import LocalJobError
        from nlpops.operators.training import script_mode_job

        job = played.moto_obj
        s3 = self.client_as(job.role_arn, "s3")  # the job runs as its execution role
        job_dir = Path(self.harness.tmp_path) / "sagemaker" / job.training_job_name
        encoded = dict(job.hyper_parameters or {})
        decoded = decode_hyperparameters(encoded)
        played.info["hyperparameters"] = encoded

        code_dir = job_dir / "code"
        code_dir.mkdir(parents=True, exist_ok=True)
        archive = job_dir / "sourcedir.tar.gz"
        _download(s3, str(decoded["sagemaker_submit_directory"]), archive)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(code_dir, filter="data")
        for channel in job.input_data_config:
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            count = _download_prefix(s3, uri, job_dir / "input" / "data" / channel["ChannelName"])
            played.info.setdefault("channels", {})[channel["ChannelName"]] = count
            if count == 0:
                raise JobFailed(f"ClientError: no objects under channel {channel['ChannelName']} S3Uri {uri}")

        user = {k: str(v) for k, v in decoded.items() if not k.startswith("sagemaker_")}
        local = script_mode_job(
            name=job.training_job_name,
            job_dir=job_dir,
            hyperparameters=user,
            entry=[str(decoded["sagemaker_program"])],
            args=toolkit_arguments(encoded),
            cwd=code_dir,
            timeout_seconds=float(job.stopping_condition.get("MaxRuntimeInSeconds", 3600)),
        )
        played.info["cmd"] = list(local.cmd)
        finished = threading.Event()

        def watch() -> None:  # StopTrainingJob while the script runs: kill its process tree
            while not finished.is_set():
                if played.stop.wait(0.2):
                    local.kill()
                    return

        threading.Thread(target=watch, name=f"stop-{job.training_job_name}", daemon=True).start()
        try:
            tail = local.run()
            played.output = "\n".join(tail)
        except LocalJobError as exc:
            if played.stop.is_set():
                return
            failure = job_dir / "output" / "failure"
            reason = failure.read_text(encoding="utf-8").strip() if failure.exists() else str(exc).splitlines()[-1]
            raise JobFailed(f"AlgorithmError: {reason}"[:1024]) from exc
        finally:
            finished.set()
        if played.stop.is_set():
            return

        from ml.artefact import pack_model_dir

        kms = job.output_data_config.get("KmsKeyId")
        model_tar, output_tar = job_dir / "model.tar.gz", job_dir / "output.tar.gz"
        pack_model_dir(job_dir / "model", model_tar)
        pack_model_dir(job_dir / "output" / "data", output_tar)
        model_uri = job.model_artifacts["S3ModelArtifacts"]
        output_uri = model_uri.rsplit("/", 1)[0] + "/output.tar.gz"
        for path, uri in ((model_tar, model_uri), (output_tar, output_uri)):
            bucket, key = uri[len("s3://") :].split("/", 1)
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {}
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), **extra)
        played.info["uploaded"] = [model_uri, output_uri]


def _download(s3: Any, uri: str, target: Path) -> None:
    bucket, key = uri[len("s3://") :].split("/", 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(bucket, key, str(target))
    except Exception as exc:
        raise JobFailed(f"ClientError: cannot download {uri}: {exc}") from exc


def _download_prefix(s3: Any, uri: str, target: Path) -> int:
    """Every object under the S3 prefix ``uri`` into ``target`` (``File`` input mode); returns the count."""
    bucket, prefix = uri[len("s3://") :].split("/", 1)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix) :].lstrip("/")
            if not rel:
                continue
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))
            count += 1
    return count
