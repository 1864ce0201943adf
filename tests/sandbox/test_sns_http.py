"""SNS -> HTTP/S subscribers and SNS signatures, as AWS serves them.

Confirmation first (https://docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.prepare.html),
asynchronous delivery with retries
(https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html), SNS headers
(https://docs.aws.amazon.com/sns/latest/dg/http-header.html) and envelopes that verify
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from botocore.exceptions import ClientError

from courrier.feedback.signature import SignatureVerifier
from courrier_sandbox.sns_sqs import http_delivery
from tests.conftest import REGION, SENDER, SandboxClient, queue_policy
from tests.fakes import wait_until
from tests.sandbox.helpers import CONFIG_SET, events_route


@dataclass
class Receiver:
    """An HTTP endpoint that records every POST; its first ``failures`` answers are 500s."""

    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    url: str = ""
    posts: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    failures: int = 0

    def of_type(self, kind: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(h, body) for h, body in self.posts if body.get("Type") == kind]

    def messages(self) -> list[str]:
        return [body["Message"] for _, body in self.of_type("Notification")]

    def stop(self) -> None:
        """Close the port: from now on every POST to ``url`` is refused."""
        if self.server is not None and self.thread is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(10)
            self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if found.failures > 0:
                found.failures -= 1
                self.send_response(500)
            else:
                headers = {k.lower(): v for k, v in self.headers.items()}
                found.posts.append((headers, json.loads(body)))
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    found.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    found.thread.start()
    found.url = f"http://127.0.0.1:{found.server.server_address[1]}/sns"
    yield found
    found.stop()


def confirmation(receiver: Receiver) -> dict[str, Any]:
    _, body = wait_until(
        lambda: next(iter(receiver.of_type("SubscriptionConfirmation")), None),
        what="a SubscriptionConfirmation",
    )
    return body


def subscribed(sandbox: SandboxClient, topic_arn: str, receiver: Receiver) -> str:
    """An HTTP subscription of ``receiver``, confirmed by a GET of its SubscribeURL."""
    arn: str = sandbox.sns.subscribe(
        TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    attributes = sandbox.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    if attributes["PendingConfirmation"] == "true":
        with urllib.request.urlopen(confirmation(receiver)["SubscribeURL"], timeout=10) as answer:
            assert arn in answer.read().decode()
    return arn


def sandbox_fetch(sandbox: SandboxClient) -> Any:
    """A certificate fetch for courrier's verifier that asks the sandbox for the same path."""

    def fetch(url: str) -> bytes:
        with urllib.request.urlopen(sandbox.url + urlparse(url).path, timeout=10) as answer:
            data: bytes = answer.read()
        return data

    return fetch


# ------------------------------------------------------------------ 1. asynchronous delivery


def test_an_endpoint_that_is_down_fails_no_call_and_no_other_subscriber(
    sandbox: SandboxClient, receiver: Receiver
) -> None:
    pipeline = sandbox.pipeline()
    subscribed(sandbox, pipeline.topic_arn, receiver)
    receiver.stop()
    sandbox.sns.publish(TopicArn=pipeline.topic_arn, Message="to everyone")
    assert [m["Message"] for m in sandbox.receive_all(pipeline.queue_url)] == ["to everyone"]
    # Both SES calls publish a test message to the topic.
    events_route(sandbox, pipeline, ["BOUNCE"])
    sandbox.ses.set_identity_notification_topic(
        Identity=SENDER, NotificationType="Bounce", SnsTopic=pipeline.topic_arn
    )
    assert len(sandbox.receive_all(pipeline.queue_url)) == 2


def test_server_errors_are_retried(
    sandbox: SandboxClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_delivery, "RETRY_DELAYS", (0.05, 0.05, 0.05))
    topic_arn = sandbox.sns.create_topic(Name="retried")["TopicArn"]
    subscribed(sandbox, topic_arn, receiver)
    receiver.failures = 2
    sandbox.sns.publish(TopicArn=topic_arn, Message="third time lucky")
    wait_until(receiver.messages, what="the retried notification")
    assert receiver.messages() == ["third time lucky"]


def test_stopping_the_worker_does_not_wait_for_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_delivery, "RETRY_DELAYS", (60.0, 60.0))
    worker = http_delivery.DeliveryWorker()
    failed = threading.Event()

    def refused(delivery: http_delivery.Delivery) -> str:
        failed.set()
        return "refused"

    monkeypatch.setattr(http_delivery, "_post", refused)
    worker.submit(http_delivery.Delivery(time.monotonic(), "http://127.0.0.1:1/", b"{}", {}))
    assert failed.wait(10)
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 2
    assert worker._thread is not None
    assert not worker._thread.is_alive()


