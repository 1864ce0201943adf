"""The Mailer against the sandbox: what SES received, every error, suppression, pacing."""

from __future__ import annotations

import base64
import contextlib
import email.header
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.errors import (
    AwsUnreachable,
    ConfigurationSetMissing,
    DailyQuotaExceeded,
    IdentityNotVerified,
    MessageRejected,
    MessageTooLarge,
    OutcomeUnknown,
    SendingPaused,
    StoreError,
    Throttled,
)
from courrier.message import Attachment, Message
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.store import Store
from tests.conftest import SandboxClient, free_port
from tests.fakes import Sleeps
from tests.sandbox.helpers import events_route

SENDER = "sender@example.com"
SUCCESS = "success@simulator.amazonses.com"
BOUNCE = "bounce@simulator.amazonses.com"


@pytest.fixture
def ses(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> SesClient:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    return SesClient(AwsConfig(read_timeout=10))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def mailer(store: Store, ses: SesClient, sleeps: Sleeps) -> Mailer:
    settings = Settings(send_attempts=3, backoff_base=0.01, backoff_cap=0.05)
    return Mailer(store, ses, settings=settings, pacer=Pacer(1000), sleep=sleeps)


def received(sandbox: SandboxClient, recipient: str) -> Any:
    """The raw message SES delivered to ``recipient``, parsed back."""
    sandbox.drain()
    [summary] = sandbox.control("GET", f"/mailbox?recipient={recipient}")["messages"]
    letter = sandbox.control("GET", f"/mailbox/{summary['id']}")
    return BytesParser(policy=email.policy.default).parsebytes(base64.b64decode(letter["raw"]))


def test_sent_message_arrives_as_built(
    sandbox: SandboxClient, mailer: Mailer, store: Store
) -> None:
    sandbox.ses.verify_domain_identity(Domain="xn--mnchen-3ya.example")
    sandbox.ses.verify_domain_identity(Domain="xn--bcher-kva.example")
    message = Message(
        sender=('Zoë Ünïcødé, "the boss"', "zoe@bücher.example"),
        to=[("Jörg Müller", "joerg@münchen.example")],
        cc=["plain@münchen.example"],
        subject="Grüße aus Köln",
        text="Hallo Jörg",
        html='<p>Hallo <img src="cid:logo"></p>',
        attachments=[
            Attachment("logo.png", b"\x89PNG", "image/png", "logo"),
            Attachment("notes.txt", "naïve".encode(), "text/plain"),
        ],
        headers={"X-Campaign": "spring"},
    )
    result = mailer.send(message)
    assert result.sent
    assert result.ses_message_id
    parsed = received(sandbox, "joerg@xn--mnchen-3ya.example")
    from_value = str(
        BytesParser(policy=email.policy.compat32).parsebytes(parsed.as_bytes())["From"]
    )
    assert "xn--bcher-kva.example" in from_value
    name = email.utils.parseaddr(from_value.replace("\r\n", "").replace("\n", ""))[0]
    assert str(email.header.make_header(email.header.decode_header(name))) == (
        'Zoë Ünïcødé, "the boss"'
    )
    assert parsed["To"].addresses[0].addr_spec == "joerg@xn--mnchen-3ya.example"
    assert str(parsed["Subject"]) == "Grüße aus Köln"
    assert parsed["X-Campaign"] == "spring"
    names = [part.get_filename() for part in parsed.walk() if part.get_filename()]
    assert names == ["logo.png", "notes.txt"]
    # The Cc recipient got the same message.
    assert received(sandbox, "plain@xn--mnchen-3ya.example")["Message-ID"] == parsed["Message-ID"]
    record = store.message(result.id)
    assert record is not None
    assert (record.status, record.ses_message_id) == ("sent", result.ses_message_id)
    assert [(r.address, r.kind, r.status) for r in record.recipients] == [
        ("joerg@xn--mnchen-3ya.example", "to", "sent"),
        ("plain@xn--mnchen-3ya.example", "cc", "sent"),
    ]


def test_tags_and_configuration_set_reach_ses(sandbox: SandboxClient, mailer: Mailer) -> None:
    pipeline = sandbox.pipeline()
    events_route(sandbox, pipeline)
    sandbox.feedback(pipeline.queue_url)
    result = mailer.send(
        Message(
            sender=SENDER,
            to=[SUCCESS],
            text="x",
            subject="s",
            tags={"campaign": "may"},
            configuration_set="feedback-set",
        )
    )
    events = sandbox.feedback(pipeline.queue_url)
    assert {e["mail"]["messageId"] for e in events} == {result.ses_message_id}
    assert events[0]["mail"]["tags"]["campaign"] == ["may"]


def test_suppressed_recipient_is_never_sent_to(
    sandbox: SandboxClient, mailer: Mailer, store: Store
) -> None:
    pipeline = sandbox.pipeline()
    events_route(sandbox, pipeline)
    sandbox.feedback(pipeline.queue_url)
    store.suppress(BOUNCE, reason="bounce", source="feedback")
    result = mailer.send(
        Message(sender=SENDER, to=[SUCCESS, BOUNCE], text="x", configuration_set="feedback-set")
    )
    assert [(r.address, r.status) for r in result.recipients] == [
        (SUCCESS, "sent"),
        (BOUNCE, "suppressed"),
    ]
    events = sandbox.feedback(pipeline.queue_url)
    destinations = {tuple(e["mail"]["destination"]) for e in events}
    assert destinations == {(SUCCESS,)}
    headers = {h["name"]: h["value"] for h in events[0]["mail"]["headers"]}
    assert BOUNCE not in headers["To"]


def test_all_suppressed_sends_nothing(sandbox: SandboxClient, mailer: Mailer, store: Store) -> None:
    sandbox.ses.verify_email_identity(EmailAddress="friend@example.net")
    store.suppress("friend@example.net", reason="complaint", source="feedback")
    result = mailer.send(Message(sender=SENDER, to=["FRIEND@example.net"], text="x"))
    assert (result.status, result.ses_message_id, result.sent) == ("suppressed", None, False)
    record = store.message(result.id)
    assert record is not None
    assert record.status == "suppressed"
    sandbox.drain()
    assert sandbox.ses.get_send_quota()["SentLast24Hours"] == 0.0
    assert sandbox.control("GET", "/mailbox?recipient=friend@example.net")["messages"] == []


def test_expired_suppression_no_longer_applies(mailer: Mailer, store: Store) -> None:
    import datetime as dt

    store.suppress(
        BOUNCE,
        reason="bounce",
        source="feedback",
        expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
    )
    assert mailer.send(Message(sender=SENDER, to=[BOUNCE], text="x")).sent


def test_throttling_is_retried_with_backoff(
    sandbox: SandboxClient, mailer: Mailer, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A one-message bucket: SES throttles the second send at once, as at a sustained rate.
    sandbox.set_account(max_send_rate=1.0, max_send_burst=1.0)
    mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x"))
    # The fake sleep returns at once, so wait for real between tries here.
    real_sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        real_sleeps.append(seconds)
        time.sleep(0.6)

    mailer._sleep = sleep
    assert mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x")).sent
    assert 1 <= len(real_sleeps) <= 2
    assert all(0 <= s <= 0.05 for s in real_sleeps)


def test_throttling_gives_up_after_the_attempts(
    sandbox: SandboxClient, mailer: Mailer, sleeps: Sleeps, store: Store
) -> None:
    sandbox.set_account(max_send_rate=1.0, max_send_burst=1.0)
    mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x"))
    with pytest.raises(Throttled) as caught:
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x"))
    assert caught.value.code == "TooManyRequestsException"
    assert caught.value.status == 429
    assert len(sleeps) == 2  # three attempts in all
    assert "Maximum sending rate exceeded." in caught.value.aws_message


@pytest.mark.parametrize(
    ("arrange", "error", "code"),
    [
        (
            lambda s: s.set_account(max_24_hour_send=0.0),
            DailyQuotaExceeded,
            "TooManyRequestsException",
        ),
        (
            lambda s: s.sesv2.put_account_sending_attributes(SendingEnabled=False),
            SendingPaused,
            "SendingPausedException",
        ),
        (lambda s: s.ses.delete_identity(Identity=SENDER), IdentityNotVerified, "MessageRejected"),
    ],
    ids=["daily-quota", "paused", "unverified"],
)
def test_refusals_are_typed_recorded_and_not_retried(
    sandbox: SandboxClient,
    mailer: Mailer,
    sleeps: Sleeps,
    store: Store,
    arrange: Any,
    error: type[Exception],
    code: str,
) -> None:
    sandbox.ses.verify_email_identity(EmailAddress="friend@example.net")
    arrange(sandbox)
    with pytest.raises(error) as caught:
        mailer.send(Message(sender=SENDER, to=["friend@example.net"], text="x"))
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert sleeps == []
    [record_id] = [r for r in range(1, 5) if store.message(r) is not None]
    record = store.message(record_id)
    assert record is not None
    assert record.status == "failed"
    assert record.error is not None
    assert code in record.error


def test_unverified_recipient_in_the_ses_sandbox(mailer: Mailer) -> None:
    with pytest.raises(IdentityNotVerified, match="every recipient"):
        mailer.send(Message(sender=SENDER, to=["stranger@example.net"], text="x"))


def test_missing_configuration_set(mailer: Mailer) -> None:
    with pytest.raises(ConfigurationSetMissing, match="does not exist"):
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x", configuration_set="nope"))


def test_paused_configuration_set(sandbox: SandboxClient, mailer: Mailer) -> None:
    sandbox.sesv2.create_configuration_set(
        ConfigurationSetName="paused", SendingOptions={"SendingEnabled": False}
    )
    with pytest.raises(SendingPaused):
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x", configuration_set="paused"))


def test_other_rejections_are_message_rejected(ses: SesClient) -> None:
    # Past the Message checks, straight at the adapter: SES's own 50-recipient rule.
    with pytest.raises(MessageRejected, match="Recipient count exceeds 50"):
        ses.send_raw(
            b"Subject: x\r\n\r\nx",
            sender=SENDER,
            destinations=[SUCCESS] * 51,
            configuration_set=None,
            tags={},
            feedback_address=None,
        )


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[bytes]]]:
    """A server that reads requests and never answers: the response is lost."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    requests: list[bytes] = []
    stop = threading.Event()
    connections: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            conn.settimeout(2)
            with contextlib.suppress(TimeoutError):
                requests.append(conn.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests
    stop.set()
    thread.join()
    for conn in connections:
        conn.close()
    listener.close()


def test_lost_answer_is_unknown_and_never_resent(
    silent_server: tuple[str, list[bytes]],
    store: Store,
    sleeps: Sleeps,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, requests = silent_server
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    mailer = Mailer(
        store,
        SesClient(AwsConfig(read_timeout=0.5)),
        settings=Settings(send_attempts=5),
        pacer=Pacer(1000),
        sleep=sleeps,
    )
    with pytest.raises(OutcomeUnknown, match="may have been sent"):
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x"))
    assert len(requests) == 1
    assert sleeps == []
    record = store.message(1)
    assert record is not None
    assert record.status == "unknown"
    assert [r.status for r in record.recipients] == ["unknown"]


def test_unreachable_endpoint_is_retried_then_raised(
    store: Store, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    mailer = Mailer(
        store,
        SesClient(AwsConfig(connect_timeout=1)),
        settings=Settings(send_attempts=3, backoff_base=0.01),
        pacer=Pacer(1000),
        sleep=sleeps,
    )
    with pytest.raises(AwsUnreachable):
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x"))
    assert len(sleeps) == 2
    record = store.message(1)
    assert record is not None
    assert record.status == "failed"


def test_threads_share_the_account_rate(
    sandbox: SandboxClient, ses: SesClient, store: Store
) -> None:
    """Four threads, ten messages, rate 4/s: paced, never throttled."""
    sandbox.set_account(max_send_rate=4.0)
    pacer = Pacer(ses.quota().max_send_rate)
    assert pacer.rate == 4.0
    settings = Settings(send_attempts=1)
    errors: list[Exception] = []
    results = []

    def work(count: int) -> None:
        mailer = Mailer(store, SesClient(AwsConfig()), settings=settings, pacer=pacer)
        for _ in range(count):
            try:
                results.append(mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x")))
            except Exception as err:  # collected and asserted below
                errors.append(err)

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(n,)) for n in (3, 3, 2, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 10
    assert time.monotonic() - started >= 2.0  # 10 recipients at 4/s need two full windows


class StoreThatFailsAfterSending(Store):
    """Stands for a database that goes away between the send and its record."""

    def finish_send(self, message_id: int, **kwargs: Any) -> None:
        if kwargs.get("status") == "sent":
            raise StoreError("connection lost")
        super().finish_send(message_id, **kwargs)


def test_recording_failure_after_the_send_names_the_ses_id(ses: SesClient, tmp_path: Path) -> None:
    store = StoreThatFailsAfterSending(f"sqlite:///{tmp_path}/fails.db")
    mailer = Mailer(store, ses, pacer=Pacer(1000))
    with pytest.raises(StoreError, match=r"message 1 was sent as 0100\w+") as caught:
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x"))
    assert "connection lost" in str(caught.value)
    store.close()


def test_a_message_that_cannot_be_rendered_leaves_no_record(
    mailer: Mailer, store: Store, sandbox: SandboxClient
) -> None:
    """The size limit is found while rendering: before anything is recorded or sent."""
    big = Attachment("big.bin", bytes(31 * 1024 * 1024), "application/octet-stream")
    with pytest.raises(MessageTooLarge):
        mailer.send(Message(sender=SENDER, to=[SUCCESS], text="x", attachments=[big]))
    assert store.message(1) is None
    sandbox.drain()
    assert sandbox.control("GET", "/mailbox")["messages"] == []


class InterruptingPacer(Pacer):
    """A pacer whose wait is interrupted (Ctrl-C while waiting for the rate)."""

    def acquire(self, recipients: int) -> float:
        raise KeyboardInterrupt


class InterruptedSes(SesClient):
    """SES whose call is interrupted after the request went out."""

    def send_raw(self, raw: bytes, **kwargs: Any) -> str:
        super().send_raw(raw, **kwargs)
        raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("interrupted", "status"),
    [("pacing", "failed"), ("during the call", "unknown")],
)
def test_every_way_out_leaves_a_final_status(
    ses: SesClient, store: Store, interrupted: str, status: str
) -> None:
    if interrupted == "pacing":
        mailer = Mailer(store, ses, pacer=InterruptingPacer(1000))
    else:
        mailer = Mailer(store, InterruptedSes(AwsConfig(read_timeout=10)), pacer=Pacer(1000))
    with pytest.raises(KeyboardInterrupt):
        mailer.send(Message(sender=SENDER, to=[SUCCESS, BOUNCE], text="x"))
    record = store.message(1)
    assert record is not None
    assert record.status == status
    assert [r.status for r in record.recipients] == [status, status]
    assert record.error == "KeyboardInterrupt: "
