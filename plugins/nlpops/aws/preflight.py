"""Preflight of the aws target: everything a first run needs, checked before any paid job starts.

``make aws-preflight`` (``python -m nlpops.aws.preflight``) runs every check with the
user's AWS connection (``settings.aws_conn_id``, as the tasks see it) and prints one line
per finding; each failure names the setting, bucket, role or resource at fault and what
to do. Exit status 1 when anything fails. Checks, in order:

* **settings**: target ``aws``, an ``s3://`` lake, the KMS key and role ARNs well formed,
  the SageMaker image set (the framework default cannot run the project's code);
* **buckets**: every lake bucket and the artefacts bucket exist, encrypt by default with
  the lake key (SSE-KMS) and carry the lake's bucket policy (``lake_setup.bucket_policy``);
* **roles**: the SageMaker and Glue (or EMR Serverless) roles exist, trust their service,
  and the caller may pass them to that service (``iam:PassRole`` with
  ``iam:PassedToService``: the IAM policy simulator, else the caller role's own policies);
* **image**: the image exists in ECR and its ``nlpops.pin.*`` labels equal the project's
  pins (``include.runtimes.image_labels``): a model written by the worker's scikit-learn is
  read by the same version in the job;
* **emr-application** (``NLPOPS_SPARK_BACKEND=emr-serverless`` only): a Spark application on a
  release that can run the ETL (``nlpops.aws.etl.emr_application_problem``);
* **glue-database**, **athena-workgroup** (results location and encryption enforced),
  **sns-topic**.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from include.settings import Settings, SettingsError

#: How to fix what the stack creates (include/infra/nlpops.yaml) for a reader of the output.
STACK = "deploy include/infra/nlpops.yaml (README 'First deploy on AWS') and set the NLPOPS_* settings from its Outputs"
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/.+$")
ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[a-z0-9._/-]+)(?::(?P<tag>[A-Za-z0-9._-]+)|@(?P<digest>sha256:[0-9a-f]{64}))$"
)
MANIFEST_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]


@dataclass(frozen=True)
class Finding:
    """One check's verdict on one subject; ``message`` says what is wrong and what to do."""

    check: str
    subject: str
    ok: bool
    message: str = ""

    def line(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.check:<16} {self.subject}{detail}"


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


# -- settings ---------------------------------------------------------------------------------------


def check_settings(s: Settings) -> list[Finding]:
    out = []

    def need(name: str, value: str, ok: bool, what: str) -> None:
        if not value:
            out.append(Finding("settings", name, False, f"not set: {what}"))
        elif not ok:
            out.append(Finding("settings", name, False, f"{value!r} is not {what}"))
        else:
            out.append(Finding("settings", name, True))

    need("NLPOPS_TARGET", s.target, s.target == "aws", "'aws': set NLPOPS_TARGET=aws")
    need("NLPOPS_LAKE_URI", s.lake_uri, s.lake_uri.startswith("s3://"), "an s3:// URI (stack Output LakeUri)")
    need("NLPOPS_KMS_KEY_ARN", s.kms_key_arn, bool(KMS_ARN.match(s.kms_key_arn)), "a KMS key ARN (Output LakeKeyArn)")
    need(
        "NLPOPS_SAGEMAKER_ROLE_ARN",
        s.sagemaker_role_arn,
        bool(ROLE_ARN.match(s.sagemaker_role_arn)),
        "an IAM role ARN (Output SageMakerExecutionRoleArn)",
    )
    if s.spark_backend == "glue":
        need(
            "NLPOPS_GLUE_ROLE_ARN",
            s.glue_role_arn,
            bool(ROLE_ARN.match(s.glue_role_arn)),
            "a role ARN (Output GlueJobRoleArn)",
        )
    else:
        need(
            "NLPOPS_EMR_ROLE_ARN",
            s.emr_role_arn,
            bool(ROLE_ARN.match(s.emr_role_arn)),
            "a role ARN (Output EmrServerlessJobRoleArn)",
        )
        need("NLPOPS_EMR_APPLICATION_ID", s.emr_application_id, True, "the EMR Serverless application id")
    need(
        "NLPOPS_SAGEMAKER_IMAGE_URI",
        s.sagemaker_image_uri,
        bool(ECR_IMAGE.match(s.sagemaker_image_uri)),
        "an ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>: build and push the project "
        "image (docker/sagemaker) and set the URI it prints",
    )
    need(
        "NLPOPS_SNS_TOPIC_ARN",
        s.sns_topic_arn,
        s.sns_topic_arn.startswith("arn:"),
        "a topic ARN (Output NotificationTopicArn)",
    )
    return out


