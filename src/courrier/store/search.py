"""Finding messages, their event timelines, and suppression entries (the dashboard's queries)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from courrier.store.store import MessageRecord, Store, Suppression, _aware, _message_record
from courrier.store.tables import FeedbackEventRow, MessageRow, RecipientRow

__all__ = [
    "EventRecord",
    "MessageDetail",
    "MessageSummary",
    "find_messages",
    "find_suppressions",
    "message_detail",
]


@dataclass(frozen=True)
class MessageSummary:
    id: int
    ses_message_id: str | None
    sender: str
    subject: str
    status: str
    created_at: dt.datetime
    recipients: int
    first_recipient: str


@dataclass(frozen=True)
class EventRecord:
    kind: str
    subtype: str | None
    recipient: str | None
    action: str
    occurred_at: dt.datetime | None
    received_at: dt.datetime


@dataclass(frozen=True)
class MessageDetail:
    message: MessageRecord
    created_at: dt.datetime
    sent_at: dt.datetime | None
    configuration_set: str | None
    events: list[EventRecord]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def find_messages(
    store: Store,
    *,
    text: str = "",
    status: str = "",
    limit: int = 50,
    offset: int = 0,
) -> list[MessageSummary]:
    """Newest first; ``text`` matches a recipient, the subject or the SES message id,
    ``status`` the message's or one of its recipients' status."""
    # PostgreSQL text cannot hold NUL, so no stored value contains one: searching for it
    # must find nothing rather than fail.
    text, status = text.replace("\x00", ""), status.replace("\x00", "")
    recipients = (
        select(
            RecipientRow.message_id,
            func.count().label("n"),
            func.min(RecipientRow.address).label("first"),
        )
        .group_by(RecipientRow.message_id)
        .subquery()
    )
    query = (
        select(MessageRow, recipients.c.n, recipients.c.first)
        .join(recipients, recipients.c.message_id == MessageRow.id)
        .order_by(MessageRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if text.strip():
        pattern = _like(text.strip())
        matching = select(RecipientRow.message_id).where(
            RecipientRow.address.like(pattern, escape="\\")
        )
        query = query.where(
            or_(
                MessageRow.id.in_(matching),
                func.lower(MessageRow.subject).like(pattern, escape="\\"),
                func.lower(MessageRow.ses_message_id).like(pattern, escape="\\"),
            )
        )
    if status:
        with_status = select(RecipientRow.message_id).where(RecipientRow.status == status)
        query = query.where(or_(MessageRow.status == status, MessageRow.id.in_(with_status)))
    with store.transaction() as session:
        return [
            MessageSummary(
                id=row.id,
                ses_message_id=row.ses_message_id,
                sender=row.sender,
                subject=row.subject,
                status=row.status,
                created_at=_aware(row.created_at),
                recipients=int(n),
                first_recipient=str(first),
            )
            for row, n, first in session.execute(query).all()
        ]


def message_detail(store: Store, message_id: int) -> MessageDetail | None:
    """One message, every recipient, and every feedback event in time order."""
    with store.transaction() as session:
        row = session.get(MessageRow, message_id)
        if row is None:
            return None
        events: list[EventRecord] = []
        if row.ses_message_id:
            found = session.scalars(
                select(FeedbackEventRow)
                .where(FeedbackEventRow.ses_message_id == row.ses_message_id)
                .order_by(FeedbackEventRow.occurred_at, FeedbackEventRow.id)
            )
            events = [
                EventRecord(
                    kind=e.kind,
                    subtype=e.subtype,
                    recipient=e.recipient,
                    action=e.action,
                    occurred_at=_aware(e.occurred_at) if e.occurred_at else None,
                    received_at=_aware(e.received_at),
                )
                for e in found
            ]
        return MessageDetail(
            message=_message_record(row),
            created_at=_aware(row.created_at),
            sent_at=_aware(row.sent_at) if row.sent_at else None,
            configuration_set=row.configuration_set,
            events=events,
        )


def find_suppressions(store: Store, *, text: str = "", reason: str = "") -> list[Suppression]:
    """Entries whose address contains ``text``, with ``reason`` if given, by address."""
    wanted = text.replace("\x00", "").strip().lower()
    reason = reason.replace("\x00", "")
    return [s for s in store.suppressions(reason=reason or None) if wanted in s.address]
