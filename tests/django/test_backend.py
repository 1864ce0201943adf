"""The email backend against the sandbox: Django's mail API in, SES out, the store updated."""

from __future__ import annotations

import base64
import email.policy
from email.mime.image import MIMEImage
from email.parser import BytesParser
from typing import Any

import pytest
from django.core import mail
from django.core.mail import BadHeaderError, EmailMessage, EmailMultiAlternatives
from pytest_django import Settings

from courrier.django import EmailBackend, SendStatus
from courrier.errors import (
    ConfigurationError,
    ConfigurationSetMissing,
    IdentityNotVerified,
    InvalidMessage,
    StoreUnavailable,
)
from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store import Store
from courrier.store.search import find_messages
from tests.conftest import SandboxClient

SIM = "simulator.amazonses.com"
FRIEND = "friend@example.net"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def letters(sandbox: SandboxClient, recipient: str) -> list[dict[str, Any]]:
    sandbox.drain()
    found = sandbox.control("GET", f"/mailbox?recipient={recipient}")["messages"]
    return [sandbox.control("GET", f"/mailbox/{letter['id']}") for letter in found]


def parsed(letter: dict[str, Any]) -> Any:
    return BytesParser(policy=email.policy.default).parsebytes(base64.b64decode(letter["raw"]))


def status(message: EmailMessage) -> SendStatus:
    found = message.courrier_status  # type: ignore[attr-defined]
    assert isinstance(found, SendStatus)
    return found


def test_send_mail_arrives_with_the_right_mime(
    project: SandboxClient, project_store: Store
) -> None:
    project.ses.verify_email_identity(EmailAddress=FRIEND)
    sent = mail.send_mail(
        "Grüße",
        "Hallo Zoë",
        None,  # DEFAULT_FROM_EMAIL
        [FRIEND, f"success@{SIM}"],
        html_message="<p>Hallo <b>Zoë</b></p>",
    )
    assert sent == 1
    [letter] = letters(project, FRIEND)
    assert (letter["text"].strip(), letter["html"].strip()) == (
        "Hallo Zoë",
        "<p>Hallo <b>Zoë</b></p>",
    )
    message = parsed(letter)
    assert message.get_content_type() == "multipart/alternative"
    assert str(message["Subject"]) == "Grüße"
    assert message["From"].addresses[0].display_name == "Zoë"
    assert str(message["To"]) == f"{FRIEND}, success@{SIM}"
    raw = base64.b64decode(letter["raw"])
    raw.decode("ascii")  # 7-bit clean: RFC 2047 headers, quoted-printable bodies
    record = project_store.message_by_ses_id(letter["ses_message_id"])
    assert record is not None
    assert {(r.address, r.status) for r in record.recipients} == {
        (FRIEND, "sent"),
        (f"success@{SIM}", "sent"),
    }


def test_every_part_of_an_email_message(project: SandboxClient) -> None:
    project.set_account(production=True)  # any recipient, as out of the SES sandbox
    message = EmailMultiAlternatives(
        "Report",
        "See the attached report.",
        "Service <sender@example.com>",
        to=["Jörg <joerg@münchen.example>"],
        cc=["cc@example.org"],
        bcc=["hidden@example.org"],
        reply_to=["help@example.com"],
        headers={"X-Campaign": "spring"},
    )
    message.attach_alternative('<p>Report <img src="cid:logo"></p>', "text/html")
    message.attach("names.csv", "nom\nZoë\n", "text/csv")
    message.attach("report.pdf", b"%PDF-1.4", "application/pdf")
    logo = MIMEImage(PNG, "png")
    logo.add_header("Content-ID", "<logo>")
    message.attach(logo)
    assert message.send() == 1
    assert status(message).status == MessageStatus.SENT
    assert status(message).message_id
    for recipient in ("joerg@xn--mnchen-3ya.example", "cc@example.org", "hidden@example.org"):
        [letter] = letters(project, recipient)
        assert letter["ses_message_id"] == status(message).message_id
    sent = parsed(letters(project, "cc@example.org")[0])
    assert "hidden@example.org" not in str(sent)  # Bcc is never in the headers
    assert (sent["Reply-To"], sent["X-Campaign"]) == ("help@example.com", "spring")
    assert "xn--mnchen-3ya.example" in sent["To"]
    alternative, csv, pdf = sent.get_payload()
    text, related = alternative.get_payload()
    html, image = related.get_payload()
    assert text.get_content().strip() == "See the attached report."
    assert "cid:logo" in html.get_content()
    assert (image["Content-ID"], image.get_content()) == ("<logo>", PNG)
    assert (csv.get_filename(), csv.get_param("charset")) == ("names.csv", "utf-8")
    assert csv.get_content() == "nom\nZoë\n"
    assert (pdf.get_filename(), pdf.get_content()) == ("report.pdf", b"%PDF-1.4")


