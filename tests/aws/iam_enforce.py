"""IAM enforced on the moto server: every request is judged by the caller's role policies.

moto's access control is switched on (``INITIAL_NO_AUTH_ACTION_COUNT`` = 0: every request
is signature-checked and must come from an IAM user's or an assumed role's keys), but its
verdict is replaced by :mod:`policy_eval`, because moto checks non-S3 requests against the
resource ``"*"`` and reads only ``StringEquals`` conditions. For each request this module
builds what AWS authorises: the action, the resource ARN (from the request's parameters:
:func:`authorizations`), the condition keys it sets, and the actions AWS checks on the
caller's behalf (``iam:PassRole`` of a job's role with ``iam:PassedToService``,
``kms:CreateGrant`` for a job's volume key, ``sagemaker:AddTags`` / ``cloudwatch:TagResource``
for tags at creation,
``s3:GetObject`` of a copy source). S3 requests are also judged by the bucket's policy
(over TLS, with the request's encryption headers); moto's own bucket-policy check, which
ignores conditions, is switched off.

Every verdict is recorded (:attr:`IamEnforcer.checks`): the role, the action, the
resource, the statement that allowed it; a refused call fails the request with
AccessDenied, and :meth:`IamEnforcer.assert_no_denials` names it in the test. An operation
this module has no rule for is refused too ("no authorization rule"): a new call must be
taught here, never let through unchecked.
"""

from __future__ import annotations

