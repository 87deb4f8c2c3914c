"""The SageMaker ``CreateTrainingJob`` request of a script-mode training job, as pure functions.

(Batch scoring's ``CreateModel``/``CreateTransformJob``: :mod:`nlpops.aws.sagemaker_transform_config`.)

``ml/train.py`` runs unchanged in the SageMaker scikit-learn framework container. The
framework containers run the *SageMaker training toolkit*, which reads a few reserved
hyper-parameters, the way the SageMaker Python SDK's ``Framework`` estimator writes them:

* ``sagemaker_program`` — the entry script, run as ``python <script> --key value …`` from the
  code directory;
* ``sagemaker_submit_directory`` — the S3 URI of ``sourcedir.tar.gz``, extracted into the
  code directory (``/opt/ml/code``) before the script runs;
* ``sagemaker_region``, ``sagemaker_container_log_level``, ``sagemaker_job_name``.

The SDK JSON-encodes *every* hyper-parameter value (``{str(k): json.dumps(v)}``) and the
toolkit ``json.loads`` each one back before turning them into ``--key value`` arguments
(dicts become ``k=v,k2=v2``, everything else ``str(v)``). :func:`encode_hyperparameters`
therefore encodes the *string* the entry must receive, so a JSON list or object (e.g.
``--classes``, ``--lineage``) reaches ``argparse`` byte for byte as it does locally.

The source directory holds ``train.py`` (a byte copy of ``ml/train.py``, so the script's
directory — first on ``sys.path`` — also holds the ``ml`` package it imports), the ``ml``
package and a ``requirements.txt`` of what the framework image lacks. It is built
reproducibly (sorted, zeroed times and owners) and named by its content hash, so an
upload is skipped when the same code is already in the lake.

Nothing here imports Airflow or boto3: the operator (:mod:`nlpops.aws.training`) calls these
functions and sends the result.
"""

from __future__ import annotations

import gzip
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

#: The entry script's name inside ``sourcedir.tar.gz`` (the toolkit runs ``python train.py``).
ENTRY_POINT = "train.py"
#: The script copied to :data:`ENTRY_POINT`: the same file the local target runs.
ENTRY_SOURCE = "ml/train.py"
#: Packages shipped in ``sourcedir.tar.gz`` (``ml/train.py`` imports only ``ml``).
SOURCE_PACKAGES = ("ml",)
#: What ``ml/train.py`` needs beyond the scikit-learn framework image (installed by the toolkit).
REQUIREMENTS = ("skops>=0.10,<0.17",)
#: The toolkit's reserved hyper-parameters (never passed to the script).
RESERVED_PREFIX = "sagemaker_"
#: SageMaker limits (CreateTrainingJob API reference).
MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_VALUE = 2500
CHANNEL_CONTENT_TYPE = "application/x-parquet"
LOG_LEVEL_INFO = 20

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+")
# Instance families with local NVMe storage (m5d, c5d, g4dn, p3dn, …) refuse VolumeKmsKeyId:
# their instance store is encrypted by the hardware.
INSTANCE_STORE = re.compile(r"^ml\.[a-z]+\d+[a-z]*d[a-z]*\.")


def hyperparameter_strings(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """The ``--key value`` strings the entry receives: strings as they are, anything else as JSON.

    The local runner and the SageMaker request share this, so both targets pass the same arguments.
    """
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in hyperparameters.items()}


def encode_hyperparameters(values: Mapping[str, str]) -> dict[str, str]:
    """JSON-encode each value, as the SageMaker Python SDK's ``Framework`` estimator does."""
    return {str(k): json.dumps(v) for k, v in values.items()}


def decode_hyperparameters(encoded: Mapping[str, str]) -> dict[str, Any]:
    """What the training toolkit does on the other side: ``json.loads`` each value, keep it if not JSON."""
    out: dict[str, Any] = {}
    for key, value in encoded.items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def toolkit_arguments(encoded: Mapping[str, str]) -> list[str]:
    """The command-line arguments the toolkit builds from the request's hyper-parameters.

    Reserved ``sagemaker_*`` keys are dropped; keys are sorted; a dict becomes ``k=v,…``;
    anything else ``str(value)`` (``sagemaker_training.mapping.to_cmd_args``).
    """
    decoded = {k: v for k, v in decode_hyperparameters(encoded).items() if not k.startswith(RESERVED_PREFIX)}
    args: list[str] = []
    for key in sorted(decoded):
        value = decoded[key]
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        args += [f"--{key}" if len(key) > 1 else f"-{key}", str(value)]
    return args