@pytest.fixture
def garbage_endpoint() -> Iterator[str]:
    """An endpoint that answers something that is not HTTP."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"garbage\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() a close alone leaves waiting
    listener.close()
    thread.join(5)


def test_a_malformed_answer_is_a_failed_attempt_not_the_end_of_the_worker(
    receiver: Receiver, garbage_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_delivery, "RETRY_DELAYS", (0.05,))
    worker = http_delivery.DeliveryWorker()
    now = time.monotonic()
    try:
        worker.submit(http_delivery.Delivery(now, garbage_endpoint, b"{}", {}))
        worker.submit(http_delivery.Delivery(now + 0.2, receiver.url, b'{"Type": "x"}', {}))
        wait_until(lambda: receiver.posts, what="the next delivery")
    finally:
        worker.stop()


def test_deliveries_submitted_after_a_stop_that_timed_out_go_out(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox closed while a POST hangs, then another one in the same process."""
    posting, release = threading.Event(), threading.Event()
    real_post = http_delivery._post

    def hanging_once(delivery: http_delivery.Delivery) -> str | None:
        if delivery.body == b"{}":
            posting.set()
            release.wait(10)
            return None
        return real_post(delivery)

    monkeypatch.setattr(http_delivery, "_post", hanging_once)
    worker = http_delivery.DeliveryWorker()
    try:
        worker.submit(http_delivery.Delivery(time.monotonic(), receiver.url, b"{}", {}))
        assert posting.wait(10)
        worker.stop(timeout=0.1)
        worker.submit(http_delivery.Delivery(time.monotonic(), receiver.url, b'{"Type": "x"}', {}))
        wait_until(lambda: receiver.posts, what="the delivery submitted after the stop")
    finally:
        release.set()
        worker.stop()


# ------------------------------------------------------------------ 2. confirmation, headers


def test_http_subscriptions_wait_for_confirmation(
    sandbox: SandboxClient, receiver: Receiver
) -> None:
    topic_arn = sandbox.sns.create_topic(Name="confirm-me")["TopicArn"]
    answer = sandbox.sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url)
    assert answer["SubscriptionArn"] == "pending confirmation"
    [listed] = sandbox.sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert listed["SubscriptionArn"] == "PendingConfirmation"
    assert listed["Endpoint"] == receiver.url
    assert sandbox.sns.list_subscriptions()["Subscriptions"] == [listed]

    body = confirmation(receiver)
    headers, _ = receiver.of_type("SubscriptionConfirmation")[0]
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-message-id"] == body["MessageId"]
    assert headers["x-amz-sns-topic-arn"] == topic_arn
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert set(body) >= {
        "Type",
        "MessageId",
        "Token",
        "TopicArn",
        "Message",
        "SubscribeURL",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    }
    assert body["SubscribeURL"].startswith(f"{sandbox.url}/?Action=ConfirmSubscription&")

    sandbox.sns.publish(TopicArn=topic_arn, Message="before")
    with pytest.raises(ClientError) as refused:
        sandbox.sns.confirm_subscription(TopicArn=topic_arn, Token="not-the-token")
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    confirmed = sandbox.sns.confirm_subscription(TopicArn=topic_arn, Token=body["Token"])
    subscription_arn = confirmed["SubscriptionArn"]
    assert subscription_arn.startswith(f"{topic_arn}:")
    [listed] = sandbox.sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert listed["SubscriptionArn"] == subscription_arn
    attributes = sandbox.sns.get_subscription_attributes(SubscriptionArn=subscription_arn)
    assert attributes["Attributes"]["PendingConfirmation"] == "false"

    sandbox.sns.publish(TopicArn=topic_arn, Message="after", Subject="s")
    wait_until(receiver.messages, what="the notification")
    # Deliveries go out in order: "before" would have come first.
    assert receiver.messages() == ["after"]
    headers, notification = receiver.of_type("Notification")[0]
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == notification["MessageId"]
    assert headers["x-amz-sns-topic-arn"] == topic_arn
    assert headers["x-amz-sns-subscription-arn"] == subscription_arn
    assert headers["content-type"] == "text/plain; charset=UTF-8"


