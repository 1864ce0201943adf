"""``courrier setup``: the SES -> SNS -> SQS pipeline, created or brought up to date.

Each step reads what exists and changes only what differs, so a second run changes nothing
and says so. The same calls run against AWS and the sandbox.

Order: topic, topic policy, dead-letter queue, queue (with its redrive policy), queue policy,
subscription, sender identity, feedback route, forwarding off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from courrier.errors import ConfigurationError
from courrier.provisioning.aws import Aws
from courrier.provisioning.resources import (
    DLQ_RETENTION,
    EVENT_TYPES,
    NOTIFICATION_TYPES,
    QUEUE_RETENTION,
    Resources,
    normalise_identity,
    with_statement,
)

__all__ = ["Change", "SetupReport", "setup"]


@dataclass(frozen=True)
class Change:
    resource: str
    action: str  # "create" | "update" | "unchanged"
    detail: str = ""


@dataclass
class SetupReport:
    resources: Resources
    changes: list[Change] = field(default_factory=list)
    dns_records: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    queue_url: str | None = None
    dlq_url: str | None = None
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)

    def settings(self) -> dict[str, str]:
        """What the other commands need, for ``courrier.toml``."""
        values = {"topic_arn": self.resources.topic_arn}
        if self.queue_url:
            values["queue_url"] = self.queue_url
        if self.dlq_url:
            values["dead_letter_queue_url"] = self.dlq_url
        if self.resources.configuration_set:
            values["configuration_set"] = self.resources.configuration_set
        if not self.resources.is_domain:
            values["sender"] = self.resources.identity
        return values


def setup(
    aws: Aws,
    identity: str,
    *,
    route: str = "events",
    prefix: str = "courrier",
    dry_run: bool = False,
) -> SetupReport:
    resources = resources_for(aws, identity, route=route, prefix=prefix)
    report = SetupReport(resources, dry_run=dry_run)
    _Steps(aws, resources, report).run()
    return report


def resources_for(aws: Aws, identity: str, *, route: str, prefix: str) -> Resources:
    """What setup makes (and teardown removes) for these arguments, checked."""
    if route not in ("events", "notifications"):
        raise ConfigurationError(f"route must be 'events' or 'notifications', not {route!r}")
    if not prefix.replace("-", "").replace("_", "").isalnum() or len(prefix) > 40:
        raise ConfigurationError(f"prefix {prefix!r}: letters, digits, '-' and '_', <= 40")
    return Resources(prefix, normalise_identity(identity), route, aws.region, aws.account())


class _Steps:
    def __init__(self, aws: Aws, resources: Resources, report: SetupReport) -> None:
        self.aws = aws
        self.r = resources
        self.report = report
        self.dry = report.dry_run

    def note(self, resource: str, action: str, detail: str = "") -> None:
        self.report.changes.append(Change(resource, action, detail))

    def run(self) -> None:
        self.topic()
        self.topic_policy()
        self.report.dlq_url = self.queue(
            self.r.dlq_name, {"MessageRetentionPeriod": str(DLQ_RETENTION)}, "dead-letter queue"
        )
        self.report.queue_url = self.queue(
            self.r.queue_name,
            {
                "MessageRetentionPeriod": str(QUEUE_RETENTION),
                "RedrivePolicy": self.r.redrive_policy(),
            },
            "queue",
        )
        self.queue_policy()
        self.subscription()
        self.identity()
        if self.r.route == "events":
            self.configuration_set()
        else:
            self.notifications()
        self.forwarding_off()

    # ------------------------------------------------------------------ SNS and SQS

    def topic(self) -> None:
        exists = (
            self.aws.maybe("sns", "GetTopicAttributes", "NotFound", TopicArn=self.r.topic_arn)
            is not None
        )
        if exists:
            self.note(f"SNS topic {self.r.topic_name}", "unchanged")
            return
        if not self.dry:
            self.aws.call("sns", "CreateTopic", Name=self.r.topic_name)
        self.note(f"SNS topic {self.r.topic_name}", "create")

    def topic_policy(self) -> None:
        found = self.aws.maybe("sns", "GetTopicAttributes", "NotFound", TopicArn=self.r.topic_arn)
        current = (found or {}).get("Attributes", {}).get("Policy")
        policy, changed = with_statement(
            current, self.r.topic_statement(), default_id=f"{self.r.topic_arn}/policy"
        )
        if not changed:
            self.note("topic policy: SES may publish", "unchanged")
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
            "update" if current else "create",
            "scoped to this account's SES",
        )

    def queue(self, name: str, wanted: dict[str, str], label: str) -> str | None:
        found = self.aws.maybe(
            "sqs",
            "GetQueueUrl",
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
            QueueName=name,
        )
        if found is None:
            if self.dry:
                self.note(f"{label} {name}", "create")
                return None
            url = str(
                self.aws.call("sqs", "CreateQueue", QueueName=name, Attributes=wanted)["QueueUrl"]
            )
            self.note(f"{label} {name}", "create")
            return url
        url = str(found["QueueUrl"])
        current = self.aws.call("sqs", "GetQueueAttributes", QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        differs = {k: v for k, v in wanted.items() if not _same_attribute(current.get(k), v)}
        if differs:
            if not self.dry:
                self.aws.call("sqs", "SetQueueAttributes", QueueUrl=url, Attributes=differs)
            self.note(f"{label} {name}", "update", ", ".join(sorted(differs)))
        else:
            self.note(f"{label} {name}", "unchanged")
        return url

    def queue_policy(self) -> None:
        url = self.report.queue_url
        current = None
        if url:
            current = (
                self.aws.call("sqs", "GetQueueAttributes", QueueUrl=url, AttributeNames=["Policy"])
                .get("Attributes", {})
                .get("Policy")
            )
        policy, changed = with_statement(
            current, self.r.queue_statement(), default_id=f"{self.r.queue_arn}/policy"
        )
        if not changed:
            self.note("queue policy: the topic may send", "unchanged")
            return
        if not self.dry and url:
            self.aws.call("sqs", "SetQueueAttributes", QueueUrl=url, Attributes={"Policy": policy})
        self.note(
            "queue policy: the topic may send",
            "update" if current else "create",
            "the step the SNS console forgets",
        )

    def subscription(self) -> None:
        found = (
            self.aws.maybe("sns", "ListSubscriptionsByTopic", "NotFound", TopicArn=self.r.topic_arn)
            or {}
        )
        mine = [
            s
            for s in found.get("Subscriptions", [])
            if s.get("Protocol") == "sqs" and s.get("Endpoint") == self.r.queue_arn
        ]
        if not mine:
            if not self.dry:
                # Raw delivery off: the SNS envelope's MessageId is what de-duplicates (§9).
                self.aws.call(
                    "sns",
                    "Subscribe",
                    TopicArn=self.r.topic_arn,
                    Protocol="sqs",
                    Endpoint=self.r.queue_arn,
                    Attributes={"RawMessageDelivery": "false"},
                )
            self.note("subscription topic -> queue", "create")
            return
        arn = mine[0]["SubscriptionArn"]
        attributes = self.aws.call("sns", "GetSubscriptionAttributes", SubscriptionArn=arn)[
            "Attributes"
        ]
        if attributes.get("RawMessageDelivery", "false").lower() == "true":
            if not self.dry:
                self.aws.call(
                    "sns",
                    "SetSubscriptionAttributes",
                    SubscriptionArn=arn,
                    AttributeName="RawMessageDelivery",
                    AttributeValue="false",
                )
            self.note("subscription topic -> queue", "update", "raw delivery off")
        else:
            self.note("subscription topic -> queue", "unchanged")

    # ------------------------------------------------------------------ SES

    def identity(self) -> None:
        name = self.r.identity
        found = self.aws.maybe("sesv2", "GetEmailIdentity", "NotFoundException", EmailIdentity=name)
        if found is None:
            if not self.dry:
                self.aws.call("sesv2", "CreateEmailIdentity", EmailIdentity=name)
            self.note(
                f"SES identity {name}",
                "create",
                "check the inbox for the verification link" if "@" in name else "",
            )
        else:
            status = found.get("VerificationStatus", "")
            self.note(f"SES identity {name}", "unchanged", f"verification {status.lower()}")
        if self.r.is_domain and not self.dry:
            self._dns_records(name)

    def _dns_records(self, domain: str) -> None:
        token = self.aws.call("ses", "VerifyDomainIdentity", Domain=domain)["VerificationToken"]
        identity = self.aws.call("sesv2", "GetEmailIdentity", EmailIdentity=domain)
        self.report.dns_records.append(("TXT", f"_amazonses.{domain}", token))
        for dkim in identity.get("DkimAttributes", {}).get("Tokens", []):
            self.report.dns_records.append(
                ("CNAME", f"{dkim}._domainkey.{domain}", f"{dkim}.dkim.amazonses.com")
            )

    def configuration_set(self) -> None:
        name = self.r.configuration_set or ""
        found = self.aws.maybe(
            "sesv2", "GetConfigurationSet", "NotFoundException", ConfigurationSetName=name
        )
        if found is None:
            if not self.dry:
                self.aws.call("sesv2", "CreateConfigurationSet", ConfigurationSetName=name)
            self.note(f"configuration set {name}", "create")
            destinations: list[dict[str, Any]] = []
        else:
            self.note(f"configuration set {name}", "unchanged")
            destinations = self.aws.call(
                "sesv2", "GetConfigurationSetEventDestinations", ConfigurationSetName=name
            )["EventDestinations"]
        wanted = {
            "Enabled": True,
            "MatchingEventTypes": EVENT_TYPES,
            "SnsDestination": {"TopicArn": self.r.topic_arn},
        }
        current = next((d for d in destinations if d.get("Name") == "sns"), None)
        if current is None:
            if not self.dry:
                self.aws.call(
                    "sesv2",
                    "CreateConfigurationSetEventDestination",
                    ConfigurationSetName=name,
                    EventDestinationName="sns",
                    EventDestination=wanted,
                )
            self.note("event destination sns (all event types)", "create")
        elif (
            current.get("Enabled") is not True
            or sorted(current.get("MatchingEventTypes", [])) != sorted(EVENT_TYPES)
            or current.get("SnsDestination", {}).get("TopicArn") != self.r.topic_arn
        ):
            if not self.dry:
                self.aws.call(
                    "sesv2",
                    "UpdateConfigurationSetEventDestination",
                    ConfigurationSetName=name,
                    EventDestinationName="sns",
                    EventDestination=wanted,
                )
            self.note("event destination sns (all event types)", "update")
        else:
            self.note("event destination sns (all event types)", "unchanged")

    def notifications(self) -> None:
        name = self.r.identity
        attributes = self.aws.call("ses", "GetIdentityNotificationAttributes", Identities=[name])[
            "NotificationAttributes"
        ].get(name, {})
        for kind in NOTIFICATION_TYPES:
            if attributes.get(f"{kind}Topic") == self.r.topic_arn:
                self.note(f"{kind} notifications -> topic", "unchanged")
            else:
                if not self.dry:
                    self.aws.call(
                        "ses",
                        "SetIdentityNotificationTopic",
                        Identity=name,
                        NotificationType=kind,
                        SnsTopic=self.r.topic_arn,
                    )
                self.note(f"{kind} notifications -> topic", "update")
            if attributes.get(f"HeadersIn{kind}NotificationsEnabled") is True:
                self.note(f"{kind} notifications include headers", "unchanged")
            else:
                if not self.dry:
                    self.aws.call(
                        "ses",
                        "SetIdentityHeadersInNotificationsEnabled",
                        Identity=name,
                        NotificationType=kind,
                        Enabled=True,
                    )
                self.note(f"{kind} notifications include headers", "update")

    def forwarding_off(self) -> None:
        found = self.aws.maybe(
            "sesv2", "GetEmailIdentity", "NotFoundException", EmailIdentity=self.r.identity
        )
        if found is not None and found.get("FeedbackForwardingStatus") is False:
            self.note("email feedback forwarding off", "unchanged")
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
            "update",
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
