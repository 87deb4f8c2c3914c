"""SageMakerRegistry (ml/registry/sagemaker_registry.py) against moto, through the registry life cycle."""

from __future__ import annotations

import boto3
import pytest

from include.aws_images import sklearn_image_uri
from ml.registry import APPROVED, CHALLENGER, CHAMPION, PENDING, REJECTED, ModelRegistry, RegistryError, get_registry
from ml.registry.lifecycle import promote, register_challenger, reject
from ml.registry.sagemaker_registry import ALIAS_TAG, SageMakerRegistry, group_name, metadata_properties

pytestmark = pytest.mark.aws

REGION = "us-east-1"
IMAGE = sklearn_image_uri(REGION)
TAGS = {"job_name": "nlpops-amazon-polarity-train-x", "processed_uri": "s3://lake/processed/amazon_polarity"}


@pytest.fixture
def client(aws):
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture
def registry(client) -> SageMakerRegistry:
    return SageMakerRegistry(client, image_uri=IMAGE)


def artefact(n: int) -> str:
    return f"s3://lake/models/amazon_polarity/nlpops-job-{n}/output/model.tar.gz"


def test_it_is_a_model_registry(registry):
    assert isinstance(registry, ModelRegistry)


def test_register_creates_the_group_and_a_pending_version(registry, client):
    mv = registry.register("amazon_polarity", artefact(1), {"macro_f1": 0.91, "accuracy": 0.9}, TAGS)
    assert (mv.name, mv.version, mv.status, mv.artifact_uri) == ("amazon_polarity", "1", PENDING, artefact(1))
    assert mv.metrics == {"accuracy": 0.9, "macro_f1": 0.91}
    assert mv.tags == TAGS
    group = client.describe_model_package_group(ModelPackageGroupName="nlpops-amazon-polarity")
    assert group["ModelPackageGroupName"] == group_name("amazon_polarity")
    package = client.list_model_packages(ModelPackageGroupName="nlpops-amazon-polarity")["ModelPackageSummaryList"]
    assert len(package) == 1
    described = client.describe_model_package(ModelPackageName=package[0]["ModelPackageArn"])
    container = described["InferenceSpecification"]["Containers"][0]
    assert container == {"Image": IMAGE, "ModelDataUrl": artefact(1)} | {
        k: v for k, v in container.items() if k not in ("Image", "ModelDataUrl")
    }
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["CustomerMetadataProperties"]["metric:macro_f1"] == "0.91"
    # a second version goes into the same group
    assert registry.register("amazon_polarity", artefact(2), {"macro_f1": 0.92}, TAGS).version == "2"
    assert [v.version for v in registry.list_versions("amazon_polarity")] == ["1", "2"]


def test_life_cycle_promote_then_reject(registry, client):
    v1 = register_challenger(registry, "amazon_polarity", artefact(1), {"macro_f1": 0.8}, TAGS)
    assert registry.get_by_alias("amazon_polarity", CHALLENGER).version == v1.version
    assert promote(registry, "amazon_polarity", v1.version, "first model above the floor") is None
    champion = registry.get_by_alias("amazon_polarity", CHAMPION)
    assert (champion.version, champion.status, champion.aliases) == ("1", APPROVED, (CHAMPION,))
    assert champion.metrics == {"macro_f1": 0.8}, "update_model_package must keep the metadata"
    assert registry.get_by_alias("amazon_polarity", CHALLENGER) is None
    arn = client.list_model_packages(ModelPackageGroupName="nlpops-amazon-polarity")["ModelPackageSummaryList"][0]
    assert client.describe_model_package(ModelPackageName=arn["ModelPackageArn"])["ApprovalDescription"] == (
        "first model above the floor"
    )

    v2 = register_challenger(registry, "amazon_polarity", artefact(2), {"macro_f1": 0.79}, TAGS)
    reject(registry, "amazon_polarity", v2.version, "macro_f1 0.79 < champion 0.80 + margin")
    assert registry.get_version("amazon_polarity", "2").status == REJECTED
    assert registry.get_by_alias("amazon_polarity", CHAMPION).version == "1"

    v3 = register_challenger(registry, "amazon_polarity", artefact(3), {"macro_f1": 0.9}, TAGS)
    previous = promote(registry, "amazon_polarity", v3.version, "better by 0.1")
    assert previous is not None and previous.version == "1"
    assert registry.get_by_alias("amazon_polarity", CHAMPION).version == "3"
    assert registry.get_version("amazon_polarity", "1").aliases == ()
    # the alias lives in the group's tags, one key per alias
    group_arn = client.describe_model_package_group(ModelPackageGroupName="nlpops-amazon-polarity")[
        "ModelPackageGroupArn"
    ]
    tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=group_arn)["Tags"]}
    assert tags[f"{ALIAS_TAG}{CHAMPION}"] == "3"


def test_unknown_profile_and_version(registry):
    assert registry.get_by_alias("nothing_here", CHAMPION) is None
    assert registry.list_versions("nothing_here") == []
    registry.register("amazon_polarity", artefact(1), {}, {})
    with pytest.raises(RegistryError, match=r"version '7'.*versions: \['1'\]"):
        registry.set_alias("amazon_polarity", CHAMPION, "7")
    with pytest.raises(RegistryError, match="status 'Great'"):
        registry.set_status("amazon_polarity", "1", "Great", "no")


def test_metadata_properties_respect_sagemaker_limits():
    props = metadata_properties({"f1": 0.5, "flag": True}, {"long": "x" * 400})  # type: ignore[dict-item]
    assert props == {"metric:f1": "0.5", "tag:long": "x" * 256}
    with pytest.raises(RegistryError, match="50 CustomerMetadataProperties"):
        metadata_properties({f"m{i}": 1.0 for i in range(51)}, {})


def test_get_registry_on_aws_uses_the_installed_client_factory(aws, monkeypatch):
    from include.settings import load_settings
    from ml import registry as reg

    project_image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/nlpops-sagemaker:0123abcd"
    settings = load_settings(
        {"NLPOPS_TARGET": "aws", "NLPOPS_LAKE_URI": "s3://lake", "NLPOPS_SAGEMAKER_IMAGE_URI": project_image}
    )
    made: list[str] = []

    def factory(s):
        made.append(s.aws_region)
        return boto3.client("sagemaker", region_name=s.aws_region)

    monkeypatch.setattr(reg, "_sagemaker_client_factory", factory)
    registry = get_registry(settings)
    assert isinstance(registry, SageMakerRegistry) and made == [REGION]
    assert registry.image_uri == project_image  # the project image, never the framework default
