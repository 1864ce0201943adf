"""v2 tenant actions: tenants, their resources, their suppression settings, and reputation
entities (botocore's sesv2 model; https://docs.aws.amazon.com/ses/latest/dg/tenants.html)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from courrier_sandbox.ses import resource_tags
from courrier_sandbox.ses.api.actions import V2
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.service import Caller, SesService
from courrier_sandbox.ses.tenants import (
    RESOURCE_TYPES,
    SENDING_STATUSES,
    Tenant,
    checked_suppression,
)

v2 = V2.action


def _tenant(tenant: Tenant, caller: Caller, *, full: bool) -> dict[str, Any]:
    """``Tenant`` (GetTenant, and CreateTenant's answer) or ``TenantInfo`` (ListTenants)."""
    found: dict[str, Any] = {
        "TenantName": tenant.name,
        "TenantId": tenant.tenant_id,
        "TenantArn": tenant.arn(caller.region, caller.account),
        "CreatedTimestamp": tenant.created,
        "SendingStatus": tenant.sending_status,
    }
    if full:
        found["Tags"] = resource_tags.wire(tenant.tags)
        found["SuppressionAttributes"] = tenant.suppression_wire()
    return found


def _filter(given: dict[str, str] | None, keys: dict[str, Callable[[Any, str], bool]]) -> Any:
    """A predicate over items from a ``Filter`` map, or SES's refusal of an unknown key."""
    given = given or {}
    unknown = sorted(set(given) - set(keys))
    if unknown:
        raise SesFault("InvalidParameter", f"Invalid filter key {unknown[0]}.")
    return lambda item: all(keys[k](item, v) for k, v in given.items())


@v2("CreateTenant")
def _create(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    tenant = svc.create_tenant(
        caller,
        p["TenantName"],
        tags=resource_tags.checked(p.get("Tags")),
        suppression=checked_suppression(p.get("SuppressionAttributes")),
    )
    return _tenant(tenant, caller, full=True)


@v2("GetTenant")
def _get(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"Tenant": _tenant(svc.tenant(caller, p["TenantName"]), caller, full=True)}


@v2("ListTenants")
def _list(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    wanted = _filter(
        p.get("Filter"),
        {
            "TENANT_NAME_CONTAINS": lambda t, v: v in t.name,
            "SENDING_STATUS": lambda t, v: t.sending_status == v,
        },
    )
    tenants = [t for t in svc.tenants(caller) if wanted(t)]
    found, token = V2.page(p, tenants, lambda t: t.name, "ListTenants")
    return {"Tenants": [_tenant(t, caller, full=False) for t in found], "NextToken": token}


@v2("DeleteTenant")
def _delete(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_tenant(caller, p["TenantName"])
    return {}


@v2("CreateTenantResourceAssociation")
def _associate(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.associate(caller, p["TenantName"], p["ResourceArn"])
    return {}


@v2("DeleteTenantResourceAssociation")
def _dissociate(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.dissociate(caller, p["TenantName"], p["ResourceArn"])
    return {}


def _resource_type(arn: str) -> str:
    return RESOURCE_TYPES[arn.split(":", 5)[5].partition("/")[0]]


@v2("ListTenantResources")
def _list_resources(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    wanted = _filter(p.get("Filter"), {"RESOURCE_TYPE": lambda arn, v: _resource_type(arn) == v})
    tenant = svc.tenant(caller, p["TenantName"])
    with svc.lock:
        arns = [arn for arn in tenant.resources if wanted(arn)]
    found, token = V2.page(p, arns, lambda arn: arn, "ListTenantResources")
    return {
        "TenantResources": [
            {"ResourceType": _resource_type(arn), "ResourceArn": arn} for arn in found
        ],
        "NextToken": token,
    }


@v2("ListResourceTenants")
def _list_resource_tenants(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    arn = p["ResourceArn"]
    pairs = svc.resource_tenants(caller, arn)
    found, token = V2.page(p, pairs, lambda pair: pair[0].name, "ListResourceTenants")
    return {
        "ResourceTenants": [
            {
                "TenantName": tenant.name,
                "TenantId": tenant.tenant_id,
                "ResourceArn": arn,
                "AssociatedTimestamp": since,
            }
            for tenant, since in found
        ],
        "NextToken": token,
    }


@v2("PutTenantSuppressionAttributes")
def _put_suppression(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.put_tenant_suppression(caller, p["TenantName"], checked_suppression(p))
    return {}


# ------------------------------------------------------------------ reputation entities


def _entity(tenant: Tenant, caller: Caller) -> dict[str, Any]:
    return {
        "ReputationEntityReference": tenant.arn(caller.region, caller.account),
        "ReputationEntityType": "RESOURCE",
        "ReputationManagementPolicy": (
            f"arn:aws:ses:{caller.region}:aws:reputation-policy/{tenant.policy}"
        ),
        "CustomerManagedStatus": tenant.customer_status.wire(),
        "AwsSesManagedStatus": tenant.aws_status.wire(),
        "SendingStatusAggregate": tenant.sending_status,
        "ReputationImpact": tenant.impact,
    }


@v2("GetReputationEntity")
def _get_entity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    tenant = svc.reputation_entity(
        caller, p["ReputationEntityType"], p["ReputationEntityReference"]
    )
    with svc.lock:
        return {"ReputationEntity": _entity(tenant, caller)}


@v2("ListReputationEntities")
def _list_entities(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    wanted = _filter(
        p.get("Filter"),
        {
            "ENTITY_TYPE": lambda e, v: e["ReputationEntityType"] == v,
            "REPUTATION_IMPACT": lambda e, v: e.get("ReputationImpact") == v,
            "SENDING_STATUS": lambda e, v: e["SendingStatusAggregate"] == v,
            "ENTITY_REFERENCE_PREFIX": lambda e, v: e["ReputationEntityReference"].startswith(v),
        },
    )
    tenants = svc.tenants(caller)
    with svc.lock:
        entities = [e for e in (_entity(t, caller) for t in tenants) if wanted(e)]
    found, token = V2.page(
        p, entities, lambda e: e["ReputationEntityReference"], "ListReputationEntities"
    )
    return {"ReputationEntities": found, "NextToken": token}


@v2("UpdateReputationEntityPolicy")
def _update_policy(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_reputation_policy(
        caller,
        p["ReputationEntityType"],
        p["ReputationEntityReference"],
        p["ReputationEntityPolicy"],
    )
    return {}


@v2("UpdateReputationEntityCustomerManagedStatus")
def _update_status(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    if p["SendingStatus"] not in SENDING_STATUSES:
        raise SesFault("InvalidParameter", f"Invalid sending status {p['SendingStatus']}.")
    svc.set_customer_status(
        caller, p["ReputationEntityType"], p["ReputationEntityReference"], p["SendingStatus"]
    )
    return {}
