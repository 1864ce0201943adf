"""Django messages as courrier messages: what is carried over, and what is refused."""

from __future__ import annotations

import datetime as dt
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

from courrier.django.convert import Delivery, delivery_of, to_message
from courrier.errors import InvalidAddress, InvalidMessage
from courrier.message import Attachment, Message
from courrier.template_message import TemplateMessage

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def plain(message: EmailMessage) -> Message:
    """``to_message`` of a message without a template: a plain :class:`Message`."""
    converted = to_message(message)
    assert isinstance(converted, Message)
    return converted


def email(**changes: Any) -> EmailMultiAlternatives:
    fields: dict[str, Any] = {
        "subject": "Grüße",
        "body": "Hallo",
        "from_email": "Zoë <sender@example.com>",
        "to": ["Jörg <joerg@münchen.example>"],
    }
    return EmailMultiAlternatives(**{**fields, **changes})


def test_addresses_bodies_and_headers() -> None:
    message = email(
        cc=["cc@example.org", ""],
        bcc=["hidden@example.org"],
        reply_to=["Help <help@example.com>"],
        headers={"X-Campaign": "spring", "List-Unsubscribe": "<mailto:u@example.com>"},
        alternatives=[("<p>Hallo</p>", "text/html")],
    )
    converted = plain(message)
    assert converted.from_address.name == "Zoë"
    assert [a.email for a in converted.recipients] == [
        "joerg@xn--mnchen-3ya.example",
        "cc@example.org",
        "hidden@example.org",
    ]
    assert [a.email for a in converted.addresses("reply_to")] == ["help@example.com"]
    assert (converted.subject, converted.text, converted.html) == ("Grüße", "Hallo", "<p>Hallo</p>")
    assert converted.headers == {
        "X-Campaign": "spring",
        "List-Unsubscribe": "<mailto:u@example.com>",
    }


def test_html_body_and_header_overrides() -> None:
    message = EmailMessage(
        "s",
        "<b>x</b>",
        "sender@example.com",
        ["a@example.org"],
        headers={"from": "Service <service@example.com>", "Reply-To": "a@x.example, b@x.example"},
    )
    message.content_subtype = "html"
    converted = plain(message)
    assert (converted.text, converted.html) == (None, "<b>x</b>")
    assert converted.from_address.email == "service@example.com"
    assert [a.email for a in converted.addresses("reply_to")] == ["a@x.example", "b@x.example"]
    assert converted.headers == {}


def test_attachments_tuples_and_mime_parts() -> None:
    message = email(alternatives=[('<img src="cid:logo">', "text/html")])
    message.attach("names.csv", "nom\nZoë\n", "text/csv")
    message.attach("plain.txt", b"ascii only", "text/plain")
    message.attach("report.pdf", b"%PDF-1.4", None)
    logo = MIMEImage(PNG, "png")
    logo.add_header("Content-ID", "<logo>")
    message.attach(logo)
    sheet = MIMEApplication(b"PK\x03\x04", "zip")
    sheet.add_header("Content-Disposition", "attachment", filename="sheet.zip")
    message.attach(sheet)
    latin = MIMEText("café", "plain", "iso-8859-1")
    latin.add_header("Content-Disposition", "attachment", filename="latin.txt")
    message.attach(latin)
    assert plain(message).attachments == (
        Attachment("names.csv", "nom\nZoë\n".encode(), "text/csv", None, "utf-8"),
        Attachment("plain.txt", b"ascii only", "text/plain", None, "utf-8"),
        Attachment("report.pdf", b"%PDF-1.4", "application/pdf"),
        Attachment("", PNG, "image/png", "logo"),
        Attachment("sheet.zip", b"PK\x03\x04", "application/zip"),
        Attachment("latin.txt", "café".encode("iso-8859-1"), "text/plain", None, "iso-8859-1"),
    )


def test_courrier_attributes() -> None:
    message = email()
    message.tags = {"campaign": "spring"}  # type: ignore[attr-defined]
    message.configuration_set = "marketing"  # type: ignore[attr-defined]
    message.feedback_address = "bounces@example.com"  # type: ignore[attr-defined]
    message.bulk = True  # type: ignore[attr-defined]
    message.template = None  # type: ignore[attr-defined]
    message.enqueue = False  # type: ignore[attr-defined]
    converted = to_message(message)
    assert isinstance(converted, type(to_message(email())))
    assert converted.tags == {"campaign": "spring"}
    assert converted.configuration_set == "marketing"
    assert converted.feedback_address is not None
    assert converted.bulk
    assert delivery_of(message) == Delivery()


def test_template_attributes_make_a_template_message() -> None:
    message = email(subject="", body="", cc=["cc@example.org"])
    message.template = "welcome"  # type: ignore[attr-defined]
    message.template_data = {"name": "Zoë", "items": [1, 2]}  # type: ignore[attr-defined]
    message.tags = {"campaign": "spring"}  # type: ignore[attr-defined]
    converted = to_message(message)
    assert isinstance(converted, TemplateMessage)
    assert (converted.template, converted.data) == ("welcome", {"name": "Zoë", "items": [1, 2]})
    assert [a.email for a in converted.recipients] == [
        "joerg@xn--mnchen-3ya.example",
        "cc@example.org",
    ]
    assert converted.tags == {"campaign": "spring"}


