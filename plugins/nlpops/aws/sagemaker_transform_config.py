"""The SageMaker ``CreateModel`` and ``CreateTransformJob`` requests of batch scoring, as pure functions.

The scoring twin of :mod:`nlpops.aws.sagemaker_config` (training): the same source archive
rules (``ml`` package, reproducible ``.tar.gz``, content-addressed name) with the scoring
entry, :mod:`nlpops.aws.scoring_entry`, at its root. Nothing here imports Airflow or boto3:
the operator (:mod:`nlpops.aws.transform`) calls these functions and sends the result.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from include.naming import is_valid_job_name
from include.settings import PROJECT_ROOT, SettingsError
from nlpops.aws.sagemaker_config import (
    INSTANCE_STORE,
    LOG_LEVEL_INFO,
    REQUIREMENTS,
    ROLE_ARN,
    SOURCE_PACKAGES,
    require_setting,
    source_files,
    tar_gz,
)

# --- batch scoring: CreateModel + CreateTransformJob ------------------------------------------------
#
# The scikit-learn serving container imports the module named by ``SAGEMAKER_PROGRAM`` from
# the code directory (``SAGEMAKER_SUBMIT_DIRECTORY`` extracted, as the SageMaker Python SDK's
# ``SKLearnModel`` sets them) and calls its model_fn/input_fn/predict_fn/output_fn. The entry
# is a three-line module that re-exports ``ml/inference.py`` unchanged; ``model.json`` names
# the profile only, and the profile JSON is longer than a container environment value may be
# (1024 characters), so it travels as ``profile.json`` beside the entry.

#: ``SAGEMAKER_PROGRAM`` of the scoring model: the entry at the root of its source archive.
INFERENCE_ENTRY_POINT = "inference.py"
#: The profile JSON in the scoring source archive (read by the entry into ``NLPOPS_PROFILE_JSON``).
INFERENCE_PROFILE_FILE = "profile.json"
#: The entry's source: a real module of this package, copied into the archive as ``inference.py``
#: (never imported here: it reads ``profile.json`` beside it, as it is in the container).
INFERENCE_ENTRY_FILE = Path(__file__).with_name("scoring_entry.py")
#: Where the serving container finds the code when the model is network-isolated (repacked in the model).
ISOLATED_CODE_DIR = "/opt/ml/model/code"
TRANSFORM_CONTENT_TYPE = "application/jsonlines"
#: SageMaker: MaxPayloadInMB ≤ 100, and MaxConcurrentTransforms × MaxPayloadInMB ≤ 100.
MAX_TRANSFORM_PAYLOAD_MB = 100
MAX_MODEL_NAME = 63


def build_inference_sourcedir(
    profile_json: str, root: Path = PROJECT_ROOT, packages: Iterable[str] = SOURCE_PACKAGES
) -> bytes:
    """The scoring ``sourcedir.tar.gz``: the entry, ``profile.json``, the ``ml`` package, ``requirements.txt``.

    Byte-reproducible for the same code and profile, so :func:`sourcedir_name` gives the
    same key and the archive is uploaded once.
    """
    json.loads(profile_json)  # a broken profile must fail here, not in the container
    members = [
        (INFERENCE_ENTRY_POINT, INFERENCE_ENTRY_FILE.read_bytes()),
        (INFERENCE_PROFILE_FILE, profile_json.encode("utf-8")),
        ("requirements.txt", ("\n".join(REQUIREMENTS) + "\n").encode()),
    ]
    members += [(name, path.read_bytes()) for name, path in source_files(root, packages)]
    return tar_gz(members)


def repack_model_with_code(model_archive: bytes, sourcedir: bytes) -> bytes:
    """``model.tar.gz`` with the source archive's files under ``code/``, as the SDK does for network isolation.

    An isolated container cannot download ``SAGEMAKER_SUBMIT_DIRECTORY``; it finds the code
    in the model at :data:`ISOLATED_CODE_DIR`. (It cannot pip-install ``requirements.txt``
    either: the image must already have skops, or the wheel must be vendored in ``code/``.)
    """
    members: list[tuple[str, bytes]] = []
    for archive, prefix in ((model_archive, ""), (sourcedir, "code/")):
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                if not member.isfile():
                    continue
                if prefix == "" and name.startswith("code/"):
                    continue  # an earlier repack: replaced by this code
                fh = tar.extractfile(member)
                members.append((prefix + name, fh.read() if fh else b""))
    return tar_gz(members)


def inference_model_name(profile_name: str, model_version: str, *, fingerprint: str) -> str:
    """``nlpops-<profile>-v<version>-<digest>``: one SageMaker model per champion version and code.

    SageMaker models are immutable: ``fingerprint`` (what the model is made of: artefact,
    code archive, image, role, isolation) goes into the 8-hex digest, so new code gets a new
    model while a retry with the same inputs finds the one it created.
    """
    digest = hashlib.sha1(f"{profile_name}|{model_version}|{fingerprint}".encode()).hexdigest()[:8]  # noqa: S324
    version = re.sub(r"[^a-zA-Z0-9]+", "-", str(model_version)).strip("-") or "0"
    head = re.sub(r"[^a-zA-Z0-9]+", "-", f"nlpops-{profile_name}-v{version}").strip("-")
    name = f"{head[: MAX_MODEL_NAME - len(digest) - 1].rstrip('-')}-{digest}"
    if not is_valid_job_name(name):  # the same rule as job names: ≤63 of [a-zA-Z0-9-]
        raise ValueError(f"model name {name!r} is not a valid SageMaker name")
    return name


def inference_model_config(
    *,
    name: str,
    image_uri: str,
    model_data_url: str,
    submit_directory: str,
    role_arn: str,
    region: str,
    model_version: str,
    network_isolation: bool = False,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``CreateModel`` request of the scoring model: the champion's artefact in the scikit-learn image.

    ``submit_directory`` is the S3 URI of :func:`build_inference_sourcedir`'s archive, or
    with ``network_isolation`` :data:`ISOLATED_CODE_DIR` (``model_data_url`` is then the
    archive :func:`repack_model_with_code` made).
    """
    if not ROLE_ARN.match(require_setting(role_arn, "the SageMaker execution role", "NLPOPS_SAGEMAKER_ROLE_ARN")):
        raise SettingsError(
            f"NLPOPS_SAGEMAKER_ROLE_ARN={role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        )
    if not model_data_url.startswith("s3://") or not model_data_url.endswith(".tar.gz"):
        raise ValueError(f"ModelDataUrl {model_data_url!r}: SageMaker needs the s3:// URI of a model.tar.gz")
    if network_isolation and submit_directory != ISOLATED_CODE_DIR:
        raise ValueError(f"a network-isolated model reads its code from {ISOLATED_CODE_DIR}, not {submit_directory}")
    if not network_isolation and not submit_directory.startswith("s3://"):
        raise ValueError(f"SAGEMAKER_SUBMIT_DIRECTORY {submit_directory!r}: give the s3:// URI of the source archive")
    return {
        "ModelName": name,
        "PrimaryContainer": {
            "Image": image_uri,
            "Mode": "SingleModel",
            "ModelDataUrl": model_data_url,
            "Environment": {
                "SAGEMAKER_PROGRAM": INFERENCE_ENTRY_POINT,
                "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": str(LOG_LEVEL_INFO),
                "SAGEMAKER_REGION": region,
                # recorded on every prediction (model.json does not know its registry version)
                "NLPOPS_MODEL_VERSION": str(model_version),
            },
        },
        "ExecutionRoleArn": role_arn,
        "EnableNetworkIsolation": bool(network_isolation),
        "Tags": [{"Key": k, "Value": str(v)[:256]} for k, v in sorted((tags or {}).items())],
    }


def transform_input_prefix(objects: Iterable[Mapping[str, Any]]) -> str:
    """The one ``s3://`` prefix every staged input is under, such that ``uri == prefix/key`` for each.

    SageMaker names each output ``<S3OutputPath>/<path under the input prefix>.out``; with
    this prefix that is ``<output>/<key>.out``, the name the local transform writes.
    """
    prefixes = set()
    for obj in objects:
        uri, key = str(obj.get("uri") or ""), str(obj.get("key") or "")
        if not uri.startswith("s3://") or not key or not uri.endswith("/" + key):
            raise ValueError(f"input object {dict(obj)}: needs an s3:// 'uri' ending in '/<key>'")
        prefixes.add(uri[: -len(key) - 1])
    if len(prefixes) != 1:
        raise ValueError(f"the inputs of one transform job must share one prefix, got {sorted(prefixes) or 'none'}")
    return prefixes.pop()


def transform_job_config(
    *,
    job_name: str,
    model_name: str,
    input_uri: str,
    output_uri: str,
    kms_key_id: str,
    instance_type: str,
    max_payload_mb: int,
    max_concurrent_transforms: int,
    instance_count: int = 1,
    input_type: str = "S3Prefix",
    content_type: str = TRANSFORM_CONTENT_TYPE,
    accept: str = TRANSFORM_CONTENT_TYPE,
    batch_strategy: str = "MultiRecord",
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``CreateTransformJob`` request, with the local transform's file semantics.

    ``SplitType=Line`` + ``BatchStrategy=MultiRecord`` + ``MaxPayloadInMB`` (requests of whole
    lines up to that size), ``AssembleWith=Line`` (``<input>.out``: line *i* answers record
    *i*), jsonlines in and out; ``kms_key_id`` encrypts the output and (unless the instance
    type has its own instance store) the volume. ``input_type`` is ``S3Prefix`` (every object
    under ``input_uri``) or ``ManifestFile`` (``input_uri`` lists them).
    """
    if not is_valid_job_name(job_name) or not is_valid_job_name(model_name):
        raise ValueError(f"job {job_name!r} / model {model_name!r}: SageMaker names are ≤63 of [a-zA-Z0-9-]")
    require_setting(kms_key_id, "the KMS key for transform volumes and outputs", "NLPOPS_KMS_KEY_ARN")
    for what, uri in (("input", input_uri), ("output", output_uri)):
        if not uri.startswith("s3://"):
            raise ValueError(f"transform {what} {uri!r}: SageMaker reads and writes s3:// URIs only")
    if input_type not in ("S3Prefix", "ManifestFile"):
        raise ValueError(f"input_type={input_type!r}: use S3Prefix or ManifestFile")
    if batch_strategy not in ("MultiRecord", "SingleRecord"):
        raise ValueError(f"BatchStrategy={batch_strategy!r}: use MultiRecord or SingleRecord")
    if not 1 <= max_payload_mb <= MAX_TRANSFORM_PAYLOAD_MB or max_concurrent_transforms < 1:
        raise ValueError(f"MaxPayloadInMB={max_payload_mb} must be 1..100, MaxConcurrentTransforms ≥ 1")
    if max_payload_mb * max_concurrent_transforms > MAX_TRANSFORM_PAYLOAD_MB:
        raise ValueError(
            f"MaxConcurrentTransforms × MaxPayloadInMB = {max_concurrent_transforms} × {max_payload_mb} exceeds "
            f"SageMaker's {MAX_TRANSFORM_PAYLOAD_MB} MB: lower the profile's inference.max_concurrent_transforms "
            "or inference.max_payload_mb"
        )
    resources: dict[str, Any] = {"InstanceType": instance_type, "InstanceCount": int(instance_count)}
    if not INSTANCE_STORE.match(instance_type):
        resources["VolumeKmsKeyId"] = kms_key_id
    source = input_uri if input_type == "ManifestFile" else input_uri.rstrip("/") + "/"
    return {
        "TransformJobName": job_name,
        "ModelName": model_name,
        "MaxConcurrentTransforms": int(max_concurrent_transforms),
        "MaxPayloadInMB": int(max_payload_mb),
        "BatchStrategy": batch_strategy,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": input_type, "S3Uri": source}},
            "ContentType": content_type,
            "CompressionType": "None",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": output_uri.rstrip("/"),
            "Accept": accept,
            "AssembleWith": "Line",
            "KmsKeyId": kms_key_id,
        },
        "TransformResources": resources,
        # The whole record in, the whole prediction out: what the results table reads.
        "DataProcessing": {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"},
        "Tags": [{"Key": k, "Value": str(v)[:256]} for k, v in sorted((tags or {}).items())],
    }


__all__ = [
    "INFERENCE_ENTRY_POINT",
    "INFERENCE_PROFILE_FILE",
    "ISOLATED_CODE_DIR",
    "build_inference_sourcedir",
    "inference_model_config",
    "inference_model_name",
    "repack_model_with_code",
    "transform_input_prefix",
    "transform_job_config",
]