def script_mode_hyperparameters(*, submit_directory: str, region: str, job_name: str) -> dict[str, str]:
    """The toolkit's reserved hyper-parameters, already encoded (as the SDK writes them)."""
    return encode_hyperparameters(
        {
            "sagemaker_program": ENTRY_POINT,
            "sagemaker_submit_directory": submit_directory,
            "sagemaker_region": region,
            "sagemaker_job_name": job_name,
        }
    ) | {"sagemaker_container_log_level": json.dumps(LOG_LEVEL_INFO)}


def source_files(root: Path, packages: Iterable[str]) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for package in packages:
        for path in sorted((root / package).rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or "__pycache__" in rel.parts or path.suffix in {".pyc", ".pyo"}:
                continue
            if any(part.startswith(".") for part in rel.parts):
                continue
            files.append((rel.as_posix(), path))
    return files


def build_sourcedir(root: Path = PROJECT_ROOT, packages: Iterable[str] = SOURCE_PACKAGES) -> bytes:
    """``sourcedir.tar.gz``: ``train.py`` + the packages + ``requirements.txt``, byte-reproducible."""
    members: list[tuple[str, bytes]] = [(ENTRY_POINT, (root / ENTRY_SOURCE).read_bytes())]
    members += [(name, path.read_bytes()) for name, path in source_files(root, packages)]
    members.append(("requirements.txt", ("\n".join(REQUIREMENTS) + "\n").encode()))
    # reproducible: the same code gives the same bytes, hence the same content-hash key
    return tar_gz(members)


def sourcedir_name(archive: bytes) -> str:
    """Content-addressed object name of a source archive: same code, same key, one upload."""
    return f"sourcedir-{hashlib.sha256(archive).hexdigest()[:16]}.tar.gz"


def require_setting(value: str, what: str, setting: str) -> str:
    if not value:
        raise SettingsError(f"{what} is not set: set {setting} (see the README's aws target section)")
    return value


def training_job_config(
    *,
    job_name: str,
    image_uri: str,
    role_arn: str,
    region: str,
    submit_directory: str,
    hyperparameters: Mapping[str, Any],
    channels: Mapping[str, str],
    output_path: str,
    kms_key_id: str,
    instance_type: str,
    instance_count: int = 1,
    volume_size_gb: int = 30,
    max_runtime_seconds: int = 3600,
    network_isolation: bool = False,
    spot: bool = False,
    max_wait_seconds: int | None = None,
    checkpoint_uri: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The complete ``CreateTrainingJob`` request of one script-mode run of ``ml/train.py``.

    ``hyperparameters`` are the entry's arguments (non-strings become JSON, as locally);
    ``channels`` maps channel name to an ``s3://`` prefix of Parquet files; the model lands
    at ``<output_path>/<job_name>/output/model.tar.gz``. ``kms_key_id`` encrypts the output
    and (unless the instance type has its own instance store) the training volume. Spot
    training waits at most ``max_wait_seconds`` (default twice the run time) and keeps
    checkpoints under ``checkpoint_uri``.
    """
    if not is_valid_job_name(job_name):
        raise ValueError(f"training job name {job_name!r} is not a valid SageMaker name (≤63 of [a-zA-Z0-9-])")
    if not ROLE_ARN.match(require_setting(role_arn, "the SageMaker execution role", "NLPOPS_SAGEMAKER_ROLE_ARN")):
        raise SettingsError(
            f"NLPOPS_SAGEMAKER_ROLE_ARN={role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        )
    require_setting(kms_key_id, "the KMS key for training volumes and outputs", "NLPOPS_KMS_KEY_ARN")
    for name, uri in {"output_path": output_path, "submit_directory": submit_directory, **channels}.items():
        if not uri.startswith("s3://"):
            raise ValueError(f"{name}={uri!r}: SageMaker reads and writes s3:// URIs only")
    for required in ("train", "validation"):
        if required not in channels:
            raise ValueError(f"channel {required!r} is missing: ml/train.py needs train and validation")
    if instance_count < 1 or volume_size_gb < 1 or max_runtime_seconds < 1:
        raise ValueError("instance_count, volume_size_gb and max_runtime_seconds must be positive")

    user = hyperparameter_strings(hyperparameters)
    reserved = [k for k in user if k.startswith(RESERVED_PREFIX)]
    if reserved:
        raise ValueError(f"hyper-parameters {reserved} use the toolkit's reserved prefix {RESERVED_PREFIX!r}")
    encoded = encode_hyperparameters(user) | script_mode_hyperparameters(
        submit_directory=submit_directory, region=region, job_name=job_name
    )
    too_long = sorted(k for k, v in encoded.items() if len(v) > MAX_HYPERPARAMETER_VALUE)
    if too_long or len(encoded) > MAX_HYPERPARAMETERS:
        raise ValueError(
            f"SageMaker takes at most {MAX_HYPERPARAMETERS} hyper-parameters of at most "
            f"{MAX_HYPERPARAMETER_VALUE} characters; too long: {too_long}, count: {len(encoded)}"
        )

    resource: dict[str, Any] = {
        "InstanceType": instance_type,
        "InstanceCount": int(instance_count),
        "VolumeSizeInGB": int(volume_size_gb),
    }
    if not INSTANCE_STORE.match(instance_type):
        resource["VolumeKmsKeyId"] = kms_key_id
    config: dict[str, Any] = {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": encoded,
        "InputDataConfig": [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri.rstrip("/") + "/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": CHANNEL_CONTENT_TYPE,
                "CompressionType": "None",
            }
            for name, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": output_path.rstrip("/"), "KmsKeyId": kms_key_id},
        "ResourceConfig": resource,
        "StoppingCondition": {"MaxRuntimeInSeconds": int(max_runtime_seconds)},
        "EnableNetworkIsolation": bool(network_isolation),
        "EnableManagedSpotTraining": bool(spot),
        "Tags": [{"Key": k, "Value": str(v)[:256]} for k, v in sorted((tags or {}).items())],
    }
    if spot:
        wait = max_wait_seconds or 2 * int(max_runtime_seconds)
        if wait < max_runtime_seconds:
            raise ValueError(f"spot training: max_wait_seconds={wait} must be >= max_runtime_seconds")
        config["StoppingCondition"]["MaxWaitTimeInSeconds"] = int(wait)
        if checkpoint_uri:
            config["CheckpointConfig"] = {"S3Uri": checkpoint_uri, "LocalPath": "/opt/ml/checkpoints"}
    return config


def model_artifact_uri(output_path: str, job_name: str) -> str:
    """Where SageMaker puts ``SM_MODEL_DIR``: ``<S3OutputPath>/<job>/output/model.tar.gz``."""
    return f"{output_path.rstrip('/')}/{job_name}/output/model.tar.gz"


def output_data_uri(output_path: str, job_name: str) -> str:
    """Where SageMaker puts ``SM_OUTPUT_DATA_DIR``: ``<S3OutputPath>/<job>/output/output.tar.gz``."""
    return f"{output_path.rstrip('/')}/{job_name}/output/output.tar.gz"


def tar_gz(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A byte-reproducible ``.tar.gz`` of ``(name, data)`` members (sorted, zero times, plain files)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


__all__ = [
    "ENTRY_POINT",
    "INSTANCE_STORE",
    "LOG_LEVEL_INFO",
    "REQUIREMENTS",
    "ROLE_ARN",
    "SOURCE_PACKAGES",
    "build_sourcedir",
    "decode_hyperparameters",
    "encode_hyperparameters",
    "hyperparameter_strings",
    "model_artifact_uri",
    "output_data_uri",
    "require_setting",
    "script_mode_hyperparameters",
    "source_files",
    "sourcedir_name",
    "tar_gz",
    "toolkit_arguments",
    "training_job_config",
]
