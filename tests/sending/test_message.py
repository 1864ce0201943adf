"""Message validation and the MIME structure courrier renders."""

from __future__ import annotations

import dataclasses
import email.policy
from email.parser import BytesParser
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courrier import mime
from courrier.addresses import Address
from courrier.errors import InvalidMessage, MessageTooLarge
from courrier.message import AddressKind, Attachment, Message
from courrier.mime import render
from courrier.template_message import BulkDestination, TemplateMessage

BASE: dict[str, Any] = {"sender": "a@example.com", "to": ["b@example.org"], "text": "x"}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"to": []}, "no recipients"),
        (
            {
                "to": [f"r{n}@example.org" for n in range(30)],
                "cc": [f"c{n}@example.org" for n in range(21)],
            },
            "at most 50",
        ),
        ({"text": None}, "text or an HTML body"),
        ({"tags": {"bad tag": "x"}}, "tag bad tag=x"),
        ({"tags": {"k": "é"}}, "tag k="),
        ({"tags": {"k": "v" * 257}}, "1 to 256"),
        ({"headers": {"Bcc": "x@example.org"}}, "through the Message fields"),
        ({"headers": {"Bad Name": "x"}}, "invalid header name"),
        ({"subject": "hi\r\nBcc: x@example.org"}, "CR character"),
        ({"subject": "shift\x0eout"}, "control character U\\+000E"),
        ({"subject": "del\x7f"}, "control character U\\+007F"),
        ({"subject": "c1\x9b"}, "control character U\\+009B"),
        ({"sender": ("Zo\x0e", "zoe@example.com")}, "display name contains the control"),
        ({"headers": {"X-Thing": "a\x01b"}}, "control character U\\+0001"),
        ({"configuration_set": "no spaces allowed"}, "configuration set"),
        (
            {
                "attachments": [
                    Attachment("a.png", b"x", "image/png", "logo"),
                    Attachment("b.png", b"y", "image/png", "logo"),
                ]
            },
            "content id",
        ),
    ],
)
def test_invalid_messages(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        Message(**{**BASE, **changes})


@pytest.mark.parametrize(
    "content_type",
    [
        "pdf",
        "text/plain\x00",
        "text/plain\r\nBcc: x@example.org",
        "text/plain\n",
        "text/plain\u2028",
        "text/plain; boundary=evil",
        'text/plain; charset="utf-8"',
        "multipart/mixed",
        "text /plain",
        "/plain",
        "text/",
    ],
)
def test_attachment_content_types_are_plain_type_subtype(content_type: str) -> None:
    with pytest.raises(InvalidMessage, match="content type"):
        Attachment("a.txt", b"x", content_type)


def test_attachment_checks() -> None:
    with pytest.raises(InvalidMessage, match="LF"):
        Attachment("a\n.pdf", b"x")
    with pytest.raises(InvalidMessage, match="control character"):
        Attachment("a\x0e.pdf", b"x")
    assert Attachment("a.pdf", b"x", "Application/PDF").content_type == "application/pdf"


@pytest.mark.parametrize(
    "filename", ["setup.exe", "RUN.BAT", "a.b.js", "notes.url", "x.exe.", "x.exe ", "m.vsmacros"]
)
def test_attachments_ses_refuses_by_extension_are_refused_here(filename: str) -> None:
    """SES refuses these extensions (https://docs.aws.amazon.com/ses/latest/dg/mime-types.html):
    the message is refused before anything is recorded or sent, the file named."""
    with pytest.raises(InvalidMessage, match="SES refuses"):
        Attachment(filename, b"x")


@pytest.mark.parametrize("filename", ["report.zip", "app.jar", "exe", "a.exec", "js.pdf", "x"])
def test_other_extensions_are_attached(filename: str) -> None:
    assert Attachment(filename, b"x").filename == filename


def test_attachment_charset_is_for_text_and_a_plain_name() -> None:
    with pytest.raises(InvalidMessage, match="text/\\* content only"):
        Attachment("a.pdf", b"x", "application/pdf", charset="utf-8")
    for bad in ("utf-8; x=y", "utf 8", "", "utf-8\r\n"):
        with pytest.raises(InvalidMessage, match="charset"):
            Attachment("a.csv", b"x", "text/csv", charset=bad)


def test_text_attachment_keeps_its_charset() -> None:
    data = "nom;ville\nZoë;Zürich\n".encode()
    message = Message(
        **{**BASE, "attachments": [Attachment("a.csv", data, "text/csv", None, "utf-8")]}
    )
    _, csv = parse(render(message)).get_payload()
    assert csv.get_content_type() == "text/csv"
    assert csv.get_param("charset") == "utf-8"
    assert csv.get_content() == "nom;ville\nZoë;Zürich\n"


def test_attachments_without_a_filename() -> None:
    message = Message(
        **{
            **BASE,
            "html": '<img src="cid:logo">',
            "attachments": [
                Attachment("", b"\x89PNG", "image/png", content_id="logo"),
                Attachment("", b"%PDF", "application/pdf"),
            ],
        }
    )
    raw = render(message)
    assert b"filename" not in raw
    alternative, pdf = parse(raw).get_payload()
    logo = alternative.get_payload()[1].get_payload()[1]
    assert (logo["Content-Disposition"], logo["Content-ID"]) == ("inline", "<logo>")
    assert (pdf["Content-Disposition"], pdf.get_content()) == ("attachment", b"%PDF")


def test_tab_in_a_subject_is_allowed() -> None:
    assert b"Subject: a\tb" in render(Message(**{**BASE, "subject": "a\tb"}))


def parse(raw: bytes) -> Any:
    return BytesParser(policy=email.policy.default).parsebytes(raw)


def test_text_only_is_a_single_part() -> None:
    parsed = parse(render(Message(**BASE)))
    assert parsed.get_content_type() == "text/plain"
    assert parsed["Content-Transfer-Encoding"] == "7bit"


def test_text_html_inline_and_files() -> None:
    message = Message(
        sender="a@example.com",
        to=["b@example.org"],
        subject="Grüße",
        text="Grüße",
        html='<p>Grüße <img src="cid:logo"></p>',
        attachments=[
            Attachment("logo.png", b"\x89PNG", "image/png", content_id="logo"),
            Attachment("résumé.pdf", b"%PDF-1.4", "application/pdf"),
        ],
        headers={"X-Campaign": "spring"},
    )
    raw = render(message)
    raw.decode("ascii")
    parsed = parse(raw)
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, pdf = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    text, related = alternative.get_payload()
    assert text.get_content().rstrip() == "Grüße"
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    html, logo = related.get_payload()
    assert related.get_content_type() == "multipart/related"
    assert "cid:logo" in html.get_content()
    assert logo["Content-ID"] == "<logo>"
    assert logo.get_content() == b"\x89PNG"
    assert pdf.get_filename() == "résumé.pdf"
    assert pdf.get_content() == b"%PDF-1.4"
    assert parsed["X-Campaign"] == "spring"
    assert str(parsed["Subject"]) == "Grüße"


def test_html_only() -> None:
    parsed = parse(render(Message(sender="a@example.com", to=["b@example.org"], html="<b>x</b>")))
    assert parsed.get_content_type() == "text/html"


def test_long_lines_are_encoded() -> None:
    parsed = parse(render(Message(**{**BASE, "text": "a" * 5000})))
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content().strip() == "a" * 5000


def test_size_limit() -> None:
    big = Message(**{**BASE, "attachments": [Attachment("big.bin", b"\0" * 2000)]})
    with pytest.raises(MessageTooLarge, match="at most 1000"):
        render(big, max_bytes=1000)


def test_bcc_is_not_in_the_headers() -> None:
    parsed = parse(render(Message(**{**BASE, "bcc": ["hidden@example.org"]})))
    assert "Bcc" not in parsed
    assert "hidden" not in str(parsed)


header_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=200)
body_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(subject=header_text, text=body_text, html=st.none() | body_text, custom=header_text)
def test_rendering_with_shared_header_classes_changes_no_byte(
    subject: str, text: str, html: str | None, custom: str
) -> None:
    """courrier's policy builds each header class once; the stdlib's policy builds one per
    header. The bytes must be the same (Date, Message-ID and boundaries fixed to compare)."""
    try:
        message = Message(
            sender=("Sendér", "sender@example.com"),
            to=["reader@example.net"],
            subject=subject,
            text=text,
            html=html,
            headers={"X-Custom": custom},
            attachments=[Attachment("a.txt", b"data", "text/plain")],
        )
    except InvalidMessage:
        return  # refused before rendering (line breaks in a header)
    stock = email.policy.SMTP.clone(utf8=False, max_line_length=78)
    with (
        patch("email.utils.formatdate", return_value="Mon, 07 Dec 2026 05:00:00 -0000"),
        patch("email.utils.make_msgid", return_value="<1@example.com>"),
        patch("email.generator.random.randrange", return_value=1),  # the MIME boundary
    ):
        ours = render(message)
        with patch.object(mime, "_POLICY", stock):
            theirs = render(message)
    assert ours == theirs


