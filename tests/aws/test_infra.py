"""include/infra/nlpops.yaml: cfn-lint clean, least privilege, every bucket locked down; IAM JSON in sync."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "include" / "infra" / "nlpops.yaml"
IAM_DIR = ROOT / "include" / "iam"
ROLES = {
    "AirflowExecutionRole": "airflow-execution",
    "GlueJobRole": "glue-job",
    "SageMakerExecutionRole": "sagemaker-execution",
}
#: Verbs that only read; anything else counts as a write for the wildcard rule.
READ_VERB = re.compile(r"^(Get|Describe|List|BatchGet|BatchCheck|Head)")
#: Placeholders of the standalone JSON documents (what a reader substitutes).
PLACEHOLDERS = {
    ("Ref", "AWS::Partition"): "aws",
    ("Ref", "AWS::Region"): "${Region}",
    ("Ref", "AWS::AccountId"): "${AccountId}",
    ("Ref", "LakeBucketName"): "${LakeBucketName}",
    ("GetAtt", "LakeKey.Arn"): "${LakeKeyArn}",
    ("GetAtt", "SageMakerExecutionRole.Arn"): "${SageMakerExecutionRoleArn}",
}


def load_template() -> dict[str, Any]:
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return template


def resolve(node: Any, *, per_zone: bool = False, env: dict[str, str] | None = None) -> Any:
    """Resolve the intrinsics the policies use, for one layout, into placeholder strings."""
    env = env or {}
    if isinstance(node, list):
        return [resolve(n, per_zone=per_zone, env=env) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Fn::If":
            cond, yes, no = value
            assert cond == "PerZoneBuckets", cond
            return resolve(yes if per_zone else no, per_zone=per_zone, env=env)
        if key == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else value
            local = {**env, **{k: resolve(v, per_zone=per_zone, env=env) for k, v in variables.items()}}

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in local:
                    return str(local[name])
                kind, ref = ("GetAtt", name) if "." in name else ("Ref", name)
                return PLACEHOLDERS[(kind, ref)]

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if key == "Ref":
            return env.get(value) or PLACEHOLDERS[("Ref", value)]
        if key == "Fn::GetAtt":
            ref = ".".join(value) if isinstance(value, list) else value
            return PLACEHOLDERS[("GetAtt", ref)]
    return {k: resolve(v, per_zone=per_zone, env=env) for k, v in node.items()}


def role_policy(template: dict[str, Any], logical_id: str, *, per_zone: bool = False) -> dict[str, Any]:
    (policy,) = template["Resources"][logical_id]["Properties"]["Policies"]
    return resolve(policy["PolicyDocument"], per_zone=per_zone)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def buckets(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every bucket resource, the per-zone ones of Fn::ForEach included (one template for all)."""
    out = {}
    for logical_id, res in template["Resources"].items():
        if logical_id.startswith("Fn::ForEach::"):
            _, _, body = res
            out.update({k: v for k, v in body.items() if v["Type"] == "AWS::S3::Bucket"})
        elif res["Type"] == "AWS::S3::Bucket":
            out[logical_id] = res
    return out


