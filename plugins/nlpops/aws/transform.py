"""Score a batch with the champion on SageMaker Batch Transform, never twice per run.

:class:`SageMakerBatchTransformOperator` is :class:`~nlpops.aws.idempotent.IdempotentSageMakerTransformOperator`
(deterministic ``nlpops-`` job names: a retry re-attaches to a running job, reuses a
completed one, starts ``-a<n>`` after a failed one; ``on_kill`` stops it; an existing model
is used as it is) with the arguments of the local
:class:`~nlpops.operators.transform.LocalBatchTransformOperator` and its XCom shape.

On every try the requests are built by the pure functions of
:mod:`nlpops.aws.sagemaker_transform_config`: ``CreateModel`` (scikit-learn image, the pinned
champion's ``model.tar.gz``, ``ml/inference.py`` as the entry through
``SAGEMAKER_PROGRAM``/``SAGEMAKER_SUBMIT_DIRECTORY``, one model name per champion version
and code) and ``CreateTransformJob`` (the staged JSON-lines inputs under their prefix,
``SplitType=Line``, ``MultiRecord``, ``MaxPayloadInMB`` and ``MaxConcurrentTransforms`` from
the profile, ``AssembleWith=Line``, KMS for output and volume). Only when a new model is
created is its source archive uploaded (content-addressed, once) — in ``preprocess_config``,
which the provider calls just before creating. The output prefix is
``inference-output/<profile>/<job name without attempt>``: an ``-a<n>`` job replaces what the
failed one left, as the local transform does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException

from nlpops.aws.idempotent import IdempotentSageMakerTransformOperator, remote_job_name
from nlpops.dagkit import context_run_key
from nlpops.operators.results_query import as_dict

if TYPE_CHECKING:
    from airflow.sdk import Context


def _as_list(value: list[dict[str, Any]] | str | None) -> list[dict[str, Any]]:
    import json

    if value is None or value == "":
        return []
    return list(json.loads(value) if isinstance(value, str) else value)


class ChampionModelMixin:
    """The SageMaker ``CreateModel`` of a champion version and code, shared by Batch Transform and the endpoint.

    One model name per champion version, code archive, image and role (a fingerprint), so every
    operator that serves a version reuses the same model. The host class sets ``profile_name``,
    ``model_artifact_uri``, ``model_version``, ``code_uri``, ``profile_json``, ``model_settings``
    and has ``log``.
    """

    profile_name: str
    model_artifact_uri: str
    model_version: str
    code_uri: str
    profile_json: str
    model_settings: dict[str, Any]
    log: Any

    def _sourcedir(self) -> tuple[bytes, str]:
        from include import lake
        from nlpops.aws.sagemaker_config import sourcedir_name
        from nlpops.aws.sagemaker_transform_config import build_inference_sourcedir

        archive = build_inference_sourcedir(self.profile_json)
        return archive, lake.join(self.code_uri, sourcedir_name(archive))

    def _model_data_url(self, sourcedir_uri: str) -> tuple[str, str]:
        """``(ModelDataUrl, SAGEMAKER_SUBMIT_DIRECTORY)``: the champion's artefact, or its repack with the code."""
        from include import lake
        from nlpops.aws.sagemaker_transform_config import ISOLATED_CODE_DIR

        if not self.model_settings.get("network_isolation"):
            return self.model_artifact_uri, sourcedir_uri
        code = sourcedir_uri.rsplit("/", 1)[-1].removesuffix(".tar.gz")
        return lake.join(self.code_uri, "models", f"v{self.model_version}-{code}", "model.tar.gz"), ISOLATED_CODE_DIR

    def champion_model_config(self, tags: dict[str, str]) -> dict[str, Any]:
        """``CreateModel`` of this champion version with the scoring code (name deterministic)."""
        from nlpops.aws.sagemaker_transform_config import inference_model_config, inference_model_name

        _, sourcedir_uri = self._sourcedir()
        model_data_url, submit_directory = self._model_data_url(sourcedir_uri)
        image = str(self.model_settings["image_uri"])
        fingerprint = "|".join(
            [self.model_artifact_uri, sourcedir_uri, image, str(self.model_settings.get("role_arn"))]
            + (["isolated"] if self.model_settings.get("network_isolation") else [])
        )
        name = inference_model_name(self.profile_name, str(self.model_version), fingerprint=fingerprint)
        return inference_model_config(
            name=name,
            model_data_url=model_data_url,
            submit_directory=submit_directory,
            model_version=str(self.model_version),
            tags=tags,
            **self.model_settings,
        )

    def _upload_code(self) -> None:
        from include import lake
        from nlpops.aws.sagemaker_transform_config import repack_model_with_code

        archive, sourcedir_uri = self._sourcedir()
        if lake.exists(sourcedir_uri):
            self.log.info("scoring source archive %s already uploaded (same content hash)", sourcedir_uri)
        else:
            lake.write_bytes(sourcedir_uri, archive)
            self.log.info("uploaded scoring source archive %s (%d bytes)", sourcedir_uri, len(archive))
        model_data_url, _ = self._model_data_url(sourcedir_uri)
        if model_data_url != self.model_artifact_uri and not lake.exists(model_data_url):
            repacked = repack_model_with_code(lake.read_bytes(self.model_artifact_uri), archive)
            lake.write_bytes(model_data_url, repacked)
            self.log.info("network isolation: model with its code repacked to %s", model_data_url)


