"""Finding messages, their event timelines, and suppression entries (the dashboard's queries)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import Session

from courrier.store.engine import aware
from courrier.store.store import MessageRecord, Store, Suppression, _message_record
from courrier.store.subjects import subject_ids
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


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefixed(column: Any, wanted: str, dialect: str) -> Any:
    """``column`` starts with ``wanted`` (both lower-case), in a form its index serves.

    PostgreSQL's address index has pattern operators, which serve ``LIKE 'prefix%'``.
    SQLite's LIKE folds ASCII case, so its (binary) index cannot serve LIKE: the prefix is
    also asked as the range of the strings that start with it, which that index reads, and
    LIKE keeps the answer exactly what it was
    (https://sqlite.org/optoverview.html#the_like_optimization).
    """
    like = column.like(f"{_escaped(wanted)}%", escape="\\")
    if dialect != "sqlite":
        return like
    last = ord(wanted[-1])
    if last == 0x10FFFF:  # no character after it: the range has no upper end
        return and_(column >= wanted, like)
    return and_(column >= wanted, column < wanted[:-1] + chr(last + 1), like)


def _matching(session: Session, text: str, wanted_rows: int | None) -> Any:
    """Ids of the messages ``text`` finds: a recipient address that starts with it
    (addresses are stored lower-cased), the exact SES message id, or a subject that
    contains it (any case). An address (``@`` in the text) is looked up by its index alone.

    Each kind is its own query on its own index (the address index, the SES id's, the
    subjects' trigram index: :mod:`courrier.store.subjects`), and with ``wanted_rows`` each
    takes only its newest ``wanted_rows`` messages: the page is among them, whatever the
    store's size.
    """
    wanted = text.strip().lower()
    dialect = session.get_bind().dialect.name

    def newest(query: Any, column: Any) -> Any:
        query = query.distinct() if column is RecipientRow.message_id else query
        if wanted_rows is None:
            return query
        return query.order_by(column.desc()).limit(wanted_rows).subquery().select()

    by_address = newest(
        select(RecipientRow.message_id.label("id")).where(
            _prefixed(RecipientRow.address, wanted, dialect)
        ),
        RecipientRow.message_id,
    )
    if "@" in wanted:
        return MessageRow.id.in_(by_address)
    by_id = select(MessageRow.id.label("id")).where(MessageRow.ses_message_id == text.strip())
    by_subject = newest(*subject_ids(session, wanted))
    return MessageRow.id.in_(select(union(by_address, by_id, by_subject).subquery().c.id))


def _with_status(status: str, wanted: int) -> Any:
    """Ids of the newest ``wanted`` messages in ``status`` or with a recipient in it, each
    side read from its index in id order."""
    own = (
        select(MessageRow.id.label("id"))
        .where(MessageRow.status == status)
        .order_by(MessageRow.id.desc())
        .limit(wanted)
    )
    recipients = (
        select(RecipientRow.message_id.label("id"))
        .where(RecipientRow.status == status)
        .order_by(RecipientRow.message_id.desc())
        .limit(wanted)
    )
    both = union(own.subquery().select(), recipients.subquery().select()).subquery()
    return MessageRow.id.in_(select(both.c.id))


def find_messages(
    store: Store,
    *,
    text: str = "",
    status: str = "",
    limit: int = 50,
    offset: int = 0,
    tenant: str = "",
) -> list[MessageSummary]:
    """Newest first; ``text`` matches the beginning of a recipient address, the SES message
    id, or (text without ``@``) part of the subject; ``status`` the message's or one of its
    recipients' status; ``tenant`` the SES tenant it was sent for (ix_messages_tenant_id).

    The page of messages is taken first, then only its recipients are counted.
    """
    # PostgreSQL text cannot hold NUL, so no stored value contains one: searching for it
    # must find nothing rather than fail.
    text, status = text.replace("\x00", ""), status.replace("\x00", "")
    with store.transaction(read_only=True) as session:
        query = _page(text, status, tenant).limit(limit).offset(offset)
        if text.strip():
            # With a status or a tenant too, the text's matches are filtered again: all of
            # them are needed.
            wanted = None if status or tenant else offset + limit
            query = query.where(_matching(session, text, wanted))
        if status and not (text.strip() or tenant):
            query = query.where(_with_status(status, offset + limit))
        rows = list(session.scalars(query).all())
        recipients = _recipients(session, [row.id for row in rows])
    return [
        MessageSummary(
            id=row.id,
            ses_message_id=row.ses_message_id,
            sender=row.sender,
            subject=row.subject,
            status=row.status,
            created_at=aware(row.created_at),
            recipients=recipients[row.id][0],
            first_recipient=recipients[row.id][1],
        )
        for row in rows
        if row.id in recipients
    ]


def _page(text: str, status: str, tenant: str) -> Any:
    """The messages newest first, of ``tenant``, and in ``status`` when a text or a tenant
    narrows them too (alone, a status is read from its indexes: :func:`_with_status`)."""
    query = select(MessageRow).order_by(MessageRow.id.desc())
    if tenant:
        query = query.where(MessageRow.tenant == tenant.replace("\x00", ""))
    if status and (text.strip() or tenant):
        with_status = select(RecipientRow.message_id).where(
            RecipientRow.message_id == MessageRow.id, RecipientRow.status == status
        )
        query = query.where(or_(MessageRow.status == status, with_status.exists()))
    return query


def _recipients(session: Session, ids: list[int]) -> dict[int, tuple[int, str]]:
    """How many recipients each of the messages ``ids`` has, and the first address."""
    return {
        message_id: (int(n), str(first))
        for message_id, n, first in session.execute(
            select(RecipientRow.message_id, func.count(), func.min(RecipientRow.address))
            .where(RecipientRow.message_id.in_(ids))
            .group_by(RecipientRow.message_id)
        ).all()
    }


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
                    occurred_at=aware(e.occurred_at) if e.occurred_at else None,
                    received_at=aware(e.received_at),
                )
                for e in found
            ]
        return MessageDetail(
            message=_message_record(row),
            created_at=aware(row.created_at),
            sent_at=aware(row.sent_at) if row.sent_at else None,
            configuration_set=row.configuration_set,
            events=events,
        )


def find_suppressions(store: Store, *, text: str = "", reason: str = "") -> list[Suppression]:
    """Entries whose address contains ``text``, with ``reason`` if given, by address."""
    wanted = text.replace("\x00", "").strip().lower()
    reason = reason.replace("\x00", "")
    return [s for s in store.suppressions(reason=reason or None) if wanted in s.address]
