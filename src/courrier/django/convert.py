"""A Django ``EmailMessage`` as a :class:`courrier.Message`; what courrier cannot send as
given is refused with :class:`~courrier.errors.InvalidMessage`, never silently dropped.

Read from the Django message: ``from_email`` (or a ``From`` header), ``to``, ``cc``,
``bcc``, ``reply_to`` (or a ``Reply-To`` header), ``subject``, ``body`` (text, or HTML when
``content_subtype`` is ``"html"``), one ``text/html`` alternative, ``attachments`` (tuples
and MIME parts, inline ones by their ``Content-ID``), other ``extra_headers``, and the
courrier attributes ``tags`` (SES message tags, a dict), ``configuration_set``,
``feedback_address``, ``bulk`` (refused while the reputation guard is tripped; it carries the
recipient's one-click unsubscribe link), ``list_name`` (the list that link names) and
``tenant`` (the SES tenant it is sent for: ``TenantName``).

With ``template`` (an SES template name) and ``template_data`` (a dict) the message is a
:class:`courrier.TemplateMessage`: SES renders subject and body, so the message's own
``subject``, ``body``, alternatives, attachments and extra headers must be empty.
``enqueue`` (true), ``send_at`` (a timezone-aware datetime) and ``enqueue_key`` (an
idempotency key) queue the message in the outbox instead of sending it (:func:`delivery_of`).
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.mail import BadHeaderError, EmailMessage

from courrier.errors import InvalidMessage
from courrier.message import Attachment, Message
from courrier.template_message import TemplateMessage

__all__ = ["Delivery", "HeaderInjection", "delivery_of", "to_message"]


class HeaderInjection(InvalidMessage, BadHeaderError):
    """A CR or LF in a header value: Django's own :class:`BadHeaderError`, so that the
    ``except BadHeaderError`` of Django's documentation catches it, and courrier's
    :class:`~courrier.errors.InvalidMessage`."""


@dataclass(frozen=True)
class Delivery:
    """How a converted message leaves: sent now, or queued in the outbox."""

    enqueue: bool = False
    send_at: dt.datetime | None = None
    key: str | None = None


def delivery_of(message: EmailMessage) -> Delivery:
    """``enqueue``, ``send_at`` and ``enqueue_key`` of ``message``, checked."""
    send_at = getattr(message, "send_at", None)
    key = getattr(message, "enqueue_key", None)
    if send_at is not None and not isinstance(send_at, dt.datetime):
        raise InvalidMessage(f"message.send_at must be a datetime, not {type(send_at).__name__}")
    if key is not None and not isinstance(key, str):
        raise InvalidMessage(f"message.enqueue_key must be a string, not {type(key).__name__}")
    enqueue = bool(getattr(message, "enqueue", False)) or send_at is not None or key is not None
    return Delivery(enqueue, send_at, key)


# Headers courrier writes itself, and what to do instead of setting them.
_REFUSED_HEADERS = {
    "to": "set the message's to: courrier writes To from the recipients it sends to",
    "cc": "set the message's cc: courrier writes Cc from the recipients it sends to",
    "bcc": "set the message's bcc",
    "subject": "set the message's subject",
    "message-id": (
        "SES replaces the Message-ID header with its own; the SES message id is in "
        "message.courrier_status.message_id"
    ),
    "date": "SES replaces the Date header with its own",
    "return-path": "SES sets the Return-Path",
    "mime-version": "courrier writes the MIME structure itself",
    "content-type": "courrier writes the MIME structure itself",
    "content-transfer-encoding": "courrier writes the MIME structure itself",
}
# Headers of an attached MIME part that courrier writes again from the part's content.
_PART_HEADERS = {
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
    "mime-version",
}


def to_message(message: EmailMessage) -> Message | TemplateMessage:
    """``message`` as courrier sends it; raises :class:`~courrier.errors.InvalidMessage`."""
    headers = {str(k): str(v) for k, v in (message.extra_headers or {}).items()}
    _forbid_line_breaks(message, headers)
    sender = _pop(headers, "From") or message.from_email
    reply_to_header = _pop(headers, "Reply-To")
    reply_to = (
        tuple(email.utils.formataddr(pair) for pair in email.utils.getaddresses([reply_to_header]))
        if reply_to_header
        else _addresses(message.reply_to)
    )
    for name in headers:
        if name.lower() in _REFUSED_HEADERS:
            raise InvalidMessage(f"header {name}: {_REFUSED_HEADERS[name.lower()]}")
    template = getattr(message, "template", None)
    if template:
        return _template_message(message, str(template), str(sender), reply_to, headers)
    if getattr(message, "template_data", None):
        raise InvalidMessage("message.template_data needs message.template (the SES template)")
    text, html = _bodies(message)
    return Message(
        sender=str(sender),
        to=_addresses(message.to),
        cc=_addresses(message.cc),
        bcc=_addresses(message.bcc),
        reply_to=reply_to,
        subject=str(message.subject),
        text=text,
        html=html,
        attachments=[_attachment(item) for item in message.attachments],
        headers=headers,
        tags=_tags(getattr(message, "tags", None)),
        configuration_set=getattr(message, "configuration_set", None),
        feedback_address=getattr(message, "feedback_address", None),
        bulk=bool(getattr(message, "bulk", False)),
        list_name=getattr(message, "list_name", None),
        tenant=getattr(message, "tenant", None),
    )


def _template_message(
    message: EmailMessage,
    template: str,
    sender: str,
    reply_to: tuple[str, ...],
    headers: dict[str, str],
) -> TemplateMessage:
    """SES renders a template's subject and body: anything else the message carries would
    be dropped, so it is refused."""
    given = {
        "subject": message.subject,
        "body": message.body,
        "alternatives": getattr(message, "alternatives", None),
        "attachments": message.attachments,
        "extra headers": headers,
    }
    for name, value in given.items():
        if value:
            raise InvalidMessage(
                f"message.template is set: SES renders the message from the template, so its "
                f"{name} must be empty"
            )
    data = getattr(message, "template_data", None) or {}
    if not isinstance(data, Mapping):
        raise InvalidMessage(f"message.template_data must be a dict, not {type(data).__name__}")
    return TemplateMessage(
        sender=sender,
        to=_addresses(message.to),
        cc=_addresses(message.cc),
        bcc=_addresses(message.bcc),
        reply_to=reply_to,
        template=template,
        data=data,
        tags=_tags(getattr(message, "tags", None)),
        configuration_set=getattr(message, "configuration_set", None),
        feedback_address=getattr(message, "feedback_address", None),
        bulk=bool(getattr(message, "bulk", False)),
        list_name=getattr(message, "list_name", None),
        tenant=getattr(message, "tenant", None),
    )


def _pop(headers: dict[str, str], name: str) -> str | None:
    for key in list(headers):
        if key.lower() == name.lower():
            return headers.pop(key)
    return None


def _forbid_line_breaks(message: EmailMessage, headers: Mapping[str, str]) -> None:
    """Refuse CR and LF in header values as Django's SMTP backend does (``BadHeaderError``)."""
    values: list[tuple[str, Any]] = [("Subject", message.subject), ("From", message.from_email)]
    for name, addresses in (
        ("To", message.to),
        ("Cc", message.cc),
        ("Bcc", message.bcc),
        ("Reply-To", message.reply_to),
    ):
        values.extend((name, address) for address in addresses or ())
    values.extend(headers.items())
    for name, value in values:
        text = str(value or "")
        if "\n" in text or "\r" in text:
            raise HeaderInjection(
                f"Header values can't contain newlines (got {text!r} for header {name!r})"
            )


