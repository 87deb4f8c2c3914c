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


def test_a_project_image_overrides_the_framework_image():
    from include.aws_images import sagemaker_image_uri
    from include.settings import load_settings

    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nlpops:1"
    assert sagemaker_image_uri("eu-west-1", override=ecr) == ecr
    assert sagemaker_image_uri("eu-west-1") == sklearn_image_uri("eu-west-1")
    assert load_settings({"NLPOPS_SAGEMAKER_IMAGE_URI": f" {ecr} "}).sagemaker_image_uri == ecr
