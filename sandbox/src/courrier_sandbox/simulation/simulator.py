"""The SES mailbox simulator: what happens to each recipient of an accepted message.

Outcomes follow docs/ses.md#mailbox-simulator, #account-level-suppression-list The result is a plan:
the feedback events SES would emit (in the order it emits them) and the messages that land in a
mailbox."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from courrier_sandbox.simulation.recipient_rules import RecipientRule

SIMULATOR_DOMAIN = "simulator.amazonses.com"
SIMULATOR_USER_AGENT = "Amazon SES Mailbox Simulator"
SES_REPORTING_MTA = "dns; amazonses.com"
SANDBOX_MTA = "sandbox.smtp-out.amazonses.com"
#: How long SES keeps trying a delayed delivery without a configuration set's
#: ``MaxDeliverySeconds``: the largest value that option allows (14 hours).
DEFAULT_MAX_DELIVERY_SECONDS = 50400

SUPPRESSED_DIAGNOSTIC = (
    "Amazon SES has suppressed sending to this address because it has a recent history of "
    "bouncing as an invalid address. For more information about how to remove an address from "
    "the suppression list, see the Amazon SES Developer Guide: "
    "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html "
)
ACCOUNT_SUPPRESSED_DIAGNOSTIC = (
    "Amazon SES did not send the message to this address because it is on the suppression list "
    "for your account. For more information about removing addresses from the suppression list, "
    "see the Amazon SES Developer Guide at "
    "https://docs.aws.amazon.com/ses/latest/DeveloperGuide/sending-email-suppression-list.html"
)
#: The diagnostic of a recipient on the tenant's own list
#: (https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list-tenant-level.html).
TENANT_SUPPRESSED_DIAGNOSTIC = (
    "Amazon SES did not send the message to this address because it is on the suppression list "
    "for your tenant."
)


def ses_id() -> str:
    """An identifier in the shape SES uses for message and feedback ids."""
    return f"0100{int(time.time() * 1000):012x}-{uuid.uuid4()}-000000"


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def simulator_case(address: str) -> str | None:
    """``bounce+label@simulator.amazonses.com`` -> ``"bounce"``; None for other domains."""
    local, _, domain = address.lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return None
    return local.split("+", 1)[0]


@dataclass
class Feedback:
    """One feedback event: ``kind`` is the SES event type name (``Bounce``, ``Delivery``, ...)."""

    kind: str
    body: dict[str, Any]
    delay: float


@dataclass
class Plan:
    feedback: list[Feedback] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)  # recipients whose copy lands in the mailbox
    auto_replies: list[str] = field(default_factory=list)  # simulator addresses that auto-reply
    #: When the copies in ``delivered`` land, in seconds after the send.
    copy_delay: float = 0.0
    #: Copies that land later, after a delivery delay: (recipient, seconds after the send).
    late: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class SimulatorOptions:
    #: Field reports (docs/ses.md#mailbox-simulator) see the ooto address produce a
    #: Transient/General bounce after the Delivery; the guide documents only the email auto-reply.
    #: Both by default.
    ooto_bounce: bool = True
    #: Seconds between the send and its feedback events, scaled per event kind.
    delay: float = 0.05


def plan(
    *,
    recipients: list[str],
    now: float,
    has_virus: bool,
    account_suppressed: Callable[[str], bool],
    options: SimulatorOptions,
    rule_for: Callable[[str], RecipientRule | None] = lambda address: None,
    left_out: Callable[[str], bool] = lambda address: False,
    max_delivery_seconds: float = DEFAULT_MAX_DELIVERY_SECONDS,
    tenant_suppressed: Callable[[str], bool] = lambda address: False,
) -> Plan:
    """What SES does with each recipient.

    ``rule_for`` gives a recipient's behaviour from ``/_courrier/recipients``; ``left_out``
    recipients (contacts who unsubscribed) get nothing at all.
    """
    result = Plan(copy_delay=options.delay)
    step = options.delay
    result.feedback.append(Feedback("Send", {}, 0.0))
    if has_virus:
        result.feedback.append(Feedback("Reject", {"reason": "Bad content"}, step))
        return result

    delivered: list[str] = []
    bounces: dict[tuple[str, str], list[dict[str, Any]]] = {}
    complaints: list[str] = []
    transient: list[dict[str, Any]] = []
    delays: dict[tuple[str, str, float], list[tuple[str, RecipientRule]]] = {}
    for recipient in recipients:
        if left_out(recipient):
            continue
        case = simulator_case(recipient)
        rule = rule_for(recipient) if case is None else None
        if rule is not None and rule.outcome in ("bounce", "delay"):
            case = rule.outcome
        if account_suppressed(recipient):
            bounces.setdefault(("Permanent", "OnAccountSuppressionList"), []).append(
                _bounced(recipient, "5.1.1", ACCOUNT_SUPPRESSED_DIAGNOSTIC)
            )
        elif tenant_suppressed(recipient):
            bounces.setdefault(("Permanent", "OnTenantSuppressionList"), []).append(
                _bounced(recipient, "5.1.1", TENANT_SUPPRESSED_DIAGNOSTIC)
            )
        elif case == "bounce":
            status, diagnostic = (
                (rule.status, rule.diagnostic_code)
                if rule
                else ("5.1.1", "smtp; 550 5.1.1 user unknown")
            )
            bounces.setdefault(("Permanent", "General"), []).append(
                _bounced(recipient, status, diagnostic)
            )
        elif case == "delay" and rule is not None:
            key = (rule.delay_type, rule.then, rule.after)
            delays.setdefault(key, []).append((recipient, rule))
        elif case == "suppressionlist":
            bounces.setdefault(("Permanent", "Suppressed"), []).append(
                _bounced(recipient, "5.1.1", SUPPRESSED_DIAGNOSTIC)
            )
        else:
            delivered.append(recipient)
            if case is None:
                result.delivered.append(recipient)
            if case == "complaint" or (rule is not None and rule.outcome == "complaint"):
                complaints.append(recipient)
            elif case == "ooto":
                result.auto_replies.append(recipient)
                if options.ooto_bounce:
                    transient.append(_bounced(recipient, "4.0.0", "smtp; 250 2.0.0 auto-reply"))

    if delivered:
        result.feedback.append(Feedback("Delivery", _delivery(delivered, now + step), step))
    for (bounce_type, subtype), bounced in bounces.items():
        # Several bounces of one send come as one notification (docs/ses.md#mailbox-simulator).
        on_list = subtype in ("OnAccountSuppressionList", "OnTenantSuppressionList", "Suppressed")
        result.feedback.append(
            Feedback("Bounce", _bounce(bounce_type, subtype, bounced, now + step, on_list), step)
        )
    if transient:
        result.feedback.append(
            Feedback(
                "Bounce",
                _bounce("Transient", "General", transient, now + 2 * step, False),
                2 * step,
            )
        )
    if complaints:
        result.feedback.append(
            Feedback("Complaint", _complaint(complaints, now + 3 * step), 3 * step)
        )
    for (delay_type, then, after), items in delays.items():
        _delay(result, delay_type, then, now, step, after, items, max_delivery_seconds)
    return result


def _delay(
    result: Plan,
    delay_type: str,
    then: str,
    now: float,
    step: float,
    after: float,
    items: list[tuple[str, RecipientRule]],
    max_delivery_seconds: float,
) -> None:
    """A DeliveryDelay event now, the delivery or the final soft bounce ``after`` later."""
    body = {
        "timestamp": iso(now + step),
        "delayType": delay_type,
        "expirationTime": iso(now + max_delivery_seconds),
        "delayedRecipients": [
            {"emailAddress": r, "status": rule.status, "diagnosticCode": rule.diagnostic_code}
            for r, rule in items
        ],
        "reportingMTA": SANDBOX_MTA,
    }
    result.feedback.append(Feedback("DeliveryDelay", body, step))
    later = 2 * step + after
    recipients = [r for r, _ in items]
    if then == "delivery":
        result.feedback.append(Feedback("Delivery", _delivery(recipients, now + later), later))
        result.late.extend((r, later) for r in recipients)
        return
    # SES stops retrying at the expiration and reports a soft bounce (docs/ses.md#notifications).
    bounced = [_bounced(r, rule.status, rule.diagnostic_code) for r, rule in items]
    result.feedback.append(
        Feedback("Bounce", _bounce("Transient", "General", bounced, now + later, False), later)
    )


def _bounced(address: str, status: str, diagnostic: str) -> dict[str, Any]:
    return {
        "emailAddress": address,
        "action": "failed",
        "status": status,
        "diagnosticCode": diagnostic,
    }


def _bounce(
    bounce_type: str, subtype: str, recipients: list[dict[str, Any]], ts: float, on_list: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "feedbackId": ses_id(),
        "bounceType": bounce_type,
        "bounceSubType": subtype,
        "bouncedRecipients": recipients,
        "timestamp": iso(ts),
    }
    if on_list:
        body["reportingMTA"] = SES_REPORTING_MTA
    else:
        body["remoteMtaIp"] = "127.0.0.1"
        body["reportingMTA"] = f"dsn; {SANDBOX_MTA}"
    return body


def _delivery(recipients: list[str], ts: float) -> dict[str, Any]:
    return {
        "timestamp": iso(ts),
        "processingTimeMillis": 50,
        "recipients": recipients,
        "smtpResponse": "250 2.6.0 Message received",
        "remoteMtaIp": "127.0.0.1",
        "reportingMTA": SANDBOX_MTA,
    }


def _complaint(recipients: list[str], ts: float) -> dict[str, Any]:
    return {
        "feedbackId": ses_id(),
        "complaintSubType": None,
        "complainedRecipients": [{"emailAddress": r} for r in recipients],
        "timestamp": iso(ts),
        "userAgent": SIMULATOR_USER_AGENT,
        "complaintFeedbackType": "abuse",
        "arrivalDate": iso(ts),
    }
