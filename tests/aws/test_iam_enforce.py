"""The IAM enforcer of the aws e2e harness refuses what a role's policy lacks (its negative control)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from iam_enforce import ACCOUNT, IamEnforcer, authorizations

from nlpops.aws.lake_setup import bucket_policy

pytestmark = pytest.mark.aws
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/nlpops-sagemaker-execution"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k1"


def test_a_training_job_needs_pass_role_grant_and_tags():
    params = {
        "TrainingJobName": "nlpops-X",
        "RoleArn": ROLE,
        "ResourceConfig": {"VolumeKmsKeyId": KEY},
        "Tags": [{"Key": "k", "Value": "v"}],
    }
    job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/nlpops-x"
    assert authorizations("sagemaker:CreateTrainingJob", params, glue_database="d", athena_workgroup="w") == [
        ("sagemaker:CreateTrainingJob", job, {}),
        ("sagemaker:AddTags", job, {}),
        ("iam:PassRole", ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}),
    ]
    tuning = {"HyperParameterTuningJobName": "nlpops-t", "TrainingJobDefinition": params}
    assert authorizations("sagemaker:CreateHyperParameterTuningJob", tuning, glue_database="d", athena_workgroup="w")[
        1:
    ] == [
        ("iam:PassRole", ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}),
    ]
    with pytest.raises(LookupError, match="no authorization rule for sagemaker:DeleteEndpoint"):
        authorizations("sagemaker:DeleteEndpoint", {}, glue_database="d", athena_workgroup="w")


def test_an_endpoint_update_is_authorized_on_the_endpoint_and_its_new_config():
    params = {"EndpointName": "nlpops-p", "EndpointConfigName": "nlpops-p-v4-abc"}
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    assert authorizations("sagemaker:UpdateEndpoint", params, glue_database="d", athena_workgroup="w") == [
        ("sagemaker:UpdateEndpoint", f"{arn}:endpoint/nlpops-p", {}),
        ("sagemaker:UpdateEndpoint", f"{arn}:endpoint-config/nlpops-p-v4-abc", {}),
    ]


def test_the_server_refuses_what_the_role_lacks(moto_server):
    def client(service, **creds):
        return boto3.client(service, endpoint_url=moto_server, region_name=REGION, **creds)

    iam = client("iam")
    iam.create_user(UserName="admin")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(everything))
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Describe", "Effect": "Allow", "Action": "sagemaker:DescribeTrainingJob", "Resource": "*"},
            {"Sid": "Put", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/*"},
        ],
    }
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(policy))
    s3 = client("s3")
    s3.create_bucket(Bucket="lake")
    s3.put_bucket_policy(Bucket="lake", Policy=json.dumps(bucket_policy("lake", KEY)))
    enforcer = IamEnforcer()
    enforcer.install()
    try:
        creds = client("sts", **admin).assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r", RoleSessionName="test")
        c = creds["Credentials"]
        role = {
            "aws_access_key_id": c["AccessKeyId"],
            "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"],
        }
        sm, s3_role = client("sagemaker", **role), client("s3", **role)
        with pytest.raises(ClientError, match=r"ValidationException|not found|does not exist"):
            sm.describe_training_job(TrainingJobName="nlpops-x")  # allowed: moto answers "no such job"
        with pytest.raises(ClientError, match="AccessDenied"):
            sm.list_tags(ResourceArn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/nlpops-p")
        s3_role.put_object(Bucket="lake", Key="raw/a.csv", Body=b"x")  # no encryption header: the bucket default
        with pytest.raises(ClientError, match="AccessDenied"):
            s3_role.put_object(Bucket="lake", Key="raw/b.csv", Body=b"x", ServerSideEncryption="AES256")
        with pytest.raises(ClientError, match="AccessDenied"):
            s3_role.get_object(Bucket="lake", Key="raw/a.csv")  # no s3:GetObject in the role
    finally:
        enforcer.uninstall()
    denied = {(d.action, d.reason) for d in enforcer.denials()}
    assert denied == {
        ("sagemaker:ListTags", ""),
        ("s3:PutObject", "bucket policy"),
        ("s3:GetObject", ""),
    }, denied
    assert ("s3:PutObject", "Put") in {(c.action, c.granted_by) for c in enforcer.allowed()}
