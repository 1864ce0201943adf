"""SNS over HTTPS: the WSGI app with signed envelopes, and the sandbox's SNS posting to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.test import Client

from courrier.feedback.http import make_app
from courrier.feedback.signature import SignatureVerifier
from courrier.store import Store
from tests.conftest import SENDER, SandboxClient
from tests.feedback.signing import Fetcher, signed
from tests.feedback.test_decode import sample
from tests.sandbox.helpers import notifications_route

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"


@pytest.fixture
def confirmed() -> list[str]:
    return []


@pytest.fixture
def client(store: Store, certificate: bytes, confirmed: list[str]) -> Client:
    app = make_app(
        store,
        verifier=SignatureVerifier(fetch=Fetcher(certificate)),
        allowed_topics=[TOPIC],
        confirm=confirmed.append,
    )
    return Client(app)


def post(client: Client, body: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/", data=data, headers={"x-amz-sns-message-type": "Notification"})
    return response.status_code, json.loads(response.get_data())


def test_signed_notification_is_applied_once(
    client: Client, store: Store, key: rsa.RSAPrivateKey
) -> None:
    envelope = signed(key)
    assert post(client, envelope) == (
        200,
        {"status": "ok", "detail": "1 event(s) applied, 0 duplicate(s)"},
    )
    assert post(client, envelope)[1]["detail"] == "0 event(s) applied, 1 duplicate(s)"
    assert [s.address for s in store.suppressions()] == ["gone@example.net"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Message": json.dumps(sample("S4"))}, "does not match"),
        ({"TopicArn": "arn:aws:sns:eu-west-1:123456789012:other"}, "does not match"),
    ],
)
def test_untrusted_notifications_are_refused(
    client: Client, store: Store, key: rsa.RSAPrivateKey, change: dict[str, Any], reason: str
) -> None:
    envelope = signed(key)
    envelope.update(change)
    status, answer = post(client, envelope)
    assert status == 400
    assert reason in answer["detail"]
    assert store.suppressions() == []


def test_topic_outside_the_allow_list(client: Client, store: Store, key: rsa.RSAPrivateKey) -> None:
    # Correctly signed, from a topic that is not allowed.
    envelope = signed(key, fields={"TopicArn": "arn:aws:sns:eu-west-1:123456789012:other"})
    status, answer = post(client, envelope)
    assert status == 400
    assert "not on the allow-list" in answer["detail"]
    assert store.suppressions() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [(json.dumps(sample("S1")), 400), ("not json", 400), ("", 400)],
)
def test_bad_bodies(client: Client, body: str, status: int) -> None:
    response = client.post("/", data=body)
    assert response.status_code == status


def test_only_post(client: Client) -> None:
    assert client.get("/").status_code == 405


def test_subscription_confirmation(
    client: Client, key: rsa.RSAPrivateKey, confirmed: list[str]
) -> None:
    url = f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}"
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "Token": "t",
        "SubscribeURL": url,
        "Message": "You have chosen to subscribe",
    }
    status, answer = post(client, signed(key, fields=confirmation))
    assert (status, answer["detail"]) == (200, f"subscription to {TOPIC} confirmed")
    assert confirmed == [url]
    evil = {**confirmation, "SubscribeURL": "https://evil.example/confirm"}
    assert post(client, signed(key, fields=evil))[0] == 400
    assert confirmed == [url]


def test_no_confirmation_without_any_trust(store: Store, key: rsa.RSAPrivateKey) -> None:
    confirmed: list[str] = []
    app = make_app(store, verifier=None, confirm=confirmed.append)
    envelope = dict(
        signed(key),
        Type="SubscriptionConfirmation",
        Token="t",
        SubscribeURL="https://sns.eu-west-1.amazonaws.com/?Action=Confirm",
    )
    response = Client(app).post("/", data=json.dumps(envelope))
    assert response.status_code == 400
    assert confirmed == []


def test_database_outage_is_503(key: rsa.RSAPrivateKey, certificate: bytes) -> None:
    down = Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", migrate=False)
    app = make_app(down, verifier=SignatureVerifier(fetch=Fetcher(certificate)))
    response = Client(app).post("/", data=json.dumps(signed(key)))
    assert response.status_code == 503
    down.close()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(store: Store) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, make_app(store, verifier=None), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join()
    server.server_close()


def test_sandbox_sns_posts_feedback_to_the_receiver(
    sandbox: SandboxClient, store: Store, receiver: str
) -> None:
    pipeline = sandbox.pipeline()
    sandbox.sns.subscribe(TopicArn=pipeline.topic_arn, Protocol="http", Endpoint=receiver)
    notifications_route(sandbox, pipeline)
    sandbox.ses.send_email(
        Source=SENDER,
        Destination={"ToAddresses": ["complaint@simulator.amazonses.com"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    )
    sandbox.drain()
    assert {s.address: s.reason for s in store.suppressions()} == {
        "complaint@simulator.amazonses.com": "complaint"
    }