def test_connection_reuse_and_mass_mail(project: SandboxClient, project_store: Store) -> None:
    with mail.get_connection() as connection:
        assert isinstance(connection, EmailBackend)
        first = connection.mailer
        assert first is not None
        messages = [
            EmailMessage(f"n{n}", "x", None, [f"success+{n}@{SIM}"], connection=connection)
            for n in range(3)
        ]
        assert connection.send_messages(messages) == 3
        assert connection.mailer is first  # one store and mailer for the whole connection
    assert connection.mailer is None
    # mypy keeps connection.mailer narrowed to `first` across the block's exit, which closed it.
    assert len({status(m).message_id for m in messages}) == 3  # type: ignore[unreachable]
    datatuple = [(f"m{n}", "x", None, [f"success+m{n}@{SIM}"]) for n in range(2)]
    assert mail.send_mass_mail(datatuple) == 2
    assert mail.get_connection().send_messages([]) == 0
    assert EmailMessage("nobody", "x", None, []).send() == 0
    record = project_store.message_by_ses_id(status(messages[0]).message_id or "")
    assert record is not None
    assert record.subject == "n0"


def test_tags_and_configuration_set_reach_ses(project: SandboxClient, settings: Settings) -> None:
    message = EmailMessage("s", "x", None, [f"success@{SIM}"])
    message.configuration_set = "missing"  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationSetMissing):
        message.send()
    assert status(message).status == MessageStatus.FAILED
    # get_connection(**kwargs) ranks above settings.COURRIER
    settings.COURRIER = {**settings.COURRIER, "CONFIGURATION_SET": "nope"}
    message = EmailMessage("s", "x", None, [f"success@{SIM}"])
    project.sesv2.create_configuration_set(ConfigurationSetName="exists")
    message.tags = {"campaign": "spring"}  # type: ignore[attr-defined]
    assert mail.get_connection(configuration_set="exists").send_messages([message]) == 1
    with pytest.raises(ConfigurationSetMissing, match="nope"):
        EmailMessage("s", "x", None, [f"success@{SIM}"]).send()


def test_fail_silently_swallows_operational_errors_only(
    project: SandboxClient, settings: Settings
) -> None:
    # A message keeps the connection of its first send: each try gets a new message.
    def unverified() -> EmailMessage:
        return EmailMessage("s", "x", "stranger@example.org", [f"success@{SIM}"])

    def refused() -> EmailMessage:
        return EmailMessage("s", "x", None, [f"success@{SIM}"], headers={"Message-ID": "<a@b>"})

    with pytest.raises(IdentityNotVerified):
        unverified().send()
    message = unverified()
    assert message.send(fail_silently=True) == 0
    assert isinstance(status(message).error, IdentityNotVerified)
    assert status(message).recipients == {f"success@{SIM}": RecipientStatus.FAILED}
    with pytest.raises(InvalidMessage):
        refused().send()
    message = refused()
    assert message.send(fail_silently=True) == 0
    assert isinstance(status(message).error, InvalidMessage)
    assert status(message).status == MessageStatus.FAILED
    settings.COURRIER = {"SEND_ATTEMPTS": "many"}
    with pytest.raises(
        ConfigurationError,
        match=r"settings.COURRIER\['SEND_ATTEMPTS'\]: send_attempts must be a number",
    ):
        mail.send_mail("s", "x", None, [f"success@{SIM}"], fail_silently=True)
    settings.COURRIER = {}
    with pytest.raises(ConfigurationError, match="unknown setting"):
        mail.get_connection(fail_silently=True, no_such_setting=1).send_messages(
            [EmailMessage("s", "x", None, [f"success@{SIM}"])]
        )


