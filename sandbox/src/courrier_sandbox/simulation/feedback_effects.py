"""What SES records in the account as it publishes feedback: statistics, the suppression list.

A hard bounce adds the address to the account-level suppression list with reason ``BOUNCE``, a
complaint with ``COMPLAINT``, when the reason is one the list collects: the configuration set's
``SuppressionOptions.SuppressedReasons`` if the set has them, else the tenant's, else the
account's (docs/ses.md#account-level-suppression-list; accounts start with both); to the
tenant's own list instead when the send's suppression scope is ``TENANT`` (docs/ses.md#tenants).
Mailbox simulator addresses are never added (docs/ses.md#mailbox-simulator), nor are sends that
were not made because the address is already listed. Events of a send through a tenant also
count toward the tenant's reputation (:mod:`courrier_sandbox.ses.tenant_reputation`)."""

from __future__ import annotations

import time
from typing import Any

from courrier_sandbox.ses import tenant_reputation
from courrier_sandbox.ses.state import RegionState, Suppressed
from courrier_sandbox.ses.tenants import suppression_settings
from courrier_sandbox.simulation.mail import Mail
from courrier_sandbox.simulation.simulator import Feedback, simulator_case

_ON_LIST = ("OnAccountSuppressionList", "OnTenantSuppressionList")


def record(state: RegionState, mail: Mail, item: Feedback) -> bool:
    """Count ``item`` and add what it reports to the list; True when the state changed (a
    suppression list, or the reputation of the send's tenant).

    The caller holds the state's lock.
    """
    now = time.time()
    state.statistics.feedback(item.kind, item.body, len(mail.destinations), now)
    tenant = state.tenants.get(mail.tenant) if mail.tenant else None
    # The tenant's reputation may move with any event of its sends.
    changed = tenant is not None
    if tenant is not None:
        tenant_reputation.count(tenant, item.kind, item.body, mail.destinations)
    reason, addresses = _reported(item)
    if reason is None:
        return changed
    config = state.configuration_sets.get(mail.configuration_set or "")
    scope, reasons = suppression_settings(state, config, tenant)
    if reason not in reasons:
        return changed
    # A tenant-scoped send's hard bounces and complaints go to the tenant's list only, not the
    # account's (docs/ses.md#tenants).
    listed = tenant.suppressed if tenant is not None and scope == "TENANT" else state.suppressed
    added = False
    for address in addresses:
        if simulator_case(address) is not None:
            continue
        # Listed as sent to, case kept (as put_suppressed keeps it).
        listed[address] = Suppressed(
            address, reason, now, mail.message_id, item.body.get("feedbackId")
        )
        added = True
    return added or changed


def _reported(item: Feedback) -> tuple[str | None, list[str]]:
    body: dict[str, Any] = item.body
    if (
        item.kind == "Bounce"
        and body.get("bounceType") == "Permanent"
        and body.get("bounceSubType") not in _ON_LIST
    ):
        return "BOUNCE", [r["emailAddress"] for r in body.get("bouncedRecipients", [])]
    if item.kind == "Complaint" and body.get("complaintSubType") not in _ON_LIST:
        return "COMPLAINT", [r["emailAddress"] for r in body.get("complainedRecipients", [])]
    return None, []
