"""SNS topics, subscriptions and SQS queues in the ``--state`` file (not their messages).

What ``courrier setup`` builds survives a restart of ``courrier sandbox``. Messages in flight
are not kept: a restart is like a queue purge.
"""

from __future__ import annotations

from typing import Any

from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
    "SqsManagedSseEnabled",
)
_SUBSCRIPTION_ATTRIBUTES = (
    "RawMessageDelivery",
    "FilterPolicyScope",
    "FilterPolicy",
    "RedrivePolicy",
)


def _queue(account: str, region: str, queue: Any) -> dict[str, Any]:
    attributes = queue.attributes
    return {
        "account": account,
        "region": region,
        "name": queue.name,
        "attributes": {
            k: str(attributes[k]) for k in _QUEUE_ATTRIBUTES if attributes.get(k) is not None
        },
        "redrive_policy": attributes.get("RedrivePolicy"),
    }


def _text(value: Any) -> str:
    # moto keeps some flags as booleans or "True"/"False"; the API speaks "true"/"false".
    text = str(value)
    return text.lower() if text in ("True", "False") else text


def _subscription(account: str, region: str, subscription: Any) -> dict[str, Any]:
    return {
        "account": account,
        "region": region,
        "topic_arn": subscription.topic.arn,
        "protocol": subscription.protocol,
        "endpoint": subscription.endpoint,
        "attributes": {
            k: _text(v)
            for k, v in subscription.attributes.items()
            if k in _SUBSCRIPTION_ATTRIBUTES and v is not None
        },
    }


def snapshot() -> dict[str, Any]:
    queues = [
        _queue(account, region, queue)
        for account, sqs_account in list(sqs_backends.items())
        for region, sqs in list(sqs_account.items())
        for queue in list(sqs.queues.values())
    ]
    topics: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    for account, sns_account in list(sns_backends.items()):
        for region, sns in list(sns_account.items()):
            topics.extend(
                {
                    "account": account,
                    "region": region,
                    "name": topic.name,
                    "policy": topic.policy,
                    "display_name": topic.display_name,
                }
                for topic in list(sns.topics.values())
            )
            subscriptions.extend(
                _subscription(account, region, sub) for sub in list(sns.subscriptions.values())
            )
    return {"queues": queues, "topics": topics, "subscriptions": subscriptions}


def restore(data: dict[str, Any]) -> None:
    queues = data.get("queues", [])
    for item in queues:
        sqs_backends[item["account"]][item["region"]].create_queue(
            item["name"], **item["attributes"]
        )
    # Dead-letter queues must exist before the redrive policies that name them.
    for item in queues:
        if item.get("redrive_policy"):
            sqs_backends[item["account"]][item["region"]].set_queue_attributes(
                item["name"], {"RedrivePolicy": item["redrive_policy"]}
            )
    for item in data.get("topics", []):
        topic = sns_backends[item["account"]][item["region"]].create_topic(item["name"])
        topic.policy = item["policy"]
        topic.display_name = item.get("display_name", "")
    for item in data.get("subscriptions", []):
        sns = sns_backends[item["account"]][item["region"]]
        subscription = sns.subscribe(item["topic_arn"], item["endpoint"], item["protocol"])
        for name in _SUBSCRIPTION_ATTRIBUTES:  # in this order: the scope before the policy
            if name in item["attributes"]:
                value: Any = item["attributes"][name]
                if name == "RawMessageDelivery":
                    # moto's API layer hands its backend a boolean here; "false" would be true.
                    value = value == "true"
                sns.set_subscription_attributes(subscription.arn, name, value)
