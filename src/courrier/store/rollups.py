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

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from courrier.statuses import RecipientStatus
from courrier.store.tables import (
    FeedbackEventRow,
    MessageRow,
    RecipientHourRow,
    RecipientRow,
    TenantRecipientHourRow,
)

__all__ = [
    "MESSAGES",
    "NO_COMPLAINT_FEEDBACK_DOMAINS",
    "Flag",
    "event_flags",
    "hour_of",
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


def refresh(
    session: Session,
    *,
    message_ids: Collection[int] = (),
    ses_message_ids: Collection[str] = (),
) -> None:
    """Recount every recipient of these messages, in the caller's transaction.

    On PostgreSQL the recipients are locked first (``FOR UPDATE``) and their events read
    after: two transactions refreshing the same recipient take turns, and the second sees
    what the first committed, so neither moves it from a row it has already left.
    """
    if not message_ids and not ses_message_ids:
        return
    recipients = _locked_recipients(session, message_ids, ses_message_ids)
    if not recipients:
        return
    events = _event_flags(session, {r.ses_message_id for r in recipients if r.ses_message_id})
    deltas: dict[tuple[int, int], int] = {}
    tenant_deltas: dict[tuple[int, str, int], int] = {}
    changed: list[dict[str, object]] = []
    was_sent: dict[int, tuple[int, bool, bool]] = {}
    tenants: dict[int, str] = {r.message_id: r.tenant for r in recipients if r.tenant}
    for r in recipients:
        hour = hour_of(r.created_at)
        new = int(
            recipient_flags(
                r.ses_message_id,
                r.status,
                r.address,
                events.get((r.ses_message_id or "", r.address), Flag(0)),
            )
        )
        before = was_sent.get(r.message_id, (hour, False, False))
        was_sent[r.message_id] = (
            hour,
            before[1] or bool((r.flags or 0) & Flag.SENT),
            before[2] or bool(new & Flag.SENT),
        )
        if r.flags == new:
            continue
        if r.flags is not None:
            deltas[(hour, r.flags)] = deltas.get((hour, r.flags), 0) - 1
        deltas[(hour, new)] = deltas.get((hour, new), 0) + 1
        if r.tenant:
            if r.flags is not None:
                old_key = (hour, r.tenant, r.flags)
                tenant_deltas[old_key] = tenant_deltas.get(old_key, 0) - 1
            new_key = (hour, r.tenant, new)
            tenant_deltas[new_key] = tenant_deltas.get(new_key, 0) + 1
        changed.append({"b_id": r.id, "b_flags": new})
    for message_id, (hour, old, new) in was_sent.items():
        if old != new:
            deltas[(hour, MESSAGES)] = deltas.get((hour, MESSAGES), 0) + (1 if new else -1)
            tenant = tenants.get(message_id)
            if tenant:
                key = (hour, tenant, MESSAGES)
                tenant_deltas[key] = tenant_deltas.get(key, 0) + (1 if new else -1)
    if changed:
        session.connection().execute(_set_flags(), changed)
    _bump(session, deltas)
    _bump_tenants(session, tenant_deltas)


def _locked_recipients(
    session: Session, message_ids: Collection[int], ses_message_ids: Collection[str]
) -> list[Any]:
    query = select(
        RecipientRow.id,
        RecipientRow.message_id,
        RecipientRow.address,
        RecipientRow.status,
        RecipientRow.flags,
        MessageRow.ses_message_id,
        MessageRow.created_at,
        MessageRow.tenant,
    ).join(MessageRow, RecipientRow.message_id == MessageRow.id)
    if message_ids:
        query = query.where(RecipientRow.message_id.in_(sorted(message_ids)))
    else:
        query = query.where(MessageRow.ses_message_id.in_(sorted(ses_message_ids)))
    # Locked in id order: two transactions never wait for each other's rows crosswise.
    query = query.order_by(RecipientRow.id).with_for_update(of=RecipientRow)
    return list(session.execute(query).all())


def _event_flags(session: Session, ses_message_ids: Collection[str]) -> dict[tuple[str, str], Flag]:
    if not ses_message_ids:
        return {}
    rows = session.execute(
        select(
            FeedbackEventRow.ses_message_id,
            FeedbackEventRow.recipient,
            FeedbackEventRow.kind,
            FeedbackEventRow.subtype,
            FeedbackEventRow.action,
        ).where(
            FeedbackEventRow.ses_message_id.in_(sorted(ses_message_ids)),
            FeedbackEventRow.recipient.is_not(None),
        )
    ).all()
    flags: dict[tuple[str, str], Flag] = {}
    for ses_id, recipient, kind, subtype, action in rows:
        key = (str(ses_id), str(recipient))
        flags[key] = flags.get(key, Flag(0)) | event_flags(kind, subtype, action)
    return flags


@functools.cache
def _set_flags() -> Any:
    return (
        update(RecipientRow)
        .where(RecipientRow.id == bindparam("b_id"))
        .values(flags=bindparam("b_flags"))
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


def _bump(session: Session, deltas: Mapping[tuple[int, int], int]) -> None:
    """Add the deltas to the rollup rows: one upsert for the batch, rows in key order so
    that concurrent transactions lock them in the same order."""
    rows = [
        {"hour": hour, "flags": flags, "recipients": delta}
        for (hour, flags), delta in sorted(deltas.items())
        if delta
    ]
    if not rows:
        return
    statement = _bump_statement(session.get_bind().dialect.name)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        session.execute(statement, rows[start : start + _ROWS_PER_STATEMENT])


@functools.cache
def _bump_tenant_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    table = TenantRecipientHourRow.__table__
    statement = module.insert(table)
    return statement.on_conflict_do_update(
        index_elements=["tenant", "hour", "flags"],
        set_={"recipients": table.c.recipients + statement.excluded.recipients},
    )


def _bump_tenants(session: Session, deltas: Mapping[tuple[int, str, int], int]) -> None:
    """:func:`_bump` for the tenants' rows."""
    rows = [
        {"hour": hour, "tenant": tenant, "flags": flags, "recipients": delta}
        for (hour, tenant, flags), delta in sorted(deltas.items())
        if delta
    ]
    if not rows:
        return
    statement = _bump_tenant_statement(session.get_bind().dialect.name)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        session.execute(statement, rows[start : start + _ROWS_PER_STATEMENT])


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