def _addresses(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(value) for value in values if value)  # Django skips empty ones too


def _bodies(message: EmailMessage) -> tuple[str | None, str | None]:
    if message.content_subtype not in ("plain", "html"):
        raise InvalidMessage(
            f"content_subtype {message.content_subtype!r}: courrier sends text/plain and "
            "text/html bodies"
        )
    mixed = getattr(message, "mixed_subtype", "mixed")
    if mixed not in ("mixed", "related"):
        raise InvalidMessage(
            f"mixed_subtype {mixed!r}: courrier builds the MIME structure "
            "itself (multipart/related for inline images, mixed for files)"
        )
    if getattr(message, "alternative_subtype", "alternative") != "alternative":
        raise InvalidMessage("alternative_subtype: courrier sends multipart/alternative")
    body = str(message.body)
    text, html = (None, body) if message.content_subtype == "html" else (body, None)
    for content, mimetype in getattr(message, "alternatives", ()):
        if str(mimetype).lower() != "text/html" or html is not None:
            raise InvalidMessage(
                f"alternative {mimetype}: courrier sends one text and one HTML body; "
                "attach anything else as a file"
            )
        html = content.decode() if isinstance(content, bytes) else str(content)
    return text, html


def _tags(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidMessage(
            "message.tags must be a dict of SES message tags (name -> value), "
            f"not {type(value).__name__}"
        )
    return {str(k): str(v) for k, v in value.items()}


def _attachment(item: Any) -> Attachment:
    if isinstance(item, email.message.Message):  # MIMEBase, and MIMEPart in Django 6
        return _part(item)
    filename, content, mimetype = item
    name = str(filename or "")
    full_type = str(mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream")
    content_type, _, params = full_type.partition(";")
    if params.strip():
        raise InvalidMessage(
            f"attachment {name!r}: the parameters of {full_type!r} cannot be represented; "
            "courrier attachments carry a plain type/subtype"
        )
    return _checked(name, content, content_type.strip(), None)


def _part(part: email.message.Message) -> Attachment:
    name = part.get_filename() or ""
    content_type = part.get_content_type()
    if part.is_multipart():
        raise InvalidMessage(
            f"attachment {content_type}: courrier builds multipart structures itself; "
            "attach the parts one by one"
        )
    extra = [
        f"{key}={value}"
        for key, value in (part.get_params() or [])[1:]
        if key.lower() not in ("charset", "name")
    ]
    if extra:
        raise InvalidMessage(
            f"attachment {name or content_type!r}: Content-Type parameters "
            f"{', '.join(extra)} cannot be represented"
        )
    for header in part:
        if header.lower() not in _PART_HEADERS:
            raise InvalidMessage(
                f"attachment {name or content_type!r}: its {header} header cannot be represented"
            )
    content = part.get_payload(decode=True)
    if not isinstance(content, bytes):
        raise InvalidMessage(f"attachment {name or content_type!r} has no content")
    content_id = part.get("Content-ID")
    cid = str(content_id).strip().removeprefix("<").removesuffix(">") if content_id else None
    return _checked(name, content, content_type, cid, part.get_content_charset())


def _checked(
    name: str, content: Any, content_type: str, content_id: str | None, charset: str | None = None
) -> Attachment:
    if content_type.lower().startswith("message/"):
        # RFC 2046 forbids base64 for message/rfc822, and courrier encodes attachments so.
        raise InvalidMessage(
            f"attachment {name or content_type!r}: {content_type} parts cannot be sent; "
            "attach the message as a file (application/octet-stream)"
        )
    if isinstance(content, str):
        data, charset = content.encode(), "utf-8"
    elif isinstance(content, bytes):
        data = content
    else:
        raise InvalidMessage(f"attachment {name!r}: content must be str or bytes")
    if not content_type.lower().startswith("text/"):
        charset = None
    elif charset is None and not data.isascii():
        charset = "utf-8" if _is_utf8(data) else None
    try:
        return Attachment(name, data, content_type, content_id, charset)
    except InvalidMessage as err:
        raise InvalidMessage(f"attachment {name or content_type!r}: {err}") from err


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
