"""The lake's bucket policies: each statement's effect for the requests writers really send.

Evaluated with ``policy_eval`` (IAM's documented semantics; moto ignores bucket-policy
conditions), on every bucket policy of ``include/infra/nlpops.yaml`` (both layouts, the
artefacts bucket) and on ``nlpops.aws.lake_setup.bucket_policy`` (the same statements).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_infra import EXAMPLE, expanded, resolve, with_examples

from nlpops.aws.lake_setup import SSE_HEADER, SSE_KEY_HEADER, bucket_policy
from nlpops.aws.policy_eval import ALLOW, DENY, IMPLICIT_DENY, decide, matching_statements

pytestmark = pytest.mark.aws

KEY = EXAMPLE["${LakeKeyArn}"]
OTHER_KEY = KEY.replace("1234abcd", "9999ffff")
TLS = {"aws:SecureTransport": "true"}

#: request -> (encryption context, the Sids that must match: [] = the policy lets it through)
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "no header (s3fs, Spark, Glue: bucket default encrypts)": (TLS, []),
    "right key": ({**TLS, SSE_HEADER: "aws:kms", SSE_KEY_HEADER: KEY}, []),
    "wrong algorithm AES256": ({**TLS, SSE_HEADER: "AES256"}, ["DenyOtherEncryption"]),
    "wrong algorithm aws:kms:dsse with the key": (
        {**TLS, SSE_HEADER: "aws:kms:dsse", SSE_KEY_HEADER: KEY},
        ["DenyOtherEncryption"],
    ),
    "wrong key": ({**TLS, SSE_HEADER: "aws:kms", SSE_KEY_HEADER: OTHER_KEY}, ["DenyOtherKmsKey"]),
    "aws:kms without a key id (the aws/s3 managed key)": (
        {**TLS, SSE_HEADER: "aws:kms"},
        ["DenyKmsWithoutTheLakeKey"],
    ),
    "non-TLS, no header": ({"aws:SecureTransport": "false"}, ["DenyInsecureTransport"]),
    "non-TLS, right key": (
        {"aws:SecureTransport": "false", SSE_HEADER: "aws:kms", SSE_KEY_HEADER: KEY},
        ["DenyInsecureTransport"],
    ),
}


def template_bucket_policies() -> dict[str, tuple[str, dict[str, Any]]]:
    """Logical id -> (bucket name, policy document) for every bucket policy of the template, both layouts."""
    out = {}
    body = expanded()
    for per_zone in (False, True):
        for logical_id, res in body["Resources"].items():
            if res["Type"] != "AWS::S3::BucketPolicy":
                continue
            if res.get("Condition") == ("OneLakeBucket" if per_zone else "PerZoneBuckets"):
                continue
            doc = with_examples(resolve(res["Properties"]["PolicyDocument"], per_zone=per_zone))
            tls = doc["Statement"][0]["Resource"][0]
            out[f"{logical_id}.{'buckets' if per_zone else 'prefixes'}"] = (tls.removeprefix("arn:aws:s3:::"), doc)
    return out


def all_policies() -> dict[str, tuple[str, dict[str, Any]]]:
    policies = template_bucket_policies()
    policies["lake_setup.bucket_policy"] = ("nlpops-lake", bucket_policy("nlpops-lake", KEY))
    return policies


POLICIES = all_policies()


def test_every_bucket_policy_is_checked():
    names = set(POLICIES)
    assert {"LakeBucketPolicy.prefixes", "ArtifactsBucketPolicy.prefixes", "ArtifactsBucketPolicy.buckets"} <= names
    assert "ZoneBucketPolicyraw.buckets" in names and "lake_setup.bucket_policy" in names
    assert len([n for n in names if n.startswith("ZoneBucketPolicy")]) == 10


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_statement_denies_only_its_own_case(name, case):
    bucket, policy = POLICIES[name]
    context, sids = CASES[case]
    resource = f"arn:aws:s3:::{bucket}/raw/p/a.csv"
    assert matching_statements(policy, "s3:PutObject", resource, context) == sids, (name, case)
    # With a role policy that allows the PUT, the bucket policy decides.
    allow = {"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
    assert decide([allow, policy], "s3:PutObject", resource, context) == (DENY if sids else ALLOW)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_reads_are_denied_only_without_tls(name):
    bucket, policy = POLICIES[name]
    for action, resource in (("s3:GetObject", f"arn:aws:s3:::{bucket}/a"), ("s3:ListBucket", f"arn:aws:s3:::{bucket}")):
        assert matching_statements(policy, action, resource, TLS) == []
        assert matching_statements(policy, action, resource, {"aws:SecureTransport": "false"}) == [
            "DenyInsecureTransport"
        ]


def test_template_and_lake_setup_carry_the_same_statements():
    """One set of statements: the template's lake policy is lake_setup's for the same bucket and key."""
    bucket, doc = POLICIES["LakeBucketPolicy.prefixes"]
    assert doc == bucket_policy(bucket, KEY)
    bucket, doc = POLICIES["ZoneBucketPolicyprocessed.buckets"]
    assert doc == bucket_policy(bucket, KEY)


def test_no_encryption_deny_uses_if_exists():
    """StringNotEqualsIfExists on an encryption header also denies the PUT without the header."""
    for name, (_, policy) in POLICIES.items():
        text = json.dumps(policy)
        assert "IfExists" not in text, name


def test_the_evaluator_sees_what_was_wrong_with_if_exists():
    """Negative control: the old statement denies a PUT with no header; the evaluator must say so."""
    old = {
        "Statement": [
            {
                "Sid": "DenyOtherEncryption",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"StringNotEqualsIfExists": {SSE_HEADER: "aws:kms"}},
            }
        ]
    }
    assert matching_statements(old, "s3:PutObject", "arn:aws:s3:::b/k", TLS) == ["DenyOtherEncryption"]
    assert decide([], "s3:PutObject", "arn:aws:s3:::b/k", TLS) == IMPLICIT_DENY
