"""Run the training entry (``ml/train.py``) locally, exactly as SageMaker script mode would.

Shaped like the Amazon provider's ``SageMakerTrainingOperator``: a SageMaker-style
training config, a deterministic job name, and an XCom result
``{"Training": {TrainingJobName, TrainingJobStatus, ModelArtifacts.S3ModelArtifacts, …}}``
plus flat keys for the next tasks. The job directory mirrors ``/opt/ml`` and lives at
``models/<profile>/<job name>/`` in the lake; the packed model is
``models/<profile>/<job name>/output/model.tar.gz``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from include.naming import job_name as make_job_name
from nlpops.dagkit import context_run_key
from nlpops.links.reports import TRAINING_LINKS

if TYPE_CHECKING:
    from airflow.sdk import Context

    from nlpops.jobs.local import LocalJob

CHANNELS = ("train", "validation", "test")


def script_mode_job(
    *,
    name: str,
    job_dir: Path,
    hyperparameters: Mapping[str, str],
    entry: Sequence[str],
    args: Sequence[str] | None = None,
    cwd: Path | None = None,
    timeout_seconds: float | None = None,
    logger: Any = None,
) -> LocalJob:
    """A child process laid out as SageMaker runs a training container, ready to ``run()``.

    ``job_dir`` mirrors ``/opt/ml``: the channels must already be in ``input/data/<channel>/``;
    this writes ``input/config/{hyperparameters,inputdataconfig}.json``, creates ``model/`` and
    ``output/data/`` and sets the ``SM_*`` variables. The command is ``python <entry> <args>``
    (``args`` default: ``--key value`` per hyper-parameter). The local operator and the tests'
    SageMaker service player both run training through here.
    """
    import os

    from nlpops.jobs.local import LocalJob

    input_dir, model_dir, output_dir = job_dir / "input", job_dir / "model", job_dir / "output"
    for d in (input_dir / "config", input_dir / "data", model_dir, output_dir / "data"):
        d.mkdir(parents=True, exist_ok=True)
    hp_strings = dict(hyperparameters)
    (input_dir / "config" / "hyperparameters.json").write_text(json.dumps(hp_strings, indent=2), encoding="utf-8")
    channels = [c for c in CHANNELS if (input_dir / "data" / c).is_dir()]
    (input_dir / "config" / "inputdataconfig.json").write_text(
        json.dumps({c: {"ContentType": "application/x-parquet"} for c in channels}), encoding="utf-8"
    )
    if args is None:
        args = [part for key, value in hp_strings.items() for part in (f"--{key}", value)]
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        SM_MODEL_DIR=str(model_dir),
        SM_OUTPUT_DATA_DIR=str(output_dir / "data"),
        SM_OUTPUT_DIR=str(output_dir),
        SM_INPUT_DIR=str(input_dir),
        SM_INPUT_CONFIG_DIR=str(input_dir / "config"),
        SM_CHANNELS=json.dumps(channels),
        SM_HPS=json.dumps(hp_strings),
        SM_CURRENT_HOST="algo-1",
        SM_HOSTS=json.dumps(["algo-1"]),
        SM_TRAINING_JOB_NAME=name,
    )
    for channel in channels:
        env[f"SM_CHANNEL_{channel.upper()}"] = str(input_dir / "data" / channel)
    return LocalJob(
        name=name,
        cmd=[sys.executable, *entry, *args],
        env=env,
        cwd=str(cwd or job_dir),
        timeout_seconds=timeout_seconds,
        **({"logger": logger} if logger is not None else {}),
    )


class LocalTrainingOperator(BaseOperator):
    """Train one model in a child process with the SageMaker ``/opt/ml`` layout and ``SM_*`` variables.

    :param profile_name: the dataset profile (names the output folder)
    :param processed_uri: ``processed/<profile>`` in the lake; every published run is read and
        deduplicated into the ``train``/``validation``/``test`` channels (templated)
    :param output_uri: ``models/<profile>`` in the lake (a ``file://`` URI on the local target)
    :param hyperparameters: passed to the entry as ``--key value`` (templated); SageMaker
        passes strings, so values are converted with ``str`` (dicts/lists as JSON)
    :param lineage: extra lineage recorded in ``model.json`` (templated)
    :param entry_module: the script-mode entry (``ml.train``)
    :param job_timeout: hard stop of the child; default ``training_timeout_minutes`` of the
        hyper-parameters, else ``execution_timeout``, else one hour
    """

    template_fields: Sequence[str] = ("processed_uri", "hyperparameters", "lineage")
    template_fields_renderers = {"hyperparameters": "json", "lineage": "json"}
    ui_color = "#8ecae6"
    # Evaluation report and Model Ops page, resolved from the XCom pushed at the start of execute.
    operator_extra_links = TRAINING_LINKS

    def __init__(
        self,
        *,
        profile_name: str,
        processed_uri: str,
        output_uri: str,
        hyperparameters: dict[str, Any],
        lineage: dict[str, Any] | None = None,
        entry_module: str = "ml.train",
        job_timeout: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.profile_name = profile_name
        self.processed_uri = processed_uri
        self.output_uri = output_uri
        self.hyperparameters = hyperparameters
        self.lineage = lineage or {}
        self.entry_module = entry_module
        self.job_timeout = job_timeout
        self._job: LocalJob | None = None

    def job_name(self, context: Context) -> str:
        """Deterministic per (DAG, task, run key): a retry reuses — and replaces — its own job."""
        return make_job_name(self.dag_id, self.task_id, context_run_key(context))

    def execute(self, context: Context) -> dict[str, Any]:
        import shutil
        from pathlib import Path

        from include import lake
        from ml.artefact import ARCHIVE, pack_model_dir
        from ml.data import stage_channels
        from nlpops.aws.sagemaker_config import hyperparameter_strings

        name = self.job_name(context)
        job_uri = lake.join(self.output_uri, name)
        self._push_link_targets(context, name)
        if not job_uri.startswith("file://"):
            raise ValueError(
                f"LocalTrainingOperator needs a file:// lake (got {job_uri}); "
                "set NLPOPS_TARGET=aws to train on SageMaker with an s3:// lake"
            )
        job_dir = Path(lake.local_path(job_uri))
        if job_dir.exists():
            # A previous try of this same run: its directory is replaced, never kept beside the new one.
            self.log.info("removing the previous attempt's job directory %s", job_dir)
            shutil.rmtree(job_dir)
        staged = stage_channels(self.processed_uri, job_dir / "input" / "data", splits=CHANNELS)
        self.log.info("staged channels %s from runs %s", staged["rows_per_split"], staged["run_keys"])
        lineage = {**self.lineage, **staged, "job_name": name}
        hp_strings = hyperparameter_strings({**self.hyperparameters, "lineage": lineage})
        timeout = self._timeout()
        self._job = script_mode_job(
            name=name,
            job_dir=job_dir,
            hyperparameters=hp_strings,
            entry=["-m", self.entry_module],
            timeout_seconds=timeout,
            logger=self.log,
        )
        self._job.run()

        output_dir = job_dir / "output"
        archive = output_dir / ARCHIVE
        tmp = output_dir / f".{ARCHIVE}.tmp"
        pack_model_dir(job_dir / "model", tmp)
        tmp.replace(archive)  # atomic: readers never see half an archive
        metrics_file = output_dir / "data" / "metrics.json"
        metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.exists() else {}
        artifact_uri = lake.join(job_uri, "output", ARCHIVE)
        self.log.info("model artefact %s; metrics %s", artifact_uri, metrics)
        self._ran = {"job_name": name, "artifact_uri": artifact_uri, "run_keys": list(staged["run_keys"])}
        return {
            "Training": {
                "TrainingJobName": name,
                "TrainingJobStatus": "Completed",
                "HyperParameters": hp_strings,
                "ModelArtifacts": {"S3ModelArtifacts": artifact_uri},
                "OutputDataConfig": {"S3OutputPath": self.output_uri},
                "StoppingCondition": {"MaxRuntimeInSeconds": int(timeout)},
                "FinalMetricDataList": [
                    {"MetricName": k, "Value": v} for k, v in sorted(metrics.items()) if isinstance(v, int | float)
                ],
            },
            "job_name": name,
            "job_uri": job_uri,
            "model_artifact_uri": artifact_uri,
            "output_data_uri": lake.join(job_uri, "output", "data"),
            "test_channel_uri": lake.join(job_uri, "input", "data", "test"),
            "metrics": metrics,
            "lineage": lineage,
        }

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs: the processed runs staged into the channels; output: the model artefact."""
        from include import lake
        from nlpops.lineage import lake_dataset, operator_lineage

        ran = getattr(self, "_ran", None) or {}
        runs = [lake.join(self.processed_uri, f"run={key}") for key in ran.get("run_keys", [])]
        outputs = [lake_dataset(ran["artifact_uri"])] if ran.get("artifact_uri") else []
        return operator_lineage([lake_dataset(u) for u in runs], outputs, job_name=ran.get("job_name"), kind="training")

    def _push_link_targets(self, context: Context, name: str) -> None:
        """What the extra links need (the evaluation report of this job), pushed before the job runs."""
        from include.settings import get_settings
        from nlpops.links.reports import link_targets, push_link_targets

        targets = link_targets(settings=get_settings(), profile=self.profile_name, job_name=name, kind="training")
        push_link_targets(context, targets)

    def _timeout(self) -> float:
        if self.job_timeout is not None:
            return self.job_timeout.total_seconds()
        minutes = self.hyperparameters.get("training_timeout_minutes")
        if minutes:
            return float(minutes) * 60
        return (self.execution_timeout or timedelta(hours=1)).total_seconds()

    def on_kill(self) -> None:
        """Stop the training process group (the child and anything it started)."""
        if self._job is not None:
            self._job.kill()
