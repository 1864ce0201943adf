"""``courrier doctor``: check each link of the pipeline and name the broken one with its fix.

Then an end-to-end probe: a send to a labelled simulator address, and a wait for its
feedback on the queue. The probe reads with a zero visibility timeout, so every message it
looks at stays visible to the workers; only the probe's own feedback is deleted. (Each look
still counts as a receive toward the queue's ``maxReceiveCount``.)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from courrier import policy
from courrier.errors import AwsError, ConfigurationError, CourrierError
from courrier.provisioning.aws import Aws
from courrier.provisioning.resources import normalise_identity

__all__ = ["Check", "DoctorTarget", "doctor"]

OK, WARNING, FAILED = "ok", "warning", "failed"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warning | failed
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class DoctorTarget:
    identity: str
    topic_arn: str
    queue_url: str
    configuration_set: str | None  # None: identity notifications route
    sender: str | None = None


def doctor(
    aws: Aws, target: DoctorTarget, *, probe: bool = True, probe_timeout: float = 60.0
) -> list[Check]:
    checks = list(_static_checks(aws, target))
    if probe:
        checks.append(_probe(aws, target, probe_timeout))
    return checks


def _guard(name: str, run: Callable[[], Check]) -> Check:
    try:
        return run()
    except CourrierError as err:
        return Check(name, FAILED, str(err), "see the AWS error")


def _static_checks(aws: Aws, t: DoctorTarget) -> Iterator[Check]:
    identity_name = normalise_identity(t.identity)
    credentials = _guard("credentials and region", lambda: _credentials(aws))
    yield credentials
    if credentials.status == FAILED:
        return
    try:
        identity = aws.maybe(
            "sesv2", "GetEmailIdentity", "NotFoundException", EmailIdentity=identity_name
        )
    except CourrierError as err:
        yield Check("identity verified", FAILED, str(err), "see the AWS error")
        identity = None
    else:
        yield _identity(identity_name, identity)
    yield _guard("SES account", lambda: _account(aws))
    yield _guard("feedback route", lambda: _route(aws, t, identity_name))
    yield _forwarding(identity)
    yield _guard("topic policy", lambda: _topic_policy(aws, t))
    try:
        queue = aws.call(
            "sqs", "GetQueueAttributes", QueueUrl=t.queue_url, AttributeNames=["All"]
        ).get("Attributes", {})
    except CourrierError as err:
        yield Check("queue", FAILED, f"cannot read {t.queue_url}: {err}", "courrier setup")
        return
    yield _guard("queue policy", lambda: _queue_policy(t, queue))
    yield _guard("subscription", lambda: _subscription(aws, t, queue))
    yield _guard("dead-letter queue", lambda: _dead_letter(queue))
    yield _guard("queue encryption", lambda: _encryption(queue))


def _credentials(aws: Aws) -> Check:
    try:
        account = aws.account()
    except ConfigurationError as err:
        return Check(
            "credentials and region", FAILED, str(err), "set AWS_PROFILE (or keys) and AWS_REGION"
        )
    return Check("credentials and region", OK, f"account {account}, region {aws.region}")


def _identity(name: str, found: dict[str, Any] | None) -> Check:
    if found is None:
        return Check(
            "identity verified",
            FAILED,
            f"{name} is not an SES identity",
            f"courrier setup --identity {name}",
        )
    if not found.get("VerifiedForSendingStatus"):
        how = (
            "click the link SES mailed to it"
            if "@" in name
            else "publish the DNS records courrier setup printed"
        )
        return Check(
            "identity verified",
            FAILED,
            f"{name} is {found.get('VerificationStatus', 'not verified').lower()}",
            how,
        )
    dkim = found.get("DkimAttributes", {})
    if "@" not in name and dkim.get("Status") not in ("SUCCESS", None):
        return Check(
            "identity verified",
            WARNING,
            f"{name} verified, DKIM {dkim.get('Status')}",
            "publish the DKIM CNAME records",
        )
    return Check("identity verified", OK, f"{name} verified")


def _account(aws: Aws) -> Check:
    account = aws.call("sesv2", "GetAccount")
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


def _route(aws: Aws, t: DoctorTarget, identity: str) -> Check:
    if t.configuration_set:
        found = aws.maybe(
            "sesv2",
            "GetConfigurationSetEventDestinations",
            "NotFoundException",
            ConfigurationSetName=t.configuration_set,
        )
        if found is None:
            return Check(
                "feedback route",
                FAILED,
                f"configuration set {t.configuration_set} does not exist",
                "courrier setup",
            )
        for destination in found.get("EventDestinations", []):
            types = set(destination.get("MatchingEventTypes", []))
            if (
                destination.get("SnsDestination", {}).get("TopicArn") == t.topic_arn
                and destination.get("Enabled")
                and {"BOUNCE", "COMPLAINT"} <= types
            ):
                return Check(
                    "feedback route",
                    OK,
                    f"{t.configuration_set} publishes {len(types)} event types to the topic",
                )
        return Check(
            "feedback route",
            FAILED,
            f"no enabled event destination of {t.configuration_set} sends bounces and "
            "complaints to the topic",
            "courrier setup --route events",
        )
    attributes = aws.call("ses", "GetIdentityNotificationAttributes", Identities=[identity])[
        "NotificationAttributes"
    ].get(identity, {})
    missing = [k for k in ("Bounce", "Complaint") if attributes.get(f"{k}Topic") != t.topic_arn]
    if missing:
        return Check(
            "feedback route",
            FAILED,
            f"{', '.join(missing)} notifications of {identity} are not mapped to the topic",
            "courrier setup --route notifications",
        )
    if attributes.get("DeliveryTopic") != t.topic_arn:
        return Check(
            "feedback route",
            WARNING,
            "Delivery notifications are not mapped",
            "courrier setup --route notifications",
        )
    return Check("feedback route", OK, "Bounce, Complaint and Delivery notifications -> topic")


def _forwarding(found: dict[str, Any] | None) -> Check:
    if found is not None and found.get("FeedbackForwardingStatus"):
        return Check(
            "email feedback forwarding",
            WARNING,
            "on: bounces and complaints also go to the sender's inbox",
            "courrier setup (turns it off)",
        )
    return Check("email feedback forwarding", OK, "off")


def _topic_policy(aws: Aws, t: DoctorTarget) -> Check:
    found = aws.maybe("sns", "GetTopicAttributes", "NotFound", TopicArn=t.topic_arn)
    if found is None:
        return Check(
            "topic policy", FAILED, f"topic {t.topic_arn} does not exist", "courrier setup"
        )
    region, account = t.topic_arn.split(":")[3:5]
    source = (
        f"arn:aws:ses:{region}:{account}:configuration-set/{t.configuration_set}"
        if t.configuration_set
        else f"arn:aws:ses:{region}:{account}:identity/x"
    )
    allowed = policy.service_allowed(
        found["Attributes"].get("Policy"),
        service="ses.amazonaws.com",
        action="sns:Publish",
        resource=t.topic_arn,
        context={"aws:SourceArn": source, "aws:SourceAccount": account, "AWS:SourceOwner": account},
    )
    if not allowed:
        return Check(
            "topic policy",
            FAILED,
            "the topic policy does not let SES publish",
            "courrier setup (adds the SES statement)",
        )
    return Check("topic policy", OK, "SES may publish")


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


def _subscription(aws: Aws, t: DoctorTarget, queue: dict[str, str]) -> Check:
    queue_arn = queue.get("QueueArn")
    found = aws.maybe("sns", "ListSubscriptionsByTopic", "NotFound", TopicArn=t.topic_arn) or {}
    mine = [
        s
        for s in found.get("Subscriptions", [])
        if s.get("Protocol") == "sqs" and s.get("Endpoint") == queue_arn
    ]
    if not mine:
        return Check(
            "subscription", FAILED, "the queue is not subscribed to the topic", "courrier setup"
        )
    arn = mine[0].get("SubscriptionArn", "")
    if arn in ("PendingConfirmation", "") or not arn.startswith("arn:"):
        return Check(
            "subscription",
            FAILED,
            "the subscription is pending confirmation",
            "confirm it (cross-account subscriptions need the SubscribeURL)",
        )
    attributes = aws.call("sns", "GetSubscriptionAttributes", SubscriptionArn=arn).get(
        "Attributes", {}
    )
    if attributes.get("RawMessageDelivery", "false").lower() == "true":
        return Check(
            "subscription",
            WARNING,
            "raw delivery is on: no SNS MessageId to de-duplicate on",
            "courrier setup (turns raw delivery off)",
        )
    return Check("subscription", OK, "confirmed, raw delivery off")


def _dead_letter(attributes: dict[str, str]) -> Check:
    redrive = attributes.get("RedrivePolicy")
    if not redrive:
        return Check(
            "dead-letter queue",
            FAILED,
            "no redrive policy: a poison message is retried forever",
            "courrier setup (creates the dead-letter queue)",
        )
    target = json.loads(redrive)
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


def _probe(aws: Aws, t: DoctorTarget, timeout: float) -> Check:
    label = uuid.uuid4().hex[:12]
    recipient = f"success+courrier-probe-{label}@simulator.amazonses.com"
    sender = t.sender or (t.identity if "@" in t.identity else f"courrier-probe@{t.identity}")
    params: dict[str, Any] = {
        "FromEmailAddress": normalise_identity(sender),
        "Destination": {"ToAddresses": [recipient]},
        "Content": {
            "Simple": {
                "Subject": {"Data": "courrier doctor probe"},
                "Body": {"Text": {"Data": "probe"}},
            }
        },
    }
    if t.configuration_set:
        params["ConfigurationSetName"] = t.configuration_set
    try:
        message_id = aws.call("sesv2", "SendEmail", **params)["MessageId"]
    except AwsError as err:
        return Check(
            "end-to-end probe",
            FAILED,
            f"the probe send failed: {err}",
            "fix the failed checks above",
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = max(0, min(5, int(deadline - time.monotonic())))
        messages = aws.call(
            "sqs",
            "ReceiveMessage",
            QueueUrl=t.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            VisibilityTimeout=0,
        ).get("Messages", [])
        for message in messages:
            if message_id in message.get("Body", ""):
                aws.call(
                    "sqs",
                    "DeleteMessage",
                    QueueUrl=t.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                )
                return Check(
                    "end-to-end probe",
                    OK,
                    f"feedback for {message_id[:24]}... arrived on the queue",
                )
    return Check(
        "end-to-end probe",
        FAILED,
        f"no feedback for the probe within {timeout:g} s",
        "the failed checks above name the broken link; the queue policy is the usual one",
    )
