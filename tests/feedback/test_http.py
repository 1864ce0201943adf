"""SNS over HTTPS: the WSGI app with signed envelopes, and the sandbox's SNS posting to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from courrier.errors import ConfigurationError
from courrier.feedback.http import ConfirmationFailed, SnsReceiver, create_server, make_app
from courrier.feedback.signature import SignatureVerifier
from courrier.store import Store
from tests.conftest import SENDER, Pipeline, SandboxClient, free_port
from tests.fakes import wait_until
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
        ({"Subject": "changed after signing"}, "does not match"),
        ({"TopicArn": "arn:aws:sns:eu-west-1:123456789012:other"}, "not on the allow-list"),
    ],
)
def test_untrusted_notifications_are_refused(
    client: Client, store: Store, key: rsa.RSAPrivateKey, change: dict[str, Any], reason: str
) -> None:
    envelope = signed(key)
    envelope.update(change)
    status, answer = post(client, envelope)
    assert status == 403
    assert reason in answer["detail"]
    assert store.suppressions() == []


def test_topic_outside_the_allow_list(client: Client, store: Store, key: rsa.RSAPrivateKey) -> None:
    # Correctly signed by SNS, but for a stranger's topic: never applied.
    envelope = signed(key, fields={"TopicArn": "arn:aws:sns:eu-west-1:123456789012:other"})
    status, answer = post(client, envelope)
    assert status == 403
    assert "not on the allow-list" in answer["detail"]
    assert store.suppressions() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (json.dumps(sample("S1")), 403),  # raw SES JSON: HTTPS deliveries always have envelopes
        ("not json", 400),
        ("[" * 100_000, 400),
        (json.dumps({"Type": "Notification", "TopicArn": TOPIC, "Message": "[" * 100_000}), 400),
        ('{"Type": "Notification", "MessageId": "\\ud800", "Message": "{}"}', 400),
    ],
    ids=["raw", "not-json", "deep", "deep-message", "surrogate"],
)
def test_bad_bodies(client: Client, body: str, status: int) -> None:
    response = client.post("/", data=body)
    assert response.status_code == status


@pytest.mark.parametrize(
    ("headers", "data", "status"),
    [
        ({}, b"", 411),
        ({"Content-Length": "nope"}, b"", 411),
        ({"Content-Length": str(1024 * 1024)}, b"x" * (1024 * 1024), 413),
    ],
)
def test_empty_and_oversized_bodies(
    client: Client, headers: dict[str, str], data: bytes, status: int
) -> None:
    assert client.post("/", data=data, headers=headers).status_code == status


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
    assert post(client, signed(key, fields=evil))[0] == 403
    sneaky = {**confirmation, "SubscribeURL": "https://x\\@sns.eu-west-1.amazonaws.com/"}
    assert post(client, signed(key, fields=sneaky))[0] == 403
    assert confirmed == [url]


def test_without_signatures_only_the_sandbox_confirmation_url_is_fetched(
    store: Store, key: rsa.RSAPrivateKey
) -> None:
    """Signatures off is the offline sandbox: its SubscribeURL is its own endpoint. Anyone
    can post an unsigned message, so nothing else on any host is fetched: only the
    confirmation of this subscription, on the sandbox's endpoint."""
    fetched: list[str] = []
    app = make_app(
        store,
        verifier=None,
        allowed_topics=[TOPIC],
        confirm=fetched.append,
        sandbox_url="http://127.0.0.1:4566",
    )
    query = f"Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t"
    sandbox_url = f"http://127.0.0.1:4566/?{query}"
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "TopicArn": TOPIC,
        "Token": "t",
        "SubscribeURL": sandbox_url,
        "Message": "You have chosen to subscribe",
    }
    assert post(Client(app), signed(key, fields=confirmation))[0] == 200
    for elsewhere in (
        "http://10.0.0.1/admin?Action=Delete",
        "file:///etc/passwd",
        f"http://169.254.169.254/latest/meta-data/?{query}",  # another host
        f"http://127.0.0.1:4567/?{query}",  # another port
        f"http://127.0.0.1:4566/admin/delete?{query}",  # another path
        f"http://127.0.0.1:4566/?{query}&id=1",  # another parameter
        f"http://127.0.0.1:4566/?{query.replace('Token=t', 'Token=u')}",  # another token
        f"http://x@127.0.0.1:4566/?{query}",  # user information
        f"https://127.0.0.1:4566/?{query}",  # another scheme
    ):
        other = {**confirmation, "SubscribeURL": elsewhere}
        assert post(Client(app), signed(key, fields=other))[0] == 403, elsewhere
    assert fetched == [sandbox_url]


def test_without_signatures_or_a_sandbox_only_sns_urls_are_fetched(
    store: Store, key: rsa.RSAPrivateKey
) -> None:
    fetched: list[str] = []
    app = make_app(store, verifier=None, allowed_topics=[TOPIC], confirm=fetched.append)
    sns_url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "TopicArn": TOPIC,
        "Token": "t",
        "SubscribeURL": f"http://127.0.0.1:4566/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t",
        "Message": "You have chosen to subscribe",
    }
    assert post(Client(app), signed(key, fields=confirmation))[0] == 403
    assert (
        post(Client(app), signed(key, fields={**confirmation, "SubscribeURL": sns_url}))[0] == 200
    )
    assert fetched == [sns_url]


def test_stranger_topics_are_never_confirmed(
    client: Client, key: rsa.RSAPrivateKey, confirmed: list[str]
) -> None:
    stranger = {
        "Type": "SubscriptionConfirmation",
        "TopicArn": "arn:aws:sns:eu-west-1:999999999999:someone-elses",
        "Token": "t",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "Message": "You have chosen to subscribe",
    }
    status, answer = post(client, signed(key, fields=stranger))
    assert status == 403
    assert "not on the allow-list" in answer["detail"]
    assert confirmed == []


