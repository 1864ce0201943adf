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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from courrier.errors import StoreError
from courrier.statuses import MessageStatus, OutboxStatus, RecipientStatus
from courrier.store import outbox as outbox_rows
from courrier.store import rollups
from courrier.store.engine import aware
from courrier.store.send_rate import Grant, TokenRequest, take_in
from courrier.store.store import Store
from courrier.store.tables import (
    MessageRow,
    RecipientRow,
    SuppressionRow,
    TenantSuppressionRow,
    table_of,
    utcnow,
)
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
    #: What the row says of its tenant's hold (SES paused the tenant, or the probe passed).
    hold: outbox_rows.Hold | None = None


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
    #: The SES tenant it is sent for (None: the account's).
    tenant: str | None = None


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


# Every send runs these: SQLAlchemy Core on the tables, built once, so a send builds no ORM
# objects and its statements come from SQLAlchemy's compiled cache.
_MESSAGES = table_of(MessageRow)
_RECIPIENTS = table_of(RecipientRow)
_SUPPRESSIONS = table_of(SuppressionRow)
_SUPPRESSED = select(_SUPPRESSIONS.c.address, _SUPPRESSIONS.c.expires_at).where(
    _SUPPRESSIONS.c.address.in_(bindparam("addresses", expanding=True))
)
_TENANT_SUPPRESSIONS = table_of(TenantSuppressionRow)
_TENANT_SUPPRESSED = select(
    _TENANT_SUPPRESSIONS.c.address, _TENANT_SUPPRESSIONS.c.expires_at
).where(
    _TENANT_SUPPRESSIONS.c.tenant == bindparam("tenant"),
    _TENANT_SUPPRESSIONS.c.address.in_(bindparam("addresses", expanding=True)),
)
#: One statement for every message of an intent (SQLAlchemy's "insertmanyvalues"), the ids
#: in the order given.
_INSERT_MESSAGES = insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True)
_INSERT_RECIPIENTS = insert(_RECIPIENTS)
_FINISH_MESSAGE = update(_MESSAGES).where(_MESSAGES.c.id == bindparam("record_id"))


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
        connection = session.connection()
        marked: dict[Any, RecipientStatus] = {}
        if check_suppression:
            addresses = [a for m in messages for a, _, _ in m.recipients]
            marked.update(
                dict.fromkeys(_suppressed(connection, addresses), RecipientStatus.SUPPRESSED)
            )
            marked.update(_unsubscribed(session, messages))
            marked.update(_tenant_suppressed(connection, messages))
        started = [_started(session, message) for message in messages]
        begun = _record(
            connection, [m for m, ok in zip(messages, started, strict=True) if ok], marked
        )
        ordered = tuple(next(begun) if ok else Begun(None, ()) for ok in started)
        count = sum(len(b.sendable) for b in ordered)
        grant = take_in(session, tokens, count) if tokens is not None and count else None
        return Intent(ordered, grant)


def _started(session: Session, message: NewMessage) -> bool:
    return message.outbox is None or outbox_rows.start_in(
        session, message.outbox.entry_id, claimer=message.outbox.claimer
    )


def _record(
    connection: Connection, messages: Sequence[NewMessage], marked: Mapping[Any, RecipientStatus]
) -> Iterator[Begun]:
    """Insert ``messages`` (one statement) and their recipients (one more), counted in the
    rates' rollups (one more) as they are: nothing sent yet, no feedback."""
    if not messages:
        return iter(())
    now = utcnow()
    ids = connection.execute(
        _INSERT_MESSAGES,
        [
            {
                "sender": m.sender,
                "subject": m.subject,
                "configuration_set": m.configuration_set,
                "status": m.status,
                "tenant": m.tenant,
                "created_at": now,
            }
            for m in messages
        ],
    ).scalars()
    begun = [
        (Begun(record_id, _marked(message, marked)), message.tenant)
        for record_id, message in zip(ids, messages, strict=True)
    ]
    rows: list[dict[str, object]] = []
    counted: list[tuple[dt.datetime, str | None, int]] = []
    for b, tenant in begun:
        for address, kind, status in b.recipients:
            flags = rollups.new_flags(address.lower(), status)
            rows.append(
                {
                    "message_id": b.record_id,
                    "address": address.lower(),
                    "kind": kind,
                    "status": status,
                    "updated_at": now,
                    "flags": flags,
                }
            )
            counted.append((now, tenant, flags))
    if rows:
        connection.execute(_INSERT_RECIPIENTS, rows)
        rollups.count_new(connection, counted)
    return iter(b for b, _ in begun)


