"""MLflow registry on a tmp SQLite store: versions, lineage tags, status, aliases after promote/reject."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.registry import APPROVED, CHALLENGER, CHAMPION, PENDING, REJECTED, ModelRegistry, RegistryError
from ml.registry.lifecycle import promote, register_challenger, reject


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    from ml.registry.mlflow_registry import MlflowRegistry

    root = tmp_path_factory.mktemp("mlflow")
    # one store per module: creating the SQLite schema costs seconds
    return MlflowRegistry(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri())


def _register(reg: ModelRegistry, profile: str, f1: float, job: str):
    return register_challenger(
        reg,
        profile,
        f"file:///lake/models/{profile}/{job}/output/model.tar.gz",
        {"macro_f1": f1, "accuracy": f1 + 0.05},
        {"job_name": job, "processed_run_keys": "20260101T000000", "profile_fingerprint": "abc", "code_version": "t"},
        params={"C": 2.0, "classifier": "logreg"},
    )


def test_register_promote_reject_and_aliases(registry) -> None:
    assert isinstance(registry, ModelRegistry)
    assert registry.get_by_alias("p1", CHAMPION) is None  # no model yet

    v1 = _register(registry, "p1", 0.8, "job-1")
    assert v1.version == "1" and v1.status == PENDING
    assert v1.metrics["macro_f1"] == pytest.approx(0.8)
    assert v1.tags["job_name"] == "job-1" and v1.tags["processed_run_keys"] == "20260101T000000"
    assert v1.artifact_uri.endswith("job-1/output/model.tar.gz")
    assert registry.get_by_alias("p1", CHALLENGER).version == "1"

    assert promote(registry, "p1", v1.version, "first model") is None
    champ = registry.get_by_alias("p1", CHAMPION)
    assert champ.version == "1" and champ.status == APPROVED and champ.tags["approval_reason"] == "first model"
    assert registry.get_by_alias("p1", CHALLENGER) is None

    v2 = _register(registry, "p1", 0.7, "job-2")
    reject(registry, "p1", v2.version, "rejected: worse")
    assert registry.get_by_alias("p1", CHAMPION).version == "1"
    rejected = registry.get_version("p1", v2.version)
    assert rejected.status == REJECTED and rejected.tags["approval_reason"] == "rejected: worse"
    assert rejected.aliases == ()

    v3 = _register(registry, "p1", 0.9, "job-3")
    previous = promote(registry, "p1", v3.version, "better")
    assert previous is not None and previous.version == "1"
    assert registry.get_by_alias("p1", CHAMPION).aliases == (CHAMPION,)
    assert [v.version for v in registry.list_versions("p1")] == ["1", "2", "3"]
    assert [v.status for v in registry.list_versions("p1")] == [APPROVED, REJECTED, APPROVED]
    # another profile is another registered model
    assert registry.list_versions("p2") == []


def test_unknown_status_refused(registry) -> None:
    v = _register(registry, "p3", 0.8, "job-x")
    with pytest.raises(RegistryError, match="PendingManualApproval"):
        registry.set_status("p3", v.version, "Maybe", "?")


def test_get_registry_by_target(tmp_path: Path) -> None:
    from include.settings import load_settings
    from ml.registry import get_registry

    aws = load_settings(
        {
            "NLPOPS_TARGET": "aws",
            "NLPOPS_LAKE_URI": "s3://bucket",
            "AIRFLOW_HOME": str(tmp_path),
            "NLPOPS_SAGEMAKER_IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/nlpops-sagemaker:t",
        }
    )
    from ml.registry.sagemaker_registry import SageMakerRegistry

    client = object()  # the registry only keeps its boto3 client until a call is made
    registry = get_registry(aws, sagemaker_client=client)
    assert isinstance(registry, SageMakerRegistry) and registry.client is client