import html
import json
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from nlpops.aws.policy_eval import ALLOW, DENY, decide, statement_applies

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Check:
    """One authorisation: who (role or user name), what, on which resource, and the verdict."""

    principal: str
    action: str
    resource: str
    decision: str
    granted_by: str = ""  # Sid of the allowing statement
    reason: str = ""


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _sagemaker(kind: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return _arn("sagemaker", f"{kind}/{name.lower()}")


#: moto's service names (the endpoint prefix) that are not IAM's service prefix.
IAM_SERVICE = {"monitoring": "cloudwatch"}
#: operation -> (resource kind, parameter holding the name) for SageMaker.
SAGEMAKER = {
    "CreateTrainingJob": ("training-job", "TrainingJobName"),
    "DescribeTrainingJob": ("training-job", "TrainingJobName"),
    "StopTrainingJob": ("training-job", "TrainingJobName"),
    "CreateHyperParameterTuningJob": ("hyper-parameter-tuning-job", "HyperParameterTuningJobName"),
    "DescribeHyperParameterTuningJob": ("hyper-parameter-tuning-job", "HyperParameterTuningJobName"),
    "StopHyperParameterTuningJob": ("hyper-parameter-tuning-job", "HyperParameterTuningJobName"),
    "CreateTransformJob": ("transform-job", "TransformJobName"),
    "DescribeTransformJob": ("transform-job", "TransformJobName"),
    "StopTransformJob": ("transform-job", "TransformJobName"),
    "CreateModel": ("model", "ModelName"),
    "DescribeModel": ("model", "ModelName"),
    "DeleteModel": ("model", "ModelName"),
    "CreateEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "DescribeEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "CreateEndpoint": ("endpoint", "EndpointName"),
    "DescribeEndpoint": ("endpoint", "EndpointName"),
    "UpdateEndpoint": ("endpoint", "EndpointName"),
    "CreateModelPackageGroup": ("model-package-group", "ModelPackageGroupName"),
    "DescribeModelPackageGroup": ("model-package-group", "ModelPackageGroupName"),
}
#: Glue job operations and the parameter naming the job.
GLUE_JOB = {
    "CreateJob": "Name",
    "GetJob": "JobName",
    "UpdateJob": "JobName",
    "StartJobRun": "JobName",
    "GetJobRun": "JobName",
    "GetJobRuns": "JobName",
    "BatchStopJobRun": "JobName",
}
GLUE_CATALOG = {
    "GetDatabase",
    "CreateDatabase",
    "GetTable",
    "GetTables",
    "CreateTable",
    "UpdateTable",
    "DeleteTable",
    "GetPartition",
    "GetPartitions",
    "BatchCreatePartition",
}


def _pass_role(role_arn: str, service: str) -> tuple[str, str, dict[str, Any]]:
    return ("iam:PassRole", role_arn, {"iam:PassedToService": service})


def _grant(key: str) -> tuple[str, str, dict[str, Any]]:
    return ("kms:CreateGrant", key, {"kms:GrantIsForAWSResource": "true"})


def authorizations(
    action: str, params: dict[str, Any], *, glue_database: str, athena_workgroup: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, resource ARN, condition keys) AWS checks for one non-S3 request.

    Raises ``LookupError`` for an operation without a rule.
    """
    service, op = action.split(":", 1)
    out: list[tuple[str, str, dict[str, Any]]] = []
    if service == "sagemaker":
        if op in SAGEMAKER:
            kind, param = SAGEMAKER[op]
            resource = _sagemaker(kind, str(params[param]))
            out.append((action, resource, {}))
            if op in {"CreateEndpoint", "UpdateEndpoint"}:  # both resources are authorized
                out.append((action, _sagemaker("endpoint-config", str(params["EndpointConfigName"])), {}))
            if params.get("Tags"):
                out.append(("sagemaker:AddTags", resource, {}))
            job = params.get("TrainingJobDefinition") or params  # a tuning job's training jobs
            role = job.get("RoleArn") or params.get("ExecutionRoleArn")
            if role:
                out.append(_pass_role(role, "sagemaker.amazonaws.com"))
            volume = (job.get("ResourceConfig") or params.get("TransformResources") or {}).get("VolumeKmsKeyId")
            if volume:
                out.append(_grant(volume))
            return out
        if op in {"AddTags", "ListTags", "DeleteTags"}:
            return [(action, params["ResourceArn"], {})]
        if op == "CreateModelPackage":
            group = str(params["ModelPackageGroupName"])
            resource = _sagemaker("model-package", f"{group}/new")
            out = [(action, resource, {}), (action, _sagemaker("model-package-group", group), {})]
            if params.get("Tags"):
                out.append(("sagemaker:AddTags", resource, {}))
            return out
        if op == "DescribeModelPackage":
            return [(action, _sagemaker("model-package", str(params["ModelPackageName"])), {})]
        if op == "UpdateModelPackage":
            return [(action, str(params["ModelPackageArn"]), {})]
        if op == "ListModelPackages":
            return [(action, _sagemaker("model-package", f"{params.get('ModelPackageGroupName', '')}/*"), {})]
    if service == "glue":
        if op in GLUE_JOB:
            resource = _arn("glue", f"job/{params[GLUE_JOB[op]]}")
            out.append((action, resource, {}))
            if op == "CreateJob":
                out.append(_pass_role(str(params["Role"]), "glue.amazonaws.com"))
                if params.get("Tags"):
                    out.append(("glue:TagResource", resource, {}))
            if op == "UpdateJob" and (params.get("JobUpdate") or {}).get("Role"):
                out.append(_pass_role(str(params["JobUpdate"]["Role"]), "glue.amazonaws.com"))
            return out
        if op in {"GetTags", "TagResource", "UntagResource"}:
            return [(action, str(params["ResourceArn"]), {})]
        if op in GLUE_CATALOG:
            database = str(params.get("DatabaseName") or (params.get("DatabaseInput") or {}).get("Name") or "")
            out = [(action, _arn("glue", "catalog"), {})]
            if database:
                out.append((action, _arn("glue", f"database/{database}"), {}))
            table = params.get("TableName") or params.get("Name") or (params.get("TableInput") or {}).get("Name")
            if database and table:
                out.append((action, _arn("glue", f"table/{database}/{table}"), {}))
            return out
    if service == "athena":
        if op in {"StartQueryExecution", "GetWorkGroup"}:
            workgroup = params.get("WorkGroup") or "primary"
            return [(action, _arn("athena", f"workgroup/{workgroup}"), {})]
        if op == "GetTableMetadata":
            return [(action, _arn("athena", f"datacatalog/{params.get('CatalogName') or 'AwsDataCatalog'}"), {})]
        if op in {"GetQueryExecution", "GetQueryResults", "StopQueryExecution"}:
            # the query's workgroup: the project runs every query in its own workgroup
            return [(action, _arn("athena", f"workgroup/{athena_workgroup}"), {})]
    if service == "logs":
        group = str(params.get("logGroupName", ""))
        stream = params.get("logStreamName")
        if op in {"GetLogEvents", "CreateLogStream", "PutLogEvents"} and stream:
            return [(action, _arn("logs", f"log-group:{group}:log-stream:{stream}"), {})]
        if op in {"CreateLogGroup", "DescribeLogStreams", "FilterLogEvents", "AssociateKmsKey"}:
            return [(action, _arn("logs", f"log-group:{group}:*"), {})]
        if op == "DescribeLogGroups":
            return [(action, _arn("logs", "log-group:*"), {})]
    if service == "cloudwatch" and op == "PutMetricAlarm":
        resource = _arn("cloudwatch", f"alarm:{params['AlarmName']}")
        out = [(action, resource, {})]
        if params.get("Tags"):  # tags at creation are authorized as TagResource too
            out.append(("cloudwatch:TagResource", resource, {}))
        return out
    if service == "sns" and op == "Publish":
        return [(action, str(params.get("TopicArn", "")), {})]
    if service == "kms" and op in {"DescribeKey", "Decrypt", "GenerateDataKey", "Encrypt"}:
        return [(action, str(params.get("KeyId", "")), {})]
    if service == "sts" and op in {"GetCallerIdentity", "AssumeRole"}:
        return [(action, str(params.get("RoleArn", "*")), {})]
    raise LookupError(f"no authorization rule for {action} in tests/aws/iam_enforce.py: add one")


#: moto's S3 action names that are not IAM action names.
S3_ACTIONS = {"HeadBucket": "ListBucket"}


def _params(data: Any, body: Any) -> dict[str, Any]:
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    if raw.strip().startswith("{"):
        try:
            return dict(json.loads(raw))
        except ValueError:
            pass
    if raw and "=" in raw and not raw.lstrip().startswith("<"):
        return {k: v[0] for k, v in parse_qs(raw).items()}
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in dict(data or {}).items()}


def _policy_docs(access_key: Any) -> list[dict[str, Any]]:
    docs = []
    for policy in access_key.collect_policies():
        if isinstance(policy, str):
            docs.append(json.loads(policy))
        elif isinstance(policy, dict):
            text = policy["policy_document"]
            docs.append(json.loads(text) if isinstance(text, str) else text)
        else:  # a managed Policy object
            version = next(v for v in policy.versions if v.is_default)
            docs.append(json.loads(version.document))
    return docs


def _principal(access_key: Any) -> str:
    return str(getattr(access_key, "_owner_role_name", "") or f"user/{getattr(access_key, '_owner_user_name', '?')}")


class IamEnforcer:
    """Install on the in-process moto server; :attr:`checks` holds every verdict, in order."""

    def __init__(self, *, glue_database: str = "nlpops", athena_workgroup: str = "nlpops") -> None:
        self.glue_database = glue_database
        self.athena_workgroup = athena_workgroup
        self.checks: list[Check] = []
        self._lock = threading.Lock()
        self._saved: list[tuple[Any, str, Any]] = []

    # -- install -------------------------------------------------------------------------------

    def install(self) -> None:
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam.access_control import IAMRequestBase, PermissionResult
        from moto.s3.models import FakeBucket

        enforcer = self

        def check_action_permitted(request: Any, resource: str) -> None:
            enforcer._check(request, resource)

        def get_permission(bucket: Any, action: str, resource: str) -> Any:
            return PermissionResult.NEUTRAL  # judged with its conditions in _check

        self._saved = [
            (IAMRequestBase, "check_action_permitted", IAMRequestBase.check_action_permitted),
            (FakeBucket, "get_permission", FakeBucket.get_permission),
            (settings, "INITIAL_NO_AUTH_ACTION_COUNT", settings.INITIAL_NO_AUTH_ACTION_COUNT),
        ]
        IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
        FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
        ActionAuthenticatorMixin.request_count = 0
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is authenticated

    def uninstall(self) -> None:
        for owner, attr, value in reversed(self._saved):
            setattr(owner, attr, value)
        self._saved = []

    # -- the verdict -----------------------------------------------------------------------------

    def _check(self, request: Any, resource: str) -> None:
        service, _, op = str(request._action).partition(":")
        action = f"{IAM_SERVICE.get(service, service)}:{op}"
        if action == "sts:GetCallerIdentity":
            return
        principal = _principal(request._access_key)
        policies = _policy_docs(request._access_key)
        service = action.split(":", 1)[0]
        if service == "s3":
            wanted = self._s3(request, resource)
        else:
            try:
                checks = authorizations(
                    action,
                    _params(request._data, request._body),
                    glue_database=self.glue_database,
                    athena_workgroup=self.athena_workgroup,
                )
            except (LookupError, KeyError) as exc:
                if principal.startswith("user/"):  # the harness's administrator: setup and assertions
                    checks = [(action, "*", {})]
                else:
                    self._record(Check(principal, action, "?", DENY, reason=str(exc)))
                    request._raise_access_denied()
                    return
            wanted = [(act, res, context, None) for act, res, context in checks]
        for act, res, context, bucket_policy in wanted:
            decision = decide(policies, act, res, context)
            reason = ""
            if bucket_policy is not None and decide([bucket_policy], act, res, context) == DENY:
                decision, reason = DENY, "bucket policy"
            sid = "" if decision != ALLOW else _granting_sid(policies, act, res, context)
            self._record(Check(principal, act, res, decision, sid, reason))
            if decision != ALLOW:
                request._raise_access_denied()

    def _s3(self, request: Any, resource: str) -> list[tuple[str, str, dict[str, Any], Any]]:
        from moto.s3.models import s3_backends

        op = request._action.split(":", 1)[1]
        headers = {k.lower(): v for k, v in dict(request._headers).items()}
        context: dict[str, Any] = {"aws:SecureTransport": "true"}  # S3 over HTTPS, as boto3 and s3fs do
        for header in ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"):
            if header in headers:
                context[f"s3:{header}"] = headers[header]
        bucket_name = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        policy = None
        bucket = s3_backends[ACCOUNT]["aws"].buckets.get(bucket_name)
        if bucket is not None and bucket.policy:
            policy = json.loads(bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy)
        if op in {"DeleteObject", "DeleteObjects"} and "/" not in resource.removeprefix("arn:aws:s3:::"):
            # the bulk DeleteObjects (POST ?delete on the bucket): one s3:DeleteObject per key
            body = request._body.decode("utf-8", "replace") if isinstance(request._body, bytes) else request._body
            keys = re.findall(r"<Key>(.*?)</Key>", body or "")
            return [("s3:DeleteObject", f"{resource}/{html.unescape(k)}", context, policy) for k in keys]
        out = [(f"s3:{S3_ACTIONS.get(op, op)}", resource, context, policy)]
        source = headers.get("x-amz-copy-source")
        if source:
            source = source.split("?", 1)[0].lstrip("/")
            out.append(("s3:GetObject", f"arn:aws:s3:::{source}", {"aws:SecureTransport": "true"}, policy))
        return out

    def _record(self, check: Check) -> None:
        with self._lock:
            self.checks.append(check)

    # -- for tests -------------------------------------------------------------------------------

    def denials(self) -> list[Check]:
        with self._lock:
            return [c for c in self.checks if c.decision != ALLOW]

    def assert_no_denials(self) -> None:
        bad = self.denials()
        assert not bad, "requests the stack's IAM policies refuse (include/infra/nlpops.yaml):\n" + "\n".join(
            f"  {c.principal}: {c.action} on {c.resource} ({c.reason or 'no statement allows it'})" for c in bad
        )

    def allowed(self, *, exclude: tuple[str, ...] = ("user/",)) -> list[Check]:
        with self._lock:
            return [c for c in self.checks if c.decision == ALLOW and not c.principal.startswith(exclude)]


def _granting_sid(policies: list[dict[str, Any]], action: str, resource: str, context: dict[str, Any]) -> str:
    for policy in policies:
        for st in policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]:
            if st["Effect"] == "Allow" and statement_applies(st, action, resource, context):
                return str(st.get("Sid", ""))
    return ""


__all__ = ["ACCOUNT", "REGION", "Check", "IamEnforcer", "authorizations"]


# -- the permissions document ------------------------------------------------------------------------

DOC_HEADER = """# AWS permissions of the aws target

Every AWS API action the aws target's DAGs (Airflow execution role) and its jobs (the Glue,
SageMaker roles, acting for the job) called in the IAM-enforced end-to-end run
(`tests/aws/e2e/test_aws_pipeline.py`, moto with access control on, each call judged by the
role policies of `include/infra/nlpops.yaml`), with the role that made it and the policy
statement (Sid) that allows it. S3 calls are judged by the bucket policy too. The last
test of that module checks this file against what the run recorded: regenerate it with
`.venv/bin/pytest tests/aws/e2e/test_aws_pipeline.py` and copy the file its failure names.

