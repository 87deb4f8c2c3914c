"""Score a batch of input files locally with the pinned model, as SageMaker Batch Transform would.

Shaped like the Amazon provider's ``SageMakerTransformOperator``: a deterministic job name
(DAG, task, run key — not the try number, so a retry replaces its own output), the
transform settings of ``CreateTransformJob`` (``MaxPayloadInMB``, ``BatchStrategy``,
``SplitType=Line``, ``AssembleWith=Line``, ``Accept``), ``on_kill`` stopping the workers,
and an XCom ``{"Transform": {TransformJobName, TransformJobStatus, …}}`` plus flat keys
(``job_name``, ``output_uri``, ``summary``) for the results task. The work itself is
``ml.transform`` (no Airflow there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from include.naming import job_name as make_job_name
from nlpops.dagkit import context_run_key
from nlpops.links.reports import TRANSFORM_LINKS

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ml.transform import BatchTransform


class LocalBatchTransformOperator(BaseOperator):
    """Run the inference handler over ``objects`` with worker processes; write ``<key>.out`` files.

    :param profile_name: the dataset profile (names the output folder)
    :param objects: input objects as the new-data sensor returns them (``uri``, ``key``, ``etag``…) (templated)
    :param model_artifact_uri: the pinned model's ``model.tar.gz`` (resolved once upstream) (templated)
    :param model_version: the registry version of that model, recorded on every prediction (templated)
    :param output_uri: ``inference-output/<profile>``; the job writes ``<output_uri>/<job name>/``
        (templated; default from the settings)
    :param max_payload_mb: ``MaxPayloadInMB`` (default: the profile's ``inference.max_payload_mb``)
    :param workers: handler processes (default: ``NLPOPS_TRANSFORM_WORKERS``)
    :param batch_strategy: ``MultiRecord`` (default) or ``SingleRecord``
    :param accept: output content type, ``application/jsonlines`` (what the results task reads) or ``text/csv``
    """

    template_fields: Sequence[str] = ("objects", "model_artifact_uri", "model_version", "output_uri")
    template_fields_renderers = {"objects": "json"}
    ui_color = "#90be6d"
    # Output summary, input Data Docs and Model Ops page, from the XCom pushed at the start of execute.
    operator_extra_links = TRANSFORM_LINKS

    def __init__(
        self,
        *,
        profile_name: str,
        objects: list[dict[str, Any]] | str,
        model_artifact_uri: str,
        model_version: str,
        output_uri: str | None = None,
        max_payload_mb: float | None = None,
        workers: int | None = None,
        batch_strategy: str = "MultiRecord",
        accept: str = "application/jsonlines",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.profile_name = profile_name
        self.objects = objects
        self.model_artifact_uri = model_artifact_uri
        self.model_version = model_version
        self.output_uri = output_uri
        self.max_payload_mb = max_payload_mb
        self.workers = workers
        self.batch_strategy = batch_strategy
        self.accept = accept
        self._job: BatchTransform | None = None

    def job_name(self, context: Context) -> str:
        """Deterministic per (DAG, task, run key): a retry writes — and replaces — the same output."""
        return make_job_name(self.dag_id, self.task_id, context_run_key(context))

    def execute(self, context: Context) -> dict[str, Any]:
        import json
        import tempfile

        from include import lake
        from include.profiles import get_profile
        from include.settings import get_settings
        from ml.transform import BatchTransform, prepare_model_dir
        from nlpops.links.reports import link_targets, push_link_targets

        settings = get_settings()
        profile = get_profile(self.profile_name, settings)
        objects = json.loads(self.objects) if isinstance(self.objects, str) else list(self.objects or [])
        name = self.job_name(context)
        push_link_targets(
            context,
            link_targets(
                settings=settings,
                profile=self.profile_name,
                job_name=name,
                run_key=context_run_key(context),
                kind="transform",
            ),
        )
        base = self.output_uri or settings.zone_uri("inference-output", self.profile_name)
        job_uri = lake.join(base, name)
        payload = self.max_payload_mb or profile.inference.max_payload_mb
        workers = self.workers if self.workers is not None else settings.transform_workers
        self.log.info(
            "transform job %s: %d object(s), model %s (version %s), MaxPayloadInMB=%s, workers=%d",
            name,
            len(objects),
            self.model_artifact_uri,
            self.model_version,
            payload,
            workers,
        )
        with tempfile.TemporaryDirectory(prefix="nlpops-model-") as tmp:
            model_dir = prepare_model_dir(self.model_artifact_uri, tmp)
            self._job = BatchTransform(
                model_dir,
                profile=json.loads(profile.to_json()),
                model_version=str(self.model_version),
                max_payload_mb=payload,
                workers=workers,
                batch_strategy=self.batch_strategy,  # type: ignore[arg-type]
                accept=self.accept,
            )
            summary = self._job.run(objects, job_uri, name)
        self.log.info(
            "transform job %s: %d record(s) in, %d scored, %d error(s), %d request(s) in %.1fs -> %s",
            name,
            summary.records_in,
            summary.scored,
            summary.errors,
            summary.requests,
            summary.seconds,
            job_uri,
        )
        self._ran = {"job_name": name, "job_uri": job_uri, "objects": objects}
        return {
            "Transform": {
                "TransformJobName": name,
                "TransformJobStatus": "Completed",
                "ModelName": f"{self.profile_name}-{self.model_version}",
                "MaxPayloadInMB": payload,
                "BatchStrategy": self.batch_strategy,
                "TransformInput": {"SplitType": "Line", "DataSource": {"Objects": [o.get("uri") for o in objects]}},
                "TransformOutput": {"S3OutputPath": job_uri, "AssembleWith": "Line", "Accept": self.accept},
            },
            "job_name": name,
            "output_uri": job_uri,
            "model_version": str(self.model_version),
            "objects": objects,
            "summary": {k: v for k, v in summary.to_dict().items() if k != "file_results"},
            "files": summary.to_dict()["file_results"],
        }

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs: the model version (a registry dataset) and the scored objects; output: the job's output prefix."""
        from include.settings import get_settings
        from nlpops.lineage import lake_dataset, model_version_dataset, operator_lineage

        ran = getattr(self, "_ran", None) or {}
        model = model_version_dataset(
            get_settings(), self.profile_name, str(self.model_version), str(self.model_artifact_uri)
        )
        sources = dict.fromkeys(  # the user's input objects, and the staged copies the job read
            str(u) for o in ran.get("objects", []) for u in (o.get("source_uri"), o.get("uri")) if u
        )
        outputs = [lake_dataset(ran["job_uri"])] if ran.get("job_uri") else []
        return operator_lineage(
            [model, *(lake_dataset(u) for u in sources)], outputs, job_name=ran.get("job_name"), kind="transform"
        )

    def on_kill(self) -> None:
        """Terminate the handler worker processes; the job's output is not published."""
        if self._job is not None:
            self._job.stop()