@pytest.mark.parametrize(
    ("changes", "attributes", "reason"),
    [
        ({}, {"template": "welcome"}, "its subject must be empty"),
        ({"subject": ""}, {"template": "welcome"}, "its body must be empty"),
        (
            {"subject": "", "body": "", "attachments": [("a.txt", "x", "text/plain")]},
            {"template": "welcome"},
            "its attachments must be empty",
        ),
        (
            {"subject": "", "body": ""},
            {"template": "welcome", "template_data": ["x"]},
            "template_data must be a dict",
        ),
        ({"subject": "", "body": ""}, {"template": "bad name"}, "invalid template name"),
        ({}, {"template_data": {"a": 1}}, "needs message.template"),
    ],
)
def test_template_messages_carry_nothing_ses_would_drop(
    changes: dict[str, Any], attributes: dict[str, Any], reason: str
) -> None:
    message = email(**changes)
    for name, value in attributes.items():
        setattr(message, name, value)
    with pytest.raises(InvalidMessage, match=reason):
        to_message(message)


def test_delivery_attributes() -> None:
    when = dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC)
    message = email()
    message.send_at = when  # type: ignore[attr-defined]
    assert delivery_of(message) == Delivery(True, when, None)
    keyed = email()
    keyed.enqueue_key = "order-1"  # type: ignore[attr-defined]
    assert delivery_of(keyed) == Delivery(True, None, "order-1")
    flagged = email()
    flagged.enqueue = True  # type: ignore[attr-defined]
    assert delivery_of(flagged) == Delivery(True)
    wrong = email()
    wrong.send_at = "tomorrow"  # type: ignore[attr-defined]
    with pytest.raises(InvalidMessage, match="send_at must be a datetime"):
        delivery_of(wrong)


def multipart() -> MIMEMultipart:
    return MIMEMultipart("alternative")


def mime_with_header() -> MIMEApplication:
    part = MIMEApplication(b"x", "octet-stream")
    part.add_header("Content-Location", "http://example.com/x")
    return part


def calendar_part() -> MIMEText:
    part = MIMEText("BEGIN:VCALENDAR", "calendar")
    part.set_param("method", "REQUEST")
    return part


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"headers": {"Message-ID": "<a@b>"}}, "SES replaces the Message-ID"),
        ({"headers": {"to": "x@example.org"}}, "courrier writes To"),
        ({"headers": {"Cc": "x@example.org"}}, "courrier writes Cc"),
        ({"headers": {"Date": "Mon, 1 Jan 2024 00:00:00 +0000"}}, "Date"),
        ({"headers": {"Content-Type": "text/plain"}}, "MIME structure"),
        (
            {"alternatives": [("<p>a</p>", "text/html"), ("<p>b</p>", "text/html")]},
            "one text and one HTML",
        ),
        ({"alternatives": [("BEGIN:VCALENDAR", "text/calendar")]}, "attach anything else"),
        ({"attachments": [("a.ics", "x", "text/calendar; method=REQUEST")]}, "parameters"),
        ({"attachments": [calendar_part()]}, "method=REQUEST cannot be represented"),
        ({"attachments": [multipart()]}, "multipart structures"),
        ({"attachments": [mime_with_header()]}, "Content-Location header"),
        ({"attachments": [("fwd.eml", "From: a@b\n\nhi", "message/rfc822")]}, "message/rfc822"),
        ({"attachments": [("a.bin", 42, "application/octet-stream")]}, "str or bytes"),
        ({"attachments": [("a\nb.pdf", b"x", "application/pdf")]}, "attachment 'a\\\\nb.pdf'"),
        ({"tags": ["welcome"]}, "dict of SES message tags"),
        ({"tags": {"bad tag": "x"}}, "tag bad tag=x"),
        ({"content_subtype": "xml"}, "content_subtype"),
        ({"mixed_subtype": "alternative"}, "mixed_subtype"),
    ],
)
def test_what_cannot_be_represented_is_refused(change: dict[str, Any], reason: str) -> None:
    attributes = {k: change.pop(k) for k in list(change) if k not in ("headers", "alternatives")}
    message = email(**change)
    for name, value in attributes.items():
        if name == "attachments":
            message.attachments = value
        else:
            setattr(message, name, value)
    with pytest.raises(InvalidMessage, match=reason):
        to_message(message)


def test_addresses_are_checked_by_courrier() -> None:
    with pytest.raises(InvalidAddress, match="SMTPUTF8"):
        to_message(email(to=["jürgen@example.com"]))


def test_the_tenant_is_taken_from_the_message() -> None:
    message = email()
    message.tenant = "acme"  # type: ignore[attr-defined]
    assert to_message(message).tenant == "acme"
    templated = EmailMessage(from_email="s@example.com", to=["a@example.org"])
    templated.template = "welcome"  # type: ignore[attr-defined]
    templated.tenant = "globex"  # type: ignore[attr-defined]
    assert to_message(templated).tenant == "globex"
    assert to_message(email()).tenant is None
    message.tenant = "a b"  # type: ignore[attr-defined]
    with pytest.raises(InvalidMessage, match="tenant name"):
        to_message(message)
