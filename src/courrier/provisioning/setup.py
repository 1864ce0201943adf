"""``courrier setup``: the SES -> SNS -> SQS pipeline, created or brought up to date.

Setup reads the pipeline once (:mod:`courrier.provisioning.inventory`), then changes only
what differs, so a second run changes nothing and says so. The same calls run against AWS
and the sandbox.

Order: topic, topic policy, dead-letter queue, queue (with its redrive policy), queue policy,
subscription, sender identity, feedback route, forwarding off, and the contact list of SES's
subscription management when asked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from courrier.errors import ConfigurationError, CourrierError, SetupIncomplete
from courrier.provisioning.aws import SES_MISSING, Aws
from courrier.provisioning.inventory import (
    Inventory,
    Queue,
    read_identity,
    read_inventory,
    read_topic,
)
from courrier.provisioning.resources import (
    DLQ_RETENTION,
    EVENT_TYPES,
    NOTIFICATION_TYPES,
    QUEUE_RETENTION,
    Resources,
    checked_identity,
    with_statement,
)
from courrier.settings import Route

__all__ = [
    "CONTACT_LIST_TAG",
    "Action",
    "Change",
    "SetupReport",
    "inventory_of",
    "resources_for",
    "setup",
]

#: The tag setup puts on the contact list it creates (its value: the prefix): teardown
#: deletes a contact list only when it carries it, since SES allows one per account and
#: the one there may hold the user's own contacts.
CONTACT_LIST_TAG = "courrier-setup"
#: A contact list or topic name that is also a list name of courrier's unsubscribes.
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def fits_list_name(name: str) -> bool:
    return bool(_NAME.match(name))


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"
    ABSENT = "absent"


@dataclass(frozen=True)
class Change:
    resource: str
    action: Action
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "action": str(self.action), "detail": self.detail}


@dataclass
class SetupReport:
    resources: Resources
    changes: list[Change] = field(default_factory=list)
    dns_records: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    queue_url: str | None = None
    dlq_url: str | None = None
    dry_run: bool = False
    #: The contact list setup keeps for SES's subscription management, and its topics.
    contact_list: str | None = None
    topics: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return any(c.action is not Action.UNCHANGED for c in self.changes)

    def made(self) -> tuple[str, ...]:
        """What this run created or changed, one line each (nothing in a dry run)."""
        if self.dry_run:
            return ()
        return tuple(
            f"{c.resource}: {c.action}"
            for c in self.changes
            if c.action in (Action.CREATE, Action.UPDATE)
        )

    def settings(self) -> dict[str, str]:
        """What the other commands need, for ``courrier.toml`` (keys in ``SETUP_KEYS``)."""
        r = self.resources
        values = {
            "identity": r.identity,
            "route": str(r.route),
            "prefix": r.prefix,
            "topic_arn": r.topic_arn,
        }
        if self.queue_url:
            values["queue_url"] = self.queue_url
        if self.dlq_url:
            values["dead_letter_queue_url"] = self.dlq_url
        if r.configuration_set:
            values["configuration_set"] = r.configuration_set
        if not r.is_domain:
            values["sender"] = r.identity
        if self.contact_list:
            values["unsubscribe_contact_list"] = self.contact_list
            if self.topics:
                values["unsubscribe_topic"] = self.topics[0]
        return values

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.as_dict() for c in self.changes],
            "dns_records": [
                {"type": kind, "name": name, "value": value}
                for kind, name, value in self.dns_records
            ],
            "settings": self.settings(),
            "changed": self.changed,
            "dry_run": self.dry_run,
        }


def setup(
    aws: Aws,
    identity: str,
    *,
    route: Route | str = Route.EVENTS,
    prefix: str = "courrier",
    dry_run: bool = False,
    mail_from: str | None = None,
    mail_from_behavior: str = "USE_DEFAULT_VALUE",
    contact_list: str | None = None,
    topics: Sequence[str] = (),
) -> SetupReport:
    """Create or update the pipeline. ``mail_from`` (a subdomain such as ``bounce``, or the
    full domain) sets a custom MAIL FROM domain, with ``mail_from_behavior``
    (``USE_DEFAULT_VALUE`` or ``REJECT_MESSAGE``) when its MX record is missing.
    ``contact_list`` (with ``topics``, the first the default) is the SES contact list of
    SES's subscription management: created, or given the topics it lacks."""
    resources = resources_for(aws, identity, route=route, prefix=prefix)
    for name in (contact_list, *topics):
        if name is not None and not fits_list_name(name):
            raise ConfigurationError(
                f"contact list or topic {name!r}: letters, digits, '.', '_' and '-', <= 64"
            )
    if topics and not contact_list:
        raise ConfigurationError("--topic needs --contact-list")
    report = SetupReport(
        resources, dry_run=dry_run, contact_list=contact_list, topics=tuple(dict.fromkeys(topics))
    )
    wanted = None
    if mail_from is not None:
        wanted = MailFrom(mail_from_domain(resources.identity, mail_from), mail_from_behavior)
        _check_behavior(wanted.behavior)
    steps = _Steps(aws, resources, inventory_of(aws, resources), report, mail_from=wanted)
    try:
        steps.run()
    except CourrierError as err:
        made = report.made()
        if not made:
            raise
        raise SetupIncomplete(
            f"setup stopped: {err}; it had already made: {'; '.join(made)}",
            made=made,
            settings=report.settings(),
        ) from err
    return report