def test_fields_hold_what_they_were_normalised_to() -> None:
    message = Message(
        "Zoë <zoe@example.com>",
        [("Ann", "ann@example.com"), Address("bob@example.com", "Bob")],
        "Hi",
        "text",
        cc=["cy@example.com"],
        reply_to=("desk@example.com",),
        feedback_address="bounces@example.com",
    )
    assert message.sender == Address("zoe@example.com", "Zoë")
    assert message.to == (Address("ann@example.com", "Ann"), Address("bob@example.com", "Bob"))
    assert message.cc == (Address("cy@example.com"),)
    assert message.feedback_address == Address("bounces@example.com")
    assert message.recipients == [*message.to, *message.cc]
    kinds: tuple[AddressKind, ...] = ("to", "cc", "bcc", "reply_to")
    assert [len(message.addresses(kind)) for kind in kinds] == [2, 1, 0, 1]
    # A copy through replace() is built, and checked, like the original.
    assert dataclasses.replace(message, cc=()).recipients == list(message.to)
    with pytest.raises(InvalidMessage):
        dataclasses.replace(message, to=(), cc=())
    template = TemplateMessage("a@example.com", "welcome", ["b@example.com"], {"n": 1}, bulk=True)
    assert template.to == (Address("b@example.com"),)
    assert (template.data, template.bulk, template.tags) == ({"n": 1}, True, {})
    assert BulkDestination(("Cy", "cy@example.com")).to == (Address("cy@example.com", "Cy"),)


def test_only_the_leading_fields_are_positional() -> None:
    # cc once followed html: a list given there must not silently become something else.
    single: list[Any] = ["a@example.com", ["b@example.com"], "Hi", "text", None, ["c@example.com"]]
    with pytest.raises(TypeError):
        Message(*single)
    templated: list[Any] = ["a@example.com", "welcome", [], {}, ["c@example.com"]]
    with pytest.raises(TypeError):
        TemplateMessage(*templated)