class SageMakerBatchTransformOperator(ChampionModelMixin, IdempotentSageMakerTransformOperator):
    """Run ``ml/inference.py`` over ``objects`` as a SageMaker Batch Transform job; write ``<key>.out`` files.

    :param profile_name: the dataset profile
    :param objects: the staged input objects (``uri``, ``key``, ``etag``), all under one prefix (templated)
    :param model_artifact_uri: the pinned champion's ``model.tar.gz`` (templated)
    :param model_version: its registry version, recorded on every prediction (templated)
    :param output_uri: ``inference-output/<profile>``; the job writes ``<output_uri>/<job name>/``
    :param code_uri: prefix the scoring source archive is uploaded to (content-addressed)
    :param profile_json: the profile (``Profile.to_json()``), shipped as ``profile.json``
    :param model_settings: the other arguments of :func:`~nlpops.aws.sagemaker_transform_config.inference_model_config`
        (``image_uri``, ``role_arn``, ``region``, ``network_isolation``)
    :param transform_settings: the arguments of :func:`~nlpops.aws.sagemaker_transform_config.transform_job_config`
        (``kms_key_id``, ``instance_type``, ``max_payload_mb``, ``max_concurrent_transforms`` …)
    :param job_tags: tags of the model and the job
    Every other argument is the provider's (``deferrable``, ``check_interval``, ``max_ingestion_time`` …).
    """

    template_fields: Sequence[str] = (
        *IdempotentSageMakerTransformOperator.template_fields,
        "objects",
        "model_artifact_uri",
        "model_version",
    )
    template_fields_renderers = {"config": "json", "objects": "json"}
    ui_color = "#90be6d"

    def __init__(
        self,
        *,
        profile_name: str,
        objects: list[dict[str, Any]] | str,
        model_artifact_uri: str,
        model_version: str,
        output_uri: str,
        code_uri: str,
        profile_json: str,
        model_settings: dict[str, Any],
        transform_settings: dict[str, Any],
        job_tags: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config={}, **kwargs)
        self.profile_name = profile_name
        self.objects = objects
        self.model_artifact_uri = model_artifact_uri
        self.model_version = model_version
        self.output_uri = output_uri.rstrip("/")
        self.code_uri = code_uri.rstrip("/")
        self.profile_json = profile_json
        self.model_settings = model_settings
        self.transform_settings = transform_settings
        self.job_tags = job_tags or {}

    # -- the requests -----------------------------------------------------------------------------
    def build_config(self, context: Context) -> dict[str, Any]:
        """``{"Model": CreateModel, "Transform": CreateTransformJob}`` for this run (job name set later)."""
        from nlpops.aws.sagemaker_transform_config import transform_input_prefix, transform_job_config

        objects = _as_list(self.objects)
        if not objects:
            raise AirflowException(
                f"{self.task_id}: no input objects to score (validation kept no row of the new files): nothing started"
            )
        tags = {**self.job_tags, "nlpops:profile": self.profile_name, "nlpops:model_version": str(self.model_version)}
        model = self.champion_model_config(tags)
        name = str(model["ModelName"])
        base = remote_job_name(self.dag_id, self.task_id, self.run_key or context_run_key(context))
        transform = transform_job_config(
            job_name=base,  # replaced by the decision (same name, or base-a<n> after a failed job)
            model_name=name,
            input_uri=transform_input_prefix(objects),
            output_uri=f"{self.output_uri}/{base}",
            tags={**tags, "nlpops:task": f"{self.dag_id}.{self.task_id}"},
            **self.transform_settings,
        )
        return {"Model": model, "Transform": transform}

    def preprocess_config(self) -> None:
        """Before a model is created: its source archive (and, isolated, the repacked artefact) in S3."""
        if "Model" in self.config:
            self._upload_code()
        super().preprocess_config()

    # -- every way a try ends: created, re-attached, reused, deferred ----------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        self.config = self.build_config(context)
        result = super().execute(context)
        # The provider returns early (without serialize_result) when a deferrable job is done at once.
        return result if "job_name" in result else self._local_shape(result)

    def serialize_result(self, job_name: str) -> dict[str, Any]:
        """The (failed/stopped refused) description plus the local operator's flat keys."""
        return self._local_shape(super().serialize_result(job_name))

    def _local_shape(self, result: dict[str, Any]) -> dict[str, Any]:
        """``{"Transform", "Model", "job_name", "output_uri", "model_version", "objects", "summary", "files"}``."""
        from include import lake
        from ml.transform import content_type_of

        transform = as_dict(result.get("Transform"))
        objects = _as_list(self.objects)
        name = str(transform["TransformJobName"])
        output_uri = str(transform["TransformOutput"]["S3OutputPath"]).rstrip("/")
        start, end = transform.get("TransformStartTime"), transform.get("TransformEndTime")
        seconds = _seconds_between(start, end)
        files = [
            {
                "uri": str(o["uri"]),
                "key": str(o["key"]),
                "etag": str(o.get("etag") or ""),
                "output_uri": lake.join(output_uri, f"{o['key']}.out"),
                "content_type": content_type_of(str(o["key"])),
            }
            for o in objects
        ]
        return {
            **result,
            "job_name": name,
            "output_uri": output_uri,
            "model_version": str(self.model_version),
            "objects": objects,
            # SageMaker reports no record counts: the results task counts rows and errors.
            "summary": {
                "job_name": name,
                "output_uri": output_uri,
                "status": transform.get("TransformJobStatus"),
                "model_name": transform.get("ModelName"),
                "files": len(objects),
                "max_payload_bytes": int(transform.get("MaxPayloadInMB") or 0) * 1024 * 1024,
                "batch_strategy": transform.get("BatchStrategy"),
                "accept": (transform.get("TransformOutput") or {}).get("Accept"),
                "model_version": str(self.model_version),
                "seconds": seconds,
            },
            "files": files,
        }


def _seconds_between(start: Any, end: Any) -> float | None:
    """Seconds between two serialized SageMaker times (the provider's ``repr`` of datetimes, or ISO text)."""
    import re
    from datetime import datetime

    def parse(value: Any) -> datetime | None:
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        text = str(value or "")
        # ``serialize`` keeps repr(datetime): "datetime.datetime(2026, 11, 23, 2, 0, 5, 120000, tzinfo=…)"
        found = re.match(r"datetime\.datetime\(([\d, ]+)", text)
        if found:
            parts = [int(p) for p in found.group(1).split(",") if p.strip()]
            if len(parts) < 3:
                return None
            y, mo, d, h, mi, sec, us = (parts + [0] * 7)[:7]
            return datetime(y, mo, d, h, mi, sec, us)
        try:
            return datetime.fromisoformat(text).replace(tzinfo=None)
        except ValueError:
            return None

    a, b = parse(start), parse(end)
    return round((b - a).total_seconds(), 3) if a and b else None


__all__ = ["ChampionModelMixin", "SageMakerBatchTransformOperator"]
