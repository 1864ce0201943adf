"""The names and documents of what ``courrier setup`` creates, from one prefix."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import idna

from courrier.addresses import parse_address
from courrier.errors import ConfigurationError, InvalidAddress
from courrier.settings import Route

#: Every SES v2 event type; the events route publishes all of them (docs/ses.md#event-publishing).
EVENT_TYPES = [
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "OPEN",
    "CLICK",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
    "SUBSCRIPTION",
]
NOTIFICATION_TYPES = ("Bounce", "Complaint", "Delivery")
TOPIC_SID = "AllowSesPublish"
QUEUE_SID = "AllowFeedbackTopic"
#: A dead-letter queue keeps messages longer than the source queue (docs/ses.md#sqs).
QUEUE_RETENTION = 4 * 86400
DLQ_RETENTION = 14 * 86400
MAX_RECEIVE_COUNT = 5


def normalise_identity(identity: str) -> str:
    """An email identity keeps its local part; a Unicode domain becomes Punycode
    (docs/ses.md#addresses)."""
    local, at, domain = identity.strip().rpartition("@")
    ascii_domain = idna.encode(domain, uts46=True).decode("ascii") if domain else domain
    return f"{local}{at}{ascii_domain}" if at else ascii_domain


#: One label of a domain name in its ASCII form: letters, digits and hyphens, not at either
#: end, 1 to 63 characters (RFC 1035 section 2.3.1, RFC 5890 section 2.3.1).
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_DOMAIN = 253


def checked_identity(identity: str) -> str:
    """``identity`` normalised (:func:`normalise_identity`) once checked: a bare address as
    courrier sends from, or a domain name of two labels or more. SES would refuse anything
    else only at CreateEmailIdentity, after setup has made the topic and the queues."""
    text = identity.strip()
    if "@" in text:
        _check_address(identity, text)
    domain = text.rpartition("@")[2]
    local = text[: len(text) - len(domain)]
    return f"{local}{_ascii_domain(identity, domain)}"


def _check_address(identity: str, text: str) -> None:
    try:
        address = parse_address(text)
    except InvalidAddress as err:
        raise ConfigurationError(f"identity {identity!r}: {err}") from err
    if address.name or "<" in text:
        raise ConfigurationError(
            f"identity {identity!r}: give the bare address, without a display name"
        )


def _ascii_domain(identity: str, domain: str) -> str:
    problem = f"identity {identity!r}: {domain!r} is not a domain name"
    try:
        name = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as err:
        raise ConfigurationError(f"{problem} ({err})") from err
    labels = name.split(".")
    if len(labels) < 2 or len(name) > _MAX_DOMAIN:
        raise ConfigurationError(
            f"{problem} (two labels or more, {_MAX_DOMAIN} characters or less)"
        )
    bad = next((label for label in labels if not _LDH_LABEL.fullmatch(label)), None)
    if bad is not None:
        raise ConfigurationError(
            f"{problem} (label {bad!r}: letters, digits and '-' not at either end, 1 to 63)"
        )
    return name


@dataclass(frozen=True)
class Resources:
    prefix: str
    identity: str
    route: Route
    region: str
    account: str

    @property
    def is_domain(self) -> bool:
        return "@" not in self.identity

    @property
    def topic_name(self) -> str:
        return f"{self.prefix}-feedback"

    @property
    def topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{self.topic_name}"

    @property
    def queue_name(self) -> str:
        return f"{self.prefix}-feedback"

    @property
    def queue_arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.queue_name}"

    @property
    def dlq_name(self) -> str:
        return f"{self.prefix}-feedback-dlq"

    @property
    def dlq_arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.dlq_name}"

    @property
    def configuration_set(self) -> str | None:
        return self.prefix if self.route is Route.EVENTS else None

    @property
    def ses_source_arn(self) -> str:
        return f"arn:aws:ses:{self.region}:{self.account}:*"

    def topic_statement(self) -> dict[str, Any]:
        # Scoped to this account's SES so that no other account can use the topic
        # (docs/ses.md#notifications).
        return {
            "Sid": TOPIC_SID,
            "Effect": "Allow",
            "Principal": {"Service": "ses.amazonaws.com"},
            "Action": "SNS:Publish",
            "Resource": self.topic_arn,
            "Condition": {
                "StringEquals": {"AWS:SourceAccount": self.account},
                "ArnLike": {"AWS:SourceArn": self.ses_source_arn},
            },
        }

    def queue_statement(self) -> dict[str, Any]:
        return queue_statement(self.queue_arn, self.topic_arn)

    def redrive_policy(self) -> str:
        return json.dumps(
            {"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
        )


def queue_statement(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    # The statement the SNS console forgets: without it SNS drops every delivery
    # (docs/ses.md#sns-to-sqs).
    return {
        "Sid": QUEUE_SID,
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }


def identity_arn(topic_arn: str, identity: str) -> str:
    """The ARN SES publishes identity notifications as: the topic's region and account
    (docs/ses.md#notifications)."""
    region, account = topic_arn.split(":")[3:5]
    return f"arn:aws:ses:{region}:{account}:identity/{identity}"


def configuration_set_arn(topic_arn: str, name: str) -> str:
    """The ARN SES publishes a configuration set's events as (docs/ses.md#event-publishing)."""
    region, account = topic_arn.split(":")[3:5]
    return f"arn:aws:ses:{region}:{account}:configuration-set/{name}"


def with_statement(
    policy: str | None, statement: dict[str, Any], *, default_id: str
) -> tuple[str, bool]:
    """``policy`` with ``statement`` in it (replacing one with the same Sid); changed or not."""
    document: dict[str, Any] = json.loads(policy) if policy else {}
    document.setdefault("Version", "2012-10-17")
    document.setdefault("Id", default_id)
    statements = [s for s in document.get("Statement", []) if isinstance(s, dict)]
    current = next((s for s in statements if s.get("Sid") == statement["Sid"]), None)
    if current == statement:
        return json.dumps(document), False
    document["Statement"] = [s for s in statements if s.get("Sid") != statement["Sid"]]
    document["Statement"].append(statement)
    return json.dumps(document), True
