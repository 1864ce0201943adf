"""SNS -> SQS delivery honours the queue policy, as AWS does.

moto delivers every SNS message to every subscribed queue. AWS does not: unless the queue
policy lets the topic ``sqs:SendMessage`` the delivery is a client-side error that SNS drops
without retrying, and the queue stays empty (courrier's docs/ses.md#sns-to-sqs). A queue
encrypted with the AWS-managed key ``alias/aws/sqs`` also receives nothing, because SNS
cannot use that key. Hooked at one place: ``moto.sns.models.Subscription.publish``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from moto.sns import models as sns_models
from moto.sqs import models as sqs_models

import courrier_policy as policy
from courrier_sandbox.sns_sqs import http_delivery

_original_subscription_publish = sns_models.Subscription.publish


@dataclass(frozen=True)
class DroppedDelivery:
    """An SNS delivery to SQS that AWS would have dropped, and why."""

    topic_arn: str
    queue_arn: str
    sns_message_id: str
    reason: str
    at: float


#: The latest dropped deliveries, for ``GET /_courrier/sns-deliveries`` and for tests.
dropped_deliveries: deque[DroppedDelivery] = deque(maxlen=1000)


def _publish_with_queue_policy(
    self: sns_models.Subscription, message: str, message_id: str, *args: Any, **kwargs: Any
) -> None:
    if self.protocol == "sqs":
        reason = _sqs_delivery_refused(self.topic.arn, self.endpoint)
        if reason is not None:
            dropped_deliveries.append(
                DroppedDelivery(self.topic.arn, self.endpoint, message_id, reason, time.time())
            )
            return
    if self.protocol in http_delivery.HTTP_PROTOCOLS:
        http_delivery.publish(self, message, message_id, *args, **kwargs)
        return
    _original_subscription_publish(self, message, message_id, *args, **kwargs)


def _sqs_delivery_refused(topic_arn: str, queue_arn: str) -> str | None:
    parts = queue_arn.split(":")
    if len(parts) != 6:
        return "InvalidEndpoint"
    region, account, name = parts[3], parts[4], parts[5]
    queue = sqs_models.sqs_backends[account][region].queues.get(name)
    if queue is None:
        return "QueueDoesNotExist"
    if getattr(queue, "kms_master_key_id", None) == "alias/aws/sqs":
        return "KMS.AccessDenied: SNS cannot use the AWS managed key alias/aws/sqs"
    allowed = policy.service_allowed(
        queue.policy,
        service="sns.amazonaws.com",
        action="sqs:SendMessage",
        resource=queue_arn,
        context={"aws:SourceArn": topic_arn, "aws:SourceAccount": topic_arn.split(":")[4]},
    )
    return None if allowed else "AccessDenied: the queue policy does not allow the topic"


def install() -> None:
    sns_models.Subscription.publish = _publish_with_queue_policy  # type: ignore[method-assign]
