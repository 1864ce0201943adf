"""``courrier tenant``: SES tenants, each with the resources its sends use.

A send with a ``TenantName`` is refused unless the tenant is associated with its sender
identity, its configuration set and its template
(https://docs.aws.amazon.com/ses/latest/dg/tenants.html#resource-association), so
:func:`create_tenant` associates the configured ones by default. Like ``courrier setup`` it
reads first and changes only what differs: a second run changes nothing and says so.

The tenants courrier creates carry the tag ``courrier:prefix`` (setup's prefix): ``courrier
teardown`` deletes those of its prefix (:func:`delete_tagged_tenants`), never another's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from courrier.errors import ConfigurationError
from courrier.message import check_tenant_name
from courrier.provisioning.aws import SES_EXISTS, SES_MISSING, Aws
from courrier.provisioning.setup import Action, Change

__all__ = [
    "PREFIX_TAG",
    "TenantSuppression",
    "TenantView",
    "create_tenant",
    "delete_tagged_tenants",
    "delete_tenant",
    "list_tenants",
    "show_tenant",
    "tenant_suppression",
]

#: The tag that marks a tenant as created by courrier, with setup's prefix as its value.
PREFIX_TAG = "courrier:prefix"
#: PutTenantSuppressionAttributes's choices (botocore's sesv2 model).
SCOPES = ("ACCOUNT", "TENANT")
REASONS = ("BOUNCE", "COMPLAINT")


@dataclass(frozen=True)
class TenantSuppression:
    """Which suppression list a tenant's sends consult (``TENANT``: its own, ``ACCOUNT``:
    the account's) and the reasons that add an address to it."""

    scope: str
    reasons: tuple[str, ...] = REASONS

    def wire(self) -> dict[str, Any]:
        """As ``SuppressionAttributes`` (CreateTenant) takes it."""
        return {"SuppressionScope": self.scope, "SuppressedReasons": list(self.reasons)}


def tenant_suppression(scope: str | None, reasons: str | None) -> TenantSuppression | None:
    """The ``tenant_suppression_scope`` and ``tenant_suppressed_reasons`` settings, checked;
    None when no scope is set (SES's default applies)."""
    if scope is None:
        if reasons is not None:
            raise ConfigurationError("tenant_suppressed_reasons needs tenant_suppression_scope")
        return None
    wanted = scope.strip().upper()
    if wanted not in SCOPES:
        raise ConfigurationError(
            f"tenant_suppression_scope must be 'tenant' or 'account', not {scope!r}"
        )
    given = REASONS if reasons is None else tuple(r.strip().upper() for r in reasons.split(","))
    bad = [r for r in given if r not in REASONS and r]
    if bad:
        raise ConfigurationError(
            f"tenant_suppressed_reasons: {', '.join(bad)} is not bounce or complaint"
        )
    return TenantSuppression(wanted, tuple(r for r in given if r))


@dataclass(frozen=True)
class TenantView:
    """One tenant as SES describes it, with the resources associated with it."""

    name: str
    arn: str
    sending_status: str
    created: dt.datetime | None
    tags: dict[str, str] = field(default_factory=dict)
    resources: tuple[tuple[str, str], ...] = ()
    suppression: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "arn": self.arn,
            "sending_status": self.sending_status,
            "created": self.created.isoformat() if self.created else None,
            "tags": self.tags,
            "resources": [{"type": kind, "arn": arn} for kind, arn in self.resources],
            "suppression": self.suppression,
        }


def _arn_base(aws: Aws) -> str:
    return f"arn:aws:ses:{aws.region}:{aws.account()}"


def resource_arns(
    aws: Aws, *, identity: str | None, configuration_set: str | None, templates: Iterable[str]
) -> list[str]:
    """The ARNs of the resources a tenant is associated with (identity, configuration set,
    templates: the SES resource ARN formats of the tenants guide)."""
    base = _arn_base(aws)
    arns: list[str] = []
    if identity:
        arns.append(f"{base}:identity/{identity}")
    if configuration_set:
        arns.append(f"{base}:configuration-set/{configuration_set}")
    arns.extend(f"{base}:template/{name}" for name in templates)
    return arns


