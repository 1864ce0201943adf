"""Feedback in a Django project: the worker and the SNS view send each signal once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core import mail
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.dispatch import Signal
from django.test import Client
from pytest_django import Settings

from courrier.django import signals, views
from courrier.errors import ConfigurationError
from courrier.feedback import events as ev
from courrier.feedback.signature import SignatureVerifier
from courrier.statuses import MessageStatus
from courrier.store import Store
from tests.conftest import SandboxClient
from tests.feedback.conftest import certificate, key  # noqa: F401 (fixtures)
from tests.feedback.signing import Fetcher, signed
from tests.feedback.test_decode import sample
from tests.sandbox.helpers import notifications_route

SIM = "simulator.amazonses.com"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"


class Received:
    """Every signal courrier sends, as (signal name, sender, recipient) in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, type[Any], str | None]] = []
        self.kwargs: list[dict[str, Any]] = []

    def count(self) -> Counter[tuple[str, str | None]]:
        return Counter((name, recipient) for name, _, recipient in self.calls)


@pytest.fixture
def received() -> Iterator[Received]:
    seen = Received()
    every: dict[str, Signal] = {
        "feedback_received": signals.feedback_received,
        "address_suppressed": signals.address_suppressed,
        **{f"{kind.kind}": signal for kind, signal in signals.KIND_SIGNALS.items()},
    }
    connected = []
    for name, signal in every.items():

        def on(sender: type[Any], event: ev.Event, name: str = name, **kwargs: Any) -> None:
            seen.calls.append((name, sender, event.recipient))
            seen.kwargs.append(kwargs)

        signal.connect(on, weak=False)
        connected.append((signal, on))
    yield seen
    for signal, on in connected:
        signal.disconnect(on)


def test_worker_applies_feedback_and_signals_fire_once(
    project: SandboxClient, project_store: Store, received: Received
) -> None:
    pipeline = project.pipeline()
    notifications_route(project, pipeline)
    cases = ["success", "bounce", "complaint", "ooto"]
    sent = mail.send_mail("s", "x", None, [f"{case}@{SIM}" for case in cases])
    assert sent == 1
    # Every notification twice, as SQS may deliver them: the signals still fire once.
    bodies = project.receive_all(pipeline.queue_url)
    for body in bodies * 2:
        project.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=json.dumps(body))
    call_command(
        "courrier",
        "worker",
        "--queue-url",
        pipeline.queue_url,
        "--allow-topic",
        pipeline.topic_arn,
        "--wait",
        "0",
        "--until-idle",
        "--no-verify-signatures",
    )
    expected = {
        ("Delivery", f"success@{SIM}"): 1,
        ("Delivery", f"complaint@{SIM}"): 1,
        ("Delivery", f"ooto@{SIM}"): 1,
        ("Bounce", f"bounce@{SIM}"): 1,
        ("Bounce", f"ooto@{SIM}"): 1,  # the out-of-office's transient bounce
        ("Complaint", f"complaint@{SIM}"): 1,
        ("feedback_received", f"success@{SIM}"): 1,
        ("feedback_received", f"bounce@{SIM}"): 1,
        ("feedback_received", f"complaint@{SIM}"): 2,
        ("feedback_received", f"ooto@{SIM}"): 2,
        ("address_suppressed", f"bounce@{SIM}"): 1,
        ("address_suppressed", f"complaint@{SIM}"): 1,
    }
    assert dict(received.count()) == expected
    senders = {name: sender for name, sender, _ in received.calls}
    assert (senders["Bounce"], senders["Complaint"]) == (ev.Bounce, ev.Complaint)
    suppressed = [
        k
        for (n, _, _), k in zip(received.calls, received.kwargs, strict=True)
        if n == "address_suppressed"
    ]
    assert sorted((k["address"], k["reason"]) for k in suppressed) == [
        (f"bounce@{SIM}", "bounce"),
        (f"complaint@{SIM}", "complaint"),
    ]
    # the next send to a suppressed address sends nothing, and says so
    message = EmailMessage("again", "x", None, [f"bounce@{SIM}"])
    assert message.send() == 0
    assert message.courrier_status.status == MessageStatus.SUPPRESSED  # type: ignore[attr-defined]
    assert project_store.suppressed_among([f"bounce@{SIM}", f"complaint@{SIM}", f"ooto@{SIM}"]) == {
        f"bounce@{SIM}",
        f"complaint@{SIM}",
    }


@pytest.fixture
def sns(
    project: SandboxClient,
    settings: Settings,
    certificate: bytes,  # noqa: F811 (a fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> Client:
    """The project's SNS view, trusting the test key's certificate as SNS's own."""
    settings.COURRIER = {**settings.COURRIER, "SNS_TOPICS": [TOPIC]}
    monkeypatch.setattr(
        views, "SignatureVerifier", lambda: SignatureVerifier(fetch=Fetcher(certificate))
    )
    monkeypatch.setattr(views, "_current", None)
    return Client(enforce_csrf_checks=True)  # SNS sends no CSRF token


def post(client: Client, body: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        "/ses/feedback/",
        data=data,
        content_type="text/plain; charset=UTF-8",
        headers={"x-amz-sns-message-type": "Notification"},
    )
    return response.status_code, response.json()


def test_sns_view_applies_a_signed_notification_once(
    sns: Client,
    project_store: Store,
    received: Received,
    key: rsa.RSAPrivateKey,  # noqa: F811 (a fixture)
) -> None:
    envelope = signed(key)
    assert post(sns, envelope) == (
        200,
        {"status": "ok", "detail": "1 event(s) applied, 0 duplicate(s)"},
    )
    assert post(sns, envelope) == (
        200,
        {"status": "ok", "detail": "0 event(s) applied, 1 duplicate(s)"},
    )
    assert received.count() == {
        ("Bounce", "gone@example.net"): 1,
        ("feedback_received", "gone@example.net"): 1,
        ("address_suppressed", "gone@example.net"): 1,
    }
    assert [s.address for s in project_store.suppressions()] == ["gone@example.net"]


def test_sns_view_refuses_what_it_cannot_trust(
    sns: Client,
    project_store: Store,
    received: Received,
    key: rsa.RSAPrivateKey,  # noqa: F811 (a fixture)
) -> None:
    forged = signed(key, Message=json.dumps(sample("S4")))  # changed after signing
    assert post(sns, forged)[0] == 403
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert post(sns, signed(other_key))[0] == 403
    other_topic = signed(key, fields={"TopicArn": "arn:aws:sns:eu-west-1:666666666666:theirs"})
    status, answer = post(sns, other_topic)
    assert (status, answer["detail"]) == (
        403,
        f"topic {other_topic['TopicArn']!r} is not on the allow-list",
    )
    assert post(sns, "not json")[0] == 400
    assert sns.get("/ses/feedback/").status_code == 405
    too_large = sns.post("/ses/feedback/", data="x" * (600 * 1024), content_type="text/plain")
    assert too_large.status_code == 413
    # More digits than int() converts: still judged, never a 500.
    huge = sns.post(
        "/ses/feedback/", data="x", content_type="text/plain", CONTENT_LENGTH="9" * 5000
    )
    assert huge.status_code == 413
    assert received.calls == []
    assert project_store.suppressions() == []


def test_sns_view_needs_an_allow_list(
    project: SandboxClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "_current", None)
    with pytest.raises(ConfigurationError, match="no SNS topic allowed"):
        Client().post("/ses/feedback/", data="{}", content_type="text/plain")
    settings.COURRIER = {**settings.COURRIER, "TOPIC_ARN": TOPIC}
    assert views.receiver().allowed_topics == {TOPIC}
