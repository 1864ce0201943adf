"""The queries that apply feedback, on a session the caller's transaction owns.

Each works on a whole batch: one statement per table per batch (a multi-row INSERT, or one
prepared statement run for every row), not one round trip per event.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import FromClause, and_, bindparam, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from courrier.statuses import Action, RecipientStatus, SuppressionReason
from courrier.store.tables import (
    FeedbackEventRow,
    MessageRow,
    RecipientRow,
    SnsReceiptRow,
    SuppressionRow,
    TenantSuppressionRow,
    utcnow,
)

#: The ``source`` of the suppressions that applying feedback makes.
FEEDBACK_SOURCE = "feedback"

#: Rows per INSERT: under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
_ROWS_PER_STATEMENT = 1000


@functools.cache
def _insert_statement(dialect: str, table: FromClause, returning: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT ... ON CONFLICT.
    return module.insert(table).on_conflict_do_nothing().returning(table.c[returning])


def _insert_new(
    session: Session, table: FromClause, returning: str, rows: Sequence[Mapping[str, object]]
) -> set[Any]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING ``returning``: the values that were new.

    Given several rows, SQLAlchemy sends them as multi-row INSERTs ("insertmanyvalues");
    the statement is built once per dialect and table.
    """
    if not rows:
        return set()
    statement = _insert_statement(session.get_bind().dialect.name, table, returning)
    new: set[Any] = set()
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = list(rows[start : start + _ROWS_PER_STATEMENT])
        new.update(session.scalars(statement, chunk).all())
    return new


def _insert(session: Session, table: FromClause, values: dict[str, object]) -> bool:
    """One row, INSERT ... ON CONFLICT DO NOTHING; True when it was new."""
    key = next(iter(table.primary_key)).name
    statement = _insert_statement(session.get_bind().dialect.name, table, key)
    return session.execute(statement, values).first() is not None


def claim_sns_messages(session: Session, sns_message_ids: Iterable[str]) -> set[str]:
    """Record the SNS MessageIds; returns those not applied before."""
    now = utcnow()
    rows = [{"sns_message_id": i, "received_at": now} for i in dict.fromkeys(sns_message_ids)]
    return _insert_new(session, SnsReceiptRow.__table__, "sns_message_id", rows)


def add_events(session: Session, rows: Sequence[Mapping[str, object]]) -> set[str]:
    """Insert feedback events; returns the ``event_key`` of those that were new."""
    now = utcnow()
    return _insert_new(
        session,
        FeedbackEventRow.__table__,
        "event_key",
        [{"received_at": now, **row} for row in rows],
    )


def delivered_pairs(session: Session, ses_message_ids: Collection[str]) -> set[tuple[str, str]]:
    """(SES message id, recipient) of the stored deliveries of these messages."""
    if not ses_message_ids:
        return set()
    rows = session.execute(
        select(FeedbackEventRow.ses_message_id, FeedbackEventRow.recipient).where(
            FeedbackEventRow.kind == "Delivery",
            FeedbackEventRow.ses_message_id.in_(sorted(ses_message_ids)),
        )
    ).all()
    return {(ses_id, recipient) for ses_id, recipient in rows if recipient}


