"""aws registry: the SageMaker Model Registry behind :class:`ml.registry.ModelRegistry`.

* one **model package group** per profile, ``<prefix>-<profile>`` (``_`` → ``-``: group
  names allow ``[a-zA-Z0-9-]`` only), created on first registration;
* a **version** is a model package of that group (``ModelPackageVersion`` 1, 2, …),
  registered ``PendingManualApproval`` with an ``InferenceSpecification`` (the scikit-learn
  serving image and ``ModelDataUrl`` = the ``model.tar.gz``); metrics and lineage tags go to
  ``CustomerMetadataProperties`` as ``metric:<name>`` / ``tag:<name>`` (values ≤ 256
  characters, longer ones are cut); optional ``ModelMetrics`` are passed through;
* **status** is the package's ``ModelApprovalStatus``; :meth:`set_status` sets it with
  ``ApprovalDescription`` = the gate's (or approver's) reason;
* **aliases** (``champion``/``challenger``) are *tags of the model package group*,
  ``nlpops:alias:<alias>`` = version. Moving an alias is then one ``AddTags`` call that
  overwrites the key (atomic: a reader never sees no champion), it survives as long as the
  group, and is visible in the console and to IAM conditions. Per-version metadata would
  need two writes (take from the old version, give to the new) and could leave two
  champions after a crash.

No Airflow here: the constructor takes a boto3 SageMaker client (the Airflow side builds
it from the ``aws_default`` connection, :mod:`nlpops.aws.registry`).
"""

from __future__ import annotations

import re
from typing import Any

from ml.registry.base import PENDING, STATUSES, ModelVersion, RegistryError

ALIAS_TAG = "nlpops:alias:"
METRIC_KEY = "metric:"
TAG_KEY = "tag:"
#: CustomerMetadataProperties limits: 50 entries, keys ≤ 128, values ≤ 256 characters.
MAX_PROPERTIES = 50
MAX_KEY = 128
MAX_VALUE = 256
#: What batch transform sends and receives (ml/inference.py: one record per line).
CONTENT_TYPES = ("text/csv", "application/jsonlines", "text/plain")
RESPONSE_TYPES = ("application/jsonlines",)
_INVALID = re.compile(r"[^a-zA-Z0-9]+")


def group_name(profile: str, prefix: str = "nlpops") -> str:
    """The model package group of ``profile`` (≤ 63 characters of ``[a-zA-Z0-9-]``)."""
    name = _INVALID.sub("-", f"{prefix}-{profile}").strip("-")
    if len(name) > 63:
        raise RegistryError(f"model package group name {name!r} is longer than 63 characters")
    return name


def _not_found(err: Exception) -> bool:
    response = getattr(err, "response", {}) or {}
    error = response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") in {"ValidationException", "ResourceNotFound"} and (
        "not found" in message or "does not exist" in message or "could not find" in message
    )


def metadata_properties(metrics: dict[str, float], tags: dict[str, str]) -> dict[str, str]:
    """``CustomerMetadataProperties`` of a version: ``metric:<name>`` and ``tag:<name>``, within the limits."""
    props: dict[str, str] = {}
    for key, number in sorted(metrics.items()):
        if isinstance(number, int | float) and not isinstance(number, bool):
            props[f"{METRIC_KEY}{key}"[:MAX_KEY]] = repr(float(number))
    for key, text in sorted(tags.items()):
        props[f"{TAG_KEY}{key}"[:MAX_KEY]] = str(text)[:MAX_VALUE]
    if len(props) > MAX_PROPERTIES:
        raise RegistryError(
            f"{len(props)} metrics and tags exceed SageMaker's {MAX_PROPERTIES} CustomerMetadataProperties"
        )
    return props


