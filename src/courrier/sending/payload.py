"""Messages as JSON for the outbox: every field kept, attachments included (base64)."""

from __future__ import annotations

import base64
import json
from typing import Any

from courrier.addresses import Address
from courrier.errors import InvalidMessage
from courrier.message import Attachment, Message
from courrier.template_message import TemplateMessage

__all__ = ["from_payload", "to_payload"]

SINGLE, TEMPLATE = "single", "template"


def _address(value: Address | None) -> list[str] | None:
    return None if value is None else [value.name, value.email]


def _addresses(values: tuple[Address, ...]) -> list[list[str] | None]:
    return [_address(v) for v in values]


def to_payload(message: Message | TemplateMessage) -> tuple[str, str]:
    """(kind, JSON text) for ``message``."""
    common: dict[str, Any] = {
        "sender": _address(message.sender),
        "to": _addresses(message.to),
        "cc": _addresses(message.cc),
        "bcc": _addresses(message.bcc),
        "reply_to": _addresses(message.reply_to),
        "tags": dict(message.tags),
        "configuration_set": message.configuration_set,
        "feedback_address": _address(message.feedback_address),
        "bulk": message.bulk,
        "list_name": message.list_name,
        "tenant": message.tenant,
    }
    if isinstance(message, TemplateMessage):
        return TEMPLATE, json.dumps(
            {**common, "template": message.template, "data": message.data}, ensure_ascii=False
        )
    body = {
        **common,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "headers": dict(message.headers),
        "attachments": [
            {
                "filename": a.filename,
                "content": base64.b64encode(a.content).decode("ascii"),
                "content_type": a.content_type,
                "content_id": a.content_id,
                "charset": a.charset,
            }
            for a in message.attachments
        ],
    }
    return SINGLE, json.dumps(body, ensure_ascii=False)


def from_payload(kind: str, text: str) -> Message | TemplateMessage:
    """The message :func:`to_payload` wrote, checked again as it is built."""
    try:
        body = json.loads(text)

        def pair(value: list[str] | None) -> tuple[str, str] | None:
            return (value[0], value[1]) if value else None

        def pairs(values: list[list[str]]) -> list[tuple[str, str]]:
            return [(v[0], v[1]) for v in values]

        common: dict[str, Any] = {
            "sender": pair(body["sender"]),
            "to": pairs(body["to"]),
            "cc": pairs(body["cc"]),
            "bcc": pairs(body["bcc"]),
            "reply_to": pairs(body["reply_to"]),
            "tags": body["tags"],
            "configuration_set": body["configuration_set"],
            "feedback_address": pair(body["feedback_address"]),
            "bulk": bool(body["bulk"]),
            "list_name": body.get("list_name"),
            # Rows queued before tenants have no "tenant": the account's.
            "tenant": body.get("tenant"),
        }
        if kind == TEMPLATE:
            return TemplateMessage(template=body["template"], data=body["data"], **common)
        if kind != SINGLE:
            raise InvalidMessage(f"unknown outbox entry kind {kind!r}")
        return Message(
            subject=body["subject"],
            text=body["text"],
            html=body["html"],
            headers=body["headers"],
            attachments=[
                Attachment(
                    a["filename"],
                    base64.b64decode(a["content"]),
                    a["content_type"],
                    a["content_id"],
                    a["charset"],
                )
                for a in body["attachments"]
            ],
            **common,
        )
    except (KeyError, TypeError, IndexError, ValueError) as err:
        if isinstance(err, InvalidMessage):
            raise
        raise InvalidMessage(f"outbox payload cannot be read: {err!r}") from err
