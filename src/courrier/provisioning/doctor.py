"""``courrier doctor``: check each link of the pipeline and name the broken one with its fix.

The links are read once (:mod:`courrier.provisioning.inventory`) and judged from that read;
a check whose input could not be read (or does not exist) is ``unknown`` with the reason,
never ``ok``. The topic and queue policies are judged with :mod:`courrier_policy` for the
exact caller AWS will present: SES as the identity (notifications route) or the
configuration set (events route), and SNS as the topic. Then the end-to-end probe
(:mod:`courrier.provisioning.probe`), which never reads the pipeline's queue.
"""

from __future__ import annotations

import json
from typing import Any

import courrier_policy as policy
from courrier.errors import AwsError, AwsUnreachable, ConfigurationError
from courrier.provisioning.aws import Aws
from courrier.provisioning.checks import Check, CheckStatus, DoctorReport, DoctorTarget
from courrier.provisioning.dns_checks import DNS_CHECKS, Dns, DnsFacts, dns_checks
from courrier.provisioning.inventory import Inventory, Read, read_inventory
from courrier.provisioning.probe import PROBE, probe
from courrier.provisioning.resources import (
    checked_identity,
    configuration_set_arn,
    identity_arn,
)

__all__ = ["CHECKS", "doctor"]

OK, WARNING, FAILED, UNKNOWN = (
    CheckStatus.OK,
    CheckStatus.WARNING,
    CheckStatus.FAILED,
    CheckStatus.UNKNOWN,
)
CREDENTIALS = "credentials and region"
QUEUE_CHECKS = ("queue policy", "subscription", "dead-letter queue", "queue encryption")
#: Every check, in the order doctor reports them (the probe comes last).
CHECKS = (
    CREDENTIALS,
    "identity verified",
    "SES account",
    "feedback route",
    "email feedback forwarding",
    "topic policy",
    *QUEUE_CHECKS,
    PROBE,
)
_READ_FIX = "give the credentials read access to it, or retry if AWS was unreachable"


def doctor(
    aws: Aws,
    target: DoctorTarget,
    *,
    probe: bool = True,
    probe_timeout: float = 60.0,
    dns: Dns | None = None,
) -> DoctorReport:
    """Every check (:data:`CHECKS`); with ``dns``, the DNS checks of a domain identity
    (:mod:`courrier.provisioning.dns_checks`) after the SES ones, before the probe."""
    wanted = CHECKS if probe else CHECKS[:-1]
    credentials = _credentials(aws)
    if credentials.status is not OK:
        reason = f"not checked: {CREDENTIALS} {credentials.status}"
        return DoctorReport((credentials, *(Check(name, UNKNOWN, reason) for name in wanted[1:])))
    found = read_inventory(
        aws,
        identity=checked_identity(target.identity),
        topic_arn=target.topic_arn,
        queue=target.queue_url,
        configuration_set=target.configuration_set,
    )
    checks = [
        credentials,
        _identity(found),
        _account(aws),
        _route(found, target),
        _forwarding(found),
        _topic_policy(found, target),
        *_queue_checks(found, target),
    ]
    if dns is not None:
        checks.extend(_dns(dns, aws, target, found))
    if probe:
        checks.append(_probe(aws, target, found, probe_timeout))
    return DoctorReport(tuple(checks))


def _dns(dns: Dns, aws: Aws, target: DoctorTarget, found: Inventory) -> list[Check]:
    name = found.identity_name
    domain = name.rpartition("@")[2].lower()
    if unread := _unread("DNS", found.identity, f"the identity {name}"):
        return [Check(check, UNKNOWN, unread.detail, unread.fix) for check in DNS_CHECKS]
    identity = found.identity.value or {}
    mail_from = identity.get("MailFromAttributes", {}).get("MailFromDomain") or None
    sender = target.sender or name
    facts = DnsFacts(
        domain=domain,
        from_domain=sender.rpartition("@")[2].lower() or domain,
        region=aws.region,
        dkim_tokens=tuple(identity.get("DkimAttributes", {}).get("Tokens", [])),
        mail_from=str(mail_from).lower() if mail_from else None,
    )
    return dns_checks(dns, facts)


def _probe(aws: Aws, target: DoctorTarget, found: Inventory, timeout: float) -> Check:
    try:
        return probe(aws, target, found, timeout=timeout)
    except AwsError as err:
        return Check(PROBE, UNKNOWN, f"the probe could not run: {err}", _READ_FIX)


def _unread(name: str, part: Read[Any] | None, what: str) -> Check | None:
    """``unknown`` when ``part`` could not be read; None when it was."""
    if part is None or part.error is None:
        return None
    return Check(name, UNKNOWN, f"could not read {what}: {part.error}", _READ_FIX)


