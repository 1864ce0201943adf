"""Typed feedback events: one per affected recipient where the SES type has recipients.

Field names follow docs/ses.md#notifications (identity notifications) and #event-publishing (event
publishing). Every event keeps the SES payload it came from in ``raw``; unknown SES fields are
ignored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "TENANT_SUPPRESSION_LIST",
    "TENANT_TAG",
    "Bounce",
    "Click",
    "Complaint",
    "Delivery",
    "DeliveryDelay",
    "Event",
    "Open",
    "Reject",
    "RenderingFailure",
    "Send",
    "Subscription",
    "Unknown",
]

#: The tag SES adds to the feedback of a message sent with a ``TenantName``
#: (https://docs.aws.amazon.com/ses/latest/dg/tenants.html).
TENANT_TAG = "ses:tenant-name"
#: The bounce sub-type of a recipient on the tenant's own suppression list: SES did not
#: send to it, for that tenant only.
TENANT_SUPPRESSION_LIST = "OnTenantSuppressionList"


@dataclass(frozen=True)
class Event:
    """What every feedback event carries."""

    kind: ClassVar[str] = "Event"

    ses_message_id: str
    recipient: str | None
    timestamp: dt.datetime | None
    source: str = ""
    destination: tuple[str, ...] = ()
    tags: dict[str, list[str]] = field(default_factory=dict)
    sns_message_id: str | None = None
    topic_arn: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: The SES tenant the message was sent for (its ``ses:tenant-name`` tag); None: none.
    tenant: str | None = None

    @property
    def subtype(self) -> str | None:
        return None

    @property
    def feedback_id(self) -> str | None:
        return None

    @property
    def key(self) -> str:
        """Identifies the event across redeliveries: the same key means the same event.

        Built from the SES feedback id where SES gives one (docs/ses.md#sqs: dedupe on feedbackId
        per recipient), else from the message id, the recipient and the event time.
        """
        anchor = self.feedback_id or self.ses_message_id
        when = self.timestamp.isoformat() if self.timestamp else ""
        return f"{self.kind}:{anchor}:{self.recipient or ''}:{when}"


@dataclass(frozen=True)
class Bounce(Event):
    kind: ClassVar[str] = "Bounce"
    bounce_type: str = "Undetermined"  # Permanent | Transient | Undetermined
    bounce_subtype: str = "Undetermined"
    bounce_feedback_id: str | None = None
    status: str | None = None
    action: str | None = None
    diagnostic_code: str | None = None
    reporting_mta: str | None = None

    @property
    def subtype(self) -> str:
        return f"{self.bounce_type}/{self.bounce_subtype}"

    @property
    def feedback_id(self) -> str | None:
        return self.bounce_feedback_id

    @property
    def permanent(self) -> bool:
        return self.bounce_type == "Permanent"

    @property
    def tenant_listed(self) -> bool:
        """SES did not send: the recipient is on the tenant's suppression list (the
        account's other tenants may still send to it)."""
        return self.bounce_subtype == TENANT_SUPPRESSION_LIST


@dataclass(frozen=True)
class Complaint(Event):
    kind: ClassVar[str] = "Complaint"
    feedback_type: str | None = None  # abuse | auth-failure | fraud | not-spam | other | virus
    complaint_subtype: str | None = None  # None | OnAccountSuppressionList
    complaint_feedback_id: str | None = None
    user_agent: str | None = None

    @property
    def subtype(self) -> str | None:
        return self.feedback_type or self.complaint_subtype

    @property
    def feedback_id(self) -> str | None:
        return self.complaint_feedback_id


@dataclass(frozen=True)
class Delivery(Event):
    kind: ClassVar[str] = "Delivery"
    smtp_response: str | None = None
    processing_time_ms: int | None = None
    reporting_mta: str | None = None


@dataclass(frozen=True)
class Send(Event):
    kind: ClassVar[str] = "Send"


@dataclass(frozen=True)
class Reject(Event):
    kind: ClassVar[str] = "Reject"
    reason: str | None = None  # "Bad content"

    @property
    def subtype(self) -> str | None:
        return self.reason


@dataclass(frozen=True)
class Open(Event):
    kind: ClassVar[str] = "Open"
    ip_address: str | None = None
    user_agent: str | None = None

    @property
    def key(self) -> str:
        return f"{super().key}:{self.ip_address or ''}"


@dataclass(frozen=True)
class Click(Event):
    kind: ClassVar[str] = "Click"
    link: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    link_tags: dict[str, list[str]] = field(default_factory=dict)

    @property
    def subtype(self) -> str | None:
        return self.link

    @property
    def key(self) -> str:
        return f"{super().key}:{self.ip_address or ''}:{self.link or ''}"


@dataclass(frozen=True)
class RenderingFailure(Event):
    kind: ClassVar[str] = "Rendering Failure"
    template_name: str | None = None
    error_message: str | None = None

    @property
    def subtype(self) -> str | None:
        return self.template_name


@dataclass(frozen=True)
class DeliveryDelay(Event):
    kind: ClassVar[str] = "DeliveryDelay"
    delay_type: str | None = None  # an open enum (docs/ses.md#event-publishing)
    status: str | None = None
    diagnostic_code: str | None = None
    expiration_time: dt.datetime | None = None

    @property
    def subtype(self) -> str | None:
        return self.delay_type


#: How a Subscription event spells a topic's status (docs/ses.md#event-publishing).
OPT_IN, OPT_OUT = "OptIn", "OptOut"


@dataclass(frozen=True)
class Subscription(Event):
    kind: ClassVar[str] = "Subscription"
    contact_list: str | None = None
    unsubscribe_all: bool | None = None
    #: The contact's topics after the change: topic name -> ``OptIn`` | ``OptOut``. One
    #: topic opted out leaves ``unsubscribe_all`` False: only this says which.
    topic_preferences: dict[str, str] = field(default_factory=dict)
    #: How the contact made the change, as SES says it (``UnsubscribeHeader``, ...).
    preference_source: str | None = None
    #: The same two before the change (``oldTopicPreferences``).
    previous_unsubscribe_all: bool | None = None
    previous_topic_preferences: dict[str, str] = field(default_factory=dict)

    def changes(self) -> list[tuple[str | None, bool]]:
        """What the change did, as (topic, left): a topic opted out (True) or back in
        (False); topic None for the whole list (``unsubscribeAll`` set or cleared)."""
        found: list[tuple[str | None, bool]] = []
        if self.unsubscribe_all is not None and self.unsubscribe_all != bool(
            self.previous_unsubscribe_all
        ):
            found.append((None, self.unsubscribe_all))
        for topic, status in self.topic_preferences.items():
            if status not in (OPT_IN, OPT_OUT):
                continue
            if self.previous_topic_preferences.get(topic) != status:
                found.append((topic, status == OPT_OUT))
        return found

    @property
    def subtype(self) -> str | None:
        return self.contact_list


@dataclass(frozen=True)
class Unknown(Event):
    """A type courrier does not know; nothing is lost: ``raw`` has the whole payload."""

    kind: ClassVar[str] = "Unknown"
    type_name: str = ""

    @property
    def subtype(self) -> str | None:
        return self.type_name

    @property
    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()
        return f"Unknown:{self.type_name}:{digest}"