def bucket_policies(template: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for logical_id, res in template["Resources"].items():
        if logical_id.startswith("Fn::ForEach::"):
            out += [v for v in res[2].values() if v["Type"] == "AWS::S3::BucketPolicy"]
        elif res["Type"] == "AWS::S3::BucketPolicy":
            out.append(res)
    return out


def test_cfn_lint_passes():
    exe = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    assert exe, "cfn-lint (installed with moto[cloudformation]) is missing from the venv"
    result = subprocess.run([exe, str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("per_zone", [False, True])
def test_no_write_action_on_every_resource(per_zone):
    template = load_template()
    for logical_id in ROLES:
        for st in role_policy(template, logical_id, per_zone=per_zone)["Statement"]:
            resources = as_list(st["Resource"])
            writes = [a for a in as_list(st["Action"]) if not READ_VERB.match(a.split(":", 1)[1])]
            if "*" in resources:
                # ecr:GetAuthorizationToken has no resource-level permissions in AWS.
                assert writes == [], f"{logical_id} {st.get('Sid')}: write actions {writes} on Resource '*'"
            for action in as_list(st["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{logical_id} {st.get('Sid')}: {action}"
            for res in resources:
                assert res == "*" or "${" not in res.replace("${Region}", "").replace("${AccountId}", "").replace(
                    "${LakeBucketName}", ""
                ).replace("${LakeKeyArn}", "").replace("${SageMakerExecutionRoleArn}", ""), res


def test_jobs_are_scoped_to_the_nlpops_prefix():
    template = load_template()
    airflow = role_policy(template, "AirflowExecutionRole")["Statement"]
    for st in airflow:
        services = {a.split(":")[0] for a in as_list(st["Action"])}
        if services & {"sagemaker", "glue", "sns"} and st["Sid"] != "GlueCatalogForAthena":
            for res in as_list(st["Resource"]):
                assert re.search(
                    r":(training-job|transform-job|model|model-package-group|model-package|job)/nlpops-|:nlpops-", res
                ), res
    passrole = next(st for st in airflow if st["Action"] == "iam:PassRole")
    assert passrole["Resource"] == "${SageMakerExecutionRoleArn}"
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_roles_reach_only_their_zones():
    template = load_template()
    sm = role_policy(template, "SageMakerExecutionRole", per_zone=True)
    writes = next(st for st in sm["Statement"] if st["Sid"] == "WriteModelsAndPredictions")
    assert writes["Resource"] == [
        "arn:aws:s3:::${LakeBucketName}-models/*",
        "arn:aws:s3:::${LakeBucketName}-inference-output/*",
    ]
    glue = role_policy(template, "GlueJobRole")
    writes = next(st for st in glue["Statement"] if st["Sid"] == "WriteProcessedData")
    assert writes["Resource"][0] == "arn:aws:s3:::${LakeBucketName}/processed/*"


def test_every_bucket_is_encrypted_blocked_versioned_and_tls_only():
    template = load_template()
    found = buckets(template)
    assert {"LakeBucket", "ArtifactsBucket", "ZoneBucket&{Zone}"} <= set(found)
    policies = bucket_policies(template)
    for logical_id, res in found.items():
        props = res["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", logical_id
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": ["LakeKey", "Arn"]}
        assert rule["BucketKeyEnabled"] is True
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        )
        ref = {"Ref": {"Fn::Sub": logical_id}} if "&{" in logical_id else {"Ref": logical_id}
        (policy,) = [p for p in policies if p["Properties"]["Bucket"] == ref]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        tls = [
            s
            for s in statements
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert tls and tls[0]["Action"] == "s3:*" and len(tls[0]["Resource"]) == 2, logical_id
        kms = [
            s
            for s in statements
            if "s3:x-amz-server-side-encryption" in s.get("Condition", {}).get("StringNotEqualsIfExists", {})
        ]
        assert kms and kms[0]["Effect"] == "Deny" and kms[0]["Action"] == "s3:PutObject", logical_id


def test_key_policy_allows_no_anonymous_principal_and_rotates():
    key = load_template()["Resources"]["LakeKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    for st in key["KeyPolicy"]["Statement"]:
        assert st["Principal"] != "*" and st["Principal"] != {"AWS": "*"}


def test_athena_results_are_encrypted_with_the_lake_key():
    cfg = load_template()["Resources"]["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert cfg["EnforceWorkGroupConfiguration"] is True
    enc = cfg["ResultConfiguration"]["EncryptionConfiguration"]
    assert enc == {"EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": ["LakeKey", "Arn"]}}
    assert resolve(cfg["ResultConfiguration"]["OutputLocation"]) == "s3://${LakeBucketName}/results/_athena/"


@pytest.mark.parametrize(("logical_id", "stem"), ROLES.items())
def test_standalone_iam_json_matches_the_template(logical_id, stem):
    """include/iam/<role>.json is the template's policy for the prefixes layout, placeholders kept."""
    path = IAM_DIR / f"{stem}.json"
    assert json.loads(path.read_text()) == role_policy(load_template(), logical_id), (
        f"{path} differs from {TEMPLATE} ({logical_id}); regenerate it: python tests/aws/test_infra.py"
    )


def write_iam_json() -> None:
    """Regenerate include/iam/*.json from the template (run after editing a role policy)."""
    template = load_template()
    for logical_id, stem in ROLES.items():
        text = json.dumps(role_policy(template, logical_id), indent=2) + "\n"
        (IAM_DIR / f"{stem}.json").write_text(text)


if __name__ == "__main__":
    write_iam_json()