def _unsubscribed(
    session: Session, messages: Sequence[NewMessage]
) -> dict[tuple[str, str | None, str | None], RecipientStatus]:
    """(address, list, tenant) -> unsubscribed, for the bulk messages' recipients
    (lower-cased): one query per list and tenant."""
    lists: dict[tuple[str | None, str | None], set[str]] = {}
    for message in messages:
        if message.bulk:
            lists.setdefault((message.list_name, message.tenant), set()).update(
                a for a, _, _ in message.recipients
            )
    return {
        (address, name, tenant): RecipientStatus.UNSUBSCRIBED
        for (name, tenant), addresses in lists.items()
        for address in unsubscribed_in(session, addresses, name, tenant=tenant)
    }


def _status(
    address: str, status: str, message: NewMessage, marked: Mapping[Any, RecipientStatus]
) -> str:
    if status != RecipientStatus.PENDING:
        return status
    found = address.lower()
    if found in marked:
        return marked[found]  # suppressed: stronger than an unsubscribe
    if message.tenant is not None and (_TENANT, message.tenant, found) in marked:
        return RecipientStatus.SUPPRESSED  # for this tenant only
    if message.bulk:
        return marked.get((found, message.list_name, message.tenant), status)
    return status


def _marked(message: NewMessage, marked: Mapping[Any, RecipientStatus]) -> tuple[Recipient, ...]:
    return tuple(
        (address, kind, _status(address, status, message, marked))
        for address, kind, status in message.recipients
    )


_TENANT = "tenant"


def _tenant_suppressed(
    connection: Connection, messages: Sequence[NewMessage]
) -> dict[tuple[str, str, str], RecipientStatus]:
    """("tenant", tenant, address) -> suppressed, for the tenants' messages: one statement
    per tenant, none for the account's own messages."""
    by_tenant: dict[str, set[str]] = {}
    for message in messages:
        if message.tenant is not None:
            by_tenant.setdefault(message.tenant, set()).update(
                a.lower() for a, _, _ in message.recipients
            )
    now = utcnow()
    found: dict[tuple[str, str, str], RecipientStatus] = {}
    for tenant, addresses in by_tenant.items():
        rows = connection.execute(
            _TENANT_SUPPRESSED, {"tenant": tenant, "addresses": sorted(addresses)}
        )
        for address, expires in rows:
            if expires is None or aware(expires) > now:
                found[(_TENANT, tenant, address)] = RecipientStatus.SUPPRESSED
    return found


def _suppressed(connection: Connection, addresses: Sequence[str]) -> set[str]:
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return set()
    now = utcnow()
    found: set[str] = set()
    listed = sorted(wanted)
    for start in range(0, len(listed), 500):
        rows = connection.execute(_SUPPRESSED, {"addresses": listed[start : start + 500]})
        found.update(a for a, expires in rows if expires is None or aware(expires) > now)
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
        connection = session.connection()
        for outcome in outcomes:
            _finish(connection, session, outcome, now)
        rollups.hold_ses_ids(connection, {o.ses_message_id for o in outcomes if o.ses_message_id})
        # The recipients still pending take their message's status, and the rates count
        # them from now on (courrier.store.rollups), in one statement.
        rollups.refresh(
            session,
            message_ids=[outcome.record_id for outcome in outcomes],
            settle={outcome.record_id: outcome.status for outcome in outcomes},
        )


def _finish(connection: Connection, session: Session, outcome: Outcome, now: dt.datetime) -> None:
    values: dict[str, object] = {
        "record_id": outcome.record_id,
        "status": outcome.status,
        "error": outcome.error,
    }
    if outcome.ses_message_id:
        values.update(ses_message_id=outcome.ses_message_id, sent_at=now)
    # Two statements instead of loading the rows: the outcome is on every send's path.
    done = connection.execute(_FINISH_MESSAGE, values)
    if not done.rowcount:
        raise StoreError(f"no message {outcome.record_id}")
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
            hold=row.hold,
        )
