"""The doctor's end-to-end probe: a send whose feedback must come back through the topic.

The probe never reads the pipeline's queue: every receive counts toward its
``maxReceiveCount`` (docs/ses.md#sqs), so looking at a backlog the worker has not read yet would
move it to the dead-letter queue. Instead the probe makes a temporary queue with the same
encryption and the same queue-policy shape as the real one, subscribes it to the same topic,
sends to the mailbox simulator and waits for the feedback there. The temporary queue and its
subscription are removed when the probe ends, however it ends; one left by a killed run
carries its expiry time in its name, and the next run (or teardown) removes it.

The real queue is subscribed to the topic as well, so it receives the probe's feedback too:
the worker applies it like any other.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import time
import uuid
from dataclasses import replace
from typing import Any

import courrier_policy as policy
from courrier.addresses import parse_address
from courrier.errors import AwsError, CourrierError, InvalidAddress
from courrier.provisioning.aws import QUEUE_MISSING, Aws
from courrier.provisioning.checks import Check, CheckStatus, DoctorTarget
from courrier.provisioning.inventory import Inventory, Queue
from courrier.provisioning.resources import queue_statement

__all__ = ["PROBE", "probe", "probe_queue_name", "remove_probes"]

PROBE = "end-to-end probe"
PROBE_PREFIX = "courrier-probe-"
#: Seconds past a probe's own timeout after which its queue counts as left over.
GRACE = 120
#: Attributes the probe queue copies from the real one, so SNS meets the same encryption.
_COPIED = ("KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled")


def _prefix(topic_arn: str) -> str:
    # Scoped to the topic, so two pipelines' doctors never remove each other's probes.
    return f"{PROBE_PREFIX}{hashlib.sha256(topic_arn.encode()).hexdigest()[:8]}-"


def probe_queue_name(topic_arn: str, expires: float) -> str:
    """A probe queue's name: the topic's prefix, its expiry (epoch seconds), a random part."""
    return f"{_prefix(topic_arn)}{int(expires)}-{uuid.uuid4().hex[:8]}"


def _expiry(name: str, topic_arn: str) -> int | None:
    prefix = _prefix(topic_arn)
    if not name.startswith(prefix):
        return None
    expires, _, _ = name.removeprefix(prefix).partition("-")
    return int(expires) if expires.isdigit() else None


def remove_probes(aws: Aws, found: Inventory, *, expired_only: bool = True) -> list[str]:
    """Remove the topic's probe queues (expired ones only, unless told); their names."""
    now = time.time()

    def stale(name: str) -> bool:
        expires = _expiry(name, found.topic_arn)
        return expires is not None and (not expired_only or expires < now)

    for subscription in found.subscriptions.value or []:
        if subscription.confirmed and stale(subscription.endpoint.rpartition(":")[2]):
            aws.call("sns", "Unsubscribe", SubscriptionArn=subscription.arn)
    removed: list[str] = []
    params: dict[str, Any] = {"QueueNamePrefix": _prefix(found.topic_arn), "MaxResults": 1000}
    while True:
        page = aws.call("sqs", "ListQueues", **params)
        for url in page.get("QueueUrls", []):
            name = str(url).rpartition("/")[2]
            if stale(name):
                aws.maybe("sqs", "DeleteQueue", *QUEUE_MISSING, QueueUrl=url)
                removed.append(name)
        if not page.get("NextToken"):
            return removed
        params["NextToken"] = page["NextToken"]


def probe(aws: Aws, target: DoctorTarget, found: Inventory, *, timeout: float) -> Check:
    """Send to the simulator; ``ok`` once the feedback arrives on a temporary queue."""
    notes: list[str] = []
    try:
        remove_probes(aws, found)
    except CourrierError as err:
        notes.append(f"old probe queues could not be removed: {err}")
    temporary = _ProbeQueue(aws, target.topic_arn, time.time() + timeout + GRACE)
    try:
        check = _run(aws, target, found, temporary, timeout)
    finally:
        problem = temporary.remove()
    if problem:
        notes.append(problem)
    if notes:
        check = replace(check, detail="; ".join([check.detail, *notes]))
    return check


