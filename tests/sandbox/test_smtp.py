"""SES's SMTP interface of the sandbox: TLS first, SES's logins and answers, the one send path."""

from __future__ import annotations

import email.policy
import re
import smtplib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courrier.aws.smtp import smtp_password as courrier_smtp_password
from courrier_sandbox import Sandbox, SandboxError
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.smtp import SmtpInterface, SmtpOptions, smtp_password
from courrier_sandbox.smtp.credentials import SmtpKeys, default_keys
from courrier_sandbox.smtp.server import answer_for
from tests.cli.test_smtp_credentials import REGIONS, botocore_password
from tests.conftest import REGION, SENDER, SandboxClient
from tests.sandbox.helpers import (
    CONFIG_SET,
    delivered_copy,
    events_route,
    notifications_route,
)

KEY_ID = "AKIASANDBOXSMTP"
SECRET = "smtp/secret+key"
PASSWORD = smtp_password(SECRET, REGION)
RECIPIENT = "rcpt@example.com"
#: SES's message ids, as the sandbox makes them (docs/ses.md#message-ids).
MESSAGE_ID = re.compile(r"[0-9a-f]{16}-[0-9a-f-]{36}-000000")


@pytest.fixture(scope="module")
def smtp(sandbox_server: Sandbox) -> Iterator[SmtpInterface]:
    """The SMTP interface of the session's sandbox, on two free ports, knowing one key."""
    interface = SmtpInterface(
        sandbox_server.app.ses,
        SmtpOptions(port=0, tls_port=0, keys={KEY_ID: SECRET}),
        host="127.0.0.1",
        endpoint=sandbox_server.url,
    )
    interface.start()
    yield interface
    interface.stop()


def message(to: list[str], subject: str = "Hello by SMTP", sender: str = SENDER) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Message-ID"] = "<original-id@app.example.com>"
    mail.set_content("Body text")
    return mail


def starttls(smtp: SmtpInterface) -> smtplib.SMTP:
    """A session on the STARTTLS port, encrypted and logged in."""
    assert smtp.port is not None
    client = smtplib.SMTP("127.0.0.1", smtp.port, timeout=30)
    client.starttls()
    client.login(KEY_ID, PASSWORD)
    return client


def send(client: smtplib.SMTP, mail: EmailMessage, to: list[str]) -> tuple[int, str]:
    """MAIL, RCPT and DATA one by one: SES's answer to the message itself."""
    code, answer = client.mail(str(mail["From"]))
    assert code == 250, answer
    for address in to:
        code, answer = client.rcpt(address)
        assert code == 250, answer
    # SMTP lines end with CRLF; smtplib fixes line ends of text only, not of bytes.
    code, answer = client.data(mail.as_bytes(policy=email.policy.SMTP))
    return code, answer.decode()


