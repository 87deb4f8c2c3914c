"""SageMaker scikit-learn framework container images, per region (no SageMaker SDK needed).

The account ids are those of the SageMaker Python SDK's
``src/sagemaker/image_uri_config/sklearn.json`` (aws/sagemaker-python-sdk), identical for the
``training`` and ``inference`` scopes of versions 1.0-1 and 1.2-1. The containers are
CPU-only, Python 3. Pure Python: importable anywhere (DAG files, ``ml``, tests).
"""

from __future__ import annotations

REPOSITORY = "sagemaker-scikit-learn"
#: Framework versions the table is valid for (``Profile.aws.framework_version``).
SUPPORTED_VERSIONS = ("1.0-1", "1.2-1")
DEFAULT_VERSION = "1.2-1"

#: region -> AWS account that publishes the scikit-learn image there.
SKLEARN_REGISTRIES: dict[str, str] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "me-south-1": "801668240914",
    "me-central-1": "272398656194",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-west-1": "414596584902",
    "us-gov-east-1": "237065988967",
    "us-iso-east-1": "833128469047",
    "us-isob-east-1": "281123927165",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}

# ECR's DNS suffix differs outside the commercial partition.
_DNS_SUFFIX = {"cn-": "amazonaws.com.cn", "us-iso-": "c2s.ic.gov", "us-isob-": "sc2s.sgov.gov"}


class UnknownImageError(ValueError):
    """No scikit-learn image is published for this region or framework version."""


def _dns_suffix(region: str) -> str:
    # Longest prefix first: "us-isob-" must not match as "us-iso-".
    for prefix in sorted(_DNS_SUFFIX, key=len, reverse=True):
        if region.startswith(prefix):
            return _DNS_SUFFIX[prefix]
    return "amazonaws.com"


def sklearn_image_uri(region: str, version: str = DEFAULT_VERSION) -> str:
    """ECR URI of the SageMaker scikit-learn container ``version`` in ``region`` (training and inference).

    >>> sklearn_image_uri("eu-west-1")
    '141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3'
    """
    if version not in SUPPORTED_VERSIONS:
        raise UnknownImageError(
            f"scikit-learn framework version {version!r} is not in the image table (include/aws_images.py); "
            f"set the profile's aws.framework_version to one of {', '.join(SUPPORTED_VERSIONS)}"
        )
    account = SKLEARN_REGISTRIES.get(region)
    if account is None:
        raise UnknownImageError(
            f"no SageMaker scikit-learn image is known for region {region!r} (NLPOPS_AWS_REGION); "
            f"known regions: {', '.join(sorted(SKLEARN_REGISTRIES))}. For a new region add its account "
            "from the SageMaker Python SDK's image_uri_config/sklearn.json to include/aws_images.py"
        )
    return f"{account}.dkr.ecr.{region}.{_dns_suffix(region)}/{REPOSITORY}:{version}-cpu-py3"


#: What the framework images run (SageMaker Python SDK image table), for the refusal message.
FRAMEWORK_RUNTIMES = {
    "1.0-1": "Python 3.7, scikit-learn 0.23",
    "1.2-1": "Python 3.9, numpy 1.24, scikit-learn 1.2.1",
    "1.4-2": "Python 3.10, scikit-learn 1.4.2",
}
IMAGE_SETTING = "NLPOPS_SAGEMAKER_IMAGE_URI"
_BUILD_HINT = (
    "build and push the project image with `make sagemaker-image` (docker/sagemaker/Dockerfile: Python 3.12 and "
    "the worker's scikit-learn/skops/numpy/scipy pins) and set NLPOPS_SAGEMAKER_IMAGE_URI to the URI it prints"
)


def check_project_image(uri: str) -> str:
    """``uri`` if it can be the project's image; a :class:`SettingsError` naming the setting otherwise.

    Refused: no image (the framework default) and any SageMaker scikit-learn framework image:
    they cannot run ``ml/train.py`` (1.2-1: Python 3.9, numpy 1.24 is below skops' floor), and
    a model trained with another scikit-learn than the worker's is read back across a version
    skew. Whether an image of another repository carries the project's pins is the preflight's
    check (its ``nlpops.pin.*`` labels, :func:`include.runtimes.image_labels`).
    """
    from include.settings import SettingsError

    uri = uri.strip()
    if not uri:
        raise SettingsError(
            f"{IMAGE_SETTING} is not set: the aws target trains and scores in the project's SageMaker image, "
            f"the default scikit-learn framework image ({FRAMEWORK_RUNTIMES[DEFAULT_VERSION]}) cannot run "
            f"ml/train.py; {_BUILD_HINT}"
        )
    path = uri.split("/", 1)[1] if "/" in uri else uri
    repository, _, tag = path.split("@", 1)[0].partition(":")
    if repository.rsplit("/", 1)[-1] == REPOSITORY:
        version = tag.split("-cpu")[0].split("-py")[0]
        runs = FRAMEWORK_RUNTIMES.get(version, "another Python and scikit-learn than the worker")
        raise SettingsError(
            f"{IMAGE_SETTING}={uri!r} is a SageMaker scikit-learn framework image ({runs}): it cannot run the "
            f"project's code with the worker's pins; {_BUILD_HINT}"
        )
    return uri


def sagemaker_image_uri(region: str, version: str = DEFAULT_VERSION, override: str = "") -> str:
    """The image SageMaker runs: the project image of ``NLPOPS_SAGEMAKER_IMAGE_URI`` (``override``), checked.

    The aws target refuses to build its SageMaker tasks without it (:func:`check_project_image`):
    ``region`` and ``version`` only name the framework image in the refusal.
    """
    return check_project_image(override)


__all__ = [
    "DEFAULT_VERSION",
    "FRAMEWORK_RUNTIMES",
    "IMAGE_SETTING",
    "SKLEARN_REGISTRIES",
    "SUPPORTED_VERSIONS",
    "UnknownImageError",
    "check_project_image",
    "sagemaker_image_uri",
    "sklearn_image_uri",
]