Granted but not recorded here: what moto does not do (Athena runs no SQL, so the Glue Data
Catalog and S3 calls Athena makes with the caller's permissions, `GlueCatalogForAthena`; S3's
KMS calls for SSE-KMS objects, `UseLakeKey`; SageMaker's log writes, metrics and ECR pulls
for its jobs), the EMR Serverless path (`nlpops-emr-serverless-job`), the MWAA baseline
(`Mwaa*`; both checked by `tests/aws/test_role_grants.py`), SNS `Publish` (the e2e run writes
notifications to files) and Glue's `BatchStopJobRun` (`tests/aws/e2e/test_glue_retry.py`).

| action | role | granted by |
|---|---|---|
"""


def permission_rows(checks: list[Check]) -> list[tuple[str, str, str]]:
    """Unique (action, role, Sid) of the allowed calls of the roles (not the harness's user)."""
    return sorted({(c.action, c.principal, c.granted_by) for c in checks if not c.principal.startswith("user/")})


def render_permissions(rows: list[tuple[str, str, str]]) -> str:
    return DOC_HEADER + "".join(f"| `{a}` | {r} | {s} |\n" for a, r, s in rows)


def parse_permissions(text: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows.append((cells[0].strip("`"), cells[1], cells[2]))
    return rows
