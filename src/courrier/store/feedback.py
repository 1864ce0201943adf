"""The queries that apply feedback, on a session the caller's transaction owns."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import FromClause, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from courrier.statuses import Action, RecipientStatus
from courrier.store.tables import (
    FeedbackEventRow,
    MessageRow,
    RecipientRow,
    SnsReceiptRow,
    utcnow,
)


@functools.cache
def _insert_statement(dialect: str, table: FromClause) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    key = next(iter(table.primary_key))
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT ... ON CONFLICT.
    return module.insert(table).on_conflict_do_nothing().returning(key)


def _insert(session: Session, table: FromClause, values: dict[str, object]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row was new.

    One statement per dialect and table, values as parameters: building the statement
    anew for every event cost more than running it.
    """
    statement = _insert_statement(session.get_bind().dialect.name, table)
    return session.execute(statement, values).first() is not None


def claim_sns_message(session: Session, sns_message_id: str) -> bool:
    return _insert(
        session,
        SnsReceiptRow.__table__,
        {"sns_message_id": sns_message_id, "received_at": utcnow()},
    )


def add_event(session: Session, values: dict[str, object]) -> bool:
    return _insert(session, FeedbackEventRow.__table__, {"received_at": utcnow(), **values})


def delivered_before(session: Session, ses_message_id: str, recipient: str) -> bool:
    found = session.scalar(
        select(FeedbackEventRow.id)
        .where(
            FeedbackEventRow.ses_message_id == ses_message_id,
            FeedbackEventRow.recipient == recipient,
            FeedbackEventRow.kind == "Delivery",
        )
        .limit(1)
    )
    return found is not None


def soft_bounces_since(session: Session, recipient: str, since: dt.datetime) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(FeedbackEventRow)
        .where(
            FeedbackEventRow.recipient == recipient,
            FeedbackEventRow.action == Action.COUNT_SOFT_BOUNCE,
            FeedbackEventRow.received_at >= since,
        )
    )
    return int(count or 0)


def raise_recipient_status(
    session: Session, ses_message_id: str, recipient: str | None, status: RecipientStatus
) -> None:
    """Move the recipient(s) of a sent message up to ``status`` (never down)."""
    weaker = [str(s) for s in RecipientStatus if s.rank < status.rank]
    message_ids = select(MessageRow.id).where(MessageRow.ses_message_id == ses_message_id)
    statement = (
        update(RecipientRow)
        .where(RecipientRow.message_id.in_(message_ids), RecipientRow.status.in_(weaker))
        .values(status=status, updated_at=utcnow())
    )
    if recipient:
        statement = statement.where(RecipientRow.address == recipient)
    session.execute(statement)