def _run(
    aws: Aws, target: DoctorTarget, found: Inventory, temporary: _ProbeQueue, timeout: float
) -> Check:
    if found.topic.error is None and found.topic.value is None:
        return Check(PROBE, CheckStatus.FAILED, "no topic to send through", "courrier setup")
    try:
        temporary.create(found)
    except AwsError as err:
        return Check(
            PROBE,
            CheckStatus.UNKNOWN,
            f"could not set up the probe's temporary queue: {err}",
            "allow sqs:CreateQueue, sqs:SetQueueAttributes and sns:Subscribe, or use --no-probe",
        )
    try:
        message_id = _send(aws, target)
    except AwsError as err:
        return Check(
            PROBE,
            CheckStatus.FAILED,
            f"the probe send failed: {err}",
            "fix the failed checks above",
        )
    except InvalidAddress as err:
        return Check(PROBE, CheckStatus.FAILED, f"no probe sent: {err}", "fix the sender setting")
    if temporary.wait_for(message_id, timeout):
        return Check(
            PROBE,
            CheckStatus.OK,
            f"feedback for {message_id[:24]}... came through the topic",
        )
    return Check(
        PROBE,
        CheckStatus.FAILED,
        f"no feedback for the probe within {timeout:g} s",
        "the failed checks above name the broken link; the queue policy is the usual one",
    )


def _send(aws: Aws, target: DoctorTarget) -> str:
    label = uuid.uuid4().hex[:12]
    sender = target.sender or (
        target.identity if "@" in target.identity else f"courrier-probe@{target.identity}"
    )
    params: dict[str, Any] = {
        # The sender setting may carry a display name ("Team <team@example.com>").
        "FromEmailAddress": parse_address(sender).email,
        "Destination": {"ToAddresses": [f"success+courrier-probe-{label}@simulator.amazonses.com"]},
        "Content": {
            "Simple": {
                "Subject": {"Data": "courrier doctor probe"},
                "Body": {"Text": {"Data": "probe"}},
            }
        },
    }
    if target.configuration_set:
        params["ConfigurationSetName"] = target.configuration_set
    return str(aws.call("sesv2", "SendEmail", **params)["MessageId"])


class _ProbeQueue:
    def __init__(self, aws: Aws, topic_arn: str, expires: float) -> None:
        self.aws = aws
        self.topic_arn = topic_arn
        self.name = probe_queue_name(topic_arn, expires)
        self.url: str | None = None
        self.subscription: str | None = None

    def create(self, found: Inventory) -> None:
        real = found.queue.value
        attributes = {k: v for k, v in (real.attributes if real else {}).items() if k in _COPIED}
        self.url = str(
            self.aws.call("sqs", "CreateQueue", QueueName=self.name, Attributes=attributes)[
                "QueueUrl"
            ]
        )
        arn = self.aws.call(
            "sqs", "GetQueueAttributes", QueueUrl=self.url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        document = _policy_like(real, arn, self.topic_arn)
        if document is not None:
            self.aws.call(
                "sqs", "SetQueueAttributes", QueueUrl=self.url, Attributes={"Policy": document}
            )
        mine = found.queue_subscriptions(real.arn) if real else []
        raw = "true" if any(s.raw_delivery for s in mine) else "false"
        self.subscription = str(
            self.aws.call(
                "sns",
                "Subscribe",
                TopicArn=self.topic_arn,
                Protocol="sqs",
                Endpoint=arn,
                Attributes={"RawMessageDelivery": raw},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )

    def wait_for(self, message_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            messages = self.aws.call(
                "sqs",
                "ReceiveMessage",
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=max(0, min(20, int(left))),
            ).get("Messages", [])
            if any(message_id in m.get("Body", "") for m in messages):
                return True
            if not messages and left < 1:
                time.sleep(left)  # short polls near the deadline: do not spin
        return False

    def remove(self) -> str | None:
        """Unsubscribe and delete; what could not be removed, or None."""
        problems: list[str] = []
        if self.subscription and self.subscription.startswith("arn:"):
            try:
                self.aws.call("sns", "Unsubscribe", SubscriptionArn=self.subscription)
            except CourrierError as err:
                problems.append(str(err))
        if self.url:
            try:
                self.aws.maybe("sqs", "DeleteQueue", *QUEUE_MISSING, QueueUrl=self.url)
            except CourrierError as err:
                problems.append(str(err))
        if not problems:
            return None
        return (
            f"the probe queue {self.name} could not be removed ({'; '.join(problems)}); "
            "the next doctor run removes it"
        )


def _policy_like(real: Queue | None, probe_arn: str, topic_arn: str) -> str | None:
    """The real queue's policy, aimed at the probe queue (setup's, if the real one is unread)."""
    if real is None:
        return json.dumps(
            {"Version": "2012-10-17", "Statement": [queue_statement(probe_arn, topic_arn)]}
        )
    document = policy.load(real.attributes.get("Policy"))
    if document is None:
        return None
    statements = document.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or "Resource" not in statement:
            continue
        resources = statement["Resource"]
        listed = resources if isinstance(resources, list) else [resources]
        aimed = [
            probe_arn if isinstance(r, str) and fnmatch.fnmatchcase(real.arn, r) else r
            for r in listed
        ]
        statement["Resource"] = aimed if isinstance(resources, list) else aimed[0]
    return json.dumps(document)
