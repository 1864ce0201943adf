"""A tenant's reputation entity: findings from its own traffic, and the status they lead to.

SES "continuously monitors key reputation metrics for each tenant, including bounce rates,
complaint rates", opens findings of low or high impact when they exceed thresholds, and pauses
the tenant when its reputation policy says so: ``standard`` on a high-impact finding, ``strict``
on any, ``none`` never; a reinstated tenant keeps sending while its findings stay open, until
they are resolved (https://docs.aws.amazon.com/ses/latest/dg/tenants.html#reputation-monitoring-and-enforcement,
#limitations). The aggregate status is DISABLED when either the customer-managed or the
AWS-managed status is (ReputationEntity, botocore's model).

AWS publishes neither the tenant thresholds nor the minimum volume. The sandbox uses the
account's (docs/ses.md#reputation): a bounce rate of 5% or a complaint rate of 0.1% is a
low-impact finding, 10% or 0.5% a high-impact one, judged over the last 24 hours once the
tenant has :data:`MIN_VOLUME` counted recipients. What counts is what the account's rates
count: hard bounces and complaints, never simulator mail nor recipients a suppression list
dropped. A paused tenant sends nothing, so its findings stay open until its traffic ages out
of the window or the customer reinstates it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from courrier_sandbox.simulation.simulator import simulator_case

if TYPE_CHECKING:  # tenants.py asks this module to judge a tenant before each send
    from courrier_sandbox.ses.tenants import Tenant

WINDOW = 24 * 3600.0
#: Counted recipients before any finding opens ("Some reputation findings require a minimum
#: representative volume", tenants.html#limitations).
MIN_VOLUME = 20
#: (low, high) thresholds of each rate (docs/ses.md#reputation).
BOUNCE_RATES = (0.05, 0.10)
COMPLAINT_RATES = (0.001, 0.005)
#: Bounce sub-types of recipients SES never sent to: neither an attempt nor a bounce.
_LISTED = ("OnAccountSuppressionList", "OnTenantSuppressionList")


def count(tenant: Tenant, kind: str, body: dict[str, Any], destinations: list[str]) -> None:
    """Count one published event of a send through ``tenant``, then judge it again."""
    now = time.time()
    attempts = bounces = complaints = 0
    if kind == "Send":
        attempts = _counted(destinations)
    elif kind == "Bounce" and body.get("bounceType") == "Permanent":
        bounced = _counted([r["emailAddress"] for r in body.get("bouncedRecipients", [])])
        if body.get("bounceSubType") in _LISTED:
            attempts = -bounced
        else:
            bounces = bounced
    elif kind == "Complaint":
        complaints = _counted([r["emailAddress"] for r in body.get("complainedRecipients", [])])
    if attempts or bounces or complaints:
        tenant.traffic.append((now, attempts, bounces, complaints))
        judge(tenant, now)


def judge(tenant: Tenant, now: float | None = None) -> None:
    """Open or close the tenant's findings, and set its AWS-managed status from its policy."""
    now = time.time() if now is None else now
    while tenant.traffic and tenant.traffic[0][0] <= now - WINDOW:
        tenant.traffic.popleft()
    attempts = sum(t[1] for t in tenant.traffic)
    bounces = sum(t[2] for t in tenant.traffic)
    complaints = sum(t[3] for t in tenant.traffic)
    finding: tuple[str, str] | None = None
    if attempts >= MIN_VOLUME:
        for name, found, (low, high) in (
            ("complaint", complaints, COMPLAINT_RATES),
            ("bounce", bounces, BOUNCE_RATES),
        ):
            rate = found / attempts
            impact = "HIGH" if rate >= high else "LOW" if rate >= low else None
            if impact is None or (finding is not None and finding[0] == "HIGH"):
                continue
            limit = high if impact == "HIGH" else low
            finding = (
                impact,
                f"The {name} rate exceeded {limit:.1%} based on a representative volume of "
                f"{attempts} emails.",
            )
    resolved = tenant.impact is not None and finding is None
    tenant.impact = finding[0] if finding else None
    customer = tenant.customer_status
    if resolved and customer.status == "REINSTATED":
        # Reinstated "until all active findings are resolved" (tenants.html#limitations).
        _set(customer, "ENABLED", "All reputation findings resolved.", now)
    enforced = finding is not None and (
        (tenant.policy == "standard" and finding[0] == "HIGH") or tenant.policy == "strict"
    )
    if enforced and customer.status != "REINSTATED" and finding is not None:
        _set(tenant.aws_status, "DISABLED", finding[1], now)
    elif tenant.aws_status.status == "DISABLED":
        _set(tenant.aws_status, "ENABLED", None, now)


def figures(tenant: Tenant) -> dict[str, Any]:
    """The reputation entity as the sandbox judges it, with the counts behind it (the
    ``/_courrier/tenants/NAME`` page); the caller holds the lock and has judged the tenant."""
    return {
        "name": tenant.name,
        "tenant_id": tenant.tenant_id,
        "policy": tenant.policy,
        "sending_status": tenant.sending_status,
        "customer_status": tenant.customer_status.status,
        "aws_status": tenant.aws_status.status,
        "aws_cause": tenant.aws_status.cause,
        "impact": tenant.impact,
        "attempts": sum(t[1] for t in tenant.traffic),
        "bounces": sum(t[2] for t in tenant.traffic),
        "complaints": sum(t[3] for t in tenant.traffic),
    }


def _set(record: Any, status: str, cause: str | None, now: float) -> None:
    if record.status != status:
        record.status, record.cause, record.updated = status, cause, now


def _counted(addresses: list[str]) -> int:
    return sum(1 for a in addresses if simulator_case(a) is None)
