"""Rollups of what the rates count, kept in the transaction that changes it.

Each recipient carries :class:`Flag` bits (``recipients.flags``): whether SES was asked to
send to it, whether it is simulator traffic, and which feedback it got. ``recipient_hours``
counts the recipients of the messages created in each UTC hour per combination of bits (and,
under ``flags`` = :data:`MESSAGES`, the messages SES accepted for at least one recipient).

A change is never applied as a delta guessed from one event: :func:`refresh` recomputes the
bits of every recipient of the messages it is given from the stored rows, and moves the
recipients whose bits changed from one rollup row to another. Applying the same feedback
twice, in any order, or after a crash that rolled a batch back, ends in the same counts as a
full recount (:func:`rebuild`). The store's writers call it: ``Store.record_message`` and
``finish_send``, ``store.sends`` and ``feedback.apply``.

The recipients of a message sent for an SES tenant are counted twice, in the same
transaction: in ``recipient_hours`` (the account's figures, as SES counts the account) and
in ``tenant_recipient_hours`` under the tenant's name (its own figures, as SES counts its
reputation entity), so that one tenant's rates read its own rows (:func:`tenant_hours`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Mapping
from enum import IntFlag
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from courrier.statuses import RecipientStatus, event_status
from courrier.store.tables import (
    FeedbackEventRow,
    MessageRow,
    RecipientHourRow,
    RecipientRow,
    TenantRecipientHourRow,
    utcnow,
)

__all__ = [
    "MESSAGES",
    "NO_COMPLAINT_FEEDBACK_DOMAINS",
    "Flag",
    "count_new",
    "event_flags",
    "hold_recipients",
    "hold_ses_ids",
    "hour_of",
    "new_flags",
    "rebuild",
    "recipient_flags",
    "refresh",
    "tenant_hours",
]

SIMULATOR_DOMAIN = "simulator.amazonses.com"
ACCOUNT_LIST = "OnAccountSuppressionList"
#: A tenant's own list: SES never attempted the recipient either (counted as ACCOUNT_LISTED).
TENANT_LIST = "OnTenantSuppressionList"
#: The domains whose recipients get :attr:`Flag.NO_COMPLAINT_FEEDBACK` (the default of the
#: ``reputation_no_complaint_feedback_domains`` setting; other lists are counted from rows).
NO_COMPLAINT_FEEDBACK_DOMAINS = ("gmail.com", "googlemail.com")
#: The ``flags`` of the rollup rows that count messages, not recipients.
MESSAGES = -1
_ROWS_PER_STATEMENT = 500


class Flag(IntFlag):
    """What counts about one recipient (frozen in migration 0006; a change needs a recount)."""

    #: SES was asked to send to it: its message has an SES id and it was not suppressed.
    SENT = 1
    #: Dropped at send: it was on courrier's suppression list.
    SUPPRESSED_AT_SEND = 2
    SIMULATOR = 4
    #: In a domain that sends SES no complaint feedback (see NO_COMPLAINT_FEEDBACK_DOMAINS).
    NO_COMPLAINT_FEEDBACK = 8
    DELIVERED = 16
    HARD_BOUNCE = 32
    SOFT_BOUNCE = 64
    AUTO_REPLY = 128
    COMPLAINED = 256
    REJECTED = 512
    #: On the account-level suppression list, or the tenant's: SES never attempted it.
    ACCOUNT_LISTED = 1024
    #: Accepted, then never sent: the template data did not fit the template.
    RENDERING_FAILURE = 2048


def hour_of(created_at: dt.datetime) -> int:
    """Hours since the epoch of a (UTC) time: the rollup row it is counted in."""
    aware = created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.UTC)
    return int(aware.timestamp()) // 3600


def event_flags(kind: str, subtype: str | None, action: str) -> Flag:
    """The bits one stored feedback event gives its recipient."""
    subtype = subtype or ""
    flags = Flag(0)
    if kind == "Delivery":
        flags |= Flag.DELIVERED
    elif kind == "Bounce":
        if subtype.startswith("Permanent/"):
            flags |= Flag.HARD_BOUNCE
        if subtype in (f"Permanent/{ACCOUNT_LIST}", f"Permanent/{TENANT_LIST}"):
            flags |= Flag.ACCOUNT_LISTED
        if action == "count_soft_bounce":
            flags |= Flag.SOFT_BOUNCE
        elif action == "record":
            flags |= Flag.AUTO_REPLY
    elif kind == "Complaint":
        flags |= Flag.COMPLAINED
        if subtype == ACCOUNT_LIST:
            flags |= Flag.ACCOUNT_LISTED
    elif kind == "Reject":
        flags |= Flag.REJECTED
    elif kind == "Rendering Failure":
        flags |= Flag.RENDERING_FAILURE
    return flags


def recipient_flags(ses_message_id: str | None, status: str, address: str, events: Flag) -> Flag:
    """A recipient's bits from its message's SES id, its status, its address and the bits of
    its feedback events."""
    flags = events
    if status == RecipientStatus.SUPPRESSED:
        flags |= Flag.SUPPRESSED_AT_SEND
    elif ses_message_id is not None:
        flags |= Flag.SENT
    if address.endswith(f"@{SIMULATOR_DOMAIN}"):
        flags |= Flag.SIMULATOR
    if any(address.endswith(f"@{domain}") for domain in NO_COMPLAINT_FEEDBACK_DOMAINS):
        flags |= Flag.NO_COMPLAINT_FEEDBACK
    return flags


#: The first key of the advisory locks :func:`hold_ses_ids` takes ("SES!" in ASCII); the
#: second is the hash of an SES message id.
SES_ID_LOCKS = 0x53455321
#: The first key of :func:`hold_recipients`' locks ("RCP!"); the second hashes an address.
RECIPIENT_LOCKS = 0x52435021
_HOLD = text(
    "SELECT pg_advisory_xact_lock(:space, h) FROM"
    " (SELECT DISTINCT hashtext(x) AS h FROM unnest(CAST(:ids AS text[])) AS x ORDER BY h) AS held"
)


def hold_ses_ids(connection: Connection, ses_message_ids: Collection[str]) -> None:
    """PostgreSQL: take a lock per SES message id until the transaction ends (in hash
    order, so that two holders never wait crosswise).

    A send's outcome records its SES id and then reads the feedback already stored for it;
    applying feedback stores events and then finds their messages by SES id. Under READ
    COMMITTED each would miss what the other has not committed yet, and a bounce applied
    in between would be counted by neither. Both hold their ids first, so the second waits
    for the first to commit and then sees its rows. SQLite runs one writer at a time.
    """
    _hold(connection, SES_ID_LOCKS, ses_message_ids)


def hold_recipients(connection: Connection, addresses: Collection[str]) -> None:
    """PostgreSQL: a lock per recipient address (any case) until the transaction ends, taken
    after :func:`hold_ses_ids`.

    Whether a soft bounce suppresses its recipient depends on the recipient's other soft
    bounces, which a delivery of another message can turn into auto-replies: the two
    transactions take turns, so that neither decides on what the other has not committed.
    """
    _hold(connection, RECIPIENT_LOCKS, {address.lower() for address in addresses})


def _hold(connection: Connection, space: int, keys: Collection[str]) -> None:
    if connection.dialect.name == "postgresql" and keys:
        connection.execute(_HOLD, {"space": space, "ids": sorted(keys)})


def refresh(
    session: Session,
    *,
    message_ids: Collection[int] = (),
    ses_message_ids: Collection[str] = (),
    settle: Mapping[int, str] | None = None,
    restate: Collection[tuple[str, str]] = (),
) -> None:
    """Recount every recipient of these messages, in the caller's transaction.

    ``settle`` (message id -> status) is a send's outcome: the message's recipients still
    pending take that status in the same statement that moves their bits. ``restate``
    names (SES message id, recipient) pairs left ``soft_bounced`` by a bounce that is no
    longer counted (an auto-reply whose delivery came later): they take the status their
    events give now, the one place a status moves down.

    On PostgreSQL the recipients are locked first (``FOR UPDATE``) and their events read
    after: two transactions refreshing the same recipient take turns, and the second sees
    what the first committed, so neither moves it from a row it has already left.
    """
    if not message_ids and not ses_message_ids:
        return
    connection = session.connection()
    recipients = _locked_recipients(connection, message_ids, ses_message_ids)
    if not recipients:
        return
    events = _events(connection, {r.ses_message_id for r in recipients if r.ses_message_id})
    moves = _Moves()
    changed: list[dict[str, object]] = []
    settled: list[dict[str, object]] = []
    now = utcnow()
    for r in recipients:
        status = r.status
        if settle is not None and status == RecipientStatus.PENDING and r.message_id in settle:
            # Feedback applied before the outcome found no message with this SES id yet
            # (its statuses moved nobody): the recipient takes the strongest at once.
            status = events.strongest(r.ses_message_id, r.address, settle[r.message_id])
        elif status == RecipientStatus.SOFT_BOUNCED and (r.ses_message_id, r.address) in restate:
            status = events.strongest(r.ses_message_id, r.address, RecipientStatus.SENT)
        flags = events.flags.get((r.ses_message_id or "", r.address), Flag(0))
        new = int(recipient_flags(r.ses_message_id, status, r.address, flags))
        moves.move(r.message_id, hour_of(r.created_at), r.tenant, r.flags, new)
        if status != r.status:
            settled.append({"b_id": r.id, "b_flags": new, "b_status": status, "b_now": now})
        elif r.flags != new:
            changed.append({"b_id": r.id, "b_flags": new})
    if changed:
        connection.execute(_set_flags(), changed)
    if settled:
        connection.execute(_settle(), settled)
    moves.apply(connection)


def new_flags(address: str, status: str) -> int:
    """The bits of a recipient recorded before its send: no SES id, no feedback yet."""
    return int(recipient_flags(None, status, address, Flag(0)))


def count_new(
    connection: Connection, recipients: Iterable[tuple[dt.datetime, str | None, int]]
) -> None:
    """Count recipients just inserted with their :func:`new_flags`, as (message's
    ``created_at``, tenant, flags): what :func:`refresh` would find, without reading them
    back (nothing else can see them before the caller commits)."""
    moves = _Moves()
    for created_at, tenant, flags in recipients:
        moves.add(hour_of(created_at), tenant, flags, 1)
    moves.apply(connection)


class _Moves:
    """Recipients moving between rollup rows, summed per row, then one upsert per table."""

    def __init__(self) -> None:
        self.deltas: dict[tuple[int, int], int] = {}
        self.tenant_deltas: dict[tuple[int, str, int], int] = {}
        #: message id -> (hour, tenant, sent before, sent now): whether it counts as sent.
        self._sent: dict[int, tuple[int, str | None, bool, bool]] = {}

    def add(self, hour: int, tenant: str | None, flags: int, count: int) -> None:
        self.deltas[(hour, flags)] = self.deltas.get((hour, flags), 0) + count
        if tenant:
            key = (hour, tenant, flags)
            self.tenant_deltas[key] = self.tenant_deltas.get(key, 0) + count

    def move(
        self, message_id: int, hour: int, tenant: str | None, old: int | None, new: int
    ) -> None:
        _, _, was, now = self._sent.get(message_id, (hour, tenant, False, False))
        self._sent[message_id] = (
            hour,
            tenant,
            was or bool((old or 0) & Flag.SENT),
            now or bool(new & Flag.SENT),
        )
        if old == new:
            return
        if old is not None:
            self.add(hour, tenant, old, -1)
        self.add(hour, tenant, new, 1)

    def apply(self, connection: Connection) -> None:
        for hour, tenant, was, now in self._sent.values():
            if was != now:
                self.add(hour, tenant, MESSAGES, 1 if now else -1)
        _bump(connection, self.deltas)
        _bump_tenants(connection, self.tenant_deltas)


def _locked_recipients(
    connection: Connection, message_ids: Collection[int], ses_message_ids: Collection[str]
) -> list[Any]:
    if message_ids:
        found = connection.execute(_recipients_of(by_ses_id=False), {"ids": sorted(message_ids)})
    else:
        found = connection.execute(_recipients_of(by_ses_id=True), {"ids": sorted(ses_message_ids)})
    return list(found.all())


@functools.cache
def _recipients_of(*, by_ses_id: bool) -> Any:
    """The recipients of some messages (by id, or by SES id), locked."""
    key = MessageRow.ses_message_id if by_ses_id else RecipientRow.message_id
    query = (
        select(
            RecipientRow.id,
            RecipientRow.message_id,
            RecipientRow.address,
            RecipientRow.status,
            RecipientRow.flags,
            MessageRow.ses_message_id,
            MessageRow.created_at,
            MessageRow.tenant,
        )
        .join(MessageRow, RecipientRow.message_id == MessageRow.id)
        .where(key.in_(bindparam("ids", expanding=True)))
    )
    # Locked in id order: two transactions never wait for each other's rows crosswise.
    return query.order_by(RecipientRow.id).with_for_update(of=RecipientRow)


@functools.cache
def _events_of() -> Any:
    return select(
        FeedbackEventRow.ses_message_id,
        FeedbackEventRow.recipient,
        FeedbackEventRow.kind,
        FeedbackEventRow.subtype,
        FeedbackEventRow.action,
    ).where(FeedbackEventRow.ses_message_id.in_(bindparam("ids", expanding=True)))


class _Events:
    """The feedback of some messages: each recipient's bits, and the strongest status its
    events (and its message's events that name no recipient) move it up to."""

    def __init__(self) -> None:
        self.flags: dict[tuple[str, str], Flag] = {}
        self._strongest: dict[tuple[str, str | None], RecipientStatus] = {}

    def add(
        self, ses_id: str, recipient: str | None, kind: str, subtype: str | None, action: str
    ) -> None:
        if recipient is not None:
            key = (ses_id, recipient)
            self.flags[key] = self.flags.get(key, Flag(0)) | event_flags(kind, subtype, action)
        status = event_status(kind, subtype, action)
        if status is not None:
            self._raise((ses_id, recipient), status)

    def _raise(self, key: tuple[str, str | None], status: RecipientStatus) -> None:
        current = self._strongest.get(key)
        if current is None or status.rank > current.rank:
            self._strongest[key] = status

    def strongest(self, ses_id: str | None, address: str, status: str) -> str:
        """``status``, or a stronger one this recipient's events give."""
        best = RecipientStatus(status)
        if ses_id is not None:
            for key in ((ses_id, address), (ses_id, None)):
                found = self._strongest.get(key)
                if found is not None and found.rank > best.rank:
                    best = found
        return str(best)


def _events(connection: Connection, ses_message_ids: Collection[str]) -> _Events:
    found = _Events()
    if ses_message_ids:
        rows = connection.execute(_events_of(), {"ids": sorted(ses_message_ids)})
        for ses_id, recipient, kind, subtype, action in rows:
            found.add(str(ses_id), recipient, kind, subtype, action)
    return found


@functools.cache
def _set_flags() -> Any:
    return (
        update(RecipientRow)
        .where(RecipientRow.id == bindparam("b_id"))
        .values(flags=bindparam("b_flags"))
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _settle() -> Any:
    return (
        update(RecipientRow)
        .where(RecipientRow.id == bindparam("b_id"))
        .values(
            flags=bindparam("b_flags"), status=bindparam("b_status"), updated_at=bindparam("b_now")
        )
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _bump_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(RecipientHourRow.__table__)
    table = RecipientHourRow.__table__
    return statement.on_conflict_do_update(
        index_elements=["hour", "flags"],
        set_={"recipients": table.c.recipients + statement.excluded.recipients},
    )


def _bump(connection: Connection, deltas: Mapping[tuple[int, int], int]) -> None:
    """Add the deltas to the rollup rows: one upsert for the batch, rows in key order so
    that concurrent transactions lock them in the same order."""
    rows = [
        {"hour": hour, "flags": flags, "recipients": delta}
        for (hour, flags), delta in sorted(deltas.items())
        if delta
    ]
    if not rows:
        return
    statement = _bump_statement(connection.dialect.name)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        connection.execute(statement, rows[start : start + _ROWS_PER_STATEMENT])


@functools.cache
def _bump_tenant_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    table = TenantRecipientHourRow.__table__
    statement = module.insert(table)
    return statement.on_conflict_do_update(
        index_elements=["tenant", "hour", "flags"],
        set_={"recipients": table.c.recipients + statement.excluded.recipients},
    )


def _bump_tenants(connection: Connection, deltas: Mapping[tuple[int, str, int], int]) -> None:
    """:func:`_bump` for the tenants' rows."""
    rows = [
        {"hour": hour, "tenant": tenant, "flags": flags, "recipients": delta}
        for (hour, tenant, flags), delta in sorted(deltas.items())
        if delta
    ]
    if not rows:
        return
    statement = _bump_tenant_statement(connection.dialect.name)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        connection.execute(statement, rows[start : start + _ROWS_PER_STATEMENT])


def rebuild(session: Session, *, chunk: int = 500) -> None:
    """Recount every recipient from scratch (a repair, or after rows were changed behind
    the store's back, e.g. a message's ``created_at``)."""
    session.execute(delete(RecipientHourRow))
    session.execute(delete(TenantRecipientHourRow))
    session.execute(update(RecipientRow).values(flags=None))
    ids = session.scalars(select(MessageRow.id).order_by(MessageRow.id)).all()
    for start in range(0, len(ids), chunk):
        refresh(session, message_ids=ids[start : start + chunk])


def hours(session: Session, first: int, last: int | None = None) -> Iterable[tuple[int, int, int]]:
    """(hour, flags, count) of the rollup rows from hour ``first`` up to ``last`` (excluded)."""
    query = select(
        RecipientHourRow.hour, RecipientHourRow.flags, func.sum(RecipientHourRow.recipients)
    ).where(RecipientHourRow.hour >= first)
    if last is not None:
        query = query.where(RecipientHourRow.hour < last)
    query = query.group_by(RecipientHourRow.hour, RecipientHourRow.flags)
    return [(int(h), int(f), int(n)) for h, f, n in session.execute(query).all() if n]


def tenant_hours(
    session: Session, tenant: str, first: int, last: int | None = None
) -> Iterable[tuple[int, int, int]]:
    """:func:`hours` for the messages sent for ``tenant`` only."""
    table = TenantRecipientHourRow
    query = select(table.hour, table.flags, func.sum(table.recipients)).where(
        table.tenant == tenant, table.hour >= first
    )
    if last is not None:
        query = query.where(table.hour < last)
    query = query.group_by(table.hour, table.flags)
    return [(int(h), int(f), int(n)) for h, f, n in session.execute(query).all() if n]
