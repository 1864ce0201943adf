"""The message a send request carries, as the sandbox's SES sees it."""

from __future__ import annotations

import email.header
import email.policy
import email.utils
import mimetypes
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

#: The EICAR test file's marker; SES's virus scan rejects any message that contains it.
EICAR_MARKER = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
PARSER = BytesParser(policy=email.policy.compat32)


@dataclass(frozen=True)
class TrackedLink:
    """A link that click tracking rewrote, and its ``ses:tags`` (name -> values)."""

    url: str
    tags: dict[str, list[str]]


@dataclass
class Mail:
    """A message SES accepted: the raw bytes plus what SES derives from them."""

    raw: bytes
    source: str
    destinations: list[str]
    operation: str  # "SendEmail" | "SendRawEmail"
    tags: dict[str, str] = field(default_factory=dict)
    configuration_set: str | None = None
    feedback_address: str | None = None
    message_id: str = ""
    timestamp: float = 0.0
    caller: str = ""
    source_ip: str = "127.0.0.1"
    #: The verified identity the source sends as: its own address, else its domain.
    identity: str = ""
    #: Built from a template: SES renders it after the Send event (see ``mail_object``).
    templated: bool = False
    #: (template name, error) when the template data did not render: accepted, never sent.
    rendering_failure: tuple[str, str] | None = None
    #: v2 ``ConfigurationOverrides.Tracking``: ``OpenTrackingEnabled`` and
    #: ``ClickTrackingEnabled``, ``ENABLED`` or ``DISABLED``.
    tracking_overrides: dict[str, str] = field(default_factory=dict)
    #: v2 ``ListManagementOptions``: (contact list, topic or None).
    list_management: tuple[str, str | None] | None = None
    #: v2 ``TenantName``: the tenant the message is sent through.
    tenant: str | None = None
    #: The stored template the message was built from (None: no template, or an inline one).
    template: str | None = None
    # Decided when SES accepts the message: where its links point, the domain of its
    # Return-Path, the message as tracking rewrote it, and what tracking covers.
    endpoint: str = ""
    region: str = "us-east-1"
    mail_from_domain: str = "amazonses.com"
    outgoing: bytes | None = field(default=None, repr=False)
    open_tracked: bool = False
    links: list[TrackedLink] = field(default_factory=list)
    _parsed: Message | None = field(default=None, repr=False, compare=False)

    def parsed(self) -> Message:
        """The parsed message, parsed once: every feedback event of a send reads it."""
        if self._parsed is None:
            self._parsed = PARSER.parsebytes(self.raw)
        return self._parsed

    @property
    def return_path(self) -> str:
        """Where SES mails feedback and auto-replies: the feedback address, else the source."""
        if self.feedback_address:
            return bare_address(self.feedback_address)
        header = self.parsed().get("Return-Path")
        if header:
            return bare_address(str(header))
        return bare_address(self.source)

    @property
    def subject(self) -> str:
        return decoded_header(self.parsed().get("Subject", ""))


def bare_address(value: str) -> str:
    return email.utils.parseaddr(value)[1] or value.strip()


def decoded_header(value: Any) -> str:
    if value is None:
        return ""
    parts = email.header.decode_header(str(value))
    return str(email.header.make_header(parts))


class UnbuildableMessage(ValueError):
    """A simple send whose charset or attachment cannot make a MIME message."""


@dataclass(frozen=True)
class Charsets:
    """The ``Charset`` of a simple send's Subject, Text and Html (None: UTF-8)."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None


@dataclass(frozen=True)
class Attachment:
    """One of SES v2's ``Attachments`` of a Simple or Template send (its ``Attachment``)."""

    content: bytes
    file_name: str
    #: ``ATTACHMENT`` or ``INLINE``.
    disposition: str = "ATTACHMENT"
    description: str | None = None
    content_id: str | None = None
    #: ``BASE64``, ``QUOTED_PRINTABLE`` or ``SEVEN_BIT``.
    transfer_encoding: str = "BASE64"
    content_type: str | None = None


_TRANSFER_ENCODINGS = {
    "BASE64": "base64",
    "QUOTED_PRINTABLE": "quoted-printable",
    "SEVEN_BIT": "7bit",
}