def test_return_subscription_arn_still_pending(sandbox: SandboxClient, receiver: Receiver) -> None:
    topic_arn = sandbox.sns.create_topic(Name="arn-please")["TopicArn"]
    arn = sandbox.sns.subscribe(
        TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    assert arn.startswith(f"{topic_arn}:")
    attributes = sandbox.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "true"
    with urllib.request.urlopen(confirmation(receiver)["SubscribeURL"], timeout=10) as answer:
        assert arn in answer.read().decode()
    attributes = sandbox.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"


def test_unsubscribing_sends_an_unsubscribe_confirmation(
    sandbox: SandboxClient, receiver: Receiver
) -> None:
    topic_arn = sandbox.sns.create_topic(Name="leaving")["TopicArn"]
    arn = subscribed(sandbox, topic_arn, receiver)
    sandbox.sns.unsubscribe(SubscriptionArn=arn)
    _, body = wait_until(
        lambda: next(iter(receiver.of_type("UnsubscribeConfirmation")), None),
        what="an UnsubscribeConfirmation",
    )
    SignatureVerifier(fetch=sandbox_fetch(sandbox)).verify(body)
    sandbox.sns.publish(TopicArn=topic_arn, Message="gone")
    assert receiver.messages() == []


# ------------------------------------------------------------------ 3. signatures


@pytest.mark.parametrize("version", ["1", "2"])
def test_envelopes_verify_with_courrier_s_verifier(
    sandbox: SandboxClient, receiver: Receiver, version: str
) -> None:
    pipeline = sandbox.pipeline()
    if version == "2":
        sandbox.sns.set_topic_attributes(
            TopicArn=pipeline.topic_arn, AttributeName="SignatureVersion", AttributeValue="2"
        )
    subscribed(sandbox, pipeline.topic_arn, receiver)
    sandbox.sns.publish(TopicArn=pipeline.topic_arn, Message="signed", Subject="With a subject")
    [queued] = sandbox.receive_all(pipeline.queue_url)
    wait_until(receiver.messages, what="the notification")
    posted = receiver.of_type("Notification")[0][1]
    verifier = SignatureVerifier(fetch=sandbox_fetch(sandbox))
    for envelope in (queued, posted, confirmation(receiver)):
        assert envelope["SignatureVersion"] == version
        assert envelope["SigningCertURL"].startswith(f"https://sns.{REGION}.amazonaws.com/")
        verifier.verify(envelope)
    assert queued["Subject"] == "With a subject"


def test_ses_notifications_verify(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    events_route(sandbox, pipeline, ["DELIVERY"])
    sandbox.ses.send_email(
        Source=SENDER,
        Destination={"ToAddresses": ["success@simulator.amazonses.com"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
        ConfigurationSetName=CONFIG_SET,
    )
    envelopes = sandbox.receive_all(pipeline.queue_url)
    assert any(e.get("Subject") == "Amazon SES Email Event Notification" for e in envelopes)
    verifier = SignatureVerifier(fetch=sandbox_fetch(sandbox))
    for envelope in envelopes:
        verifier.verify(envelope)


def test_the_certificate_is_served_at_its_path(sandbox: SandboxClient) -> None:
    pipeline = sandbox.pipeline()
    sandbox.sns.publish(TopicArn=pipeline.topic_arn, Message="m")
    [envelope] = sandbox.receive_all(pipeline.queue_url)
    path = urlparse(envelope["SigningCertURL"]).path
    with urllib.request.urlopen(sandbox.url + path, timeout=10) as answer:
        assert answer.read().startswith(b"-----BEGIN CERTIFICATE-----")


# ------------------------------------------------------------------ 4. UnsubscribeURL


def test_unsubscribe_url_names_the_topic_region_and_the_subscription(
    sandbox: SandboxClient,
) -> None:
    region = "ap-southeast-2"
    sns = boto3.client(
        "sns",
        endpoint_url=sandbox.url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sqs = boto3.client(
        "sqs",
        endpoint_url=sandbox.url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    topic_arn = sns.create_topic(Name="far")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="far")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": queue_policy(queue_arn, topic_arn)}
    )
    arn = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    sns.publish(TopicArn=topic_arn, Message="m")
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["UnsubscribeURL"] == (
        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={arn}"
    )
    # A GET of it (at the sandbox) unsubscribes, as on AWS.
    query = urlparse(envelope["UnsubscribeURL"]).query
    with urllib.request.urlopen(f"{sandbox.url}/?{query}", timeout=10) as answer:
        assert b"<UnsubscribeResponse" in answer.read()
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []
