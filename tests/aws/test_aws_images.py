"""SageMaker scikit-learn image URIs per region."""

from __future__ import annotations

import re

import pytest

from include.aws_images import SKLEARN_REGISTRIES, UnknownImageError, sklearn_image_uri
from include.profiles import AwsSpec

pytestmark = pytest.mark.aws


@pytest.mark.parametrize(
    ("region", "uri"),
    [
        ("us-east-1", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"),
        ("eu-central-1", "492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"),
        ("cn-north-1", "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-scikit-learn:1.2-1-cpu-py3"),
        ("us-isob-east-1", "281123927165.dkr.ecr.us-isob-east-1.sc2s.sgov.gov/sagemaker-scikit-learn:1.2-1-cpu-py3"),
        ("us-iso-east-1", "833128469047.dkr.ecr.us-iso-east-1.c2s.ic.gov/sagemaker-scikit-learn:1.2-1-cpu-py3"),
    ],
)
def test_known_regions(region, uri):
    assert sklearn_image_uri(region, "1.2-1") == uri


def test_every_region_gives_a_well_formed_uri_and_the_profile_default_is_supported():
    version = AwsSpec().framework_version
    for region, account in SKLEARN_REGISTRIES.items():
        uri = sklearn_image_uri(region, version)
        assert re.fullmatch(rf"{account}\.dkr\.ecr\.{region}\.[a-z0-9.]+/sagemaker-scikit-learn:{version}-cpu-py3", uri)
        assert re.fullmatch(r"\d{12}", account)


def test_unknown_region_and_version_say_what_to_do():
    with pytest.raises(UnknownImageError, match=r"region 'mars-north-1' \(NLPOPS_AWS_REGION\).*sklearn.json"):
        sklearn_image_uri("mars-north-1")
    with pytest.raises(UnknownImageError, match=r"'0\.18'.*aws.framework_version"):
        sklearn_image_uri("us-east-1", "0.18")


def test_the_aws_target_runs_the_project_image_and_refuses_the_framework_images():
    from include.aws_images import sagemaker_image_uri
    from include.settings import SettingsError, load_settings

    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nlpops-sagemaker:1"
    assert sagemaker_image_uri("eu-west-1", override=ecr) == ecr
    assert load_settings({"NLPOPS_SAGEMAKER_IMAGE_URI": f" {ecr} "}).sagemaker_image_uri == ecr
    # no image: the default framework image cannot run ml/train.py (Python 3.9, numpy 1.24)
    with pytest.raises(SettingsError, match=r"NLPOPS_SAGEMAKER_IMAGE_URI is not set.*3\.9.*make sagemaker-image"):
        sagemaker_image_uri("eu-west-1")
    for version in ("1.2-1", "1.0-1"):
        framework = sklearn_image_uri("eu-west-1", version)
        with pytest.raises(SettingsError, match=r"NLPOPS_SAGEMAKER_IMAGE_URI=.*scikit-learn framework image"):
            sagemaker_image_uri("eu-west-1", override=framework)
    py312 = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py312"
    with pytest.raises(SettingsError, match=r"framework image \(Python 3\.10, scikit-learn 1\.4\.2\)"):
        sagemaker_image_uri("eu-west-1", override=py312)


def test_the_aws_dags_refuse_to_build_without_the_project_image(tmp_path):
    from airflow.sdk import DAG

    from include.profiles import get_profile
    from include.settings import SettingsError, load_settings
    from nlpops.factory import training_operator, transform_operator

    settings = load_settings({"NLPOPS_TARGET": "aws", "NLPOPS_LAKE_URI": "s3://lake", "AIRFLOW_HOME": str(tmp_path)})
    profile = get_profile("amazon_polarity", settings)
    with DAG("amazon_polarity_train", schedule=None), pytest.raises(SettingsError, match="NLPOPS_SAGEMAKER_IMAGE_URI"):
        training_operator(task_id="train", profile=profile, settings=settings, hyperparameters={})
    refused = pytest.raises(SettingsError, match="NLPOPS_SAGEMAKER_IMAGE_URI")
    with DAG("amazon_polarity_batch_inference", schedule=None), refused:
        transform_operator(
            task_id="transform",
            profile=profile,
            settings=settings,
            objects="[]",
            model_artifact_uri="s3://lake/models/m.tar.gz",
            model_version="1",
        )