def build_simple(
    *,
    source: str,
    to: list[str],
    cc: list[str],
    reply_to: list[str],
    subject: str,
    text: str | None,
    html: str | None,
    headers: list[tuple[str, str]] | None = None,
    charsets: Charsets | None = None,
    attachments: list[Attachment] | None = None,
) -> bytes:
    """The MIME message SES builds from a "simple" (formatted) send request: its body a
    multipart/mixed when it has attachments."""
    charsets = charsets or Charsets()
    message = EmailMessage(policy=email.policy.SMTP)
    if source:
        message["From"] = source
    if to:
        message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if reply_to:
        message["Reply-To"] = ", ".join(reply_to)
    try:
        _set_subject(message, subject, charsets.subject)
        message["MIME-Version"] = "1.0"
        for name, value in headers or []:
            message[name] = value
        _set_body(message, text, html, charsets)
        for attachment in attachments or []:
            _attach(message, attachment)
    except (LookupError, UnicodeError, TypeError, ValueError) as err:
        raise UnbuildableMessage(str(err)) from err
    return message.as_bytes()


def _set_subject(message: EmailMessage, subject: str, charset: str | None) -> None:
    if charset is None or subject.isascii():
        message["Subject"] = subject
        return
    # The policy would encode a non-ASCII subject in UTF-8 whatever the charset named; this
    # one is encoded as given and left as it is.
    message.set_raw("Subject", email.header.Header(subject, charset).encode())


def _set_body(
    message: EmailMessage, text: str | None, html: str | None, charsets: Charsets
) -> None:
    if text is not None:
        message.set_content(text, charset=charsets.text or "utf-8")
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html", charset=charsets.html or "utf-8")
        else:
            message.add_alternative(html, subtype="html", charset=charsets.html or "utf-8")
    if text is None and html is None:
        message.set_content("")


def _attach(message: EmailMessage, attachment: Attachment) -> None:
    named = (attachment.file_name, attachment.description, attachment.content_id)
    if any(value and ("\r" in value or "\n" in value) for value in named):
        raise ValueError("an attachment's name, description or id may not break a line")
    content_type = (
        attachment.content_type
        or mimetypes.guess_type(attachment.file_name)[0]
        or "application/octet-stream"
    )
    maintype, _, subtype = content_type.partition(";")[0].strip().partition("/")
    content_id = attachment.content_id
    if content_id and not content_id.startswith("<"):
        content_id = f"<{content_id}>"
    message.add_attachment(
        attachment.content,
        maintype=maintype,
        subtype=subtype or "octet-stream",
        filename=attachment.file_name,
        disposition=attachment.disposition.lower(),
        cid=content_id,
        cte=_TRANSFER_ENCODINGS.get(attachment.transfer_encoding, "base64"),
        headers=[f"Content-Description: {attachment.description}"]
        if attachment.description
        else (),
    )


def headers_of(message: Message) -> list[dict[str, str]]:
    """Original headers as submitted, minus the X-SES-* ones that SES strips
    (docs/ses.md#event-publishing)."""
    return [
        {"name": name, "value": str(value)}
        for name, value in message.items()
        if not name.lower().startswith("x-ses-")
    ]


def common_headers(message: Message) -> dict[str, Any]:
    common: dict[str, Any] = {}
    for key, header in (
        ("from", "From"),
        ("replyTo", "Reply-To"),
        ("to", "To"),
        ("cc", "Cc"),
        ("bcc", "Bcc"),
    ):
        values = message.get_all(header)
        if values:
            common[key] = [
                email.utils.formataddr(pair) if pair[0] else pair[1]
                for pair in email.utils.getaddresses([str(v) for v in values])
            ]
    for key, header in (
        ("returnPath", "Return-Path"),
        ("sender", "Sender"),
        ("date", "Date"),
        ("messageId", "Message-ID"),
        ("subject", "Subject"),
    ):
        value = message.get(header)
        if value is not None:
            common[key] = str(value)
    return common


def header_recipients(message: Message) -> list[str]:
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name) or []]
    return [addr for _, addr in email.utils.getaddresses(values) if addr]


def contains_eicar(message: Message) -> bool:
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and EICAR_MARKER in payload:
            return True
    return False


def tags_from_headers(message: Message) -> dict[str, str]:
    """Tags given in an ``X-SES-MESSAGE-TAGS: k1=v1, k2=v2`` header
    (docs/ses.md#event-publishing)."""
    tags: dict[str, str] = {}
    for header in message.get_all("X-SES-MESSAGE-TAGS") or []:
        for pair in str(header).split(","):
            name, _, value = pair.strip().partition("=")
            if name:
                tags[name.strip()] = value.strip()
    return tags
