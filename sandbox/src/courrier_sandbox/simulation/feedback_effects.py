"""What SES records in the account as it publishes feedback: statistics, the suppression list.

A hard bounce adds the address to the account-level suppression list with reason ``BOUNCE``, a
complaint with ``COMPLAINT``, when the reason is one the list collects: the configuration set's
``SuppressionOptions.SuppressedReasons`` if the set has them, else the account's
(docs/ses.md#account-level-suppression-list; accounts start with both). Mailbox simulator addresses
are never added (docs/ses.md#mailbox-simulator), nor are sends that were not made because the
address is already listed."""

from __future__ import annotations

import time
from typing import Any

from courrier_sandbox.ses.state import RegionState, Suppressed
from courrier_sandbox.simulation.mail import Mail
from courrier_sandbox.simulation.simulator import Feedback, simulator_case

_ON_LIST = "OnAccountSuppressionList"


def record(state: RegionState, mail: Mail, item: Feedback) -> bool:
    """Count ``item`` and add what it reports to the list; True when the list changed.

    The caller holds the state's lock.
    """
    now = time.time()
    state.statistics.feedback(item.kind, item.body, len(mail.destinations), now)
    reason, addresses = _reported(item)
    if reason is None:
        return False
    config = state.configuration_sets.get(mail.configuration_set or "")
    own = config.suppressed_reasons if config is not None else None
    if reason not in (own if own is not None else state.account.suppressed_reasons):
        return False
    added = False
    for address in addresses:
        if simulator_case(address) is not None:
            continue
        key = address.lower()
        state.suppressed[key] = Suppressed(
            key, reason, now, mail.message_id, item.body.get("feedbackId")
        )
        added = True
    return added


def _reported(item: Feedback) -> tuple[str | None, list[str]]:
    body: dict[str, Any] = item.body
    if (
        item.kind == "Bounce"
        and body.get("bounceType") == "Permanent"
        and body.get("bounceSubType") != _ON_LIST
    ):
        return "BOUNCE", [r["emailAddress"] for r in body.get("bouncedRecipients", [])]
    if item.kind == "Complaint" and body.get("complaintSubType") != _ON_LIST:
        return "COMPLAINT", [r["emailAddress"] for r in body.get("complainedRecipients", [])]
    return None, []
