"""include/infra/nlpops.yaml: cfn-lint, checkov and parliament clean; least privilege; deploys on moto.

checkov and parliament pin versions that conflict with requirements.txt, so they live in a
tool venv, ``.venv-iac`` (``make iac-tools``, a prerequisite of ``make test``). Without it
these tests fail and say so: a security check that silently skips is no check.

The template uses ``Fn::ForEach`` (AWS::LanguageExtensions) for the per-zone buckets.
checkov does not expand it and moto's CloudFormation has no transforms, so both also get
the template expanded by cfn-lint's implementation of that transform (:func:`expanded`).
moto 5.2.5's CloudFormation skips some resource types (:data:`MOTO_GAPS`) and bucket
settings other than encryption; the moto test creates those through the service APIs from
the template's own properties (:func:`apply_what_moto_skips`).

``include/iam/*.json`` are the role policies of the template (prefixes layout) with
placeholders; regenerate them after editing a role: ``.venv/bin/python tests/aws/test_infra.py``.
"""

from __future__ import annotations

import ast
import json
import os
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
IAC_BIN = ROOT / ".venv-iac" / "bin"
PARLIAMENT_CONFIG = ROOT / "include" / "infra" / "parliament.yaml"
ROLES = {
    "AirflowExecutionRole": "airflow-execution",
    "GlueJobRole": "glue-job",
    "SageMakerExecutionRole": "sagemaker-execution",
    "EmrServerlessJobRole": "emr-serverless-job",
}
#: Verbs that only read; anything else counts as a write for the wildcard rule.
READ_VERB = re.compile(r"^(Get|Describe|List|BatchGet|BatchCheck|Head)")
#: Placeholders of the standalone JSON documents (what a reader substitutes).
PLACEHOLDERS = {
    ("Ref", "AWS::Partition"): "aws",
    ("Ref", "AWS::Region"): "${Region}",
    ("Ref", "AWS::AccountId"): "${AccountId}",
    ("Ref", "LakeBucketName"): "${LakeBucketName}",
    ("Ref", "GlueDatabase"): "${GlueDatabase}",
    ("Ref", "AthenaWorkGroup"): "${AthenaWorkGroup}",
    ("Ref", "NotificationTopic"): "${NotificationTopicArn}",
    ("Ref", "AirflowWorkerRoleArn"): "${AirflowWorkerRoleArn}",
    ("Ref", "MwaaEnvironmentName"): "${MwaaEnvironmentName}",
    ("Ref", "MwaaSourceBucketName"): "${MwaaSourceBucketName}",
    ("GetAtt", "LakeKey.Arn"): "${LakeKeyArn}",
    ("GetAtt", "SageMakerExecutionRole.Arn"): "${SageMakerExecutionRoleArn}",
    ("GetAtt", "GlueJobRole.Arn"): "${GlueJobRoleArn}",
    ("GetAtt", "EmrServerlessJobRole.Arn"): "${EmrServerlessJobRoleArn}",
    ("GetAtt", "SageMakerImageRepository.Arn"): "arn:aws:ecr:${Region}:${AccountId}:repository/nlpops-sagemaker",
    # used by the bucket policies and the Outputs only
    ("Ref", "LakeLayout"): "${LakeLayout}",
    ("Ref", "ArtifactsBucket"): "${LakeBucketName}-artifacts",
    ("Ref", "PrepareTextJob"): "nlpops-prepare-text",
    ("Ref", "GlueSecurityConfiguration"): "nlpops-kms",
    ("GetAtt", "LakeBucket.Arn"): "arn:aws:s3:::${LakeBucketName}",
    ("GetAtt", "ArtifactsBucket.Arn"): "arn:aws:s3:::${LakeBucketName}-artifacts",
    ("GetAtt", "AirflowExecutionRole.Arn"): "${AirflowExecutionRoleArn}",
    (
        "GetAtt",
        "SageMakerImageRepository.RepositoryUri",
    ): "${AccountId}.dkr.ecr.${Region}.amazonaws.com/nlpops-sagemaker",
}
#: Example values for the placeholders, for tools that need real-looking ARNs (parliament).
ACCOUNT = "123456789012"
EXAMPLE = {
    "${Region}": "us-east-1",
    "${AccountId}": ACCOUNT,
    "${LakeBucketName}": "nlpops-lake",
    "${GlueDatabase}": "nlpops",
    "${AthenaWorkGroup}": "nlpops",
    "${NotificationTopicArn}": f"arn:aws:sns:us-east-1:{ACCOUNT}:nlpops-notifications",
    "${LakeKeyArn}": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "${SageMakerExecutionRoleArn}": f"arn:aws:iam::{ACCOUNT}:role/nlpops-sagemaker-execution",
    "${GlueJobRoleArn}": f"arn:aws:iam::{ACCOUNT}:role/nlpops-glue-job",
    "${EmrServerlessJobRoleArn}": f"arn:aws:iam::{ACCOUNT}:role/nlpops-emr-serverless-job",
    "${AirflowExecutionRoleArn}": f"arn:aws:iam::{ACCOUNT}:role/nlpops-airflow-execution",
    "${LakeLayout}": "prefixes",
    "${MwaaEnvironmentName}": "nlpops",
    "${MwaaSourceBucketName}": "airflow-nlpops",
}
#: Resource types moto 5.2.5's CloudFormation does not create (it warns and skips them).
MOTO_GAPS = {
    "AWS::S3::BucketPolicy",
    "AWS::Glue::SecurityConfiguration",
    "AWS::Glue::Job",
    "AWS::Glue::Database",
    "AWS::Athena::WorkGroup",
    "AWS::SNS::TopicPolicy",
}