def _credentials(aws: Aws) -> Check:
    try:
        account = aws.account()
    except ConfigurationError as err:
        return Check(CREDENTIALS, FAILED, str(err), "see the message: it names what to set")
    except AwsUnreachable as err:
        return Check(CREDENTIALS, UNKNOWN, f"AWS could not be reached: {err}", _READ_FIX)
    except AwsError as err:
        return Check(
            CREDENTIALS, FAILED, f"AWS refused the credentials: {err}", "check AWS_PROFILE"
        )
    return Check(CREDENTIALS, OK, f"account {account}, region {aws.region}")


def _identity(found: Inventory) -> Check:
    name = found.identity_name
    if unread := _unread("identity verified", found.identity, f"the identity {name}"):
        return unread
    identity = found.identity.value
    if identity is None:
        return Check(
            "identity verified",
            FAILED,
            f"{name} is not an SES identity",
            f"courrier setup --identity {name}",
        )
    if not identity.get("VerifiedForSendingStatus"):
        how = (
            "click the link SES mailed to it"
            if "@" in name
            else "publish the DNS records courrier setup printed"
        )
        status = str(identity.get("VerificationStatus", "not verified")).lower()
        return Check("identity verified", FAILED, f"{name} is {status}", how)
    dkim = identity.get("DkimAttributes", {})
    if "@" not in name and dkim.get("Status") not in ("SUCCESS", None):
        return Check(
            "identity verified",
            WARNING,
            f"{name} verified, DKIM {dkim.get('Status')}",
            "publish the DKIM CNAME records",
        )
    return Check("identity verified", OK, f"{name} verified")


def _account(aws: Aws) -> Check:
    try:
        account = aws.call("sesv2", "GetAccount")
    except AwsError as err:
        return Check("SES account", UNKNOWN, f"could not read the SES account: {err}", _READ_FIX)
    quota = account.get("SendQuota", {})
    sent, limit = quota.get("SentLast24Hours", 0.0), quota.get("Max24HourSend", -1.0)
    detail = (
        f"rate {quota.get('MaxSendRate')}/s, sent {sent:g} of "
        f"{'unlimited' if limit < 0 else f'{limit:g}'} today"
    )
    if not account.get("SendingEnabled", True) or account.get("EnforcementStatus") == "SHUTDOWN":
        return Check(
            "SES account",
            FAILED,
            f"sending is paused; {detail}",
            "check the SES console (reputation) and re-enable sending",
        )
    if not account.get("ProductionAccessEnabled", False):
        return Check(
            "SES account",
            WARNING,
            f"in the SES sandbox; {detail}",
            "only verified and simulator recipients; request production access",
        )
    if limit >= 0 and sent >= 0.9 * limit:
        return Check(
            "SES account", WARNING, f"quota nearly used; {detail}", "ask AWS for a higher quota"
        )
    return Check("SES account", OK, detail)


def _route(found: Inventory, t: DoctorTarget) -> Check:
    name = "feedback route"
    if t.configuration_set:
        part = found.event_destinations
        if unread := _unread(name, part, f"configuration set {t.configuration_set}"):
            return unread
        if part is None or part.value is None:
            return Check(
                name,
                FAILED,
                f"configuration set {t.configuration_set} does not exist",
                "courrier setup",
            )
        for destination in part.value:
            types = set(destination.get("MatchingEventTypes", []))
            if (
                destination.get("SnsDestination", {}).get("TopicArn") == t.topic_arn
                and destination.get("Enabled")
                and {"BOUNCE", "COMPLAINT"} <= types
            ):
                return Check(
                    name,
                    OK,
                    f"{t.configuration_set} publishes {len(types)} event types to the topic",
                )
        return Check(
            name,
            FAILED,
            f"no enabled event destination of {t.configuration_set} sends bounces and "
            "complaints to the topic",
            "courrier setup --route events",
        )
    identity = found.identity_name
    if unread := _unread(name, found.notifications, f"the notifications of {identity}"):
        return unread
    attributes = (found.notifications.value if found.notifications else None) or {}
    missing = [k for k in ("Bounce", "Complaint") if attributes.get(f"{k}Topic") != t.topic_arn]
    if missing:
        return Check(
            name,
            FAILED,
            f"{', '.join(missing)} notifications of {identity} are not mapped to the topic",
            "courrier setup --route notifications",
        )
    if attributes.get("DeliveryTopic") != t.topic_arn:
        return Check(
            name,
            WARNING,
            "Delivery notifications are not mapped",
            "courrier setup --route notifications",
        )
    return Check(name, OK, "Bounce, Complaint and Delivery notifications -> topic")


def _forwarding(found: Inventory) -> Check:
    name = "email feedback forwarding"
    if unread := _unread(name, found.identity, f"the identity {found.identity_name}"):
        return unread
    identity = found.identity.value
    if identity is None:
        return Check(name, UNKNOWN, f"not checked: {found.identity_name} is not an SES identity")
    forwarding = identity.get("FeedbackForwardingStatus")
    if forwarding is True:
        return Check(
            name,
            WARNING,
            "on: bounces and complaints also go to the sender's inbox",
            "courrier setup (turns it off)",
        )
    if forwarding is False:
        return Check(name, OK, "off")
    return Check(name, UNKNOWN, "SES did not say whether forwarding is on")