class SageMakerRegistry:
    """:class:`ml.registry.ModelRegistry` on the SageMaker Model Registry (see the module docstring).

    :param client: a boto3 ``sagemaker`` client
    :param image_uri: the serving image recorded in each version's ``InferenceSpecification``
    :param prefix: model package group names are ``<prefix>-<profile>``
    :param instance_types: transform instance types recorded as supported
    """

    def __init__(
        self,
        client: Any,
        *,
        image_uri: str,
        prefix: str = "nlpops",
        instance_types: tuple[str, ...] = ("ml.m5.large", "ml.m5.xlarge"),
    ) -> None:
        self.client = client
        self.image_uri = image_uri
        self.prefix = prefix
        self.instance_types = instance_types

    # -- writes -------------------------------------------------------------------------
    def register(
        self,
        profile: str,
        artifact_uri: str,
        metrics: dict[str, float],
        tags: dict[str, str],
        *,
        params: dict[str, Any] | None = None,
        model_metrics: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """A new model package (PendingManualApproval) in the profile's group.

        ``params`` (the training hyper-parameters) are not copied: the training job named
        in the ``job_name`` tag holds them. ``model_metrics`` is SageMaker's ``ModelMetrics``.
        """
        del params  # recorded by the training job itself
        group = self._ensure_group(profile)
        request: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": f"nlpops {profile}: {tags.get('job_name', artifact_uri)}"[:1024],
            "InferenceSpecification": {
                "Containers": [{"Image": self.image_uri, "ModelDataUrl": artifact_uri}],
                "SupportedContentTypes": list(CONTENT_TYPES),
                "SupportedResponseMIMETypes": list(RESPONSE_TYPES),
                "SupportedTransformInstanceTypes": list(self.instance_types),
            },
            "ModelApprovalStatus": PENDING,
            "CustomerMetadataProperties": metadata_properties(metrics, tags),
        }
        if model_metrics:
            request["ModelMetrics"] = model_metrics
        try:
            arn = self.client.create_model_package(**request)["ModelPackageArn"]
        except Exception as exc:
            raise RegistryError(f"registering {artifact_uri} in model package group {group!r} failed: {exc}") from exc
        return self._from_description(profile, self.client.describe_model_package(ModelPackageName=arn))

    def set_alias(self, profile: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``: one tag of the group, overwritten in place."""
        self._package_arn(profile, str(version))  # refuse an alias to a version that does not exist
        self.client.add_tags(
            ResourceArn=self._group_arn(profile), Tags=[{"Key": f"{ALIAS_TAG}{alias}", "Value": str(version)}]
        )

    def delete_alias(self, profile: str, alias: str) -> None:
        if alias in self._aliases(profile):
            self.client.delete_tags(ResourceArn=self._group_arn(profile), TagKeys=[f"{ALIAS_TAG}{alias}"])

    def set_status(self, profile: str, version: str, status: str, reason: str) -> None:
        """Set the version's ``ModelApprovalStatus``; ``reason`` becomes its ``ApprovalDescription``."""
        if status not in STATUSES:
            raise RegistryError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        arn = self._package_arn(profile, str(version))
        current = self.client.describe_model_package(ModelPackageName=arn)
        self.client.update_model_package(
            ModelPackageArn=arn,
            ModelApprovalStatus=status,
            ApprovalDescription=reason[:1024],
            # Sent again unchanged: SageMaker keeps them anyway, moto 5.2 drops them otherwise.
            CustomerMetadataProperties=current.get("CustomerMetadataProperties") or {},
        )

    # -- reads --------------------------------------------------------------------------
    def get_by_alias(self, profile: str, alias: str) -> ModelVersion | None:
        version = self._aliases(profile).get(alias)
        return None if version is None else self.get_version(profile, version)

    def get_version(self, profile: str, version: str) -> ModelVersion:
        arn = self._package_arn(profile, str(version))
        return self._from_description(profile, self.client.describe_model_package(ModelPackageName=arn))

    def list_versions(self, profile: str) -> list[ModelVersion]:
        """Every version of the profile's group, oldest first (none if the group does not exist yet)."""
        return [self.get_version(profile, v) for v in sorted(self._packages(profile), key=int)]

    # -- helpers ------------------------------------------------------------------------
    def _ensure_group(self, profile: str) -> str:
        group = group_name(profile, self.prefix)
        try:
            self.client.describe_model_package_group(ModelPackageGroupName=group)
        except Exception as exc:
            if not _not_found(exc):
                raise
            self.client.create_model_package_group(
                ModelPackageGroupName=group,
                ModelPackageGroupDescription=f"nlpops text classifier of profile {profile}",
                Tags=[{"Key": "nlpops:profile", "Value": profile}],
            )
        return group

    def _group_arn(self, profile: str) -> str:
        group = group_name(profile, self.prefix)
        try:
            return str(self.client.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"])
        except Exception as exc:
            if _not_found(exc):
                raise RegistryError(f"model package group {group!r} does not exist: register a version first") from exc
            raise

    def _packages(self, profile: str) -> dict[str, str]:
        """``{version: model package ARN}`` of the profile's group."""
        group = group_name(profile, self.prefix)
        out: dict[str, str] = {}
        request: dict[str, Any] = {"ModelPackageGroupName": group, "MaxResults": 100}
        while True:
            try:
                page = self.client.list_model_packages(**request)
            except Exception as exc:
                if _not_found(exc):
                    return {}
                raise
            for summary in page.get("ModelPackageSummaryList", []):
                if summary.get("ModelPackageGroupName", group) == group and "ModelPackageVersion" in summary:
                    out[str(summary["ModelPackageVersion"])] = str(summary["ModelPackageArn"])
            token = page.get("NextToken")
            if not token:
                return out
            request["NextToken"] = token

    def _package_arn(self, profile: str, version: str) -> str:
        packages = self._packages(profile)
        if version not in packages:
            raise RegistryError(
                f"version {version!r} of {profile!r} is not in model package group "
                f"{group_name(profile, self.prefix)!r} (versions: {sorted(packages, key=int)})"
            )
        return packages[version]

    def _aliases(self, profile: str) -> dict[str, str]:
        try:
            arn = self._group_arn(profile)
        except RegistryError:
            return {}
        aliases: dict[str, str] = {}
        request: dict[str, Any] = {"ResourceArn": arn}
        while True:
            page = self.client.list_tags(**request)
            for tag in page.get("Tags", []):  # a later entry wins (moto appends instead of overwriting)
                if tag["Key"].startswith(ALIAS_TAG):
                    aliases[tag["Key"][len(ALIAS_TAG) :]] = str(tag["Value"])
            token = page.get("NextToken")
            if not token:
                return aliases
            request["NextToken"] = token

    def _from_description(self, profile: str, desc: dict[str, Any]) -> ModelVersion:
        version = str(desc["ModelPackageVersion"])
        props = dict(desc.get("CustomerMetadataProperties") or {})
        containers = (desc.get("InferenceSpecification") or {}).get("Containers") or [{}]
        return ModelVersion(
            name=profile,
            version=version,
            artifact_uri=str(containers[0].get("ModelDataUrl", "")),
            metrics={k[len(METRIC_KEY) :]: float(v) for k, v in props.items() if k.startswith(METRIC_KEY)},
            tags={k[len(TAG_KEY) :]: v for k, v in props.items() if k.startswith(TAG_KEY)},
            status=str(desc.get("ModelApprovalStatus", PENDING)),
            aliases=tuple(sorted(a for a, v in self._aliases(profile).items() if v == version)),
        )


__all__ = ["ALIAS_TAG", "SageMakerRegistry", "group_name", "metadata_properties"]
