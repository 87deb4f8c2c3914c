"""``make aws-preflight`` against moto: a deployed account passes; each check fails on its fault, naming the fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from include.runtimes import image_labels
from include.settings import load_settings
from nlpops.aws.lake_setup import bucket_policy, ensure_lake
from nlpops.aws.preflight import Finding, run_preflight

pytestmark = pytest.mark.aws
REGION = "us-east-1"
ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/nlpops-sagemaker:v1"


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def _pass(role_arn: str, service: str, sid: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": role_arn,
        "Condition": {"StringEquals": {"iam:PassedToService": service}},
    }


def _push_image(ecr: Any, labels: dict[str, str], tag: str = "v1") -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "a" * 64, "size": 1},
        "layers": [],
        "annotations": labels,
    }
    ecr.put_image(repositoryName="nlpops-sagemaker", imageManifest=json.dumps(manifest), imageTag=tag)


class Account:
    """A deployed nlpops account on moto, and the preflight as the Airflow execution role sees it."""

    def __init__(self) -> None:
        self.c = {
            n: boto3.client(n, region_name=REGION) for n in ("s3", "kms", "iam", "sts", "ecr", "glue", "athena", "sns")
        }
        self.key = self.c["kms"].create_key()["KeyMetadata"]["Arn"]
        iam = self.c["iam"]
        self.sm_role = iam.create_role(
            RoleName="nlpops-sagemaker-execution", AssumeRolePolicyDocument=_trust("sagemaker.amazonaws.com")
        )["Role"]["Arn"]
        self.glue_role = iam.create_role(
            RoleName="nlpops-glue-job", AssumeRolePolicyDocument=_trust("glue.amazonaws.com")
        )["Role"]["Arn"]
        airflow = iam.create_role(
            RoleName="nlpops-airflow-execution", AssumeRolePolicyDocument=_trust("airflow.amazonaws.com")
        )
        self.airflow_role = airflow["Role"]["Arn"]
        self.statements = [
            _pass(self.sm_role, "sagemaker.amazonaws.com", "PassSageMakerRoleToSageMakerOnly"),
            _pass(self.glue_role, "glue.amazonaws.com", "PassGlueRoleToGlueOnly"),
        ]
        self.put_airflow_policy()
        topic = self.c["sns"].create_topic(Name="nlpops-notifications")["TopicArn"]
        self.env = {
            "NLPOPS_TARGET": "aws",
            "NLPOPS_LAKE_URI": "s3://nlpops-lake",
            "NLPOPS_KMS_KEY_ARN": self.key,
            "NLPOPS_SAGEMAKER_ROLE_ARN": self.sm_role,
            "NLPOPS_GLUE_ROLE_ARN": self.glue_role,
            "NLPOPS_SAGEMAKER_IMAGE_URI": IMAGE,
            "NLPOPS_SNS_TOPIC_ARN": topic,
        }
        s = self.settings()
        ensure_lake(self.c["s3"], s, kms_key_arn=self.key)
        artifacts = "nlpops-lake-artifacts"
        self.c["s3"].create_bucket(Bucket=artifacts)
        self.c["s3"].put_bucket_encryption(
            Bucket=artifacts,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": self.key}}
                ]
            },
        )
        self.c["s3"].put_bucket_policy(Bucket=artifacts, Policy=json.dumps(bucket_policy(artifacts, self.key)))
        self.c["ecr"].create_repository(repositoryName="nlpops-sagemaker")
        _push_image(self.c["ecr"], image_labels())
        self.c["glue"].create_database(DatabaseInput={"Name": "nlpops"})
        self.workgroup(enforce=True)

    def put_airflow_policy(self) -> None:
        doc = {"Version": "2012-10-17", "Statement": self.statements}
        self.c["iam"].put_role_policy(
            RoleName="nlpops-airflow-execution", PolicyName="nlpops", PolicyDocument=json.dumps(doc)
        )

    def workgroup(self, *, enforce: bool) -> None:
        athena = self.c["athena"]
        if any(w["Name"] == "nlpops" for w in athena.list_work_groups()["WorkGroups"]):
            athena.delete_work_group(WorkGroup="nlpops")
        athena.create_work_group(
            Name="nlpops",
            Configuration={
                "ResultConfiguration": {
                    "OutputLocation": self.settings().athena_output(),
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": self.key},
                },
                "EnforceWorkGroupConfiguration": enforce,
            },
        )

    def settings(self) -> Any:
        return load_settings(self.env)

    def preflight(self) -> list[Finding]:
        creds = self.c["sts"].assume_role(RoleArn=self.airflow_role, RoleSessionName="preflight")["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=REGION,
        )
        return run_preflight(session, self.settings())


def failures(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]


def test_a_deployed_account_passes_every_check(aws):
    findings = Account().preflight()
    assert failures(findings) == []
    checks = {f.check for f in findings}
    assert checks == {"settings", "bucket", "role", "image", "glue-database", "athena-workgroup", "sns-topic"}
    assert {f.subject for f in findings if f.check == "bucket"} == {"nlpops-lake", "nlpops-lake-artifacts"}


def _old_if_exists_policy(a: Account) -> None:
    policy = bucket_policy("nlpops-lake", a.key)
    policy["Statement"][1]["Condition"] = {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    a.c["s3"].put_bucket_policy(Bucket="nlpops-lake", Policy=json.dumps(policy))


def _no_pass_glue(a: Account) -> None:
    a.statements = [s for s in a.statements if s["Sid"] != "PassGlueRoleToGlueOnly"]
    a.put_airflow_policy()


def _other_pins(a: Account) -> None:
    _push_image(a.c["ecr"], {**image_labels(), "nlpops.pin.scikit-learn": "1.2.1"}, tag="old")
    a.env["NLPOPS_SAGEMAKER_IMAGE_URI"] = IMAGE.replace(":v1", ":old")


#: fault name -> (break the account, check, subject part, what the message must say)
CASES: dict[str, tuple[Callable[[Account], None], str, str, str]] = {
    "sns setting missing": (
        lambda a: a.env.pop("NLPOPS_SNS_TOPIC_ARN"),
        "settings",
        "NLPOPS_SNS_TOPIC_ARN",
        "not set",
    ),
    "bucket policy of the IfExists kind": (
        _old_if_exists_policy,
        "bucket",
        "nlpops-lake",
        "bucket policy is not the lake's",
    ),
    "bucket without the lake key": (
        lambda a: a.c["s3"].put_bucket_encryption(
            Bucket="nlpops-lake-artifacts",
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        ),
        "bucket",
        "nlpops-lake-artifacts",
        "default encryption is AES256",
    ),
    "role cannot be passed": (_no_pass_glue, "role", "nlpops-glue-job", "may not pass it to glue.amazonaws.com"),
    "role missing": (
        lambda a: a.c["iam"].delete_role(RoleName="nlpops-sagemaker-execution"),
        "role",
        "nlpops-sagemaker-execution",
        "role not found",
    ),
    "image not pushed": (
        lambda a: a.env.__setitem__("NLPOPS_SAGEMAKER_IMAGE_URI", IMAGE.replace(":v1", ":v9")),
        "image",
        ":v9",
        "not in ECR",
    ),
    "image built for other pins": (_other_pins, "image", ":old", "nlpops.pin.scikit-learn=1.2.1"),
    "glue database missing": (
        lambda a: a.c["glue"].delete_database(Name="nlpops"),
        "glue-database",
        "nlpops",
        "EntityNotFound",
    ),
    "athena workgroup not enforced": (
        lambda a: a.workgroup(enforce=False),
        "athena-workgroup",
        "nlpops",
        "does not enforce its configuration",
    ),
    "sns topic gone": (
        lambda a: a.c["sns"].delete_topic(TopicArn=a.env["NLPOPS_SNS_TOPIC_ARN"]),
        "sns-topic",
        "nlpops-notifications",
        "NLPOPS_SNS_TOPIC_ARN",
    ),
}
#: Faults of different checks are independent: two accounts carry them all (one image, one SNS setting each).
GROUPS = {
    "first": [c for c in CASES if c not in {"image not pushed", "sns setting missing"}],
    "second": ["image not pushed", "sns setting missing"],
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_each_check_fails_on_its_own_fault_and_names_the_fix(aws, group):
    account = Account()
    for case in GROUPS[group]:
        CASES[case][0](account)
    bad = failures(account.preflight())
    for case in GROUPS[group]:
        _, check, subject, says = CASES[case]
        found = [f for f in bad if f.check == check and f.subject.endswith(subject)]
        assert len(found) == 1 and says in found[0].message, (case, [f.line() for f in bad])
    assert len(bad) == len(GROUPS[group]), [f.line() for f in bad]  # nothing else fails
    assert sorted(GROUPS["first"] + GROUPS["second"]) == sorted(CASES)


def test_labels_come_from_the_image_config_when_the_manifest_has_none():
    """Real ECR: docker push keeps LABELs in the config blob (moto has no layer download: a stub ECR here)."""
    from nlpops.aws.preflight import image_labels_in_ecr

    config = {"config": {"Labels": image_labels()}}
    manifest = {"schemaVersion": 2, "config": {"digest": "sha256:" + "b" * 64}, "layers": []}

    class Ecr:
        def batch_get_image(self, **kw: Any) -> dict[str, Any]:
            return {"images": [{"imageManifest": json.dumps(manifest)}]}

        def get_download_url_for_layer(self, **kw: Any) -> dict[str, Any]:
            assert kw["layerDigest"] == manifest["config"]["digest"]
            return {"downloadUrl": "https://layer"}

    fetched = []
    labels = image_labels_in_ecr(
        Ecr(),
        ACCOUNT,
        "nlpops-sagemaker",
        {"imageTag": "v1"},
        fetch=lambda url: fetched.append(url) or json.dumps(config).encode(),
    )
    assert labels == image_labels() and fetched == ["https://layer"]


def test_emr_application_check_refuses_a_release_on_spark_3_5(aws):
    from nlpops.aws.preflight import check_emr_application

    emr = boto3.client("emr-serverless", region_name=REGION)
    new = emr.create_application(name="new", releaseLabel="emr-8.0.0", type="SPARK")["applicationId"]
    old = emr.create_application(name="old", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    env = {"NLPOPS_TARGET": "aws", "NLPOPS_LAKE_URI": "s3://nlpops-lake", "NLPOPS_SPARK_BACKEND": "emr-serverless"}

    def check(app: str) -> list[Finding]:
        return check_emr_application(emr, load_settings({**env, "NLPOPS_EMR_APPLICATION_ID": app}))

    assert [f.ok for f in check(new)] == [True]
    (bad,) = check(old)
    assert not bad.ok and bad.check == "emr-application" and "emr-7.5.0 (Spark 3.5 or older)" in bad.message
    (missing,) = check("00abcdefghijklmn")
    assert not missing.ok and "NLPOPS_EMR_APPLICATION_ID" in missing.message
    assert check_emr_application(emr, load_settings({**env, "NLPOPS_SPARK_BACKEND": "glue"})) == []