def record_auto_replies(
    session: Session, deliveries: Collection[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Transient/General bounces already counted for these (SES message id, recipient)
    deliveries become recorded auto-replies: the delivery arrived after its auto-reply.
    Returns the pairs whose bounces changed."""
    if not deliveries:
        return set()
    counted = session.execute(
        select(FeedbackEventRow.id, FeedbackEventRow.ses_message_id, FeedbackEventRow.recipient)
        .where(
            FeedbackEventRow.kind == "Bounce",
            FeedbackEventRow.subtype == literal("Transient/General"),
            FeedbackEventRow.action == literal(str(Action.COUNT_SOFT_BOUNCE)),
            FeedbackEventRow.ses_message_id.in_(sorted({ses_id for ses_id, _ in deliveries})),
        )
        .order_by(FeedbackEventRow.id)
    ).all()
    replies = [
        (row_id, (ses_id, to))
        for row_id, ses_id, to in counted
        if to is not None and (ses_id, to) in deliveries
    ]
    if not replies:
        return set()
    session.execute(
        update(FeedbackEventRow)
        .where(FeedbackEventRow.id.in_([row_id for row_id, _ in replies]))
        .values(action=str(Action.RECORD))
        .execution_options(synchronize_session=False)
    )
    return {pair for _, pair in replies}


def lift_soft_bounce_suppressions(
    session: Session, recipients: Collection[str], *, limit: int, window: dt.timedelta
) -> list[str]:
    """Remove the soft-bounce suppressions of these recipients that their counted soft
    bounces no longer justify: fewer than ``limit`` in the ``window`` before the entry was
    last made, once some of those bounces turned out to be auto-replies. Returns the
    addresses lifted."""
    by_address = {recipient.lower(): recipient for recipient in recipients}
    if not by_address:
        return []
    entries = session.execute(
        select(SuppressionRow.address, SuppressionRow.last_seen).where(
            SuppressionRow.address.in_(sorted(by_address)),
            SuppressionRow.reason == literal(str(SuppressionReason.SOFT_BOUNCE)),
            SuppressionRow.source == literal(FEEDBACK_SOURCE),
        )
    ).all()
    lifted = [
        address
        for address, last_seen in entries
        if _counted_soft_bounces(session, by_address[address], last_seen - window, last_seen)
        < limit
    ]
    if lifted:
        session.execute(
            delete(SuppressionRow)
            .where(
                SuppressionRow.address.in_(lifted),
                SuppressionRow.reason == literal(str(SuppressionReason.SOFT_BOUNCE)),
                SuppressionRow.source == literal(FEEDBACK_SOURCE),
            )
            .execution_options(synchronize_session=False)
        )
    return lifted


def _counted_soft_bounces(
    session: Session, recipient: str, since: dt.datetime, until: dt.datetime
) -> int:
    found = session.execute(
        select(func.count()).where(
            FeedbackEventRow.recipient == recipient,
            FeedbackEventRow.action == literal(str(Action.COUNT_SOFT_BOUNCE)),
            FeedbackEventRow.received_at >= since,
            FeedbackEventRow.received_at <= until,
        )
    ).scalar()
    return int(found or 0)


def soft_bounces_since(
    session: Session, recipients: Collection[str], since: dt.datetime
) -> dict[str, int]:
    """Counted soft bounces per recipient received since ``since``."""
    if not recipients:
        return {}
    rows = session.execute(
        select(FeedbackEventRow.recipient, func.count())
        .where(
            FeedbackEventRow.recipient.in_(sorted(recipients)),
            FeedbackEventRow.action == Action.COUNT_SOFT_BOUNCE,
            FeedbackEventRow.received_at >= since,
        )
        .group_by(FeedbackEventRow.recipient)
    ).all()
    return {recipient: int(count) for recipient, count in rows if recipient}


@functools.cache
def _raise_statement(status: RecipientStatus, one_recipient: bool) -> Any:
    # Fixed parameters, not an expanding IN list: the statement runs for many rows.
    weaker = [literal(str(s)) for s in RecipientStatus if s.rank < status.rank]
    message_ids = select(MessageRow.id).where(MessageRow.ses_message_id == bindparam("b_ses_id"))
    statement = (
        update(RecipientRow)
        .where(RecipientRow.message_id.in_(message_ids), RecipientRow.status.in_(weaker))
        .values(status=literal(str(status)), updated_at=bindparam("b_now"))
    )
    if one_recipient:
        statement = statement.where(RecipientRow.address == bindparam("b_address"))
    return statement


def raise_recipient_statuses(
    session: Session, raises: Mapping[tuple[str, str | None], RecipientStatus]
) -> None:
    """Move recipients up to a status (never down), keyed by (SES message id, recipient);
    a None recipient means every recipient of that message.

    One statement per target status, run for every key that goes to it.
    """
    now = utcnow()
    by_status: dict[tuple[RecipientStatus, bool], list[dict[str, object]]] = {}
    for (ses_message_id, recipient), status in raises.items():
        params: dict[str, object] = {"b_ses_id": ses_message_id, "b_now": now}
        if recipient:
            params["b_address"] = recipient
        by_status.setdefault((status, bool(recipient)), []).append(params)
    for (status, one_recipient), params_list in by_status.items():
        session.connection().execute(_raise_statement(status, one_recipient), params_list)


@functools.cache
def _suppress_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    table = SuppressionRow.__table__
    statement = module.insert(table)
    new = statement.excluded
    soft = literal(str(SuppressionReason.SOFT_BOUNCE))
    # Soft bounces never replace an entry of another reason or source (a complaint, a hard
    # bounce, a person's): that entry must outlive them, and only soft-bounce entries made
    # by feedback are ever lifted (lift_soft_bounce_suppressions).
    keep = and_(
        new.reason == soft,
        or_(table.c.reason != soft, table.c.source != literal(FEEDBACK_SOURCE)),
    )
    changes = {c: case((keep, table.c[c]), else_=new[c]) for c in _KEPT_COLUMNS}
    # An upsert: two workers suppressing the same address at once cannot collide.
    return statement.on_conflict_do_update(
        index_elements=["address"], set_={**changes, "last_seen": new.last_seen}
    )


_KEPT_COLUMNS = ("reason", "source", "detail", "expires_at")


@functools.cache
def _suppress_tenant_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(TenantSuppressionRow.__table__)
    changes = ("reason", "source", "detail", "last_seen", "expires_at")
    return statement.on_conflict_do_update(
        index_elements=["tenant", "address"], set_={c: statement.excluded[c] for c in changes}
    )


def suppress_for_tenants(session: Session, entries: Sequence[Mapping[str, object]]) -> None:
    """:func:`suppress_many` for entries that also name their ``tenant``: each address is
    suppressed for that tenant only."""
    if not entries:
        return
    now = utcnow()
    latest = {(str(e["tenant"]), str(e["address"]).lower()): e for e in entries}
    rows = [
        {**entry, "tenant": tenant, "address": address, "first_seen": now, "last_seen": now}
        for (tenant, address), entry in latest.items()
    ]
    statement = _suppress_tenant_statement(session.get_bind().dialect.name)
    session.connection().execute(statement, rows)


def suppress_many(session: Session, entries: Sequence[Mapping[str, object]]) -> None:
    """Add or refresh suppression entries with one upsert statement run for every entry:
    ``first_seen`` is kept, the rest updated. Each entry has address, reason, source,
    detail and expires_at; an address given twice keeps its last entry, as applying them
    one after the other would."""
    if not entries:
        return
    now = utcnow()
    latest = {str(e["address"]).lower(): e for e in entries}
    rows = [
        {**entry, "address": address, "first_seen": now, "last_seen": now}
        for address, entry in latest.items()
    ]
    statement = _suppress_statement(session.get_bind().dialect.name)
    session.connection().execute(statement, rows)