def create_tenant(
    aws: Aws,
    name: str,
    *,
    identity: str | None,
    configuration_set: str | None,
    templates: Sequence[str] = (),
    prefix: str = "courrier",
    suppression: TenantSuppression | None = None,
) -> list[Change]:
    """Create ``name`` (tagged with ``prefix``) unless it exists, associate each resource
    not yet associated, and set its suppression attributes when they differ."""
    check_tenant_name(name)
    changes: list[Change] = []
    current = aws.maybe("sesv2", "GetTenant", *SES_MISSING, TenantName=name)
    if current is None:
        params: dict[str, Any] = {
            "TenantName": name,
            "Tags": [{"Key": PREFIX_TAG, "Value": prefix}],
        }
        if suppression is not None:
            params["SuppressionAttributes"] = suppression.wire()
        aws.maybe("sesv2", "CreateTenant", *SES_EXISTS, **params)
        changes.append(Change(f"tenant {name}", Action.CREATE))
    else:
        changes.append(Change(f"tenant {name}", Action.UNCHANGED))
        if suppression is not None:
            changes.append(_suppression(aws, name, current["Tenant"], suppression))
    associated = {arn for _, arn in _resources(aws, name)}
    wanted = resource_arns(
        aws, identity=identity, configuration_set=configuration_set, templates=templates
    )
    for arn in wanted:
        if arn in associated:
            changes.append(Change(f"{name} -> {arn}", Action.UNCHANGED))
            continue
        aws.maybe(
            "sesv2",
            "CreateTenantResourceAssociation",
            *SES_EXISTS,
            TenantName=name,
            ResourceArn=arn,
        )
        changes.append(Change(f"{name} -> {arn}", Action.CREATE))
    return changes


def _suppression(aws: Aws, name: str, tenant: dict[str, Any], wanted: TenantSuppression) -> Change:
    have = tenant.get("SuppressionAttributes") or {}
    same = have.get("SuppressionScope") == wanted.scope and sorted(
        have.get("SuppressedReasons") or []
    ) == sorted(wanted.reasons)
    resource = f"{name} suppression ({wanted.scope}: {', '.join(wanted.reasons) or 'none'})"
    if same:
        return Change(resource, Action.UNCHANGED)
    aws.call(
        "sesv2",
        "PutTenantSuppressionAttributes",
        TenantName=name,
        SuppressionScope=wanted.scope,
        SuppressedReasons=list(wanted.reasons),
    )
    return Change(resource, Action.UPDATE)


def _resources(aws: Aws, name: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"TenantName": name, "PageSize": 100}
        if token:
            params["NextToken"] = token
        page = aws.call("sesv2", "ListTenantResources", **params)
        found.extend(
            (str(r["ResourceType"]), str(r["ResourceArn"])) for r in page.get("TenantResources", [])
        )
        token = page.get("NextToken")
        if not token:
            return found


def list_tenants(aws: Aws) -> list[TenantView]:
    """Every tenant of the region (ListTenants, following NextToken), without resources."""
    views: list[TenantView] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"PageSize": 100}
        if token:
            params["NextToken"] = token
        page = aws.call("sesv2", "ListTenants", **params)
        views.extend(_view(t) for t in page.get("Tenants", []))
        token = page.get("NextToken")
        if not token:
            return views


def show_tenant(aws: Aws, name: str) -> TenantView | None:
    """``name`` with its tags, resources and suppression attributes; None when absent."""
    check_tenant_name(name)
    found = aws.maybe("sesv2", "GetTenant", *SES_MISSING, TenantName=name)
    if found is None:
        return None
    tenant = found["Tenant"]
    view = _view(tenant)
    return TenantView(
        view.name,
        view.arn,
        view.sending_status,
        view.created,
        tags={str(t["Key"]): str(t["Value"]) for t in tenant.get("Tags") or []},
        resources=tuple(_resources(aws, name)),
        suppression=tenant.get("SuppressionAttributes"),
    )


def _view(tenant: dict[str, Any]) -> TenantView:
    created = tenant.get("CreatedTimestamp")
    return TenantView(
        name=str(tenant["TenantName"]),
        arn=str(tenant.get("TenantArn", "")),
        sending_status=str(tenant.get("SendingStatus", "")),
        created=created if isinstance(created, dt.datetime) else None,
    )


def delete_tenant(aws: Aws, name: str) -> Change:
    """Delete ``name`` (its resource associations go with it); absent is not an error."""
    check_tenant_name(name)
    gone = aws.maybe("sesv2", "DeleteTenant", *SES_MISSING, TenantName=name)
    return Change(f"tenant {name}", Action.DELETE if gone is not None else Action.ABSENT)


def delete_tagged_tenants(aws: Aws, prefix: str) -> list[Change]:
    """Delete the tenants courrier created with ``prefix`` (its tag); others are left."""
    changes: list[Change] = []
    for tenant in list_tenants(aws):
        found = show_tenant(aws, tenant.name)
        if found is not None and found.tags.get(PREFIX_TAG) == prefix:
            changes.append(delete_tenant(aws, tenant.name))
    return changes
