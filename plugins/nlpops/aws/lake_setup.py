"""Create the S3 lake of the aws target, idempotently, with the controls the design asks for.

Per bucket: SSE-KMS default encryption with the customer key and S3 Bucket Keys (fewer
KMS calls, lower cost), versioning, the four public-access-block switches, bucket-owner
ownership (no ACLs), and a bucket policy that denies any request not over TLS and any
PUT whose encryption headers name another encryption or key (a PUT without them gets the
bucket default). The layout follows the
``NLPOPS_LAKE_LAYOUT`` setting: one bucket with zone prefixes, or one bucket per zone.
CloudFormation (``include/infra/nlpops.yaml``) builds the same thing for a real account;
this function is for accounts where the stack is not used, and for tests against moto.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from include.settings import ZONES, Settings, SettingsError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


@dataclass(frozen=True)
class BucketSetup:
    """What :func:`ensure_lake` did to one bucket."""

    bucket: str
    zones: tuple[str, ...]
    created: bool
    applied: tuple[str, ...] = field(default=())


def lake_buckets(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Bucket name → zones it holds, from ``settings.zone_uri`` (the one place zones are located)."""
    if not settings.lake_uri.startswith("s3://"):
        raise SettingsError(f"NLPOPS_LAKE_URI={settings.lake_uri!r}: the S3 lake needs an s3:// URI")
    out: dict[str, list[str]] = {}
    for zone in ZONES:
        bucket = settings.zone_uri(zone)[len("s3://") :].split("/", 1)[0]
        out.setdefault(bucket, []).append(zone)
    return {b: tuple(z) for b, z in out.items()}


#: The S3 request headers the encryption statements of :func:`bucket_policy` look at.
SSE_HEADER = "s3:x-amz-server-side-encryption"
SSE_KEY_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"


def bucket_policy(bucket: str, kms_key_arn: str) -> dict[str, Any]:
    """Deny non-TLS access, and PUTs whose encryption headers ask for anything but the lake key.

    A PUT without encryption headers is allowed: the bucket's default encryption (SSE-KMS
    with the lake key) encrypts it, and Spark, s3fs and Glue writers send no header. So the
    encryption statements deny only a header that is present and wrong (``Null: false`` AND
    ``StringNotEquals``), never a missing one: ``StringNotEqualsIfExists`` would also deny a
    PUT without the header. ``aws:kms`` without a key id means the AWS managed ``aws/s3`` key,
    another key: denied too. ``include/infra/nlpops.yaml`` carries the same statements.
    """
    bucket_arn = f"arn:aws:s3:::{bucket}"
    objects = f"{bucket_arn}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyOtherEncryption",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"Null": {SSE_HEADER: "false"}, "StringNotEquals": {SSE_HEADER: "aws:kms"}},
            },
            {
                "Sid": "DenyOtherKmsKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"Null": {SSE_KEY_HEADER: "false"}, "StringNotEquals": {SSE_KEY_HEADER: kms_key_arn}},
            },
            {
                "Sid": "DenyKmsWithoutTheLakeKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"StringEquals": {SSE_HEADER: "aws:kms"}, "Null": {SSE_KEY_HEADER: "true"}},
            },
        ],
    }


def _bucket_exists(s3: S3Client, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code"))
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return False
        if code in {"403", "AccessDenied"}:
            raise SettingsError(
                f"S3 bucket {bucket!r} exists but belongs to another account or denies this role: "
                "choose another NLPOPS_LAKE_URI bucket name"
            ) from err
        raise
    return True


def ensure_lake(s3: S3Client, settings: Settings, *, kms_key_arn: str, region: str | None = None) -> list[BucketSetup]:
    """Create (if missing) and configure every lake bucket; safe to run again at any time.

    ``s3`` is a boto3 S3 client (e.g. ``S3Hook(aws_conn_id).get_conn()``), ``kms_key_arn``
    the customer-managed key of the lake (the stack's ``LakeKeyArn`` output). Settings that
    are already right are written again: the calls are idempotent and cheap, and this
    repairs drift (someone switching versioning off, say).
    """
    if not kms_key_arn.startswith("arn:"):
        raise SettingsError(f"kms_key_arn={kms_key_arn!r}: give the full KMS key ARN (the stack output LakeKeyArn)")
    region = region or settings.aws_region
    results = []
    for bucket, zones in lake_buckets(settings).items():
        created = False
        if not _bucket_exists(s3, bucket):
            request: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
            if region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
                request["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                s3.create_bucket(**request)
                created = True
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise
        # Public access block first, so there is never a moment where the bucket could be public.
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": kms_key_arn,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        )
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(bucket, kms_key_arn)))
        s3.put_bucket_tagging(
            Bucket=bucket,
            Tagging={"TagSet": [{"Key": "project", "Value": "nlpops"}, {"Key": "zones", "Value": " ".join(zones)}]},
        )
        results.append(
            BucketSetup(
                bucket,
                zones,
                created,
                ("public-access-block", "sse-kms", "versioning", "ownership", "tls-only-policy", "tags"),
            )
        )
    return results


def ensure_lake_with_connection(
    settings: Settings | None = None, *, kms_key_arn: str, aws_conn_id: str | None = None
) -> list[BucketSetup]:
    """:func:`ensure_lake` through the Airflow AWS connection (``settings.aws_conn_id`` by default)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from include.settings import get_settings

    s = settings or get_settings()
    s3 = S3Hook(aws_conn_id=aws_conn_id or s.aws_conn_id, region_name=s.aws_region).get_conn()
    return ensure_lake(s3, s, kms_key_arn=kms_key_arn, region=s.aws_region)


__all__ = [
    "SSE_HEADER",
    "SSE_KEY_HEADER",
    "BucketSetup",
    "bucket_policy",
    "ensure_lake",
    "ensure_lake_with_connection",
    "lake_buckets",
]
