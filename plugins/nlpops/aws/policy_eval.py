"""A small evaluator of IAM policy documents: what AWS decides for one request.

Used by the preflight (``nlpops.aws.preflight``: can the caller pass the job roles?) where
the IAM policy simulator is not available, and by the tests: moto's own access control
checks most requests against the resource ``"*"`` and reads only ``StringEquals``
conditions, so scoped statements (``training-job/nlpops-*``) and conditions
(``iam:PassedToService``, ``aws:ResourceTag/project``, the S3 encryption headers) would be
judged wrongly there. It evaluates as the IAM reference describes ("Policy evaluation
logic", "IAM JSON policy elements: Condition operators"):

* an explicit Deny wins, then an Allow, else the request is implicitly denied;
* ``Action``/``NotAction`` match case-insensitively, ``Resource``/``NotResource``
  case-sensitively, both with ``*`` and ``?`` wildcards;
* the operators of a ``Condition`` are ANDed, the keys of one operator are ANDed, the
  values of one key are ORed (for a negated operator: the key matches none of them);
* a key missing from the request: ``Null`` is true for ``"true"``; an ``...IfExists``
  operator is true; a negated operator (``StringNotEquals``, ``StringNotLike``,
  ``ArnNotLike``, ``ArnNotEquals``) is true; any other operator is false. So a Deny with
  ``StringNotEqualsIfExists`` on an encryption header also denies a PUT without it.

Context keys are case-insensitive; values compare case-sensitively (``Bool``: as
``true``/``false``). An unknown operator raises: better a loud test than a wrong verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"

_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _compare(operator: str, expected: str, actual: str) -> bool:
    """One value of a positive operator against one request value."""
    if operator in {"StringEquals", "ArnEquals"}:
        return actual == expected
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if operator in {"StringLike", "ArnLike"}:
        return _wildcard(expected, actual)
    if operator == "Bool":
        return actual.lower() == str(expected).lower()
    if operator in {"NumericEquals"}:
        return float(actual) == float(expected)
    raise ValueError(f"condition operator {operator!r} is not implemented by nlpops.aws.policy_eval")


def _positive(operator: str) -> str:
    return {
        "StringNotEquals": "StringEquals",
        "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
        "StringNotLike": "StringLike",
        "ArnNotEquals": "ArnEquals",
        "ArnNotLike": "ArnLike",
    }.get(operator, operator)


def condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    """One ``operator: {key: expected}`` entry against the request ``context``."""
    lowered = {k.lower(): v for k, v in context.items()}
    present = key.lower() in lowered and lowered[key.lower()] is not None
    if operator == "Null":
        wants_absent = str(_as_list(expected)[0]).lower() == "true"
        return wants_absent != present
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if not present:
        return if_exists or base in _NEGATED
    actual = [str(v) for v in _as_list(lowered[key.lower()])]
    values = [str(v) for v in _as_list(expected)]
    matched = any(_compare(_positive(base), e, a) for e in values for a in actual)
    return not matched if base in _NEGATED else matched


def conditions_hold(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    """Every operator and every key of a statement's ``Condition`` holds for ``context``."""
    for operator, entries in (condition or {}).items():
        for key, expected in entries.items():
            if not condition_holds(operator, key, expected, context):
                return False
    return True


def _principal_matches(statement: Mapping[str, Any], principal: str | None) -> bool:
    if "Principal" not in statement:
        return True  # an identity policy: the principal is whoever holds it
    value = statement["Principal"]
    if value == "*" or (isinstance(value, dict) and "*" in _as_list(value.get("AWS", []))):
        return True
    return principal is not None and isinstance(value, dict) and principal in _as_list(value.get("AWS", []))


def statement_applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, Any],
    principal: str | None = None,
) -> bool:
    """Whether ``statement`` matches the request (action, resource, principal and condition)."""
    if "Action" in statement:
        if not any(_wildcard(p, action, ignore_case=True) for p in _as_list(statement["Action"])):
            return False
    elif any(_wildcard(p, action, ignore_case=True) for p in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(_wildcard(p, resource) for p in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(_wildcard(p, resource) for p in _as_list(statement["NotResource"])):
        return False
    if not _principal_matches(statement, principal):
        return False
    return conditions_hold(statement.get("Condition"), context)


def decide(
    policies: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
    principal: str | None = None,
) -> str:
    """:data:`ALLOW`, :data:`DENY` (an explicit Deny matched) or :data:`IMPLICIT_DENY`."""
    allowed = False
    for policy in policies:
        for statement in _as_list(policy["Statement"]):
            if statement_applies(statement, action, resource, context or {}, principal):
                if statement["Effect"] == "Deny":
                    return DENY
                allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def matching_statements(
    policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any] | None = None
) -> list[str]:
    """The ``Sid`` of every statement of ``policy`` that matches the request."""
    return [
        str(st.get("Sid", i))
        for i, st in enumerate(_as_list(policy["Statement"]))
        if statement_applies(st, action, resource, context or {})
    ]


__all__ = [
    "ALLOW",
    "DENY",
    "IMPLICIT_DENY",
    "condition_holds",
    "conditions_hold",
    "decide",
    "matching_statements",
    "statement_applies",
]