# -- buckets --------------------------------------------------------------------------------------------


def _policy_statements(policy: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(st, sort_keys=True) for st in policy.get("Statement", []))


def check_buckets(s3: Any, s: Settings) -> list[Finding]:
    from nlpops.aws.lake_setup import bucket_policy, lake_buckets

    names = [*lake_buckets(s), s.artifacts()[len("s3://") :].split("/", 1)[0]]
    out = []
    for bucket in dict.fromkeys(names):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as err:
            why = (
                "does not exist"
                if _code(err) in {"404", "NoSuchBucket", "NotFound"}
                else f"is not readable ({_code(err)})"
            )
            out.append(
                Finding("bucket", bucket, False, f"{why}: {STACK}, or check NLPOPS_LAKE_URI/NLPOPS_ARTIFACTS_URI")
            )
            continue
        problems = []
        try:
            (rule, *_) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
            default = rule["ApplyServerSideEncryptionByDefault"]
            key = str(default.get("KMSMasterKeyID", ""))
            if default.get("SSEAlgorithm") != "aws:kms" or not (
                key == s.kms_key_arn or s.kms_key_arn.endswith(f"/{key}")
            ):
                problems.append(
                    f"default encryption is {default.get('SSEAlgorithm')} with key {key or '(none)'}, "
                    f"not SSE-KMS with NLPOPS_KMS_KEY_ARN {s.kms_key_arn}"
                )
        except ClientError as err:
            problems.append(f"no default encryption ({_code(err)})")
        try:
            policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
            if _policy_statements(policy) != _policy_statements(bucket_policy(bucket, s.kms_key_arn)):
                problems.append("its bucket policy is not the lake's (TLS only, lake key only)")
        except ClientError as err:
            problems.append(f"no bucket policy ({_code(err)})")
        if problems:
            fix = f"{STACK}, or run nlpops.aws.lake_setup.ensure_lake_with_connection(kms_key_arn=...)"
            out.append(Finding("bucket", bucket, False, "; ".join(problems) + f": {fix}"))
        else:
            out.append(Finding("bucket", bucket, True))
    return out


# -- roles --------------------------------------------------------------------------------------------


def _job_roles(s: Settings) -> list[tuple[str, str, str]]:
    roles = [("NLPOPS_SAGEMAKER_ROLE_ARN", s.sagemaker_role_arn, "sagemaker.amazonaws.com")]
    if s.spark_backend == "glue":
        roles.append(("NLPOPS_GLUE_ROLE_ARN", s.glue_role_arn, "glue.amazonaws.com"))
    else:
        roles.append(("NLPOPS_EMR_ROLE_ARN", s.emr_role_arn, "emr-serverless.amazonaws.com"))
    return [r for r in roles if ROLE_ARN.match(r[1])]