def ready(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.ses.verify_email_identity(EmailAddress=RECIPIENT)


# ---------------------------------------------------------------------------- sending


def test_a_message_sent_with_starttls_is_answered_250_ok_and_delivered(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    ready(sandbox)
    with starttls(smtp) as client:
        code, answer = send(client, message([RECIPIENT]), [RECIPIENT])
    assert code == 250
    found = re.fullmatch(r"Ok (\S+)", answer)
    assert found is not None, answer
    message_id = found.group(1)
    assert MESSAGE_ID.fullmatch(message_id)
    sandbox.drain()
    letters = sandbox.controls.mailbox(RECIPIENT)
    assert [(letter.ses_message_id, letter.subject) for letter in letters] == [
        (message_id, "Hello by SMTP")
    ]
    kinds = [event["kind"] for event in sandbox.controls.events(message_id=message_id)]
    assert kinds == ["Send", "Delivery"]
    points = sandbox.ses.get_send_statistics()["SendDataPoints"]
    assert sum(point["DeliveryAttempts"] for point in points) == 1


def test_a_message_sent_with_implicit_tls_is_delivered(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    ready(sandbox)
    assert smtp.tls_port is not None
    with smtplib.SMTP_SSL("127.0.0.1", smtp.tls_port, timeout=30) as client:
        client.login(KEY_ID, PASSWORD)
        refused = client.sendmail(SENDER, [RECIPIENT], message([RECIPIENT]).as_string())
    assert refused == {}
    sandbox.drain()
    assert [letter.subject for letter in sandbox.controls.mailbox(RECIPIENT)] == ["Hello by SMTP"]


def test_auth_plain_and_login_are_both_accepted(smtp: SmtpInterface) -> None:
    for mechanism in ("PLAIN", "LOGIN"):
        with starttls_only(smtp) as client:
            client.user, client.password = KEY_ID, PASSWORD
            authenticator = getattr(client, f"auth_{mechanism.lower()}")
            code, answer = client.auth(mechanism, authenticator)
        assert (code, answer) == (235, b"Authentication successful.")


def test_the_envelope_sender_and_recipients_are_what_ses_checks_and_sends_to(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    """Bcc recipients are in the envelope only, as with SendRawEmail's Destinations."""
    ready(sandbox)
    hidden = "success@simulator.amazonses.com"
    with starttls(smtp) as client:
        code, answer = send(client, message([RECIPIENT]), [RECIPIENT, hidden])
    assert code == 250, answer
    message_id = answer.split()[1]
    sandbox.drain()  # events are recorded after the answer, as SES publishes them
    sent = sandbox.controls.events(kind="Send", message_id=message_id)
    assert sent[0]["destinations"] == [RECIPIENT, hidden]
    assert sent[0]["source"] == SENDER


# ---------------------------------------------------------------------------- refusals


def test_auth_before_tls_is_refused_with_530(smtp: SmtpInterface) -> None:
    assert smtp.port is not None
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=30) as client:
        client.ehlo()
        assert not client.has_extn("auth"), "AUTH is offered only once the session is encrypted"
        login = smtplib.SMTP.auth_plain(_with_credentials(client))
        code, answer = client.docmd("AUTH", f"PLAIN {_b64(login)}")
        assert (code, answer) == (530, b"Must issue a STARTTLS command first")
        code, answer = client.docmd("MAIL", f"FROM:<{SENDER}>")
        assert code == 530


def test_mail_before_auth_is_refused_with_530(smtp: SmtpInterface) -> None:
    with starttls_only(smtp) as client:
        code, answer = client.mail(SENDER)
    assert (code, answer) == (530, b"Authentication required")


@pytest.mark.parametrize(
    ("username", "password"),
    [
        (KEY_ID, "not-the-password"),
        (KEY_ID, smtp_password("another secret", REGION)),
        ("AKIAUNKNOWN", PASSWORD),
        (KEY_ID, SECRET),  # the secret itself is not the SMTP password
    ],
)
def test_bad_credentials_are_refused_with_535(
    smtp: SmtpInterface, username: str, password: str
) -> None:
    with starttls_only(smtp) as client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login(username, password)
    assert (refused.value.smtp_code, refused.value.smtp_error) == (
        535,
        b"Authentication Credentials Invalid",
    )


def test_an_unverified_sender_is_refused_with_554_in_the_ses_sandbox(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    with starttls(smtp) as client:
        code, answer = send(client, message([RECIPIENT]), [RECIPIENT])
    assert code == 554
    assert answer == (
        "Message rejected: Email address is not verified. The following identities failed "
        f"the check in region US-EAST-1: {SENDER}, {RECIPIENT}"
    )
    sandbox.drain()
    assert sandbox.controls.events() == []


def test_an_unverified_from_header_is_refused_with_554(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    """The envelope sender is verified, the From header is not (troubleshoot-smtp.html)."""
    ready(sandbox)
    with starttls(smtp) as client:
        code, answer = client.mail(SENDER)
        assert code == 250, answer
        code, answer = client.rcpt(RECIPIENT)
        assert code == 250, answer
        mail = message([RECIPIENT], sender="Someone <someone@elsewhere.example>")
        code, answer = client.data(mail.as_bytes(policy=email.policy.SMTP))
    assert (code, answer.decode()) == (
        554,
        "Message rejected: Email address is not verified. The following identities failed "
        "the check in region US-EAST-1: someone@elsewhere.example",
    )


def test_a_repeated_content_type_is_refused_with_554(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    """header-fields.html: Content-Type may appear once."""
    ready(sandbox)
    raw = b"Content-Type: text/html\r\n" + message([RECIPIENT]).as_bytes(policy=email.policy.SMTP)
    with starttls(smtp) as client:
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt(RECIPIENT)[0] == 250
        code, answer = client.data(raw)
    assert (code, answer) == (554, b"Transaction failed: Duplicate header 'Content-Type'.")


def test_the_password_of_another_region_sends_in_that_region(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    """Identities are per region: verified in us-east-1 only, refused in eu-west-1."""
    ready(sandbox)
    assert smtp.port is not None
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=30) as client:
        client.starttls()
        client.login(KEY_ID, smtp_password(SECRET, "eu-west-1"))
        code, answer = send(client, message([RECIPIENT]), [RECIPIENT])
    assert code == 554
    assert "failed the check in region EU-WEST-1" in answer


def test_a_throttled_message_is_refused_with_454(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    ready(sandbox)
    # One token, refilled in 1000 s: the second message of the session finds none.
    sandbox.set_account(max_send_rate=0.001, max_send_burst=1)
    with starttls(smtp) as client:
        first = send(client, message([RECIPIENT]), [RECIPIENT])
        second = send(client, message([RECIPIENT]), [RECIPIENT])
    assert first[0] == 250
    assert second == (454, "Throttling failure: Maximum sending rate exceeded.")
    assert sandbox.controls.throttles().throttles == 1


def test_the_daily_quota_is_refused_with_454(sandbox: SandboxClient, smtp: SmtpInterface) -> None:
    ready(sandbox)
    sandbox.set_account(max_24_hour_send=0)
    with starttls(smtp) as client:
        answer = send(client, message([RECIPIENT]), [RECIPIENT])
    assert answer == (454, "Throttling failure: Daily message quota exceeded.")


def test_a_message_over_the_size_limit_is_refused_with_552(smtp: SmtpInterface) -> None:
    """Declared in MAIL FROM (SIZE, RFC 1870) or found while reading DATA."""
    with starttls(smtp) as client:
        assert client.has_extn("size")
        assert int(client.esmtp_features["size"]) == 40 * 1024 * 1024
        code, answer = client.mail(SENDER, [f"SIZE={40 * 1024 * 1024 + 1}"])
    assert (code, answer) == (552, b"Message is too long.")


def test_data_over_the_size_limit_is_refused_with_552(
    sandbox: SandboxClient, sandbox_server: Sandbox
) -> None:
    ready(sandbox)
    small = SmtpInterface(
        sandbox_server.app.ses,
        SmtpOptions(port=0, keys={KEY_ID: SECRET}, max_bytes=2000),
        host="127.0.0.1",
        endpoint=sandbox_server.url,
    )
    small.start()
    try:
        with starttls(small) as client:
            mail = message([RECIPIENT])
            mail.set_content("\n".join(["x" * 70] * 50))
            answer = send(client, mail, [RECIPIENT])
    finally:
        small.stop()
    assert answer == (552, "Message is too long.")
    sandbox.drain()
    assert sandbox.controls.events() == []


@pytest.mark.parametrize(
    ("fault", "answer"),
    [
        (SesFault("AccountPaused", "Sending paused for this account."), "554 Transaction failed:"),
        (SesFault("MessageRejected", "Message length is more than 1 bytes"), "552 "),
        (SesFault("InvalidParameter", "Missing final '@domain'"), "554 Transaction failed:"),
    ],
)
def test_other_refusals_keep_the_api_message(fault: SesFault, answer: str) -> None:
    assert answer_for(fault).startswith(answer)


@pytest.mark.parametrize("address", ["garbage", "nobody@", "@example.com"])
def test_an_unusable_envelope_sender_is_refused_with_553(smtp: SmtpInterface, address: str) -> None:
    """troubleshoot-smtp.html: 553 at MAIL FROM, before any DATA."""
    with starttls(smtp) as client:
        code, answer = client.docmd("MAIL", f"FROM:<{address}>")
    assert (code, answer.decode()) == (553, f"<{address}> Invalid email address")


@pytest.mark.parametrize("address", ["nobody", "notanaddress", "nobody@"])
def test_an_unusable_recipient_is_refused_with_553(
    sandbox: SandboxClient, smtp: SmtpInterface, address: str
) -> None:
    ready(sandbox)
    with starttls(smtp) as client:
        assert client.mail(SENDER)[0] == 250
        code, answer = client.rcpt(address)
        assert (code, answer.decode()) == (553, f"<{address}> address unknown")
        # The session goes on: a good recipient is still taken.
        assert client.rcpt(RECIPIENT)[0] == 250


# ---------------------------------------------------------------------------- same feedback


def test_smtp_and_boto3_sends_produce_the_same_feedback(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    """The same message to the simulator, once by SendRawEmail and once by SMTP: the same
    notifications reach the queue, with the same recipients and headers."""
    pipeline = sandbox.pipeline()
    notifications_route(sandbox, pipeline)
    to = [
        "success@simulator.amazonses.com",
        "bounce@simulator.amazonses.com",
        "complaint@simulator.amazonses.com",
    ]
    sandbox.ses.send_raw_email(
        Source=SENDER, Destinations=to, RawMessage={"Data": message(to).as_bytes()}
    )
    by_api = _summary(sandbox.feedback(pipeline.queue_url))
    with starttls(smtp) as client:
        code, answer = send(client, message(to), to)
    assert code == 250, answer
    by_smtp = _summary(sandbox.feedback(pipeline.queue_url))
    assert by_smtp == by_api
    assert sorted(kind for kind, _, _ in by_smtp) == ["Bounce", "Complaint", "Delivery"]


def test_the_configuration_set_and_tags_come_from_ses_headers(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    """SMTP has no API parameters: X-SES-CONFIGURATION-SET and X-SES-MESSAGE-TAGS name them
    (event-publishing-send-email.html), and SES tags the events with the SMTP operation."""
    pipeline = sandbox.pipeline()
    events_route(sandbox, pipeline, types=["SEND"])
    to = ["success@simulator.amazonses.com"]
    mail = message(to)
    mail["X-SES-CONFIGURATION-SET"] = CONFIG_SET
    mail["X-SES-MESSAGE-TAGS"] = "campaign=spring, team=growth"
    with starttls(smtp) as client:
        code, answer = send(client, mail, to)
    assert code == 250, answer
    [event] = sandbox.feedback(pipeline.queue_url)
    assert event["eventType"] == "Send"
    tags = event["mail"]["tags"]
    assert tags["ses:operation"] == ["SendSmtpEmail"]
    assert tags["ses:configuration-set"] == [CONFIG_SET]
    assert (tags["campaign"], tags["team"]) == (["spring"], ["growth"])


def test_ses_headers_are_removed_from_the_delivered_copy(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    """SES strips every X-SES-* header before sending (event-publishing-send-email.html)."""
    ready(sandbox)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    mail = message([RECIPIENT])
    mail["X-SES-CONFIGURATION-SET"] = CONFIG_SET
    mail["X-SES-MESSAGE-TAGS"] = "campaign=spring"
    mail["X-SES-SOURCE-ARN"] = "arn:aws:ses:us-east-1:123456789012:identity/example.com"
    with starttls(smtp) as client:
        code, answer = send(client, mail, [RECIPIENT])
    assert code == 250, answer
    copy = delivered_copy(sandbox, RECIPIENT, answer.split()[1])
    assert [name for name in copy if name.lower().startswith("x-ses-")] == []


def _summary(payloads: list[dict[str, Any]]) -> list[tuple[str, list[str], dict[str, Any]]]:
    """Each notification's type, recipients and message summary, ids and times left out."""
    found = []
    for payload in payloads:
        kind = payload["notificationType"]
        detail = payload[kind.lower()]
        recipients = (
            detail.get("recipients")
            or [r["emailAddress"] for r in detail.get("bouncedRecipients", [])]
            or [r["emailAddress"] for r in detail.get("complainedRecipients", [])]
        )
        mail = payload["mail"]
        kept = {k: mail[k] for k in ("source", "destination", "commonHeaders", "sendingAccountId")}
        found.append((kind, sorted(recipients), kept))
    return sorted(found, key=lambda item: (item[0], item[1]))


# ---------------------------------------------------------------------------- Django


DJANGO_SEND = """
import sys
import django
from django.conf import settings

settings.configure(
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST="127.0.0.1",
    EMAIL_PORT=PORT,
    EMAIL_HOST_USER=USER,
    EMAIL_HOST_PASSWORD=PASSWORD,
    EMAIL_USE_TLS=True,
    EMAIL_TIMEOUT=30,
)
django.setup()
from django.core.mail import send_mail

print(send_mail("Hello from Django", "Body", SENDER, [RECIPIENT]))
"""


def test_djangos_smtp_backend_sends_through_the_sandbox(
    sandbox: SandboxClient, smtp: SmtpInterface
) -> None:
    """Django's SMTP backend verifies the certificate (ssl.create_default_context): it
    trusts the sandbox's own through SSL_CERT_FILE."""
    ready(sandbox)
    assert smtp.tls is not None
    values = {"PORT": smtp.port, "USER": KEY_ID, "PASSWORD": PASSWORD}
    values |= {"SENDER": SENDER, "RECIPIENT": RECIPIENT}
    script = "".join(f"{name} = {value!r}\n" for name, value in values.items()) + DJANGO_SEND
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"SSL_CERT_FILE": str(smtp.tls.certificate_file), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
    sandbox.drain()
    letters = sandbox.controls.mailbox(RECIPIENT)
    assert [letter.subject for letter in letters] == ["Hello from Django"]


# ---------------------------------------------------------------------------- the server


def test_the_generated_certificate_verifies_for_loopback(smtp: SmtpInterface) -> None:
    assert smtp.tls is not None
    assert smtp.port is not None
    context = ssl.create_default_context(cafile=smtp.tls.certificate_file)
    for host in ("127.0.0.1", "localhost"):
        with smtplib.SMTP(host, smtp.port, timeout=30) as client:
            code, _ = client.starttls(context=context)
            assert code == 220


def test_a_given_certificate_is_used(sandbox_server: Sandbox, smtp: SmtpInterface) -> None:
    """--tls-cert/--tls-key: here the files of the first interface's generated pair."""
    assert smtp.tls is not None
    certificate = smtp.tls.certificate_file
    other = SmtpInterface(
        sandbox_server.app.ses,
        SmtpOptions(
            tls_port=0,
            certificate=str(certificate),
            key=str(certificate.with_name("key.pem")),
            keys={KEY_ID: SECRET},
        ),
        host="127.0.0.1",
        endpoint=sandbox_server.url,
    )
    other.start()
    try:
        assert other.tls_port is not None
        context = ssl.create_default_context(cafile=certificate)
        with smtplib.SMTP_SSL("127.0.0.1", other.tls_port, context=context, timeout=30) as c:
            assert c.login(KEY_ID, PASSWORD)[0] == 235
    finally:
        other.stop()
    assert certificate.exists(), "a given certificate is never removed"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (SmtpOptions(port=0, certificate="/nonexistent.pem", key="/nonexistent.key"), "TLS"),
        (SmtpOptions(port=0, certificate="/nonexistent.pem"), "go together"),
    ],
)
def test_an_unusable_certificate_is_a_sandbox_error(
    sandbox_server: Sandbox, options: SmtpOptions, error: str
) -> None:
    interface = SmtpInterface(
        sandbox_server.app.ses, options, host="127.0.0.1", endpoint=sandbox_server.url
    )
    with pytest.raises(SandboxError, match=error):
        interface.start()


def test_a_busy_port_is_a_sandbox_error(sandbox_server: Sandbox, smtp: SmtpInterface) -> None:
    interface = SmtpInterface(
        sandbox_server.app.ses,
        SmtpOptions(port=smtp.port),
        host="127.0.0.1",
        endpoint=sandbox_server.url,
    )
    with pytest.raises(SandboxError, match="cannot listen for SMTP"):
        interface.start()


def test_the_smtp_ports_stop_with_the_sandbox_even_with_a_session_open() -> None:
    server = Sandbox(smtp=SmtpOptions(port=0, tls_port=0, keys={KEY_ID: SECRET}))
    server.start()
    assert server.smtp is not None
    ports = [server.smtp.port, server.smtp.tls_port]
    assert ports[0] is not None
    client = smtplib.SMTP("127.0.0.1", ports[0], timeout=30)
    client.starttls()
    server.stop()
    assert not _serves_smtp(server)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    for port in ports:
        assert port is not None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


# ---------------------------------------------------------------------------- credentials


@given(
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1),
    region=st.sampled_from(REGIONS),
)
def test_the_sandbox_derives_the_password_as_aws_and_courrier_do(secret: str, region: str) -> None:
    assert smtp_password(secret, region) == botocore_password(secret, region)
    assert smtp_password(secret, region) == courrier_smtp_password(secret, region)


def test_a_login_names_its_key_and_the_region_of_its_password() -> None:
    keys = SmtpKeys({KEY_ID: SECRET}, ["eu-west-1"])
    assert keys.regions == ["eu-west-1", "us-east-1"]
    login = keys.login(KEY_ID, smtp_password(SECRET, "eu-west-1"))
    assert login is not None
    assert (login.access_key_id, login.region) == (KEY_ID, "eu-west-1")
    assert keys.login(KEY_ID, smtp_password(SECRET, "ap-south-1")) is None


def test_the_default_keys_are_testing_and_the_environments() -> None:
    assert default_keys({}) == {"testing": "testing"}
    environ = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret"}
    assert default_keys(environ) == {"testing": "testing", "AKIAENV": "env-secret"}
    assert default_keys({"AWS_ACCESS_KEY_ID": "AKIAENV"}) == {"testing": "testing"}


# ---------------------------------------------------------------------------- helpers


def starttls_only(smtp: SmtpInterface) -> smtplib.SMTP:
    """A session on the STARTTLS port, encrypted, not logged in."""
    assert smtp.port is not None
    client = smtplib.SMTP("127.0.0.1", smtp.port, timeout=30)
    client.starttls()
    client.ehlo()
    return client


def _serves_smtp(server: Sandbox) -> bool:
    return server.smtp is not None


def _with_credentials(client: smtplib.SMTP) -> smtplib.SMTP:
    client.user, client.password = KEY_ID, PASSWORD
    return client


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
