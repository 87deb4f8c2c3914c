"""Train ``ml/train.py`` on SageMaker (script mode in the scikit-learn container), never twice per run.

:class:`SageMakerScriptModeTrainingOperator` is :class:`~nlpops.aws.idempotent.IdempotentSageMakerTrainingOperator`
(deterministic ``nlpops-`` job names; a retry re-attaches to a running job, reuses a
completed one, starts ``-a<n>`` after a failed one; ``on_kill`` stops it) plus what only a
*new* job needs, done in ``preprocess_config`` — which the provider calls only when it is
about to create a job:

1. the source archive (``ml`` + ``train.py``, :func:`~nlpops.aws.sagemaker_config.build_sourcedir`)
   is uploaded once per content hash to ``<artifacts>/sagemaker/training/``;
2. the processed zone is staged into the channels exactly as locally
   (:func:`ml.data.stage_channels`: every published run, repeated texts dropped) and
   uploaded to ``models/<profile>/<job>/input/data/<channel>/`` — the same layout as the
   local job folder; the full lineage goes beside them (``input/lineage.json``);
3. the ``CreateTrainingJob`` request is built by the pure
   :func:`~nlpops.aws.sagemaker_config.training_job_config`.

The result has the local operator's XCom keys (``Training``, ``job_name``, ``job_uri``,
``model_artifact_uri``, ``output_data_uri``, ``test_channel_uri``, ``metrics``,
``lineage``); ``Training.HyperParameters`` holds the entry's arguments (decoded, without
the toolkit's ``sagemaker_*`` keys), as locally.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nlpops.aws.idempotent import IdempotentSageMakerTrainingOperator
from nlpops.aws.sagemaker_config import (
    RESERVED_PREFIX,
    build_sourcedir,
    decode_hyperparameters,
    hyperparameter_strings,
    output_data_uri,
    sourcedir_name,
    training_job_config,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

CHANNELS = ("train", "validation", "test")
LINEAGE_FILE = "lineage.json"
#: Lineage lists longer than this are summarised in the hyper-parameter (full copy in lineage.json).
MAX_LINEAGE_CHARS = 2000


def fit_lineage(lineage: dict[str, Any], full_uri: str, limit: int = MAX_LINEAGE_CHARS) -> dict[str, Any]:
    """The lineage passed as ``--lineage``: whole when it fits SageMaker's value limit, else summarised.

    ``run_keys`` grows with every ingest run; past ``limit`` characters it becomes its count,
    first and last key, and ``lineage_uri`` points at the full copy.
    """
    if len(json.dumps(json.dumps(lineage))) <= limit:
        return lineage
    keys = list(lineage.get("run_keys") or [])
    short = {k: v for k, v in lineage.items() if k != "run_keys"}
    short.update(
        run_keys_count=len(keys),
        run_keys_first=keys[0] if keys else None,
        run_keys_last=keys[-1] if keys else None,
        lineage_uri=full_uri,
    )
    if len(json.dumps(json.dumps(short))) > limit:
        raise ValueError(f"lineage is too long for a SageMaker hyper-parameter even summarised: {short}")
    return short


def read_output_metrics(archive: bytes) -> dict[str, Any]:
    """``metrics.json`` from SageMaker's ``output.tar.gz`` (the packed ``SM_OUTPUT_DATA_DIR``), or ``{}``."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.lstrip("./") == "metrics.json":
                fh = tar.extractfile(member)
                return dict(json.loads(fh.read().decode("utf-8"))) if fh else {}
    return {}


