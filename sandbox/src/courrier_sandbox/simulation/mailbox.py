"""Mail that "arrived" somewhere while sending through the sandbox.

Copies delivered to verified non-simulator recipients, out-of-office auto-replies sent to the
Return-Path, and feedback that SES forwards by email all land here, so a user can read them
at ``GET /_courrier/mailbox``.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from courrier_sandbox.simulation.mail import PARSER, decoded_header


@dataclass
class Letter:
    id: int
    kind: str  # "delivery" | "auto-reply" | "feedback"
    recipient: str
    sender: str
    subject: str
    ses_message_id: str
    received_at: float
    raw: bytes

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["raw"]
        return data

    def full(self) -> dict[str, Any]:
        message = PARSER.parsebytes(self.raw)
        text = html = None
        for part in message.walk():
            if part.get_content_maintype() != "text" or part.get_filename():
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            charset = part.get_content_charset() or "utf-8"
            decoded = payload.decode(charset, errors="replace")
            if part.get_content_subtype() == "plain" and text is None:
                text = decoded
            elif part.get_content_subtype() == "html" and html is None:
                html = decoded
        attachments = [
            part.get_filename() for part in message.walk() if part.get_filename() is not None
        ]
        return {
            **self.summary(),
            "headers": [{"name": k, "value": decoded_header(v)} for k, v in message.items()],
            "text": text,
            "html": html,
            "attachments": attachments,
            "raw": base64.b64encode(self.raw).decode("ascii"),
        }


class Mailbox:
    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._letters: list[Letter] = []
        self._ids = itertools.count(1)
        self._on_change = on_change

    def deliver(
        self, *, kind: str, recipient: str, sender: str, raw: bytes, ses_message_id: str
    ) -> Letter:
        subject = decoded_header(PARSER.parsebytes(raw, headersonly=True).get("Subject", ""))
        with self._lock:
            letter = Letter(
                next(self._ids),
                kind,
                recipient.lower(),
                sender,
                subject,
                ses_message_id,
                time.time(),
                raw,
            )
            self._letters.append(letter)
        if self._on_change:
            self._on_change()
        return letter

    def letters(self, recipient: str | None = None, kind: str | None = None) -> list[Letter]:
        with self._lock:
            return [
                letter
                for letter in self._letters
                if (recipient is None or letter.recipient == recipient.lower())
                and (kind is None or letter.kind == kind)
            ]

    def get(self, letter_id: int) -> Letter | None:
        with self._lock:
            return next((letter for letter in self._letters if letter.id == letter_id), None)

    def clear(self) -> None:
        with self._lock:
            self._letters.clear()
        if self._on_change:
            self._on_change()

    def to_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**letter.summary(), "raw": base64.b64encode(letter.raw).decode("ascii")}
                for letter in self._letters
            ]

    def load(self, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self._letters = [
                Letter(**{**item, "raw": base64.b64decode(item["raw"])}) for item in items
            ]
            start = max((letter.id for letter in self._letters), default=0) + 1
            self._ids = itertools.count(start)
