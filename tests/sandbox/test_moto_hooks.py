"""The two moto hooks: queue policies on SNS->SQS delivery, and the indexed SQS backend.

These run against the installed moto; if a moto release moves what the hooks replace, they fail
here first (the pin in pyproject.toml says which releases were checked).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import moto
import pytest
from botocore.exceptions import ClientError
from moto.sns import models as sns_models
from moto.sqs import models as sqs_models

from courrier_sandbox.sns_sqs import hooks as moto_hooks
from tests.conftest import SandboxClient, queue_policy
from tests.fakes import wait_until


def test_hooks_are_installed_on_this_moto(sandbox: SandboxClient) -> None:
    major, minor = (int(part) for part in moto.__version__.split(".")[:2])
    assert (major, minor) >= (5, 1)
    assert sns_models.Subscription.publish is moto_hooks._publish_with_queue_policy
    assert sqs_models.sqs_backends.backend is moto_hooks.IndexedSQSBackend
    url = sandbox.sqs.create_queue(QueueName="hooked")["QueueUrl"]
    assert url.endswith("/hooked")
    backend = sqs_models.sqs_backends["123456789012"]["us-east-1"]
    assert isinstance(backend, moto_hooks.IndexedSQSBackend)
    assert isinstance(backend.queues["hooked"]._messages, moto_hooks.QueueIndex)


# ------------------------------------------------------------------ queue policy


def publish_one(sandbox: SandboxClient, topic_arn: str) -> str:
    message_id: str = sandbox.sns.publish(TopicArn=topic_arn, Message="hello")["MessageId"]
    return message_id


def queued(sandbox: SandboxClient, queue_url: str) -> list[str]:
    return [
        json.loads(b)["Message"] if b.startswith("{") else b
        for b in (
            m["Body"]
            for m in sandbox.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
        )
    ]


def test_no_queue_policy_means_nothing_arrives(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline(policy=False)
    # The subscription itself looks fine: the pitfall of docs/ses.md#sns-to-sqs.
    [subscription] = sandbox.sns.list_subscriptions_by_topic(TopicArn=pipeline.topic_arn)[
        "Subscriptions"
    ]
    assert subscription["Endpoint"] == pipeline.queue_arn
    message_id = publish_one(sandbox, pipeline.topic_arn)
    assert queued(sandbox, pipeline.queue_url) == []
    dropped = sandbox.control("GET", "/sns-deliveries")["dropped"]
    assert [(d["sns_message_id"], d["queue_arn"]) for d in dropped] == [
        (message_id, pipeline.queue_arn)
    ]
    assert dropped[0]["reason"].startswith("AccessDenied")


def test_queue_policy_for_the_topic_lets_it_through(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline(policy=True)
    publish_one(sandbox, pipeline.topic_arn)
    assert queued(sandbox, pipeline.queue_url) == ["hello"]


def test_queue_policy_for_another_topic_does_not(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline(policy=False)
    other = sandbox.sns.create_topic(Name="other")["TopicArn"]
    sandbox.sqs.set_queue_attributes(
        QueueUrl=pipeline.queue_url, Attributes={"Policy": queue_policy(pipeline.queue_arn, other)}
    )
    publish_one(sandbox, pipeline.topic_arn)
    assert queued(sandbox, pipeline.queue_url) == []


def test_deny_statement_wins(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline(policy=False)
    allow = json.loads(queue_policy(pipeline.queue_arn, pipeline.topic_arn))
    deny = {**allow["Statement"][0], "Effect": "Deny", "Sid": "Deny"}
    allow["Statement"].append(deny)
    sandbox.sqs.set_queue_attributes(
        QueueUrl=pipeline.queue_url, Attributes={"Policy": json.dumps(allow)}
    )
    publish_one(sandbox, pipeline.topic_arn)
    assert queued(sandbox, pipeline.queue_url) == []


def test_aws_managed_kms_key_blocks_sns(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline(policy=True)
    sandbox.sqs.set_queue_attributes(
        QueueUrl=pipeline.queue_url, Attributes={"KmsMasterKeyId": "alias/aws/sqs"}
    )
    publish_one(sandbox, pipeline.topic_arn)
    assert queued(sandbox, pipeline.queue_url) == []
    assert "alias/aws/sqs" in sandbox.control("GET", "/sns-deliveries")["dropped"][0]["reason"]


def test_raw_delivery_with_policy(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline(policy=True, raw=True)
    publish_one(sandbox, pipeline.topic_arn)
    [message] = sandbox.sqs.receive_message(QueueUrl=pipeline.queue_url)["Messages"]
    assert message["Body"] == "hello"


def test_setting_other_attributes_keeps_the_policy(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline(policy=True)
    sandbox.sqs.set_queue_attributes(
        QueueUrl=pipeline.queue_url, Attributes={"VisibilityTimeout": "60"}
    )
    attributes = sandbox.sqs.get_queue_attributes(
        QueueUrl=pipeline.queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert json.loads(attributes["Policy"])["Statement"][0]["Sid"] == "AllowFeedbackTopic"
    assert attributes["VisibilityTimeout"] == "60"


# ------------------------------------------------------------------ indexed SQS semantics


@pytest.fixture
def queue(sandbox: SandboxClient) -> str:
    url: str = sandbox.sqs.create_queue(QueueName="work")["QueueUrl"]
    return url


def receive(sandbox: SandboxClient, queue: str, **kwargs: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sandbox.sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, **kwargs
    ).get("Messages", [])
    return found


def test_received_messages_are_hidden_until_the_timeout(sandbox: SandboxClient, queue: str) -> None:
    for n in range(3):
        sandbox.sqs.send_message(QueueUrl=queue, MessageBody=f"m{n}")
    first = receive(sandbox, queue, VisibilityTimeout=1)
    assert sorted(m["Body"] for m in first) == ["m0", "m1", "m2"]
    assert receive(sandbox, queue) == []
    wait_until(lambda: sandbox.visible(queue) == 3)  # once their 1 s timeout runs out
    again = receive(sandbox, queue, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert sorted(m["Body"] for m in again) == ["m0", "m1", "m2"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in again} == {"2"}


def test_delete_needs_a_known_handle(sandbox: SandboxClient, queue: str) -> None:
    sandbox.sqs.send_message(QueueUrl=queue, MessageBody="x")
    [message] = receive(sandbox, queue)
    result = sandbox.sqs.delete_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": "good", "ReceiptHandle": message["ReceiptHandle"]},
            {"Id": "bad", "ReceiptHandle": "not-a-handle"},
        ],
    )
    assert [s["Id"] for s in result["Successful"]] == ["good"]
    assert [(f["Id"], f["Code"]) for f in result["Failed"]] == [("bad", "ReceiptHandleIsInvalid")]
    # Deleting again with the same handle is accepted, as SQS does.
    sandbox.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    with pytest.raises(ClientError):
        sandbox.sqs.delete_message(QueueUrl=queue, ReceiptHandle="still-not-a-handle")
    assert receive(sandbox, queue, VisibilityTimeout=0) == []


def test_change_visibility_to_zero_releases(sandbox: SandboxClient, queue: str) -> None:
    sandbox.sqs.send_message(QueueUrl=queue, MessageBody="x")
    [message] = receive(sandbox, queue, VisibilityTimeout=300)
    assert receive(sandbox, queue) == []
    sandbox.sqs.change_message_visibility(
        QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    [again] = receive(sandbox, queue)
    assert again["MessageId"] == message["MessageId"]
    # A handle from an earlier receive still deletes (moto keeps old handles).
    sandbox.sqs.delete_message(QueueUrl=queue, ReceiptHandle=again["ReceiptHandle"])
    assert receive(sandbox, queue, VisibilityTimeout=0) == []


def test_delayed_messages_wait(sandbox: SandboxClient, queue: str) -> None:
    sandbox.sqs.send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=1)
    attributes = sandbox.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert receive(sandbox, queue) == []
    [message] = receive(sandbox, queue, WaitTimeSeconds=3)
    assert message["Body"] == "later"


def test_counts(sandbox: SandboxClient, queue: str) -> None:
    for n in range(5):
        sandbox.sqs.send_message(QueueUrl=queue, MessageBody=str(n))
    sandbox.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=2, VisibilityTimeout=60)
    attributes = sandbox.sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "3",
        "ApproximateNumberOfMessagesNotVisible": "2",
    }


def test_redrive_to_dead_letter_queue(sandbox: SandboxClient, queue: str) -> None:
    dlq = sandbox.sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = sandbox.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sandbox.sqs.set_queue_attributes(
        QueueUrl=queue,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
        },
    )
    sandbox.sqs.send_message(QueueUrl=queue, MessageBody="poison")
    sandbox.sqs.send_message(QueueUrl=queue, MessageBody="good")
    for _ in range(2):
        assert len(receive(sandbox, queue, VisibilityTimeout=0)) == 2
    # The third receive finds the count exceeded and moves both to the DLQ.
    assert receive(sandbox, queue, VisibilityTimeout=0) == []
    assert sorted(m["Body"] for m in receive(sandbox, dlq)) == ["good", "poison"]


def test_purge(sandbox: SandboxClient, queue: str) -> None:
    sandbox.sqs.send_message(QueueUrl=queue, MessageBody="x")
    sandbox.sqs.purge_queue(QueueUrl=queue)
    assert receive(sandbox, queue) == []
    sandbox.sqs.send_message(QueueUrl=queue, MessageBody="y")
    assert [m["Body"] for m in receive(sandbox, queue)] == ["y"]


def test_long_poll_wakes_on_a_new_message(sandbox: SandboxClient, queue: str) -> None:
    def send_later() -> None:
        time.sleep(0.3)
        sandbox.client("sqs").send_message(QueueUrl=queue, MessageBody="woken")

    sender = threading.Thread(target=send_later)
    started = time.monotonic()
    sender.start()
    messages = receive(sandbox, queue, WaitTimeSeconds=5)
    sender.join()
    assert [m["Body"] for m in messages] == ["woken"]
    assert time.monotonic() - started < 4


def test_fifo_queues_keep_moto_behaviour(sandbox: SandboxClient) -> None:
    url = sandbox.sqs.create_queue(
        QueueName="ordered.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for n in range(3):
        sandbox.sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", MessageGroupId="g")
    [first] = sandbox.sqs.receive_message(QueueUrl=url)["Messages"]
    assert first["Body"] == "m0"
    sandbox.sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert next(m["Body"] for m in receive(sandbox, url)) == "m1"


def test_zero_visibility_never_returns_a_message_twice(sandbox: SandboxClient, queue: str) -> None:
    for n in range(3):
        sandbox.sqs.send_message(QueueUrl=queue, MessageBody=f"m{n}")
    bodies = [m["Body"] for m in receive(sandbox, queue, VisibilityTimeout=0)]
    assert sorted(bodies) == ["m0", "m1", "m2"]
    # Still visible to the next reader.
    assert len(receive(sandbox, queue, VisibilityTimeout=0)) == 3
