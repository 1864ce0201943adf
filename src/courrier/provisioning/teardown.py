"""``courrier teardown``: remove what setup made, in reverse order."""

from __future__ import annotations

from pathlib import Path

from courrier.provisioning import config_file
from courrier.provisioning.aws import SES_MISSING, Aws
from courrier.provisioning.probe import remove_probes
from courrier.provisioning.resources import NOTIFICATION_TYPES, TOPIC_SID
from courrier.provisioning.setup import (
    CONTACT_LIST_TAG,
    Action,
    Change,
    inventory_of,
    resources_for,
)
from courrier.provisioning.tenants import delete_tagged_tenants
from courrier.settings import Route

__all__ = ["teardown"]


def teardown(
    aws: Aws,
    identity: str,
    *,
    route: Route | str = Route.EVENTS,
    prefix: str = "courrier",
    delete_identity: bool = False,
    config: Path | None = None,
    contact_list: str | None = None,
) -> list[Change]:
    """Undo :func:`~courrier.provisioning.setup.setup`, and delete the tenants ``courrier
    tenant create`` made with the same prefix; the identity stays unless asked.

    Each step is skipped when its resource is already gone, so teardown can be re-run. With
    ``config``, every key setup writes is removed from that ``courrier.toml`` afterwards.
    ``contact_list`` is deleted, with its contacts, only if setup created it (its tag).
    """
    r = resources_for(aws, identity, route=route, prefix=prefix)
    found = inventory_of(aws, r)
    # The tenants first: SES refuses to delete a resource a tenant is associated with.
    changes: list[Change] = delete_tagged_tenants(aws, prefix)

    def note(resource: str, done: bool) -> None:
        changes.append(Change(resource, Action.DELETE if done else Action.ABSENT))

    if contact_list:
        current = aws.maybe("sesv2", "GetContactList", *SES_MISSING, ContactListName=contact_list)
        tags = {t.get("Key"): t.get("Value") for t in (current or {}).get("Tags", [])}
        if current is not None and tags.get(CONTACT_LIST_TAG) != prefix:
            changes.append(
                Change(
                    f"contact list {contact_list}",
                    Action.UNCHANGED,
                    "not created by courrier setup: kept",
                )
            )
        else:
            if current is not None:
                aws.call("sesv2", "DeleteContactList", ContactListName=contact_list)
            note(f"contact list {contact_list}", current is not None)

    if found.event_destinations is not None:
        exists = found.event_destinations.require() is not None
        if exists:
            aws.call("sesv2", "DeleteConfigurationSet", ConfigurationSetName=r.configuration_set)
        note(f"configuration set {r.configuration_set}", exists)
    if found.notifications is not None:
        attributes = found.notifications.require() or {}
        for kind in NOTIFICATION_TYPES:
            # Only a mapping to this pipeline's topic is undone; another topic is the user's.
            mapped = attributes.get(f"{kind}Topic") == r.topic_arn
            if mapped:
                aws.call(
                    "ses",
                    "SetIdentityNotificationTopic",
                    Identity=r.identity,
                    NotificationType=kind,
                )
            note(f"{kind} notifications -> topic", mapped)
    found.subscriptions.require()
    mine = found.queue_subscriptions(r.queue_arn)
    for subscription in mine:
        if subscription.confirmed:
            aws.call("sns", "Unsubscribe", SubscriptionArn=subscription.arn)
    note("subscription topic -> queue", bool(mine))
    if remove_probes(aws, found, expired_only=False):
        note("doctor probe queues", True)
    for queue, name, label in (
        (found.queue.require(), r.queue_name, "queue"),
        (found.dead_letter_queue.require(), r.dlq_name, "dead-letter queue"),
    ):
        if queue is not None:
            aws.call("sqs", "DeleteQueue", QueueUrl=queue.url)
        note(f"{label} {name}", queue is not None)
    topic = found.topic.require()
    if topic is not None:
        aws.call("sns", "DeleteTopic", TopicArn=r.topic_arn)
    note(f"SNS topic {r.topic_name} (and its {TOPIC_SID} policy)", topic is not None)
    if delete_identity:
        gone = aws.maybe("sesv2", "DeleteEmailIdentity", *SES_MISSING, EmailIdentity=r.identity)
        note(f"SES identity {r.identity}", gone is not None)
    if config is not None:
        config_file.forget_setup(config)
    return changes
