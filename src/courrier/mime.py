"""Message -> RFC 5322 bytes that are 7-bit clean, with the stdlib ``email`` package.

Structure: text and HTML as multipart/alternative; inline images (attachments with a
content id) in multipart/related around the HTML; other attachments in multipart/mixed.
Non-ASCII bodies are quoted-printable, headers RFC 2047-encoded, filenames RFC 2231.
"""

from __future__ import annotations

import email.policy
import email.utils
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage

from courrier.errors import MessageTooLarge
from courrier.message import AddressKind, Attachment, Message

__all__ = ["SES_V2_MAX_BYTES", "render"]

#: The SES v2 API accepts messages up to 40 MB after MIME encoding (docs/ses.md#limits).
SES_V2_MAX_BYTES = 40 * 1024 * 1024


class _HeaderClasses(HeaderRegistry):
    """The stdlib's registry builds a new class (``type(...)``) for every header it parses;
    this one builds each header's class once. Rendering a short message spent a large part
    of its time there. The classes hold no state of their own, so sharing them (across
    threads too) changes nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self._built: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = super().__getitem__(name)
        return built


# SMTP line endings, 78-column folding, and no raw UTF-8 in headers.
_POLICY = email.policy.SMTP.clone(utf8=False, max_line_length=78, header_factory=_HeaderClasses())


def render(
    message: Message, *, max_bytes: int = SES_V2_MAX_BYTES, domain: str | None = None
) -> bytes:
    """The raw message; raises :class:`~courrier.errors.MessageTooLarge` over ``max_bytes``."""
    # Address headers are written as courrier encodes them: the email package would re-parse
    # and re-fold them, which loses quotes inside encoded display names.
    lines = [f"From: {message.from_address.header()}"]
    fields: tuple[tuple[str, AddressKind], ...] = (
        ("To", "to"),
        ("Cc", "cc"),
        ("Reply-To", "reply_to"),
    )
    for header, kind in fields:
        group = message.addresses(kind)
        if group:
            lines.append(f"{header}: " + ",\r\n ".join(a.header() for a in group))
    mime = EmailMessage(policy=_POLICY)
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False)
    sender_domain = domain or message.from_address.email.rpartition("@")[2]
    mime["Message-ID"] = email.utils.make_msgid(domain=sender_domain)
    for name, value in message.headers.items():
        mime[name] = value
    _body(mime, message)
    data = "\r\n".join(lines).encode("ascii") + b"\r\n" + mime.as_bytes()
    if len(data) > max_bytes:
        raise MessageTooLarge(
            f"the encoded message is {len(data)} bytes; SES accepts at most {max_bytes}"
        )
    return data


def _body(mime: EmailMessage, message: Message) -> None:
    inline = [a for a in message.attachments if a.content_id]
    files = [a for a in message.attachments if not a.content_id]
    if message.text is not None:
        mime.set_content(message.text, cte=_cte(message.text))
    if message.html is not None:
        if message.text is None:
            mime.set_content(message.html, subtype="html", cte=_cte(message.html))
        else:
            mime.add_alternative(message.html, subtype="html", cte=_cte(message.html))
        if inline:
            html_part = mime if message.text is None else _last_part(mime)
            html_part.make_related()
            for attachment in inline:
                _attach(html_part, attachment, related=True)
    elif inline:
        files = [*inline, *files]
    for attachment in files:
        _attach(mime, attachment, related=False)


def _attach(part: EmailMessage, attachment: Attachment, *, related: bool) -> None:
    maintype, _, subtype = attachment.content_type.partition("/")
    params = {"charset": attachment.charset} if attachment.charset else None
    # An empty name means none: the email package would write a bare "filename" parameter.
    filename = attachment.filename or None
    if related:
        part.add_related(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            cid=f"<{attachment.content_id}>",
            filename=filename,
            disposition="inline",
            params=params,
        )
    else:
        part.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=filename,
            params=params,
        )


def _cte(text: str) -> str:
    # 7-bit text stays readable; anything else is quoted-printable, which keeps lines short.
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return "7bit"
    return "quoted-printable"


def _last_part(mime: EmailMessage) -> EmailMessage:
    parts = mime.get_payload()
    assert isinstance(parts, list)
    last = parts[-1]
    assert isinstance(last, EmailMessage)
    return last
