"""Many sends recorded at once: a bulk call's destinations in one transaction each way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from courrier.statuses import MessageStatus, RecipientStatus
from courrier.store import rollups
from courrier.store.store import Store
from courrier.store.tables import MessageRow, RecipientRow, utcnow

__all__ = ["NewMessage", "Outcome", "finish_sends", "record_messages"]


@dataclass(frozen=True)
class NewMessage:
    sender: str
    subject: str
    configuration_set: str | None
    #: (address, kind, status)
    recipients: Sequence[tuple[str, str, str]]


@dataclass(frozen=True)
class Outcome:
    record_id: int
    status: MessageStatus
    ses_message_id: str | None = None
    error: str | None = None


def record_messages(store: Store, messages: Sequence[NewMessage]) -> list[int]:
    """Store messages before they are sent (as ``Store.record_message``), in one transaction."""
    with store.transaction() as session:
        rows = []
        for message in messages:
            row = MessageRow(
                sender=message.sender,
                subject=message.subject,
                configuration_set=message.configuration_set,
                status=MessageStatus.PENDING,
            )
            row.recipients = [
                RecipientRow(address=address.lower(), kind=kind, status=status)
                for address, kind, status in message.recipients
            ]
            rows.append(row)
        session.add_all(rows)
        session.flush()
        rollups.refresh(session, message_ids=[row.id for row in rows])
        return [row.id for row in rows]


def finish_sends(store: Store, outcomes: Sequence[Outcome]) -> None:
    """Record outcomes (as ``Store.finish_send``) in one transaction."""
    if not outcomes:
        return
    by_id = {outcome.record_id: outcome for outcome in outcomes}
    now = utcnow()
    with store.transaction() as session:
        for row in session.scalars(
            select(MessageRow)
            .where(MessageRow.id.in_(by_id))
            .options(selectinload(MessageRow.recipients))
        ):
            outcome = by_id[row.id]
            row.status = outcome.status
            row.error = outcome.error
            if outcome.ses_message_id:
                row.ses_message_id = outcome.ses_message_id
                row.sent_at = now
            for recipient in row.recipients:
                if recipient.status == RecipientStatus.PENDING:
                    recipient.status = outcome.status
                    recipient.updated_at = now
        session.flush()
        # The rates count these recipients from now on (courrier.store.rollups).
        rollups.refresh(session, message_ids=list(by_id))
