"""A small evaluator for the resource policies that decide whether one AWS service may call another.

Only what SNS topic policies and SQS queue policies need for service principals: Allow/Deny,
``Principal`` (``*``, ``{"AWS": "*"}``, ``{"Service": ...}``), ``Action`` and ``Resource`` with
wildcards, and the string/ARN condition operators (with ``...IfExists``). Anything the evaluator
does not understand denies, as IAM does for a condition it cannot satisfy.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def _equals_ignore_case(actual: str, expected: str) -> bool:
    return actual.lower() == expected.lower()


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "stringequals": str.__eq__,
    "stringnotequals": str.__ne__,
    "stringequalsignorecase": _equals_ignore_case,
    "stringlike": fnmatch.fnmatchcase,
    "arnequals": str.__eq__,
    "arnlike": fnmatch.fnmatchcase,
}


def load(policy: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if policy is None or policy == "":
        return None
    if isinstance(policy, str):
        try:
            decoded = json.loads(policy)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return dict(policy)


def service_allowed(
    policy: str | Mapping[str, Any] | None,
    *,
    service: str,
    action: str,
    resource: str,
    context: Mapping[str, str],
) -> bool:
    """Whether ``policy`` lets the service principal ``service`` call ``action`` on ``resource``."""
    document = load(policy)
    if document is None:
        return False
    lowered = {key.lower(): value for key, value in context.items()}
    allowed = False
    for statement in _as_list(document.get("Statement")):
        if not isinstance(statement, dict):
            continue
        if not _principal_matches(statement.get("Principal"), service):
            continue
        if not _any_match(statement.get("Action"), action, ignore_case=True):
            continue
        if not _any_match(statement.get("Resource", "*"), resource, ignore_case=False):
            continue
        if not _conditions_hold(statement.get("Condition"), lowered):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if "*" in _as_list(principal.get("AWS")):
        return True
    return service in _as_list(principal.get("Service"))


def _any_match(patterns: Any, value: str, *, ignore_case: bool) -> bool:
    for pattern in _as_list(patterns):
        if not isinstance(pattern, str):
            continue
        if ignore_case and fnmatch.fnmatchcase(value.lower(), pattern.lower()):
            return True
        if not ignore_case and fnmatch.fnmatchcase(value, pattern):
            return True
    return False


def _conditions_hold(conditions: Any, context: Mapping[str, str]) -> bool:
    if conditions is None:
        return True
    if not isinstance(conditions, dict):
        return False
    for operator, tests in conditions.items():
        name = operator.lower()
        if_exists = name.endswith("ifexists")
        compare = _OPERATORS.get(name.removesuffix("ifexists"))
        if compare is None or not isinstance(tests, dict):
            return False
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if actual is None:
                if if_exists:
                    continue
                return False
            if not _matches_one(compare, actual, _as_list(expected)):
                return False
    return True


def _matches_one(compare: Callable[[str, str], bool], actual: str, expected: Iterable[Any]) -> bool:
    return any(compare(actual, str(item)) for item in expected)
