"""Sends as the store records them: an intent before the call, an outcome after it.

A send is two transactions. The intent (:func:`begin_sends`) checks the suppression list,
records each message and its recipients, takes the send rate's tokens for the recipients left
(:func:`~courrier.store.send_rate.take_in`) and, for an outbox row, commits that it is
started (:func:`~courrier.store.outbox.start_in`): all or nothing, before SES is called. The
outcome (:func:`finish_sends`) records what SES answered, and the outbox row's fate, in one
more. Whatever else a send must update belongs in these two functions, so that it stays two
commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from courrier.errors import StoreError
from courrier.statuses import MessageStatus, OutboxStatus, RecipientStatus
from courrier.store import outbox as outbox_rows
from courrier.store.send_rate import Grant, TokenRequest, take_in
from courrier.store.store import Store, _aware
from courrier.store.tables import MessageRow, RecipientRow, SuppressionRow, utcnow
from courrier.store.unsubscribes import unsubscribed_in

__all__ = [
    "Begun",
    "Intent",
    "NewMessage",
    "OutboxFinish",
    "OutboxStart",
    "Outcome",
    "begin_sends",
    "finish_sends",
    "record_messages",
]

#: (address, kind, status)
Recipient = tuple[str, str, str]


@dataclass(frozen=True)
class OutboxStart:
    """The outbox row a send is for: started in the send's intent."""

    entry_id: int
    claimer: str


@dataclass(frozen=True)
class OutboxFinish:
    """What becomes of the outbox row, recorded with the send's outcome."""

    entry_id: int
    claimer: str
    status: OutboxStatus
    error: str | None = None
    next_attempt_at: dt.datetime | None = None


@dataclass(frozen=True)
class NewMessage:
    sender: str
    subject: str
    configuration_set: str | None
    #: (address, kind, status)
    recipients: Sequence[Recipient]
    outbox: OutboxStart | None = None
    status: MessageStatus = MessageStatus.PENDING
    #: Bulk mail: recipients who left ``list_name`` (or every list) are marked unsubscribed.
    bulk: bool = False
    list_name: str | None = None


@dataclass(frozen=True)
class Begun:
    """One message of an intent: its record, and its recipients with the suppressed marked.
    ``record_id`` is None when its outbox row was no longer the claimer's: nothing recorded,
    and it must not be sent."""

    record_id: int | None
    recipients: tuple[Recipient, ...]

    @property
    def sendable(self) -> list[str]:
        return [a for a, _, status in self.recipients if status == RecipientStatus.PENDING]


@dataclass(frozen=True)
class Intent:
    messages: tuple[Begun, ...]
    #: The tokens taken for every sendable recipient (None: none asked for, or none needed).
    grant: Grant | None = None


@dataclass(frozen=True)
class Outcome:
    record_id: int
    status: MessageStatus
    ses_message_id: str | None = None
    error: str | None = None
    outbox: OutboxFinish | None = None


def begin_sends(
    store: Store,
    messages: Sequence[NewMessage],
    *,
    tokens: TokenRequest | None = None,
    check_suppression: bool = True,
) -> Intent:
    """The intent of a send, in one transaction (see the module): each message recorded with
    its suppressed recipients marked, its outbox row started, and ``tokens`` taken for every
    recipient left."""
    with store.transaction() as session:
        marked: dict[Any, RecipientStatus] = {}
        if check_suppression:
            addresses = [a for m in messages for a, _, _ in m.recipients]
            marked.update(
                dict.fromkeys(_suppressed(session, addresses), RecipientStatus.SUPPRESSED)
            )
            marked.update(_unsubscribed(session, messages))
        begun = [_begin(session, message, marked) for message in messages]
        count = sum(len(b.sendable) for b in begun)
        grant = take_in(session, tokens, count) if tokens is not None and count else None
        return Intent(tuple(begun), grant)