@pytest.mark.parametrize("topics", [None, [], [""]])
def test_an_allow_list_is_required(store: Store, topics: list[str] | None) -> None:
    with pytest.raises(ConfigurationError, match="allow-topic"):
        make_app(store, verifier=None, allowed_topics=topics)


def test_failed_confirmation_is_a_clear_502(store: Store, key: rsa.RSAPrivateKey) -> None:
    def unreachable(url: str) -> None:
        raise ConfirmationFailed("connection refused")

    app = make_app(store, verifier=None, allowed_topics=[TOPIC], confirm=unreachable)
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "TopicArn": TOPIC,
        "Token": "t",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "Message": "You have chosen to subscribe",
    }
    status, answer = post(Client(app), signed(key, fields=confirmation))
    assert status == 502
    assert "connection refused" in answer["detail"]


def test_database_outage_is_503(key: rsa.RSAPrivateKey, certificate: bytes) -> None:
    down = Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", migrate=False)
    app = make_app(
        down, verifier=SignatureVerifier(fetch=Fetcher(certificate)), allowed_topics=[TOPIC]
    )
    response = Client(app).post("/", data=json.dumps(signed(key)))
    assert response.status_code == 503
    down.close()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_envelopes = st.fixed_dictionaries(
    {"Type": st.sampled_from(["Notification", "SubscriptionConfirmation", "Other"])},
    optional={
        "TopicArn": st.sampled_from([TOPIC, "arn:aws:sns:x:1:y"]) | st.text(),
        "MessageId": st.text(),
        "Message": st.text() | _json_values.map(json.dumps),
        "SignatureVersion": st.sampled_from(["1", "2", "3"]),
        "Signature": st.text(),
        "SigningCertURL": st.text() | st.just("https://sns.eu-west-1.amazonaws.com/a.pem"),
        "SubscribeURL": st.text(),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=300)
    | _json_values.map(json.dumps).map(str.encode)
    | _envelopes.map(json.dumps).map(str.encode)
)
def test_no_body_gets_a_500(body: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    store = _fuzz_store(tmp_path_factory)
    receiver = SnsReceiver(
        store,
        allowed_topics=[TOPIC],
        verifier=SignatureVerifier(fetch=lambda url: b"not a certificate"),
        confirm=lambda url: None,
    )
    answer = receiver.receive(body)
    assert answer.status in (200, 400, 403), answer


_STORES: dict[str, Store] = {}


def _fuzz_store(factory: pytest.TempPathFactory) -> Store:
    if "fuzz" not in _STORES:
        _STORES["fuzz"] = Store(f"sqlite:///{factory.mktemp('fuzz')}/fuzz.db")
    return _STORES["fuzz"]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` behind courrier's own server (waitress), on a free port."""
    server = create_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/"
    finally:
        server.close()
        thread.join(10)


def test_sandbox_sns_posts_feedback_to_the_receiver(sandbox: SandboxClient, store: Store) -> None:
    pipeline = sandbox.pipeline()
    app = make_app(
        store, verifier=None, allowed_topics=[pipeline.topic_arn], sandbox_url=sandbox.url
    )
    with serving(app) as url:
        arn = sandbox.sns.subscribe(
            TopicArn=pipeline.topic_arn,
            Protocol="http",
            Endpoint=url,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        # The receiver confirms through the sandbox's SubscribeURL; SNS delivers only then.
        wait_until(lambda: _confirmed(sandbox, arn), what="the subscription confirmed")
        _send_complaint(sandbox, pipeline)
        # SNS posts to HTTP endpoints off the publishing call.
        suppressions = wait_until(store.suppressions, what="the complaint applied")
    assert {s.address: s.reason for s in suppressions} == {
        "complaint@simulator.amazonses.com": "complaint"
    }


def _confirmed(sandbox: SandboxClient, arn: str) -> bool:
    attributes = sandbox.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    return bool(attributes["PendingConfirmation"] == "false")


def _send_complaint(sandbox: SandboxClient, pipeline: Pipeline) -> None:
    notifications_route(sandbox, pipeline)
    sandbox.ses.send_email(
        Source=SENDER,
        Destination={"ToAddresses": ["complaint@simulator.amazonses.com"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    )
    sandbox.drain()


def test_slow_clients_hold_no_thread(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    """300 uploads that stall after their headers: threads stay bounded, others are served."""
    store = Store(f"sqlite:///{tmp_path}/slow.db")
    app = make_app(store, verifier=None, allowed_topics=[TOPIC])
    threads_before = threading.active_count()
    stalled: list[socket.socket] = []
    with serving(app) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        for _ in range(300):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab")
            stalled.append(conn)
        time.sleep(0.5)
        # waitress's 4 workers and its event loop, whatever the number of slow clients.
        assert threading.active_count() <= threads_before + 6
        request = urllib.request.Request(url, data=json.dumps(signed(key)).encode())
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["detail"] == "1 event(s) applied, 0 duplicate(s)"
    for conn in stalled:
        conn.close()
    assert [s.address for s in store.suppressions()] == ["gone@example.net"]
    store.close()


def _receive(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "courrier", "receive", "--port", str(free_port()), *args],
        env={**os.environ, "COURRIER_DATABASE_URL": f"sqlite:///{tmp_path}/r.db", **env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_receive_refuses_to_start_without_an_allow_list(tmp_path: Path) -> None:
    proc = _receive(tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "--allow-topic" in err
    assert "Traceback" not in err


def test_receive_takes_the_topic_from_the_settings(tmp_path: Path) -> None:
    proc = _receive(tmp_path, COURRIER_TOPIC_ARN=TOPIC)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert f"for {TOPIC}" in line
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0