def _check_behavior(behavior: str) -> None:
    if behavior not in MX_FAILURE_BEHAVIORS:
        raise ConfigurationError(
            f"behaviour on MX failure {behavior!r}: one of {', '.join(MX_FAILURE_BEHAVIORS)}"
        )


#: SES's choices when the MAIL FROM domain's MX record is missing
#: (https://docs.aws.amazon.com/ses/latest/dg/mail-from.html).
MX_FAILURE_BEHAVIORS = ("USE_DEFAULT_VALUE", "REJECT_MESSAGE")


@dataclass(frozen=True)
class MailFrom:
    """The custom MAIL FROM domain setup sets, and what SES does when its MX is missing."""

    domain: str
    behavior: str = "USE_DEFAULT_VALUE"


def mail_from_domain(identity: str, given: str) -> str:
    """``given`` as a MAIL FROM domain of ``identity``: a subdomain label (``bounce``) or a
    full name under the identity's domain; SES refuses any other (and the domain itself)."""
    parent = identity.rpartition("@")[2].lower()
    name = given.strip().lower().rstrip(".")
    full = name if name.endswith(f".{parent}") else f"{name}.{parent}"
    labels = full.split(".")
    if not name or any(
        not label or len(label) > 63 or not label.replace("-", "").isalnum() for label in labels
    ):
        raise ConfigurationError(f"--mail-from {given!r}: not a domain name under {parent}")
    return full


def resources_for(aws: Aws, identity: str, *, route: Route | str, prefix: str) -> Resources:
    """What setup makes (and teardown removes) for these arguments, checked."""
    checked = Route.parse(route)
    if not prefix.replace("-", "").replace("_", "").isalnum() or len(prefix) > 40:
        raise ConfigurationError(f"prefix {prefix!r}: letters, digits, '-' and '_', <= 40")
    return Resources(prefix, checked_identity(identity), checked, aws.region, aws.account())


def inventory_of(aws: Aws, r: Resources) -> Inventory:
    return read_inventory(
        aws,
        identity=r.identity,
        topic_arn=r.topic_arn,
        queue=r.queue_name,
        queue_arn=r.queue_arn,
        dead_letter_queue=r.dlq_name,
        configuration_set=r.configuration_set,
    )