def _unsubscribed(
    session: Session, messages: Sequence[NewMessage]
) -> dict[tuple[str, str | None], RecipientStatus]:
    """(address, list) -> unsubscribed, for the bulk messages' recipients (lower-cased)."""
    lists: dict[str | None, set[str]] = {}
    for message in messages:
        if message.bulk:
            lists.setdefault(message.list_name, set()).update(a for a, _, _ in message.recipients)
    return {
        (address, name): RecipientStatus.UNSUBSCRIBED
        for name, addresses in lists.items()
        for address in unsubscribed_in(session, addresses, name)
    }


def _status(
    address: str, status: str, message: NewMessage, marked: Mapping[Any, RecipientStatus]
) -> str:
    if status != RecipientStatus.PENDING:
        return status
    found = address.lower()
    if found in marked:
        return marked[found]  # suppressed: stronger than an unsubscribe
    if message.bulk:
        return marked.get((found, message.list_name), status)
    return status


def _begin(
    session: Session, message: NewMessage, suppressed: Mapping[Any, RecipientStatus]
) -> Begun:
    if message.outbox is not None and not outbox_rows.start_in(
        session, message.outbox.entry_id, claimer=message.outbox.claimer
    ):
        return Begun(None, ())
    recipients = tuple(
        (address, kind, _status(address, status, message, suppressed))
        for address, kind, status in message.recipients
    )
    row = MessageRow(
        sender=message.sender,
        subject=message.subject,
        configuration_set=message.configuration_set,
        status=message.status,
    )
    row.recipients = [
        RecipientRow(address=address.lower(), kind=kind, status=status)
        for address, kind, status in recipients
    ]
    session.add(row)
    session.flush()
    return Begun(row.id, recipients)


def _suppressed(session: Session, addresses: Sequence[str]) -> set[str]:
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return set()
    now = utcnow()
    found: set[str] = set()
    listed = sorted(wanted)
    for start in range(0, len(listed), 500):
        rows = session.execute(
            select(SuppressionRow.address, SuppressionRow.expires_at).where(
                SuppressionRow.address.in_(listed[start : start + 500])
            )
        ).all()
        found.update(a for a, expires in rows if expires is None or _aware(expires) > now)
    return found


def record_messages(store: Store, messages: Sequence[NewMessage]) -> list[int]:
    """Store messages before they are sent, as given (no suppression check), in one
    transaction."""
    intent = begin_sends(store, messages, check_suppression=False)
    return [b.record_id for b in intent.messages if b.record_id is not None]


def finish_sends(store: Store, outcomes: Sequence[Outcome]) -> None:
    """Record outcomes, and the outbox rows they settle, in one transaction: recipients still
    pending take the message's status. :class:`~courrier.errors.StoreError` when a message
    does not exist."""
    if not outcomes:
        return
    now = utcnow()
    with store.transaction() as session:
        for outcome in outcomes:
            _finish(session, outcome, now)


def _finish(session: Session, outcome: Outcome, now: dt.datetime) -> None:
    values: dict[str, object] = {"status": outcome.status, "error": outcome.error}
    if outcome.ses_message_id:
        values.update(ses_message_id=outcome.ses_message_id, sent_at=now)
    # Two statements instead of loading the rows: the outcome is on every send's path.
    done = session.execute(
        update(MessageRow).where(MessageRow.id == outcome.record_id).values(**values)
    )
    if not getattr(done, "rowcount", 0):
        raise StoreError(f"no message {outcome.record_id}")
    session.execute(
        update(RecipientRow)
        .where(
            RecipientRow.message_id == outcome.record_id,
            RecipientRow.status == RecipientStatus.PENDING,
        )
        .values(status=outcome.status, updated_at=now)
    )
    if outcome.outbox is not None:
        row = outcome.outbox
        outbox_rows.finish_in(
            session,
            row.entry_id,
            claimer=row.claimer,
            status=row.status,
            error=row.error,
            message_id=outcome.record_id,
            next_attempt_at=row.next_attempt_at,
        )
