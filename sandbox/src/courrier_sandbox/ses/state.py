"""What the sandbox's SES remembers: identities, configuration sets, the account.

State is kept per (account, region), as SES keeps it. Every value here is plain data so that
``--state PATH`` can write it as JSON and read it back.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from courrier_sandbox.ses.contact_lists import ContactList
from courrier_sandbox.ses.statistics import SendStatistics
from courrier_sandbox.ses.templates import Template
from courrier_sandbox.ses.tenants import Tenant

#: The event types of SES v2, the canonical spelling inside the sandbox.
EVENT_TYPES = (
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
)
#: SES v1 spells the same types in lower camel case (docs/ses.md#event-publishing).
V1_EVENT_TYPES = {
    "send": "SEND",
    "reject": "REJECT",
    "bounce": "BOUNCE",
    "complaint": "COMPLAINT",
    "delivery": "DELIVERY",
    "open": "OPEN",
    "click": "CLICK",
    "renderingFailure": "RENDERING_FAILURE",
    "deliveryDelay": "DELIVERY_DELAY",
    "subscription": "SUBSCRIPTION",
}
NOTIFICATION_TYPES = ("Bounce", "Complaint", "Delivery")


@dataclass
class Identity:
    name: str
    kind: str  # "EmailAddress" | "Domain"
    status: str  # "Pending" | "Success" | "Failed"
    created: float = field(default_factory=time.time)
    verification_token: str | None = None
    dkim_tokens: list[str] = field(default_factory=list)
    dkim_enabled: bool = False
    topics: dict[str, str] = field(default_factory=dict)
    headers_in_notifications: dict[str, bool] = field(default_factory=dict)
    forwarding_enabled: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    #: The configuration set used for sends from this identity that name none.
    configuration_set: str | None = None
    #: Custom MAIL FROM: the domain, "Pending" | "Success", "UseDefaultValue" | "RejectMessage".
    mail_from_domain: str | None = None
    mail_from_status: str = "Pending"
    mail_from_behavior: str = "UseDefaultValue"

    @property
    def verified(self) -> bool:
        return self.status == "Success"

    @classmethod
    def new(cls, name: str, *, pending: bool) -> Identity:
        is_domain = "@" not in name
        identity = cls(
            name=name,
            kind="Domain" if is_domain else "EmailAddress",
            status="Pending" if pending else "Success",
        )
        if is_domain:
            identity.verification_token = secrets.token_urlsafe(32)[:44]
            identity.dkim_tokens = [secrets.token_hex(16) for _ in range(3)]
            identity.dkim_enabled = True
        return identity


@dataclass
class EventDestination:
    name: str
    enabled: bool
    matching_types: list[str]
    sns_topic_arn: str | None


@dataclass
class ConfigurationSet:
    name: str
    destinations: dict[str, EventDestination] = field(default_factory=dict)
    sending_enabled: bool = True
    created: float = field(default_factory=time.time)
    tags: dict[str, str] = field(default_factory=dict)
    #: Every other option as v2 spells it (``TrackingOptions``, ``DeliveryOptions``, ...),
    #: JSON-ready: GetConfigurationSet answers with what it was given.
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def option(self, group: str, name: str) -> Any:
        return self.options.get(group, {}).get(name)

    @property
    def suppressed_reasons(self) -> list[str] | None:
        """The set's own reasons for adding to the suppression list; None: the account's."""
        if "SuppressionOptions" not in self.options:
            return None
        return list(self.option("SuppressionOptions", "SuppressedReasons") or [])

    def publishes(self, event_type: str) -> bool:
        return any(d.enabled and event_type in d.matching_types for d in self.destinations.values())


@dataclass
class Suppressed:
    email: str
    reason: str  # "BOUNCE" | "COMPLAINT"
    last_update: float
    message_id: str | None = None
    feedback_id: str | None = None


@dataclass
class Account:
    production: bool
    max_24_hour_send: float
    max_send_rate: float
    sending_enabled: bool = True
    suppressed_reasons: list[str] = field(default_factory=lambda: ["BOUNCE", "COMPLAINT"])
    #: GetAccount's EnforcementStatus: HEALTHY | PROBATION | SHUTDOWN (docs/ses.md#limits)
    enforcement_status: str = "HEALTHY"
    #: Messages the send-rate bucket holds; None: :func:`default_burst` of the rate.
    max_send_burst: float | None = None

    @property
    def burst(self) -> float:
        return (
            self.max_send_burst
            if self.max_send_burst is not None
            else default_burst(self.max_send_rate)
        )


def default_burst(rate: float) -> float:
    """How many messages SES accepts at once before its send rate bites.

    AWS says the maximum send rate "can be exceeded for short bursts, but not for sustained periods
    of time" and publishes no burst size (docs/ses.md#sending-at-volume). The sandbox's bucket holds
    two seconds of the rate, and never fewer than 10 messages: a script that sends a handful of
    messages in a loop at the SES sandbox's 1/s gets through, as it does against SES, while a sender
    that keeps going faster than its rate is throttled within seconds."""
    return max(2.0 * rate, 10.0)


@dataclass
class RegionState:
    account: Account
    identities: dict[str, Identity] = field(default_factory=dict)
    configuration_sets: dict[str, ConfigurationSet] = field(default_factory=dict)
    suppressed: dict[str, Suppressed] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    contact_lists: dict[str, ContactList] = field(default_factory=dict)
    tenants: dict[str, Tenant] = field(default_factory=dict)
    statistics: SendStatistics = field(default_factory=SendStatistics)
    # Send counters, never persisted: the send-rate bucket (tokens, when last refilled; None
    # until the first send: a full bucket), and (time, recipients) within the last 24 hours
    # for the quota, plus the running 24-hour total; ``throttled`` counts the sends refused
    # for the rate (benchmarks read it: a client's retries hide how often SES said no).
    bucket: tuple[float, float] | None = None
    throttled: int = 0
    #: Bulk send calls received (tests and benchmarks count what a campaign cost).
    bulk_calls: int = 0
    daily: deque[tuple[float, int]] = field(default_factory=deque)
    daily_total: int = 0

    def prune(self, now: float) -> None:
        while self.daily and self.daily[0][0] <= now - 86400.0:
            self.daily_total -= self.daily.popleft()[1]

    def identity_for(self, address: str) -> Identity | None:
        """The identity that covers ``address``: its own, else its domain's
        (docs/ses.md#notifications)."""
        covering = self.identities_for(address)
        return covering[0] if covering else None

    def identities_for(self, address: str) -> list[Identity]:
        """The identities that cover ``address``, its own first, then its domain's."""
        address = address.lower()
        names = [address, address.rpartition("@")[2]] if "@" in address else [address]
        return [self.identities[n] for n in names if n in self.identities]

    def is_verified(self, address: str) -> bool:
        identity = self.identity_for(address)
        return identity is not None and identity.verified

    def to_json(self) -> dict[str, Any]:
        return {
            "account": dataclasses.asdict(self.account),
            "identities": [dataclasses.asdict(i) for i in self.identities.values()],
            "configuration_sets": [
                {
                    **{k: v for k, v in dataclasses.asdict(c).items() if k != "destinations"},
                    "destinations": [dataclasses.asdict(d) for d in c.destinations.values()],
                }
                for c in self.configuration_sets.values()
            ],
            "suppressed": [dataclasses.asdict(s) for s in self.suppressed.values()],
            "templates": [dataclasses.asdict(t) for t in self.templates.values()],
            "contact_lists": [c.to_json() for c in self.contact_lists.values()],
            "tenants": [t.to_json() for t in self.tenants.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegionState:
        state = cls(account=Account(**data["account"]))
        for item in data.get("identities", []):
            identity = Identity(**item)
            state.identities[identity.name] = identity
        for item in data.get("configuration_sets", []):
            destinations = [EventDestination(**d) for d in item.pop("destinations", [])]
            config = ConfigurationSet(**item)
            config.destinations = {d.name: d for d in destinations}
            state.configuration_sets[config.name] = config
        for item in data.get("suppressed", []):
            entry = Suppressed(**item)
            state.suppressed[entry.email] = entry
        for item in data.get("templates", []):
            template = Template(**item)
            state.templates[template.name] = template
        for item in data.get("contact_lists", []):
            contact_list = ContactList.from_json(item)
            state.contact_lists[contact_list.name] = contact_list
        for item in data.get("tenants", []):
            tenant = Tenant.from_json(item)
            state.tenants[tenant.name] = tenant
        return state