@pytest.mark.parametrize(
    "field",
    ["subject", "from_email", "to", "cc", "reply_to", "headers"],
)
def test_line_breaks_in_headers_are_django_bad_header_errors(
    project: SandboxClient, project_store: Store, field: str
) -> None:
    injected = "Hello\nBcc: victim@example.org"
    fields: dict[str, Any] = {
        "subject": "s",
        "body": "x",
        "from_email": None,
        "to": [f"success@{SIM}"],
    }
    if field == "headers":
        fields["headers"] = {"X-Campaign": injected}
    elif field in ("to", "cc", "reply_to"):
        fields[field] = [f"success@{SIM}", "a@example.org\r\nBcc: victim@example.org"]
    else:
        fields[field] = injected
    with pytest.raises(BadHeaderError, match="newlines") as caught:
        EmailMessage(**fields).send()
    assert isinstance(caught.value, InvalidMessage)
    message = EmailMessage(**fields)
    assert message.send(fail_silently=True) == 0
    assert isinstance(status(message).error, BadHeaderError)
    project.drain()
    assert project.control("GET", "/mailbox")["messages"] == []
    assert find_messages(project_store) == []  # refused before anything was recorded


def test_a_store_that_cannot_be_opened(project: SandboxClient, settings: Settings) -> None:
    settings.COURRIER = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing"}
    with pytest.raises(StoreUnavailable):
        mail.send_mail("s", "x", None, [f"success@{SIM}"])
    message = EmailMessage("s", "x", None, [f"success@{SIM}"])
    assert mail.get_connection(fail_silently=True).send_messages([message]) == 0
    assert isinstance(status(message).error, StoreUnavailable)
    assert status(message).status == MessageStatus.FAILED  # nothing was attempted
    assert status(message).recipients == {f"success@{SIM}": RecipientStatus.FAILED}


def test_a_suppressed_address_is_not_mailed_and_reported(
    project: SandboxClient, project_store: Store
) -> None:
    project_store.suppress(f"bounce@{SIM}", reason="bounce", source="feedback")
    message = EmailMessage("s", "x", None, [f"bounce@{SIM}"])
    assert message.send() == 0
    assert status(message).status == MessageStatus.SUPPRESSED
    assert status(message).message_id is None
    assert status(message).statuses == {RecipientStatus.SUPPRESSED}
    both = EmailMessage("s", "x", None, [f"bounce@{SIM}", f"success@{SIM}"])
    assert both.send() == 1
    assert status(both).recipients == {
        f"bounce@{SIM}": RecipientStatus.SUPPRESSED,
        f"success@{SIM}": RecipientStatus.SENT,
    }


def test_template_messages_go_through_the_backend(
    project: SandboxClient, project_store: Store
) -> None:
    project.ses.verify_email_identity(EmailAddress=FRIEND)
    project.sesv2.create_email_template(
        TemplateName="welcome", TemplateContent={"Subject": "Hi {{name}}", "Text": "Hello {{name}}"}
    )
    message = EmailMessage(from_email="sender@example.com", to=[FRIEND])
    message.template = "welcome"  # type: ignore[attr-defined]
    message.template_data = {"name": "Zoë"}  # type: ignore[attr-defined]
    assert message.send() == 1
    assert status(message).status == MessageStatus.SENT
    [letter] = letters(project, FRIEND)
    assert str(parsed(letter)["Subject"]) == "Hi Zoë"


def test_enqueued_messages_wait_for_the_outbox_runner(
    project: SandboxClient, project_store: Store
) -> None:
    from courrier.django import settings as courrier_settings
    from courrier.sending.outbox import OutboxRunner

    project.ses.verify_email_identity(EmailAddress=FRIEND)
    message = EmailMessage("Later", "x", "sender@example.com", [FRIEND])
    message.enqueue_key = "welcome-1"  # type: ignore[attr-defined]
    assert message.send() == 1
    queued = status(message)
    assert queued.status == MessageStatus.PENDING
    assert queued.recipients == {FRIEND: RecipientStatus.PENDING}
    assert queued.outbox_id is not None
    again = EmailMessage("Later", "x", "sender@example.com", [FRIEND])
    again.enqueue_key = "welcome-1"  # type: ignore[attr-defined]
    again.send()
    assert status(again).outbox_id == queued.outbox_id
    assert letters(project, FRIEND) == []
    mailer = courrier_settings.mailer(courrier_settings.load())
    assert OutboxRunner(mailer).run(until_empty=True).outcomes == {"sent": 1}
    assert len(letters(project, FRIEND)) == 1