class _Steps:
    def __init__(
        self,
        aws: Aws,
        resources: Resources,
        found: Inventory,
        report: SetupReport,
        *,
        mail_from: MailFrom | None = None,
    ):
        self.mail_from_wanted = mail_from
        self.aws = aws
        self.r = resources
        self.found = found
        self.report = report
        self.dry = report.dry_run
        #: The identity as last read (refreshed after setup creates or verifies it).
        self.identity_state = found.identity.require()

    def note(self, resource: str, action: Action, detail: str = "") -> None:
        self.report.changes.append(Change(resource, action, detail))

    def run(self) -> None:
        self.topic()
        self.report.dlq_url = self.queue(
            self.found.dead_letter_queue.require(),
            self.r.dlq_name,
            {"MessageRetentionPeriod": str(DLQ_RETENTION)},
            "dead-letter queue",
        )
        queue = self.found.queue.require()
        self.report.queue_url = self.queue(
            queue,
            self.r.queue_name,
            {
                "MessageRetentionPeriod": str(QUEUE_RETENTION),
                "RedrivePolicy": self.r.redrive_policy(),
            },
            "queue",
        )
        self.queue_policy(self.report.queue_url, queue.attributes.get("Policy") if queue else None)
        self.subscription()
        self.identity()
        if self.mail_from_wanted is not None:
            self.mail_from(self.mail_from_wanted)
        if self.r.route is Route.EVENTS:
            self.configuration_set()
        else:
            self.notifications()
        self.forwarding_off()
        if self.report.contact_list:
            self.contact_list(self.report.contact_list, self.report.topics)

    # ------------------------------------------------------------------ SNS and SQS

    def topic(self) -> None:
        attributes = self.found.topic.require()
        if attributes is not None:
            self.note(f"SNS topic {self.r.topic_name}", Action.UNCHANGED)
        else:
            if not self.dry:
                self.aws.call("sns", "CreateTopic", Name=self.r.topic_name)
                # A new topic has a default policy; the SES statement joins it.
                attributes = read_topic(self.aws, self.r.topic_arn)
            self.note(f"SNS topic {self.r.topic_name}", Action.CREATE)
        current = (attributes or {}).get("Policy")
        policy, changed = with_statement(
            current, self.r.topic_statement(), default_id=f"{self.r.topic_arn}/policy"
        )
        if not changed:
            self.note("topic policy: SES may publish", Action.UNCHANGED)
            return
        if not self.dry:
            self.aws.call(
                "sns",
                "SetTopicAttributes",
                TopicArn=self.r.topic_arn,
                AttributeName="Policy",
                AttributeValue=policy,
            )
        self.note(
            "topic policy: SES may publish",
            Action.UPDATE if current else Action.CREATE,
            "scoped to this account's SES",
        )

    def queue(
        self, found: Queue | None, name: str, wanted: dict[str, str], label: str
    ) -> str | None:
        if found is None:
            if self.dry:
                self.note(f"{label} {name}", Action.CREATE)
                return None
            url = str(
                self.aws.call("sqs", "CreateQueue", QueueName=name, Attributes=wanted)["QueueUrl"]
            )
            self.note(f"{label} {name}", Action.CREATE)
            return url
        current = found.attributes
        differs = {k: v for k, v in wanted.items() if not _same_attribute(current.get(k), v)}
        if differs:
            if not self.dry:
                self.aws.call("sqs", "SetQueueAttributes", QueueUrl=found.url, Attributes=differs)
            self.note(f"{label} {name}", Action.UPDATE, ", ".join(sorted(differs)))
        else:
            self.note(f"{label} {name}", Action.UNCHANGED)
        return found.url

    def queue_policy(self, url: str | None, current: str | None) -> None:
        policy, changed = with_statement(
            current, self.r.queue_statement(), default_id=f"{self.r.queue_arn}/policy"
        )
        if not changed:
            self.note("queue policy: the topic may send", Action.UNCHANGED)
            return
        if not self.dry and url:
            self.aws.call("sqs", "SetQueueAttributes", QueueUrl=url, Attributes={"Policy": policy})
        self.note(
            "queue policy: the topic may send",
            Action.UPDATE if current else Action.CREATE,
            "the step the SNS console forgets",
        )

    def subscription(self) -> None:
        self.found.subscriptions.require()
        mine = self.found.queue_subscriptions(self.r.queue_arn)
        if not mine:
            if not self.dry:
                # Raw delivery off: the SNS envelope's MessageId is what de-duplicates
                # (docs/ses.md#sqs).
                self.aws.call(
                    "sns",
                    "Subscribe",
                    TopicArn=self.r.topic_arn,
                    Protocol="sqs",
                    Endpoint=self.r.queue_arn,
                    Attributes={"RawMessageDelivery": "false"},
                )
            self.note("subscription topic -> queue", Action.CREATE)
        elif mine[0].raw_delivery:
            if not self.dry:
                self.aws.call(
                    "sns",
                    "SetSubscriptionAttributes",
                    SubscriptionArn=mine[0].arn,
                    AttributeName="RawMessageDelivery",
                    AttributeValue="false",
                )
            self.note("subscription topic -> queue", Action.UPDATE, "raw delivery off")
        else:
            self.note("subscription topic -> queue", Action.UNCHANGED)

    # ------------------------------------------------------------------ SES

    def identity(self) -> None:
        name = self.r.identity
        if self.identity_state is None:
            if not self.dry:
                self.aws.call("sesv2", "CreateEmailIdentity", EmailIdentity=name)
            self.note(
                f"SES identity {name}",
                Action.CREATE,
                "check the inbox for the verification link" if "@" in name else "",
            )
        else:
            status = str(self.identity_state.get("VerificationStatus", ""))
            self.note(f"SES identity {name}", Action.UNCHANGED, f"verification {status.lower()}")
        if self.r.is_domain and not self.dry:
            token = self.aws.call("ses", "VerifyDomainIdentity", Domain=name)["VerificationToken"]
            self.identity_state = read_identity(self.aws, name)
            self.report.dns_records.append(("TXT", f"_amazonses.{name}", token))
            dkim = (self.identity_state or {}).get("DkimAttributes", {})
            for selector in dkim.get("Tokens", []):
                self.report.dns_records.append(
                    ("CNAME", f"{selector}._domainkey.{name}", f"{selector}.dkim.amazonses.com")
                )

    def mail_from(self, wanted: MailFrom) -> None:
        current = (self.identity_state or {}).get("MailFromAttributes", {})
        resource = f"MAIL FROM domain {wanted.domain}"
        if (
            current.get("MailFromDomain") == wanted.domain
            and current.get("BehaviorOnMxFailure") == wanted.behavior
        ):
            status = str(current.get("MailFromDomainStatus", "")).lower()
            self.note(resource, Action.UNCHANGED, f"status {status}" if status else "")
        else:
            if not self.dry:
                self.aws.call(
                    "sesv2",
                    "PutEmailIdentityMailFromAttributes",
                    EmailIdentity=self.r.identity,
                    MailFromDomain=wanted.domain,
                    BehaviorOnMxFailure=wanted.behavior,
                )
            action = Action.UPDATE if current.get("MailFromDomain") else Action.CREATE
            self.note(resource, action, f"on MX failure: {wanted.behavior}")
        # https://docs.aws.amazon.com/ses/latest/dg/mail-from.html
        self.report.dns_records.append(
            ("MX", wanted.domain, f"10 feedback-smtp.{self.r.region}.amazonses.com")
        )
        self.report.dns_records.append(
            ("TXT", wanted.domain, '"v=spf1 include:amazonses.com ~all"')
        )

    def configuration_set(self) -> None:
        name = self.r.configuration_set or ""
        destinations = (
            self.found.event_destinations.require() if self.found.event_destinations else None
        )
        if destinations is None:
            if not self.dry:
                self.aws.call("sesv2", "CreateConfigurationSet", ConfigurationSetName=name)
            self.note(f"configuration set {name}", Action.CREATE)
            destinations = []
        else:
            self.note(f"configuration set {name}", Action.UNCHANGED)
        wanted = {
            "Enabled": True,
            "MatchingEventTypes": EVENT_TYPES,
            "SnsDestination": {"TopicArn": self.r.topic_arn},
        }
        current = next((d for d in destinations if d.get("Name") == "sns"), None)
        if current is None:
            operation, action = "CreateConfigurationSetEventDestination", Action.CREATE
        elif (
            current.get("Enabled") is not True
            or sorted(current.get("MatchingEventTypes", [])) != sorted(EVENT_TYPES)
            or current.get("SnsDestination", {}).get("TopicArn") != self.r.topic_arn
        ):
            operation, action = "UpdateConfigurationSetEventDestination", Action.UPDATE
        else:
            self.note("event destination sns (all event types)", Action.UNCHANGED)
            return
        if not self.dry:
            self.aws.call(
                "sesv2",
                operation,
                ConfigurationSetName=name,
                EventDestinationName="sns",
                EventDestination=wanted,
            )
        self.note("event destination sns (all event types)", action)

    def contact_list(self, name: str, topics: tuple[str, ...]) -> None:
        """The contact list, tagged so that teardown removes it only if setup made it."""
        current = self.aws.maybe("sesv2", "GetContactList", *SES_MISSING, ContactListName=name)
        wanted = [
            {"TopicName": t, "DisplayName": t, "DefaultSubscriptionStatus": "OPT_IN"}
            for t in topics
        ]
        if current is None:
            if not self.dry:
                self.aws.call(
                    "sesv2",
                    "CreateContactList",
                    ContactListName=name,
                    Topics=wanted,
                    Tags=[{"Key": CONTACT_LIST_TAG, "Value": self.r.prefix}],
                )
            self.note(f"contact list {name}", Action.CREATE, ", ".join(topics))
            return
        have = [
            {
                k: t[k]
                for k in ("TopicName", "DisplayName", "DefaultSubscriptionStatus", "Description")
                if k in t
            }
            for t in current.get("Topics", [])
        ]
        missing = [t for t in wanted if t["TopicName"] not in {h["TopicName"] for h in have}]
        if not missing:
            self.note(f"contact list {name}", Action.UNCHANGED)
            return
        if not self.dry:
            # UpdateContactList replaces the topics: the list's own are given back with them.
            params: dict[str, Any] = {"ContactListName": name, "Topics": have + missing}
            if current.get("Description"):
                params["Description"] = current["Description"]
            self.aws.call("sesv2", "UpdateContactList", **params)
        added = ", ".join(t["TopicName"] for t in missing)
        self.note(f"contact list {name}", Action.UPDATE, f"topics added: {added}")

    def notifications(self) -> None:
        name = self.r.identity
        attributes = (
            self.found.notifications.require() if self.found.notifications else None
        ) or {}
        for kind in NOTIFICATION_TYPES:
            if attributes.get(f"{kind}Topic") == self.r.topic_arn:
                self.note(f"{kind} notifications -> topic", Action.UNCHANGED)
            else:
                if not self.dry:
                    self.aws.call(
                        "ses",
                        "SetIdentityNotificationTopic",
                        Identity=name,
                        NotificationType=kind,
                        SnsTopic=self.r.topic_arn,
                    )
                self.note(f"{kind} notifications -> topic", Action.UPDATE)
            if attributes.get(f"HeadersIn{kind}NotificationsEnabled") is True:
                self.note(f"{kind} notifications include headers", Action.UNCHANGED)
            else:
                if not self.dry:
                    self.aws.call(
                        "ses",
                        "SetIdentityHeadersInNotificationsEnabled",
                        Identity=name,
                        NotificationType=kind,
                        Enabled=True,
                    )
                self.note(f"{kind} notifications include headers", Action.UPDATE)

    def forwarding_off(self) -> None:
        # A new identity forwards feedback by email until told otherwise
        # (docs/ses.md#notifications).
        if (self.identity_state or {}).get("FeedbackForwardingStatus") is False:
            self.note("email feedback forwarding off", Action.UNCHANGED)
            return
        if not self.dry:
            self.aws.call(
                "sesv2",
                "PutEmailIdentityFeedbackAttributes",
                EmailIdentity=self.r.identity,
                EmailForwardingEnabled=False,
            )
        self.note(
            "email feedback forwarding off",
            Action.UPDATE,
            "feedback goes to the queue, not the sender's inbox",
        )


def _same_attribute(current: Any, wanted: str) -> bool:
    if current is None:
        return False
    if wanted.startswith("{"):
        try:
            return bool(json.loads(str(current)) == json.loads(wanted))
        except ValueError:
            return False
    return str(current) == wanted