def _caller_policies(iam: Any, caller_arn: str) -> list[dict[str, Any]]:
    """The identity policies of the caller (an assumed role or a user): inline and attached."""
    kind, _, rest = caller_arn.split(":", 5)[5].partition("/")
    if kind == "assumed-role":
        name, list_inline, get_inline, list_attached, key = (
            rest.split("/", 1)[0],
            iam.list_role_policies,
            iam.get_role_policy,
            iam.list_attached_role_policies,
            "RoleName",
        )
    elif kind == "user":
        name, list_inline, get_inline, list_attached, key = (
            rest,
            iam.list_user_policies,
            iam.get_user_policy,
            iam.list_attached_user_policies,
            "UserName",
        )
    else:
        return []
    docs = []
    for policy_name in list_inline(**{key: name})["PolicyNames"]:
        doc = get_inline(**{key: name, "PolicyName": policy_name})["PolicyDocument"]
        docs.append(json.loads(doc) if isinstance(doc, str) else doc)
    for attached in list_attached(**{key: name})["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        doc = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
        docs.append(json.loads(doc) if isinstance(doc, str) else doc)
    return docs


def _can_pass(iam: Any, caller_arn: str, role_arn: str, service: str) -> bool:
    """iam:PassRole of ``role_arn`` to ``service`` by the caller: the IAM simulator, else its policies."""
    from nlpops.aws.policy_eval import ALLOW, decide

    context = {"iam:PassedToService": service}
    source = caller_arn
    if ":assumed-role/" in caller_arn:  # the simulator wants the role, not the session
        account = caller_arn.split(":")[4]
        source = f"arn:aws:iam::{account}:role/{caller_arn.split(':assumed-role/', 1)[1].split('/', 1)[0]}"
    try:
        result = iam.simulate_principal_policy(
            PolicySourceArn=source,
            ActionNames=["iam:PassRole"],
            ResourceArns=[role_arn],
            ContextEntries=[
                {"ContextKeyName": "iam:PassedToService", "ContextKeyValues": [service], "ContextKeyType": "string"}
            ],
        )
        return bool(result["EvaluationResults"][0]["EvalDecision"] == "allowed")
    except (ClientError, BotoCoreError, NotImplementedError, KeyError, IndexError):
        return decide(_caller_policies(iam, caller_arn), "iam:PassRole", role_arn, context) == ALLOW


def check_roles(iam: Any, sts: Any, s: Settings) -> list[Finding]:
    caller = str(sts.get_caller_identity()["Arn"])
    out = []
    for setting, arn, service in _job_roles(s):
        name = arn.rsplit("/", 1)[1]
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except ClientError as err:
            out.append(Finding("role", arn, False, f"{setting}: role not found ({_code(err)}): {STACK}"))
            continue
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        services = {
            svc
            for st in trust.get("Statement", [])
            if st.get("Effect") == "Allow"
            for svc in (
                [st.get("Principal", {}).get("Service", [])]
                if isinstance(st.get("Principal", {}).get("Service"), str)
                else st.get("Principal", {}).get("Service", [])
            )
        }
        if service not in services:
            out.append(
                Finding("role", arn, False, f"{setting}: its trust policy does not let {service} assume it: {STACK}")
            )
        elif not _can_pass(iam, caller, arn, service):
            out.append(
                Finding(
                    "role",
                    arn,
                    False,
                    f"{setting}: the connection's identity {caller} may not pass it to {service} (iam:PassRole with "
                    f"iam:PassedToService): use the Airflow execution role of the stack in the aws_default connection",
                )
            )
        else:
            out.append(Finding("role", arn, True))
    return out


# -- the SageMaker image ------------------------------------------------------------------------------


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - an ECR presigned https URL
        return bytes(response.read())


def image_labels_in_ecr(
    ecr: Any, registry: str, repo: str, image_id: dict[str, str], fetch: Callable[[str], bytes] = _fetch
) -> dict[str, str]:
    """The image's labels: the manifest's annotations, else the config blob's ``config.Labels``."""
    images = ecr.batch_get_image(
        registryId=registry, repositoryName=repo, imageIds=[image_id], acceptedMediaTypes=MANIFEST_TYPES
    )["images"]
    if not images:
        raise LookupError("no manifest")
    manifest = json.loads(images[0]["imageManifest"])
    labels = dict(manifest.get("annotations") or {})
    if any(k.startswith("nlpops.pin.") for k in labels):
        return labels
    digest = manifest.get("config", {}).get("digest")
    if not digest:
        return labels
    url = ecr.get_download_url_for_layer(registryId=registry, repositoryName=repo, layerDigest=digest)["downloadUrl"]
    config = json.loads(fetch(url))
    return dict((config.get("config") or {}).get("Labels") or {})


def check_image(ecr: Any, s: Settings, expected: dict[str, str] | None = None) -> list[Finding]:
    from include.runtimes import image_labels

    uri = s.sagemaker_image_uri
    match = ECR_IMAGE.match(uri)
    if not match:
        return []  # reported by check_settings
    registry, repo = match["registry"], match["repo"]
    image_id = {"imageTag": match["tag"]} if match["tag"] else {"imageDigest": match["digest"]}
    try:
        ecr.describe_images(registryId=registry, repositoryName=repo, imageIds=[image_id])
    except ClientError as err:
        return [
            Finding(
                "image",
                uri,
                False,
                f"not in ECR ({_code(err)}): build and push the project image, then set NLPOPS_SAGEMAKER_IMAGE_URI",
            )
        ]
    want = image_labels() if expected is None else expected
    try:
        labels = image_labels_in_ecr(ecr, registry, repo, image_id)
    except (ClientError, BotoCoreError, LookupError, ValueError, OSError, NotImplementedError) as err:
        return [
            Finding(
                "image",
                uri,
                False,
                f"cannot read its labels ({type(err).__name__}: {err}): rebuild and push the project image",
            )
        ]
    wrong = [
        f"{k}={labels.get(k, '(missing)')} (the project pins {v})"
        for k, v in sorted(want.items())
        if labels.get(k) != v
    ]
    if wrong:
        return [
            Finding(
                "image",
                uri,
                False,
                "built for other pins: " + ", ".join(wrong) + ": rebuild and push the image from this checkout",
            )
        ]
    return [Finding("image", uri, True)]


# -- catalog, queries, notifications ------------------------------------------------------------------


def check_emr_application(emr: Any, s: Settings) -> list[Finding]:
    from nlpops.aws.etl import emr_application_problem

    if s.spark_backend != "emr-serverless" or not s.emr_application_id:
        return []  # Glue backend, or reported by check_settings
    app_id = s.emr_application_id
    try:
        application = emr.get_application(applicationId=app_id)["application"]
    except ClientError as err:
        return [Finding("emr-application", app_id, False, f"NLPOPS_EMR_APPLICATION_ID: {_code(err)}")]
    problem = emr_application_problem(application)
    return [Finding("emr-application", app_id, problem is None, problem or "")]


def check_glue_database(glue: Any, s: Settings) -> list[Finding]:
    try:
        glue.get_database(Name=s.glue_database)
    except ClientError as err:
        return [Finding("glue-database", s.glue_database, False, f"NLPOPS_GLUE_DATABASE: {_code(err)}: {STACK}")]
    return [Finding("glue-database", s.glue_database, True)]


def check_athena_workgroup(athena: Any, s: Settings) -> list[Finding]:
    name = s.athena_workgroup
    try:
        config = athena.get_work_group(WorkGroup=name)["WorkGroup"].get("Configuration", {})
    except ClientError as err:
        return [Finding("athena-workgroup", name, False, f"NLPOPS_ATHENA_WORKGROUP: {_code(err)}: {STACK}")]
    result = config.get("ResultConfiguration", {})
    encryption = result.get("EncryptionConfiguration", {})
    problems = []
    if not config.get("EnforceWorkGroupConfiguration"):
        problems.append("does not enforce its configuration")
    if result.get("OutputLocation", "").rstrip("/") != s.athena_output().rstrip("/"):
        problems.append(f"writes results to {result.get('OutputLocation')}, not {s.athena_output()}")
    if encryption.get("EncryptionOption") != "SSE_KMS" or encryption.get("KmsKey") != s.kms_key_arn:
        problems.append("does not encrypt results with SSE_KMS and the lake key")
    if problems:
        return [Finding("athena-workgroup", name, False, "; ".join(problems) + f": {STACK}")]
    return [Finding("athena-workgroup", name, True)]


def check_sns_topic(sns: Any, s: Settings) -> list[Finding]:
    if not s.sns_topic_arn:
        return []  # reported by check_settings
    try:
        sns.get_topic_attributes(TopicArn=s.sns_topic_arn)
    except ClientError as err:
        return [Finding("sns-topic", s.sns_topic_arn, False, f"NLPOPS_SNS_TOPIC_ARN: {_code(err)}: {STACK}")]
    return [Finding("sns-topic", s.sns_topic_arn, True)]


# -- all of it ----------------------------------------------------------------------------------------


def run_preflight(session: Any, s: Settings) -> list[Finding]:
    """Every check, with clients of ``session`` (a boto3 session of the user's connection)."""

    def client(name: str) -> Any:
        return session.client(name, region_name=s.aws_region)

    findings = check_settings(s)
    steps: Iterable[tuple[str, Callable[[], list[Finding]]]] = (
        ("bucket", lambda: check_buckets(client("s3"), s)),
        ("role", lambda: check_roles(client("iam"), client("sts"), s)),
        ("image", lambda: check_image(client("ecr"), s)),
        ("emr-application", lambda: check_emr_application(client("emr-serverless"), s)),
        ("glue-database", lambda: check_glue_database(client("glue"), s)),
        ("athena-workgroup", lambda: check_athena_workgroup(client("athena"), s)),
        ("sns-topic", lambda: check_sns_topic(client("sns"), s)),
    )
    if not any(f.subject in {"NLPOPS_LAKE_URI", "NLPOPS_TARGET"} and not f.ok for f in findings):
        for name, step in steps:
            try:
                findings += step()
            except (ClientError, BotoCoreError, SettingsError) as err:
                findings.append(Finding(name, "-", False, f"{type(err).__name__}: {err}"))
    return findings


def main() -> int:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from include.settings import get_settings

    s = get_settings()
    session = AwsBaseHook(aws_conn_id=s.aws_conn_id, region_name=s.aws_region).get_session()
    findings = run_preflight(session, s)
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if not f.ok]
    print(f"aws preflight: {len(findings) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
