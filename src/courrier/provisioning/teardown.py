"""``courrier teardown``: remove what setup made, in reverse order."""

from __future__ import annotations

from courrier.provisioning.aws import Aws
from courrier.provisioning.resources import (
    NOTIFICATION_TYPES,
    TOPIC_SID,
)
from courrier.provisioning.setup import Change, resources_for

__all__ = ["teardown"]


def teardown(
    aws: Aws,
    identity: str,
    *,
    route: str = "events",
    prefix: str = "courrier",
    delete_identity: bool = False,
) -> list[Change]:
    """Undo :func:`~courrier.provisioning.setup.setup`; the identity stays unless asked.

    Each step is skipped when its resource is already gone, so teardown can be re-run.
    """
    r = resources_for(aws, identity, route=route, prefix=prefix)
    changes: list[Change] = []

    def note(resource: str, done: bool) -> None:
        changes.append(Change(resource, "delete" if done else "absent"))

    if route == "events":
        found = aws.maybe(
            "sesv2",
            "DeleteConfigurationSet",
            "NotFoundException",
            ConfigurationSetName=r.configuration_set,
        )
        note(f"configuration set {r.configuration_set}", found is not None)
    else:
        exists = aws.maybe(
            "sesv2", "GetEmailIdentity", "NotFoundException", EmailIdentity=r.identity
        )
        for kind in NOTIFICATION_TYPES:
            if exists is not None:
                aws.call(
                    "ses",
                    "SetIdentityNotificationTopic",
                    Identity=r.identity,
                    NotificationType=kind,
                )
            note(f"{kind} notifications -> topic", exists is not None)
    subscriptions = (
        aws.maybe("sns", "ListSubscriptionsByTopic", "NotFound", TopicArn=r.topic_arn) or {}
    )
    removed = False
    for subscription in subscriptions.get("Subscriptions", []):
        if subscription.get("Endpoint") == r.queue_arn:
            aws.call("sns", "Unsubscribe", SubscriptionArn=subscription["SubscriptionArn"])
            removed = True
    note("subscription topic -> queue", removed)
    for name, label in ((r.queue_name, "queue"), (r.dlq_name, "dead-letter queue")):
        url = aws.maybe(
            "sqs",
            "GetQueueUrl",
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
            QueueName=name,
        )
        if url is not None:
            aws.call("sqs", "DeleteQueue", QueueUrl=url["QueueUrl"])
        note(f"{label} {name}", url is not None)
    topic = aws.maybe("sns", "GetTopicAttributes", "NotFound", TopicArn=r.topic_arn)
    if topic is not None:
        aws.call("sns", "DeleteTopic", TopicArn=r.topic_arn)
    note(f"SNS topic {r.topic_name} (and its {TOPIC_SID} policy)", topic is not None)
    if delete_identity:
        gone = aws.maybe(
            "sesv2", "DeleteEmailIdentity", "NotFoundException", EmailIdentity=r.identity
        )
        note(f"SES identity {r.identity}", gone is not None)
    return changes
