"""The copy that reaches a recipient: what SES changes in a message on its way out.

SES sends from its MAIL FROM domain (a ``Return-Path`` of ``<message-id@amazonses.com>``, or
the identity's custom MAIL FROM domain once verified), and for list management adds
``List-Unsubscribe`` (one-click, RFC 8058) and replaces ``{{amazonSESUnsubscribeUrl}}`` in the
body with the recipient's own unsubscribe link. Open and click tracking change the HTML
once per message (:mod:`courrier_sandbox.ses.tracking`); the rest is per recipient.
"""

from __future__ import annotations

import email.policy
import email.utils
import logging
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser

from courrier_sandbox.simulation.mail import Mail

log = logging.getLogger(__name__)

UNSUBSCRIBE_VARIABLE = "amazonSESUnsubscribeUrl"
UNSUBSCRIBE_PLACEHOLDER = "{{" + UNSUBSCRIBE_VARIABLE + "}}"
_PARSER = BytesParser(policy=email.policy.SMTP)


def default_mail_from(region: str) -> str:
    """SES's own MAIL FROM domain: ``amazonses.com`` in us-east-1, else per region."""
    return "amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"


def message_id_header(message_id: str, region: str) -> str:
    """The Message-ID SES gives every message it sends, from its own id for it."""
    domain = "email.amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"
    return f"<{message_id}@{domain}>"


def unsubscribe_url(endpoint: str, message_id: str, recipient: str) -> str:
    return (
        f"{endpoint}/_courrier/unsubscribe/{message_id}/"
        f"{urllib.parse.quote(recipient.lower(), safe='@')}"
    )


def rewrite(
    raw: bytes,
    *,
    text: Callable[[str, str], str] | None = None,
    headers: Callable[[EmailMessage], None] | None = None,
) -> bytes:
    """``raw`` with ``text(subtype, body)`` applied to its inline text parts and ``headers``
    to its header block; ``raw`` unchanged if it cannot be rewritten."""
    try:
        message = _PARSER.parsebytes(raw)
        if headers is not None:
            headers(message)
        if text is not None:
            _edit_parts(message, text)
        return message.as_bytes()
    except Exception:  # a message SES accepted but Python's email package cannot rebuild
        log.warning("cannot rewrite a message; its copy goes out unchanged", exc_info=True)
        return raw


def _edit_parts(message: EmailMessage, text: Callable[[str, str], str]) -> None:
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_filename() or part.get_content_disposition() == "attachment":
            continue
        subtype = part.get_content_subtype()
        body = part.get_content()
        changed = text(subtype, body)
        if changed != body:
            part.set_content(changed, subtype=subtype, charset="utf-8")


def copy_for(mail: Mail, recipient: str) -> bytes:
    """The bytes ``recipient`` receives."""
    url = unsubscribe_url(mail.endpoint, mail.message_id, recipient)
    # SES adds its links only to a message with one recipient
    # (https://docs.aws.amazon.com/ses/latest/dg/sending-email-subscription-management.html).
    listed = mail.list_management is not None and len(mail.destinations) == 1

    def set_headers(message: EmailMessage) -> None:
        del message["Return-Path"]
        # SES removes its own headers before sending ("Using Amazon SES-specific email
        # headers", https://docs.aws.amazon.com/ses/latest/dg/event-publishing-send-email.html).
        for name in {n for n in message if n.lower().startswith("x-ses-")}:
            del message[name]
        # SES sets Date to when it accepted the message and Message-ID to its own, whatever
        # the sender gave (https://docs.aws.amazon.com/ses/latest/dg/header-fields.html).
        del message["Date"]
        del message["Message-ID"]
        message["Date"] = email.utils.format_datetime(datetime.fromtimestamp(mail.timestamp, UTC))
        message["Message-ID"] = message_id_header(mail.message_id, mail.region)
        if listed:
            del message["List-Unsubscribe"]
            del message["List-Unsubscribe-Post"]
            message["List-Unsubscribe"] = f"<{url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    def link(subtype: str, body: str) -> str:
        return body.replace(UNSUBSCRIBE_PLACEHOLDER, url)

    body = rewrite(mail.outgoing or mail.raw, text=link if listed else None, headers=set_headers)
    # The receiving server records the envelope sender, SES's MAIL FROM, as Return-Path.
    return f"Return-Path: <{mail.message_id}@{mail.mail_from_domain}>\r\n".encode() + body