class ScriptModeJobMixin:
    """What the training and the tuning operator share: the script-mode arguments, the source upload,
    the staged channels, the lineage file and the training-job definition built from them."""

    template_fields: Sequence[str] = ("processed_uri", "hyperparameters", "lineage")
    template_fields_renderers = {"config": "json", "hyperparameters": "json", "lineage": "json"}
    ui_color = "#8ecae6"

    # set by the Airflow operator this is mixed into
    dag_id: str
    task_id: str
    log: Any

    def _init_script_mode(
        self,
        *,
        profile_name: str,
        processed_uri: str,
        output_uri: str,
        code_uri: str,
        hyperparameters: dict[str, Any],
        job_settings: dict[str, Any],
        lineage: dict[str, Any] | None,
        job_tags: dict[str, str] | None,
    ) -> None:
        self.profile_name = profile_name
        self.processed_uri = processed_uri
        self.output_uri = output_uri.rstrip("/")
        self.code_uri = code_uri.rstrip("/")
        self.hyperparameters = hyperparameters
        self.lineage = lineage or {}
        self.job_settings = job_settings
        self.job_tags = job_tags or {}

    def _training_definition(self, name: str, *, name_key: str) -> dict[str, Any]:
        """Upload the code, stage the channels, write the lineage file: the training request of job ``name``.

        ``name_key`` names the job in the lineage (``job_name``, or ``tuning_job_name`` for a tuning job
        whose training jobs get their names from SageMaker).
        """
        from include import lake

        job_uri = lake.join(self.output_uri, name)
        submit_directory = self._upload_sourcedir()
        channels, staged = self._stage_channels(job_uri)
        lineage_uri = lake.join(job_uri, "input", LINEAGE_FILE)
        lineage = {**self.lineage, **staged, name_key: name}
        lake.write_json(lineage_uri, lineage)
        return training_job_config(
            job_name=name,
            submit_directory=submit_directory,
            hyperparameters={**self.hyperparameters, "lineage": fit_lineage(lineage, lineage_uri)},
            channels=channels,
            output_path=self.output_uri,
            # spot capacity can be reclaimed: the job's checkpoints live beside its outputs
            checkpoint_uri=lake.join(job_uri, "checkpoints") if self.job_settings.get("spot") else None,
            tags={**self.job_tags, "nlpops:profile": self.profile_name, "nlpops:task": f"{self.dag_id}.{self.task_id}"},
            **self.job_settings,
        )

    def _upload_sourcedir(self) -> str:
        from include import lake

        archive = build_sourcedir()
        uri = lake.join(self.code_uri, sourcedir_name(archive))
        if lake.exists(uri):
            self.log.info("source archive %s already uploaded (same content hash)", uri)
        else:
            lake.write_bytes(uri, archive)
            self.log.info("uploaded source archive %s (%d bytes)", uri, len(archive))
        return uri

    def _stage_channels(self, job_uri: str) -> tuple[dict[str, str], dict[str, Any]]:
        import tempfile
        from pathlib import Path

        from include import lake
        from ml.data import stage_channels

        channels: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="nlpops-channels-") as tmp:
            staged = stage_channels(self.processed_uri, tmp, splits=CHANNELS)
            for channel in CHANNELS:
                files = sorted((Path(tmp) / channel).glob("*.parquet"))
                if not files:
                    continue
                channel_uri = lake.join(job_uri, "input", "data", channel)
                lake.remove(channel_uri)  # a previous attempt's files must not mix into this one
                for path in files:
                    lake.write_bytes(lake.join(channel_uri, path.name), path.read_bytes())
                channels[channel] = channel_uri
        self.log.info("staged channels %s from runs %s", staged["rows_per_split"], staged["run_keys"])
        return channels, staged

    def _with_outputs(self, result: dict[str, Any]) -> dict[str, Any]:
        from include import lake

        training = dict(result["Training"])
        name = str(training["TrainingJobName"])
        output_path = str(training["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
        job_uri = lake.join(output_path, name)
        params = hyperparameter_strings(
            {k: v for k, v in decode_hyperparameters(training.get("HyperParameters") or {}).items()}
        )
        params = {k: v for k, v in params.items() if not k.startswith(RESERVED_PREFIX)}
        channels = {
            c["ChannelName"]: str(c["DataSource"]["S3DataSource"]["S3Uri"]).rstrip("/")
            for c in training.get("InputDataConfig") or []
        }
        lineage_uri = lake.join(job_uri, "input", LINEAGE_FILE)
        lineage = lake.read_json(lineage_uri) if lake.exists(lineage_uri) else json.loads(params.get("lineage", "{}"))
        outputs_uri = output_data_uri(output_path, name)
        metrics: dict[str, Any] = {}
        if lake.exists(outputs_uri):
            metrics = read_output_metrics(lake.read_bytes(outputs_uri))
        if not metrics:
            metrics = {m["MetricName"]: m["Value"] for m in training.get("FinalMetricDataList") or []}
        artifact_uri = str(training["ModelArtifacts"]["S3ModelArtifacts"])
        self.log.info("model artefact %s; metrics %s", artifact_uri, metrics)
        return {
            "Training": {**training, "HyperParameters": params},
            "job_name": name,
            "job_uri": job_uri,
            "model_artifact_uri": artifact_uri,
            "output_data_uri": outputs_uri,
            "test_channel_uri": channels.get("test"),
            "metrics": metrics,
            "lineage": lineage,
        }


class SageMakerScriptModeTrainingOperator(ScriptModeJobMixin, IdempotentSageMakerTrainingOperator):
    """Run ``ml/train.py`` as a SageMaker script-mode training job (see the module docstring).

    :param profile_name: the dataset profile
    :param processed_uri: ``processed/<profile>`` (``s3://``), staged into the channels (templated)
    :param output_uri: ``models/<profile>``: the job's ``S3OutputPath``
    :param code_uri: prefix the source archive is uploaded to (content-addressed)
    :param hyperparameters: the entry's ``--key value`` arguments (templated)
    :param lineage: extra lineage recorded in ``model.json`` (templated)
    :param job_settings: the other arguments of :func:`~nlpops.aws.sagemaker_config.training_job_config`
        (``image_uri``, ``role_arn``, ``region``, ``kms_key_id``, ``instance_type``, …)
    :param job_tags: tags of the training job
    """

    template_fields: Sequence[str] = (
        *IdempotentSageMakerTrainingOperator.template_fields,
        *ScriptModeJobMixin.template_fields,
    )

    def __init__(
        self,
        *,
        profile_name: str,
        processed_uri: str,
        output_uri: str,
        code_uri: str,
        hyperparameters: dict[str, Any],
        job_settings: dict[str, Any],
        lineage: dict[str, Any] | None = None,
        job_tags: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config={}, **kwargs)
        self._init_script_mode(
            profile_name=profile_name,
            processed_uri=processed_uri,
            output_uri=output_uri,
            code_uri=code_uri,
            hyperparameters=hyperparameters,
            job_settings=job_settings,
            lineage=lineage,
            job_tags=job_tags,
        )

    # -- only when a new job is created ----------------------------------------------------
    def preprocess_config(self) -> None:
        """Upload the code, stage the channels and build the request of the job named in ``config``."""
        request = self._training_definition(str(self.config["TrainingJobName"]), name_key="job_name")
        self.config.clear()  # the provider's dict (set by the name decision), filled in place
        self.config.update(request)
        super().preprocess_config()

    # -- every way a try ends: created, re-attached, reused, deferred --------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        result = super().execute(context)
        # The provider returns early (without serialize_result) when a deferrable job is done at once.
        return result if "job_name" in result else self._with_outputs(result)

    def serialize_result(self, job_name: str) -> dict[str, Any]:
        """The provider's (failed/stopped refused) description plus the local operator's flat keys."""
        return self._with_outputs(super().serialize_result(job_name))


__all__ = ["SageMakerScriptModeTrainingOperator", "fit_lineage", "read_output_metrics"]
