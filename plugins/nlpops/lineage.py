"""OpenLineage datasets of the lake and the registry, for the project's operators.

Each operator that reads or writes lake data implements ``get_openlineage_facets_on_complete``
with these helpers (the OpenLineage provider calls it after ``execute`` in the same process):

* ``prepare_text`` (ETL): inputs = the raw files the run validated (from the validated
  ``_manifest.json``) and the validated run; output = the processed run.
* ``train``: inputs = the processed runs staged into the channels; output = the model artefact.
* ``transform`` (scoring): inputs = the model **version** (a dataset of the registry, with a
  symlink to its artefact) and the transform inputs; output = the job's ``inference-output``
  prefix; the run carries the job name, which every result row records (``job_name``).

Names follow OpenLineage's conventions: ``file`` + absolute path, ``s3://<bucket>`` + key. The
model version is ``<registry namespace>`` + ``<profile>/versions/<version>``. Where events go is
Airflow configuration (``[openlineage] transport``): ``nlpops.runtime.airflow_environ`` writes
JSON lines to ``$AIRFLOW_HOME/openlineage/events.jsonl`` unless a transport is set (README).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset

#: The run facet naming the job (training, transform, ETL) a task ran.
JOB_FACET = "nlpops_job"


def dataset_name(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of a lake URI: ``file:///a/b`` → ``file``, ``/a/b``; ``s3://b/k`` → ``s3://b``, ``k``."""
    uri = uri.rstrip("/")
    if uri.startswith("file://"):
        return "file", uri[len("file://") :] or "/"
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "file", uri
    bucket, _, key = rest.partition("/")
    return f"{scheme}://{bucket}", key


def lake_dataset(uri: str) -> Dataset:
    from openlineage.client.event_v2 import Dataset

    namespace, name = dataset_name(uri)
    return Dataset(namespace=namespace, name=name)


def registry_namespace(settings: Any) -> str:
    """Where model versions live: the MLflow store locally, SageMaker Model Registry on aws."""
    if settings.target == "aws":
        return f"sagemaker://{settings.aws_region}"
    return f"mlflow+{settings.mlflow_tracking_uri}"


def model_version_dataset(settings: Any, profile: str, version: str, artifact_uri: str) -> Dataset:
    """The registered model version as a dataset, with a symlink to the artefact it points at."""
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import symlinks_dataset

    namespace, name = dataset_name(artifact_uri)
    artefact = symlinks_dataset.Identifier(namespace=namespace, name=name, type="ARTIFACT")
    return Dataset(
        namespace=registry_namespace(settings),
        name=f"{profile}/versions/{version}",
        facets={"symlinks": symlinks_dataset.SymlinksDatasetFacet(identifiers=[artefact])},
    )


def job_run_facet(job_name: str, kind: str = "") -> Any:
    """A custom run facet naming the job (what result rows and registry tags record)."""
    return _job_facet_class()(job_name=job_name, kind=kind)


@lru_cache(maxsize=1)
def _job_facet_class() -> Any:
    import attr
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class NlpopsJobRunFacet(RunFacet):  # type: ignore[misc]
        """The nlpops job a task ran: ``job_name`` (in result rows and registry tags) and its kind."""

        job_name: str
        kind: str = ""

    return NlpopsJobRunFacet


def operator_lineage(
    inputs: Iterable[Dataset], outputs: Iterable[Dataset], job_name: str | None = None, kind: str = ""
) -> OperatorLineage:
    from airflow.providers.openlineage.extractors import OperatorLineage

    facets = {JOB_FACET: job_run_facet(job_name, kind)} if job_name else {}
    return OperatorLineage(inputs=list(inputs), outputs=list(outputs), run_facets=facets)


def raw_files_of_validated(validated_uri: str) -> list[str]:
    """The raw objects a validated run came from (its ``_manifest.json``), refused files excluded."""
    from include import lake

    manifest_uri = lake.join(validated_uri, "_manifest.json")
    if not lake.exists(manifest_uri):
        return []
    manifest = lake.read_json(manifest_uri)
    return [
        str(f["uri"])
        for f in manifest.get("files", [])
        if f.get("uri") and f.get("status") not in {"refused", "unparseable", "over_breaker"}
    ]


__all__ = [
    "JOB_FACET",
    "dataset_name",
    "lake_dataset",
    "model_version_dataset",
    "operator_lineage",
    "raw_files_of_validated",
    "registry_namespace",
]
