"""The pipeline as it is now: one read of every part, shared by setup, doctor and teardown.

Each part is a :class:`Read`: its value, ``None`` when AWS says it does not exist, or the
error that kept it from being read. Setup and teardown stop on such an error
(:meth:`Read.require`); doctor reports the checks that needed the part as ``unknown``.

The functions named ``read_*`` are the only places provisioning looks these parts up, so
setup can refresh one part after creating it with the same call the inventory made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from courrier.errors import CourrierError
from courrier.provisioning.aws import QUEUE_MISSING, SES_MISSING, TOPIC_MISSING, Aws

__all__ = [
    "Inventory",
    "Queue",
    "Read",
    "Subscription",
    "read_identity",
    "read_inventory",
    "read_queue",
    "read_topic",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Read(Generic[T]):
    """One part of the pipeline as read: a value, ``None`` (absent), or why it is unknown."""

    value: T | None = None
    error: CourrierError | None = None

    def require(self) -> T | None:
        """The value (``None`` when absent); the read's error if it could not be read."""
        if self.error is not None:
            raise self.error
        return self.value


def _read(run: Any, *args: Any, **kwargs: Any) -> Read[Any]:
    try:
        return Read(run(*args, **kwargs))
    except CourrierError as err:
        return Read(error=err)


@dataclass(frozen=True)
class Queue:
    url: str
    attributes: dict[str, str]

    @property
    def arn(self) -> str:
        return self.attributes.get("QueueArn", "")


@dataclass(frozen=True)
class Subscription:
    arn: str  # "PendingConfirmation" until confirmed
    protocol: str
    endpoint: str
    #: Read for the subscriptions of the pipeline's queue only.
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        return self.arn.startswith("arn:")

    @property
    def raw_delivery(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false").lower() == "true"


@dataclass(frozen=True)
class Inventory:
    topic_arn: str
    identity_name: str
    #: The topic's attributes (``Policy`` among them).
    topic: Read[dict[str, str]]
    queue: Read[Queue]
    dead_letter_queue: Read[Queue]
    #: Every subscription of the topic (the probe's leftovers among them).
    subscriptions: Read[list[Subscription]]
    #: SES v2 GetEmailIdentity.
    identity: Read[dict[str, Any]]
    #: The configuration set's event destinations (events route; None on the other route).
    event_destinations: Read[list[dict[str, Any]]] | None
    #: The identity's notification attributes (notifications route; None on the other).
    notifications: Read[dict[str, Any]] | None

    def queue_subscriptions(self, queue_arn: str) -> list[Subscription]:
        """The topic's SQS subscriptions that deliver to ``queue_arn`` (unread: none)."""
        return [
            s
            for s in self.subscriptions.value or []
            if s.protocol == "sqs" and s.endpoint == queue_arn
        ]


def read_inventory(
    aws: Aws,
    *,
    identity: str,
    topic_arn: str,
    queue: str,
    queue_arn: str | None = None,
    dead_letter_queue: str | None = None,
    configuration_set: str | None = None,
) -> Inventory:
    """Read the pipeline; ``queue`` and ``dead_letter_queue`` are URLs or names.

    ``configuration_set`` names the events route's set; without it the identity's
    notification attributes are read instead. ``queue_arn`` finds the queue's subscriptions
    when the queue itself is gone.
    """
    queue_read: Read[Queue] = _read(read_queue, aws, queue)
    dead_letters: Read[Queue] = (
        _read(read_queue, aws, dead_letter_queue) if dead_letter_queue else Read()
    )
    endpoint = queue_read.value.arn if queue_read.value else queue_arn
    return Inventory(
        topic_arn=topic_arn,
        identity_name=identity,
        topic=_read(read_topic, aws, topic_arn),
        queue=queue_read,
        dead_letter_queue=dead_letters,
        subscriptions=_read(_subscriptions, aws, topic_arn, endpoint),
        identity=_read(read_identity, aws, identity),
        event_destinations=(
            _read(_event_destinations, aws, configuration_set) if configuration_set else None
        ),
        notifications=None if configuration_set else _read(_notifications, aws, identity),
    )


def read_topic(aws: Aws, topic_arn: str) -> dict[str, str] | None:
    found = aws.maybe("sns", "GetTopicAttributes", *TOPIC_MISSING, TopicArn=topic_arn)
    return None if found is None else dict(found.get("Attributes", {}))


def read_queue(aws: Aws, queue: str) -> Queue | None:
    """A queue by URL or by name (SQS names have neither ':' nor '/')."""
    if "/" not in queue:
        found = aws.maybe("sqs", "GetQueueUrl", *QUEUE_MISSING, QueueName=queue)
        if found is None:
            return None
        queue = str(found["QueueUrl"])
    attributes = aws.maybe(
        "sqs", "GetQueueAttributes", *QUEUE_MISSING, QueueUrl=queue, AttributeNames=["All"]
    )
    return None if attributes is None else Queue(queue, dict(attributes.get("Attributes", {})))


def read_identity(aws: Aws, identity: str) -> dict[str, Any] | None:
    return aws.maybe("sesv2", "GetEmailIdentity", *SES_MISSING, EmailIdentity=identity)


def _subscriptions(aws: Aws, topic_arn: str, queue_arn: str | None) -> list[Subscription]:
    found: list[Subscription] = []
    params: dict[str, str] = {"TopicArn": topic_arn}
    while True:
        page = aws.maybe("sns", "ListSubscriptionsByTopic", *TOPIC_MISSING, **params)
        if page is None:
            return []
        for s in page.get("Subscriptions", []):
            subscription = Subscription(
                arn=str(s.get("SubscriptionArn", "")),
                protocol=str(s.get("Protocol", "")),
                endpoint=str(s.get("Endpoint", "")),
            )
            if subscription.endpoint == queue_arn and subscription.confirmed:
                attributes = aws.call(
                    "sns", "GetSubscriptionAttributes", SubscriptionArn=subscription.arn
                )
                subscription = Subscription(
                    subscription.arn,
                    subscription.protocol,
                    subscription.endpoint,
                    dict(attributes.get("Attributes", {})),
                )
            found.append(subscription)
        if not page.get("NextToken"):
            return found
        params["NextToken"] = str(page["NextToken"])


def _event_destinations(aws: Aws, name: str) -> list[dict[str, Any]] | None:
    found = aws.maybe(
        "sesv2", "GetConfigurationSetEventDestinations", *SES_MISSING, ConfigurationSetName=name
    )
    return None if found is None else list(found.get("EventDestinations", []))


def _notifications(aws: Aws, identity: str) -> dict[str, Any]:
    found = aws.call("ses", "GetIdentityNotificationAttributes", Identities=[identity])
    return dict(found.get("NotificationAttributes", {}).get(identity, {}))