def load_template() -> dict[str, Any]:
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return template


def expanded() -> dict[str, Any]:
    """The template after AWS::LanguageExtensions (Fn::ForEach expanded), as plain JSON data."""
    from cfnlint.decode import decode
    from cfnlint.template import Template
    from cfnlint.template.transforms.transform import Transform

    decoded, matches = decode(str(TEMPLATE))
    assert not matches, matches
    cfn = Template(str(TEMPLATE), decoded, ["us-east-1"])
    matches = Transform().transform(cfn)
    assert not matches, matches
    out = json.loads(json.dumps(cfn.template, default=str))
    assert out.pop("Transform") == "AWS::LanguageExtensions"
    assert not any(k.startswith("Fn::ForEach") for k in out["Resources"]), "Fn::ForEach left unexpanded"
    return out


NO_VALUE = object()


def resolve(node: Any, *, per_zone: bool = False, env: dict[str, str] | None = None, external: bool = False) -> Any:
    """Resolve the intrinsics the policies use, for one layout, into placeholder strings.

    ``per_zone`` is the PerZoneBuckets condition, ``external`` ExternalAirflowWorkers.
    """
    env = env or {}
    if isinstance(node, list):
        items = [resolve(n, per_zone=per_zone, env=env, external=external) for n in node]
        return [i for i in items if i is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Fn::If":
            cond, yes, no = value
            assert cond in ("PerZoneBuckets", "ExternalAirflowWorkers"), cond
            chosen = per_zone if cond == "PerZoneBuckets" else external
            return resolve(yes if chosen else no, per_zone=per_zone, env=env, external=external)
        if key == "Ref" and value == "AWS::NoValue":
            return NO_VALUE
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
    return {k: resolve(v, per_zone=per_zone, env=env, external=external) for k, v in node.items()}


def with_examples(node: Any) -> Any:
    """Placeholders replaced by :data:`EXAMPLE` values (a deployable-looking document)."""
    text = json.dumps(node)
    for placeholder, value in EXAMPLE.items():
        text = text.replace(placeholder, value)
    assert "${" not in text, text
    return json.loads(text)


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


def iac_tool(name: str) -> str:
    """Path of a tool of the IaC tool venv; fails (never skips) when the venv was not built."""
    exe = IAC_BIN / name
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `make iac-tools` (builds .venv-iac from requirements-iac.txt)")
    return str(exe)


# ---- linters -----------------------------------------------------------------------------------


def test_cfn_lint_passes():
    exe = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    assert exe, "cfn-lint (pinned in requirements.txt) is missing from the venv"
    result = subprocess.run([exe, str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def run_checkov(path: Path) -> dict[str, Any]:
    # Offline: --skip-download (no Prisma Cloud API call; without an API key it would only fetch
    # guideline links), no PyPI update check, no severity mapping download. Severities need that
    # API, so the bar is zero failed checks.
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "true"}
    result = subprocess.run(
        [iac_tool("checkov"), "-f", str(path), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    assert isinstance(report, dict), f"checkov found nothing to check in {path}: {report}"
    return report


@pytest.mark.parametrize("form", ["template", "expanded"])
def test_checkov_passes_with_every_skip_justified(form, tmp_path):
    if form == "template":
        path = TEMPLATE
    else:
        path = tmp_path / "nlpops.expanded.json"
        path.write_text(json.dumps(expanded(), indent=1))
    report = run_checkov(path)
    summary, results = report["summary"], report["results"]
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in results["failed_checks"]]
    assert failed == [], f"checkov failed checks on {path.name}: {failed}"
    assert summary["parsing_errors"] == 0, summary
    assert summary["passed"] >= 40, summary  # it really checked the resources
    checked = {c["resource"] for c in results["passed_checks"]}
    assert "AWS::IAM::Role.AirflowExecutionRole" in checked
    if form == "expanded":
        # the per-zone buckets, which checkov cannot see through Fn::ForEach
        assert "AWS::S3::Bucket.ZoneBucketinferenceoutput" in checked
    for skipped in results["skipped_checks"]:
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.split()) >= 8, f"checkov skip of {skipped['check_id']} needs a reason: {skipped}"


def every_policy_document() -> dict[str, dict[str, Any]]:
    """Name -> document of every policy parliament can read: role, bucket, key, topic; both layouts.

    Not the role trust policies: parliament requires a Resource element, which a trust
    policy never has (:func:`test_roles_trust_one_service_of_this_account` checks them).
    """
    docs: dict[str, dict[str, Any]] = {}
    template = load_template()
    for per_zone in (False, True):
        layout = "buckets" if per_zone else "prefixes"
        for logical_id in ROLES:
            docs[f"{logical_id}.{layout}"] = with_examples(role_policy(template, logical_id, per_zone=per_zone))
    plain = expanded()
    for logical_id, res in plain["Resources"].items():
        props = res.get("Properties", {})
        for key in ("PolicyDocument", "KeyPolicy"):
            if key in props:
                docs[f"{logical_id}.{key}"] = with_examples(resolve(props[key], per_zone=True))
    for path in sorted(IAM_DIR.glob("*.json")):
        docs[f"include/iam/{path.name}"] = with_examples(json.loads(path.read_text()))
    return docs


#: parliament through its library API, in the tool venv: the 1.6.4 CLI refuses --file when stdin
#: is not a terminal and writes its arguments to /tmp/parliament.log on every run.
PARLIAMENT = """
import json, sys
from pathlib import Path
from parliament import analyze_policy_string, enhance_finding
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    for f in analyze_policy_string(path.read_text(), str(path)).findings:
        f = enhance_finding(f)
        print(json.dumps({"document": path.stem, "issue": f.issue, "severity": f.severity, "detail": str(f.detail)}))
"""


def run_parliament(docs: dict[str, dict[str, Any]], directory: Path) -> list[dict[str, str]]:
    """parliament's findings on ``docs`` (name -> policy document), one dict per finding."""
    for name, doc in docs.items():
        (directory / f"{name.replace('/', '_')}.json").write_text(json.dumps(doc, indent=2))
    python = str(Path(iac_tool("parliament")).parent / "python")
    result = subprocess.run(
        [python, "-c", PARLIAMENT, str(directory)], capture_output=True, text=True, timeout=300, cwd=directory
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_parliament_finds_nothing_in_any_policy(tmp_path):
    docs = every_policy_document()
    assert len(docs) >= 25, sorted(docs)
    assert {"LakeKey.KeyPolicy", "LakeBucketPolicy.PolicyDocument", "NotificationTopicPolicy.PolicyDocument"} <= set(
        docs
    )
    import yaml

    ignores = yaml.safe_load(PARLIAMENT_CONFIG.read_text())["ignores"]
    used: set[int] = set()
    findings = []
    for finding in run_parliament(docs, tmp_path):
        hits = [
            i
            for i, ig in enumerate(ignores)
            if ig["issue"] == finding["issue"] and re.fullmatch(ig["documents"], finding["document"])
        ]
        used.update(hits)
        if not hits:
            findings.append(finding)
    assert findings == [], f"parliament findings (fix them, or justify in {PARLIAMENT_CONFIG.name}): {findings}"
    for i, ig in enumerate(ignores):
        assert len(ig["reason"].split()) >= 8, f"{PARLIAMENT_CONFIG.name}: give a reason for {ig}"
        assert i in used, f"{PARLIAMENT_CONFIG.name}: stale exception {ig['issue']} {ig['documents']}"


def test_parliament_does_report_a_bad_policy(tmp_path):
    """The check above can fail: parliament flags an unknown action and a statement without Resource."""
    typo = {"Effect": "Allow", "Action": "s3:GetObjct", "Resource": "arn:aws:s3:::b/*"}
    no_resource = {"Effect": "Allow", "Action": "s3:GetObject"}
    findings = run_parliament({"bad": {"Version": "2012-10-17", "Statement": [typo, no_resource]}}, tmp_path)
    assert {"UNKNOWN_ACTION", "MALFORMED"} <= {f["issue"] for f in findings}, findings


# ---- least privilege, read from the template -----------------------------------------------------


@pytest.mark.parametrize("per_zone", [False, True])
def test_no_write_action_on_every_resource(per_zone):
    template = load_template()
    known = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values() if p.startswith("${")))
    for logical_id in ROLES:
        for st in role_policy(template, logical_id, per_zone=per_zone)["Statement"]:
            resources = as_list(st["Resource"])
            writes = [a for a in as_list(st["Action"]) if not READ_VERB.match(a.split(":", 1)[1])]
            if "*" in resources:
                # only actions AWS offers no resource-level permission for, each under a condition
                # or read-only: ecr:GetAuthorizationToken, cloudwatch:PutMetricData (namespace).
                assert writes == [] or st.get("Condition"), f"{logical_id} {st.get('Sid')}: {writes} on '*'"
            for action in as_list(st["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{logical_id} {st.get('Sid')}: {action}"
            for res in resources:
                assert "${" not in known.sub("", res), f"{logical_id}: unresolved {res}"


def test_jobs_and_topics_are_scoped_to_the_nlpops_prefix():
    template = load_template()
    airflow = role_policy(template, "AirflowExecutionRole")["Statement"]
    for st in airflow:
        services = {a.split(":")[0] for a in as_list(st["Action"])}
        if services & {"sagemaker", "glue"} and st["Sid"] != "GlueCatalogForAthena":
            for res in as_list(st["Resource"]):
                assert re.search(
                    r":(training-job|hyper-parameter-tuning-job|transform-job|model|model-package-group|model-package|job"
                    r"|endpoint|endpoint-config)/nlpops-",
                    res,
                )
    (publish,) = [st for st in airflow if st["Action"] == "sns:Publish"]
    assert publish["Resource"] == "${NotificationTopicArn}"
    topic = template["Resources"]["NotificationTopic"]["Properties"]
    assert topic["TopicName"].startswith("nlpops-")
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["LakeKey", "Arn"]}


def test_pass_role_only_for_the_project_roles_and_their_service():
    airflow = role_policy(load_template(), "AirflowExecutionRole")["Statement"]
    passes = {
        st["Resource"]: st["Condition"]["StringEquals"]["iam:PassedToService"]
        for st in airflow
        if "iam:PassRole" in as_list(st["Action"])
    }
    assert passes == {
        "${SageMakerExecutionRoleArn}": "sagemaker.amazonaws.com",
        "${GlueJobRoleArn}": "glue.amazonaws.com",
        "${EmrServerlessJobRoleArn}": "emr-serverless.amazonaws.com",
    }
    for st in airflow:
        if "iam:PassRole" in as_list(st["Action"]):
            assert as_list(st["Action"]) == ["iam:PassRole"], st  # nothing else rides on the condition


def test_roles_reach_only_their_zones():
    template = load_template()
    sm = role_policy(template, "SageMakerExecutionRole", per_zone=True)
    writes = next(st for st in sm["Statement"] if st["Sid"] == "WriteModelsAndPredictions")
    assert writes["Resource"] == [
        "arn:aws:s3:::${LakeBucketName}-models/*",
        "arn:aws:s3:::${LakeBucketName}-inference-output/*",
    ]
    for role in ("GlueJobRole", "EmrServerlessJobRole"):
        statements = role_policy(template, role)["Statement"]
        writes = [r for st in statements if "s3:PutObject" in st["Action"] for r in as_list(st["Resource"])]
        assert writes[0] == "arn:aws:s3:::${LakeBucketName}/processed/*", role
        assert all("/processed/" in r or "-artifacts/" in r for r in writes), (role, writes)


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
        kms = [s for s in statements if "s3:x-amz-server-side-encryption" in s.get("Condition", {}).get("Null", {})]
        assert kms and kms[0]["Effect"] == "Deny" and kms[0]["Action"] == "s3:PutObject", logical_id
        # tests/aws/test_bucket_policy.py evaluates every statement's effect


def test_per_zone_buckets_are_the_settings_zones():
    from include.settings import ZONES

    (loop,) = [v for k, v in load_template()["Resources"].items() if k.startswith("Fn::ForEach::")]
    assert tuple(loop[1]) == ZONES


def test_key_policy_allows_no_anonymous_principal_and_rotates():
    key = load_template()["Resources"]["LakeKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    for st in key["KeyPolicy"]["Statement"]:
        assert st["Principal"] != "*" and st["Principal"] != {"AWS": "*"}


@pytest.mark.parametrize("logical_id", ROLES)
def test_roles_trust_one_service_of_this_account(logical_id):
    trust = resolve(load_template()["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"])
    (st,) = trust["Statement"]
    assert st["Effect"] == "Allow" and st["Action"] == "sts:AssumeRole"
    assert set(st["Principal"]) == {"Service"}, st  # a service, never an account or "*"
    assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": "${AccountId}"}}  # confused deputy


def test_airflow_workers_outside_mwaa_are_one_named_role():
    res = load_template()["Resources"]["AirflowExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]
    _, external = resolve(res, external=True)["Statement"]
    assert external == {"Effect": "Allow", "Principal": {"AWS": "${AirflowWorkerRoleArn}"}, "Action": "sts:AssumeRole"}
    pattern = load_template()["Parameters"]["AirflowWorkerRoleArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, f"arn:aws:iam::{ACCOUNT}:role/airflow-workers")
    for not_a_role in (f"arn:aws:iam::{ACCOUNT}:root", "*", f"arn:aws:iam::{ACCOUNT}:user/u"):
        assert not re.fullmatch(pattern, not_a_role), not_a_role


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
        f"{path} differs from {TEMPLATE} ({logical_id}); regenerate it: .venv/bin/python tests/aws/test_infra.py"
    )


# ---- the Outputs are the settings ------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["prefixes", "buckets"])
def test_outputs_give_settings_that_match_the_stack(layout):
    """Feeding the Outputs to the settings yields the stack's own locations, in both layouts."""
    from include.settings import load_settings

    outputs = load_template()["Outputs"]
    per_zone = layout == "buckets"
    settings_outputs = {
        o["Description"]: o["Value"] for o in outputs.values() if o["Description"].startswith("NLPOPS_")
    }
    # all but the Airflow role (a connection, not a setting), the stand-alone Glue job and the image
    # repository (the setting is the URI of an image pushed there: `make sagemaker-image` prints it)
    assert len(settings_outputs) == len(outputs) - 3
    settings_source = (ROOT / "include" / "settings.py").read_text()
    assert [n for n in settings_outputs if f'"{n}"' not in settings_source] == []  # every Output feeds a real setting
    env = {name: with_examples(resolve(value, per_zone=per_zone)) for name, value in settings_outputs.items()}
    env.update(NLPOPS_TARGET="aws", NLPOPS_LAKE_LAYOUT=layout)  # the layout Output is the parameter
    s = load_settings(env)
    sep = "-" if layout == "buckets" else "/"
    assert s.zone_uri("processed", "p") == f"s3://nlpops-lake{sep}processed/p"
    assert s.athena_output() == f"s3://nlpops-lake{sep}results/_athena/"
    assert s.artifacts("scripts") == "s3://nlpops-lake-artifacts/scripts"
    assert s.kms_key_arn == EXAMPLE["${LakeKeyArn}"]
    assert s.sagemaker_role_arn == EXAMPLE["${SageMakerExecutionRoleArn}"]
    assert s.sns_topic_arn == EXAMPLE["${NotificationTopicArn}"]
    assert s.glue_role_arn.endswith("nlpops-glue-job") and s.emr_role_arn.endswith("nlpops-emr-serverless-job")
    assert (s.athena_workgroup, s.glue_database) == ("nlpops", "nlpops")


# ---- deployed on moto --------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Tried to parse")
@pytest.mark.parametrize("layout", ["prefixes", "buckets"])
def test_stack_deploys_on_moto(aws, layout):
    import boto3

    from include.settings import ZONES

    body = expanded()
    cf = boto3.client("cloudformation", region_name="us-east-1")
    # the buckets layout also trusts an outside Airflow worker role (ExternalAirflowWorkers)
    worker_role = f"arn:aws:iam::{ACCOUNT}:role/airflow-workers" if layout == "buckets" else ""
    cf.create_stack(
        StackName="nlpops",
        TemplateBody=json.dumps(body),
        Parameters=[
            {"ParameterKey": "LakeBucketName", "ParameterValue": "nlpops-lake"},
            {"ParameterKey": "LakeLayout", "ParameterValue": layout},
            {"ParameterKey": "AirflowWorkerRoleArn", "ParameterValue": worker_role},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    (stack,) = cf.describe_stacks(StackName="nlpops")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    deployed = {
        r["LogicalResourceId"]: r["ResourceType"]
        for r in cf.list_stack_resources(StackName="nlpops")["StackResourceSummaries"]
        if r["LogicalResourceId"]
    }
    # Every resource of the layout exists, except the types moto does not implement (documented).
    per_zone = layout == "buckets"
    wanted = {
        k: r["Type"]
        for k, r in body["Resources"].items()
        if r.get("Condition") in (None, "PerZoneBuckets" if per_zone else "OneLakeBucket")
    }
    assert {k: t for k, t in wanted.items() if t not in MOTO_GAPS} == deployed
    assert {t for t in wanted.values() if t not in set(deployed.values())} == MOTO_GAPS

    key_arn = outputs["LakeKeyArn"]
    kms = boto3.client("kms", region_name="us-east-1")
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    policy = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    policy = json.loads(policy) if isinstance(policy, str) else policy  # moto returns the template's object
    assert {st["Sid"] for st in policy["Statement"]} == {"AccountAdministersTheKey", "CloudWatchLogsEncryptsGlueLogs"}

    s3 = boto3.client("s3", region_name="us-east-1")
    names = [f"nlpops-lake-{z}" for z in ZONES] if per_zone else ["nlpops-lake"]
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {*names, "nlpops-lake-artifacts"}
    for bucket in [*names, "nlpops-lake-artifacts"]:
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}

    # The roles carry the template's policies, resolved for this layout and account.
    iam = boto3.client("iam", region_name="us-east-1")
    template = load_template()
    for logical_id, stem in ROLES.items():
        role = f"nlpops-{stem}"
        assert outputs.get(f"{logical_id}Arn", f"arn:aws:iam::{ACCOUNT}:role/{role}").endswith(f"role/{role}")
        doc = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
        if isinstance(doc, str):  # moto keeps a CloudFormation inline policy as the repr of a dict
            doc = ast.literal_eval(doc)
        expected = json.dumps(role_policy(template, logical_id, per_zone=per_zone))
        concrete = {
            "${LakeKeyArn}": key_arn,
            "${Region}": "us-east-1",
            "${AccountId}": ACCOUNT,
            "${LakeBucketName}": "nlpops-lake",
            "${NotificationTopicArn}": outputs["NotificationTopicArn"],
            "${SageMakerExecutionRoleArn}": outputs["SageMakerExecutionRoleArn"],
            "${GlueJobRoleArn}": outputs["GlueJobRoleArn"],
            "${EmrServerlessJobRoleArn}": outputs["EmrServerlessJobRoleArn"],
            "${MwaaEnvironmentName}": "nlpops",
            "${MwaaSourceBucketName}": "airflow-nlpops",
            # ${GlueDatabase} and ${AthenaWorkGroup} stay as they are: moto's Fn::Sub leaves
            # references to resources it does not create unresolved (a moto gap).
        }
        for placeholder, value in concrete.items():
            expected = expected.replace(placeholder, value)
        want = json.loads(expected)
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        # moto keeps an AWS::NoValue list item as null; CloudFormation drops it
        principals = [st["Principal"] for st in trust["Statement"] if st is not None]
        if role == "nlpops-airflow-execution" and worker_role:
            assert principals[1:] == [{"AWS": worker_role}], principals
        else:
            assert [set(p) for p in principals] == [{"Service"}], principals
        assert [s["Sid"] for s in doc["Statement"]] == [s["Sid"] for s in want["Statement"]], role
        for got, statement in zip(doc["Statement"], want["Statement"], strict=True):
            assert got == statement, (role, statement["Sid"])

    sns = boto3.client("sns", region_name="us-east-1")
    attributes = sns.get_topic_attributes(TopicArn=outputs["NotificationTopicArn"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == key_arn
    assert outputs["NotificationTopicArn"].endswith(":nlpops-notifications")

    # What moto's CloudFormation skips goes through the service APIs, from the template's own
    # properties: botocore validates each request against the service model, moto accepts it.
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cf.list_stack_resources(StackName="nlpops")["StackResourceSummaries"]
        if r["LogicalResourceId"]
    }
    values = {
        **{name: str(p.get("Default", "")) for name, p in body["Parameters"].items()},
        "LakeLayout": layout,
        **physical,
    }
    concrete = {
        "${Region}": "us-east-1",
        "${AccountId}": ACCOUNT,
        "${LakeBucketName}": "nlpops-lake",
        "${LakeKeyArn}": key_arn,
        "${NotificationTopicArn}": outputs["NotificationTopicArn"],
        "${GlueJobRoleArn}": outputs["GlueJobRoleArn"],
    }
    apply_what_moto_skips(body, per_zone=per_zone, values=values, concrete=concrete)
    for bucket in [*names, "nlpops-lake-artifacts"]:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4, bucket
        statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert [s["Sid"] for s in statements] == [
            "DenyInsecureTransport",
            "DenyOtherEncryption",
            "DenyOtherKmsKey",
            "DenyKmsWithoutTheLakeKey",
        ]
        assert statements[0]["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
        assert statements[2]["Condition"]["StringNotEquals"] == {
            "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn
        }
    glue = boto3.client("glue", region_name="us-east-1")
    job = glue.get_job(JobName="nlpops-prepare-text")["Job"]
    assert (job["Role"], job["SecurityConfiguration"]) == (outputs["GlueJobRoleArn"], "nlpops-kms")
    assert job["Command"]["ScriptLocation"] == "s3://nlpops-lake-artifacts/scripts/etl/jobs/prepare_text.py"
    encryption = glue.get_security_configuration(Name="nlpops-kms")["SecurityConfiguration"]
    assert encryption["EncryptionConfiguration"]["S3Encryption"][0] == {
        "S3EncryptionMode": "SSE-KMS",
        "KmsKeyArn": key_arn,
    }
    assert glue.get_database(Name="nlpops")["Database"]["Name"] == "nlpops"
    athena = boto3.client("athena", region_name="us-east-1")
    workgroup = athena.get_work_group(WorkGroup="nlpops")["WorkGroup"]["Configuration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["ResultConfiguration"] == {
        "OutputLocation": f"s3://nlpops-lake{'-' if per_zone else '/'}results/_athena/",
        "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": key_arn},
    }
    topic_policy = json.loads(
        sns.get_topic_attributes(TopicArn=outputs["NotificationTopicArn"])["Attributes"]["Policy"]
    )
    assert topic_policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def apply_what_moto_skips(
    body: dict[str, Any], *, per_zone: bool, values: dict[str, str], concrete: dict[str, str]
) -> None:
    """Create the resources (and bucket settings) moto's CloudFormation ignores via their APIs.

    The CloudFormation properties of these types are the API's request fields, but for the
    three differences mapped below; ``values`` resolves Ref to parameters and deployed resources.
    """
    import boto3

    def props(res: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(resolve(res["Properties"], per_zone=per_zone, env=values))
        for placeholder, value in concrete.items():
            text = text.replace(placeholder, value)
        assert "${" not in text, text
        return json.loads(text)

    s3, glue = boto3.client("s3", region_name="us-east-1"), boto3.client("glue", region_name="us-east-1")
    athena, sns = boto3.client("athena", region_name="us-east-1"), boto3.client("sns", region_name="us-east-1")
    condition = "PerZoneBuckets" if per_zone else "OneLakeBucket"
    for res in body["Resources"].values():
        if res.get("Condition") not in (None, condition) or res["Type"] not in {*MOTO_GAPS, "AWS::S3::Bucket"}:
            continue
        kind, p = res["Type"], props(res)
        if kind == "AWS::S3::Bucket":  # moto applies only BucketEncryption and Tags
            s3.put_bucket_versioning(Bucket=p["BucketName"], VersioningConfiguration=p["VersioningConfiguration"])
            s3.put_public_access_block(
                Bucket=p["BucketName"], PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"]
            )
        elif kind == "AWS::S3::BucketPolicy":
            s3.put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))
        elif kind == "AWS::Glue::SecurityConfiguration":
            enc = p["EncryptionConfiguration"]
            enc["S3Encryption"] = enc.pop("S3Encryptions")  # the one field CloudFormation spells otherwise
            glue.create_security_configuration(**p)
        elif kind == "AWS::Glue::Job":
            p["NumberOfWorkers"] = int(p["NumberOfWorkers"])  # a Number parameter arrives as text
            glue.create_job(**p)
        elif kind == "AWS::Glue::Database":
            glue.create_database(**p)
        elif kind == "AWS::Athena::WorkGroup":
            p["Configuration"] = p.pop("WorkGroupConfiguration")
            del p["RecursiveDeleteOption"]  # a CloudFormation-only switch (delete behaviour)
            athena.create_work_group(**p)
        elif kind == "AWS::SNS::TopicPolicy":
            for topic in p["Topics"]:
                sns.set_topic_attributes(
                    TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(p["PolicyDocument"])
                )
        else:
            raise AssertionError(f"{kind}: moto skips it and this function does not create it")


def write_iam_json() -> None:
    """Regenerate include/iam/*.json from the template (run after editing a role policy)."""
    template = load_template()
    for logical_id, stem in ROLES.items():
        text = json.dumps(role_policy(template, logical_id), indent=2) + "\n"
        (IAM_DIR / f"{stem}.json").write_text(text)


if __name__ == "__main__":
    write_iam_json()
