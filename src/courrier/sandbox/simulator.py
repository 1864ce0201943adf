"""The SES mailbox simulator: what happens to each recipient of an accepted message.

Outcomes follow facts §3 and §8. The result is a plan: the feedback events SES would emit
(in the order it emits them) and the messages that land in a mailbox.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SIMULATOR_DOMAIN = "simulator.amazonses.com"
SIMULATOR_USER_AGENT = "Amazon SES Mailbox Simulator"
SES_REPORTING_MTA = "dns; amazonses.com"

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


@dataclass(frozen=True)
class SimulatorOptions:
    #: Field reports (facts §3) see the ooto address produce a Transient/General bounce
    #: after the Delivery; the guide documents only the email auto-reply. Both by default.
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
) -> Plan:
    result = Plan()
    step = options.delay
    result.feedback.append(Feedback("Send", {}, 0.0))
    if has_virus:
        result.feedback.append(Feedback("Reject", {"reason": "Bad content"}, step))
        return result

    delivered: list[str] = []
    bounces: dict[tuple[str, str], list[dict[str, Any]]] = {}
    complaints: list[str] = []
    transient: list[dict[str, Any]] = []
    for recipient in recipients:
        case = simulator_case(recipient)
        if account_suppressed(recipient):
            bounces.setdefault(("Permanent", "OnAccountSuppressionList"), []).append(
                _bounced(recipient, "5.1.1", ACCOUNT_SUPPRESSED_DIAGNOSTIC)
            )
        elif case == "bounce":
            bounces.setdefault(("Permanent", "General"), []).append(
                _bounced(recipient, "5.1.1", "smtp; 550 5.1.1 user unknown")
            )
        elif case == "suppressionlist":
            bounces.setdefault(("Permanent", "Suppressed"), []).append(
                _bounced(recipient, "5.1.1", SUPPRESSED_DIAGNOSTIC)
            )
        else:
            delivered.append(recipient)
            if case == "complaint":
                complaints.append(recipient)
            elif case == "ooto":
                result.auto_replies.append(recipient)
                if options.ooto_bounce:
                    transient.append(_bounced(recipient, "4.0.0", "smtp; 250 2.0.0 auto-reply"))
            elif case is None:
                result.delivered.append(recipient)

    if delivered:
        result.feedback.append(Feedback("Delivery", _delivery(delivered, now + step), step))
    for (bounce_type, subtype), bounced in bounces.items():
        # Several bounces of one send come as one notification (facts §3).
        on_list = subtype in ("OnAccountSuppressionList", "Suppressed")
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
    return result


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
        body["reportingMTA"] = "dsn; sandbox.smtp-out.amazonses.com"
    return body


def _delivery(recipients: list[str], ts: float) -> dict[str, Any]:
    return {
        "timestamp": iso(ts),
        "processingTimeMillis": 50,
        "recipients": recipients,
        "smtpResponse": "250 2.6.0 Message received",
        "remoteMtaIp": "127.0.0.1",
        "reportingMTA": "sandbox.smtp-out.amazonses.com",
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