def _topic_policy(found: Inventory, t: DoctorTarget) -> Check:
    name = "topic policy"
    if unread := _unread(name, found.topic, f"topic {t.topic_arn}"):
        return unread
    if found.topic.value is None:
        return Check(name, FAILED, f"topic {t.topic_arn} does not exist", "courrier setup")
    # SES publishes as the configuration set (events) or the identity (notifications) that the
    # feedback belongs to (docs/ses.md#notifications, #event-publishing): judge the policy for
    # exactly that caller.
    source = (
        configuration_set_arn(t.topic_arn, t.configuration_set)
        if t.configuration_set
        else identity_arn(t.topic_arn, found.identity_name)
    )
    account = t.topic_arn.split(":")[4]
    allowed = policy.service_allowed(
        found.topic.value.get("Policy"),
        service="ses.amazonaws.com",
        action="sns:Publish",
        resource=t.topic_arn,
        context={"aws:SourceArn": source, "aws:SourceAccount": account, "AWS:SourceOwner": account},
    )
    if not allowed:
        return Check(
            name,
            FAILED,
            f"the topic policy does not let SES publish as {source}",
            "courrier setup (adds the SES statement)",
        )
    return Check(name, OK, f"SES may publish as {source}")


def _queue_checks(found: Inventory, t: DoctorTarget) -> list[Check]:
    if found.queue.error is not None:
        return [
            Check(name, UNKNOWN, f"could not read {t.queue_url}: {found.queue.error}", _READ_FIX)
            for name in QUEUE_CHECKS
        ]
    queue = found.queue.value
    if queue is None:
        first = Check(
            QUEUE_CHECKS[0], FAILED, f"the queue {t.queue_url} does not exist", "courrier setup"
        )
        return [
            first,
            *(Check(n, UNKNOWN, "not checked: the queue does not exist") for n in QUEUE_CHECKS[1:]),
        ]
    return [
        _queue_policy(t, queue.attributes),
        _subscription(found, queue.arn),
        _dead_letter(queue.attributes),
        _encryption(queue.attributes),
    ]


def _queue_policy(t: DoctorTarget, attributes: dict[str, str]) -> Check:
    allowed = policy.service_allowed(
        attributes.get("Policy"),
        service="sns.amazonaws.com",
        action="sqs:SendMessage",
        resource=attributes.get("QueueArn", ""),
        context={"aws:SourceArn": t.topic_arn, "aws:SourceAccount": t.topic_arn.split(":")[4]},
    )
    if not allowed:
        return Check(
            "queue policy",
            FAILED,
            "the queue policy does not let the topic send: SNS drops every delivery",
            "courrier setup (adds the statement the SNS console forgets)",
        )
    return Check("queue policy", OK, "the topic may send")


def _subscription(found: Inventory, queue_arn: str) -> Check:
    if unread := _unread("subscription", found.subscriptions, "the topic's subscriptions"):
        return unread
    mine = found.queue_subscriptions(queue_arn)
    if not mine:
        return Check(
            "subscription", FAILED, "the queue is not subscribed to the topic", "courrier setup"
        )
    if not any(s.confirmed for s in mine):
        return Check(
            "subscription",
            FAILED,
            "the subscription is pending confirmation",
            "confirm it (cross-account subscriptions need the SubscribeURL)",
        )
    if any(s.raw_delivery for s in mine):
        return Check(
            "subscription",
            WARNING,
            "raw delivery is on: no SNS MessageId to de-duplicate on",
            "courrier setup (turns raw delivery off)",
        )
    return Check("subscription", OK, "confirmed, raw delivery off")


def _dead_letter(attributes: dict[str, str]) -> Check:
    redrive = attributes.get("RedrivePolicy")
    try:
        target = json.loads(redrive) if redrive else None
    except ValueError:
        target = None
    if not isinstance(target, dict):
        return Check(
            "dead-letter queue",
            FAILED,
            "no redrive policy: a poison message is retried forever",
            "courrier setup (creates the dead-letter queue)",
        )
    return Check(
        "dead-letter queue",
        OK,
        f"after {target.get('maxReceiveCount')} receives -> "
        f"{str(target.get('deadLetterTargetArn', '')).split(':')[-1]}",
    )


def _encryption(attributes: dict[str, str]) -> Check:
    if attributes.get("KmsMasterKeyId") == "alias/aws/sqs":
        return Check(
            "queue encryption",
            FAILED,
            "encrypted with the AWS-managed key alias/aws/sqs, which SNS cannot use",
            "use SSE-SQS or a customer-managed key that allows sns.amazonaws.com",
        )
    return Check("queue encryption", OK, "SNS can write to it")
