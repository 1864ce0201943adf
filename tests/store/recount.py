"""The full recount: the queries ``courrier stats`` ran before the rollups, kept as the
oracle the rollups are checked against (a correlated EXISTS per figure and recipient).

Every figure is a number of recipients (SES counts recipients, not messages, docs/ses.md#limits)
except ``messages``. A recipient belongs to the day (UTC) and the window of the message it was
sent in; its feedback counts there, whenever it arrived. Which recipients SES leaves out of
its rates is decided by :class:`Counting` (see :mod:`courrier.reputation.stats` for why).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import aliased

from courrier.store.stats import Counting, Counts
from courrier.store.store import Store
from courrier.store.tables import FeedbackEventRow, MessageRow, RecipientRow

__all__ = ["counts", "counts_by_day", "window_start"]

SIMULATOR_DOMAIN = "simulator.amazonses.com"
ACCOUNT_LIST = "OnAccountSuppressionList"


def _has(
    kind: str,
    *,
    subtype: str | None = None,
    subtype_like: str | None = None,
    action: str | None = None,
) -> ColumnElement[bool]:
    """The recipient has a feedback event of ``kind`` for the message it was sent in."""
    event = aliased(FeedbackEventRow)
    where = [
        event.ses_message_id == MessageRow.ses_message_id,
        event.recipient == RecipientRow.address,
        event.kind == kind,
    ]
    if subtype is not None:
        where.append(event.subtype == subtype)
    if subtype_like is not None:
        where.append(event.subtype.like(subtype_like))
    if action is not None:
        where.append(event.action == action)
    return exists().where(*where)


def _conditions(counting: Counting) -> dict[str, ColumnElement[bool]]:
    """Per recipient figure, the condition that makes a recipient count in it."""
    sent = and_(MessageRow.ses_message_id.is_not(None), RecipientRow.status != "suppressed")
    simulator = RecipientRow.address.endswith(f"@{SIMULATOR_DOMAIN}", autoescape=True)
    account_listed = or_(
        _has("Bounce", subtype=f"Permanent/{ACCOUNT_LIST}"),
        _has("Complaint", subtype=ACCOUNT_LIST),
    )
    rejected = _has("Reject")
    not_rendered = _has("Rendering Failure")
    hard = _has("Bounce", subtype_like="Permanent/%")
    complained = _has("Complaint")
    excluded = [account_listed, rejected, not_rendered]
    if not counting.count_simulator:
        excluded.append(simulator)
    counted = and_(sent, not_(or_(*excluded)))
    no_feedback = [
        RecipientRow.address.endswith(f"@{domain}", autoescape=True)
        for domain in counting.no_complaint_feedback_domains
    ]
    complaint_base = and_(counted, not_(or_(*no_feedback))) if no_feedback else counted
    return {
        "recipients": sent,
        "delivered": and_(sent, _has("Delivery")),
        "hard_bounces": and_(sent, hard),
        "soft_bounces": and_(sent, _has("Bounce", action="count_soft_bounce")),
        "auto_replies": and_(sent, _has("Bounce", action="record")),
        "complaints": and_(sent, complained),
        "rejects": and_(sent, rejected),
        "rendering_failures": and_(sent, not_rendered),
        "suppressed_at_send": RecipientRow.status == "suppressed",
        "account_suppressed": and_(sent, account_listed),
        "simulator": and_(sent, simulator),
        "counted_recipients": counted,
        "counted_hard_bounces": and_(counted, hard),
        "complaint_recipients": complaint_base,
        "counted_complaints": and_(complaint_base, complained),
    }


def _columns(counting: Counting) -> list[Any]:
    conditions = _conditions(counting)
    sent = conditions["recipients"]
    return [
        func.count(func.distinct(case((sent, MessageRow.id)))).label("messages"),
        *[
            func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(name)
            for name, condition in conditions.items()
        ],
    ]


def _day(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", MessageRow.created_at), "YYYY-MM-DD")
    # SQLite keeps the UTC timestamp as text: its first ten characters are the day.
    return func.substr(MessageRow.created_at, 1, 10)


def _period(since: dt.datetime, until: dt.datetime | None) -> list[ColumnElement[bool]]:
    where = [MessageRow.created_at >= since]
    if until is not None:
        where.append(MessageRow.created_at < until)
    return where


def counts(
    store: Store, counting: Counting, *, since: dt.datetime, until: dt.datetime | None = None
) -> Counts:
    """The figures of every message created from ``since`` (until ``until``)."""
    query = (
        select(*_columns(counting))
        .select_from(RecipientRow)
        .join(MessageRow, RecipientRow.message_id == MessageRow.id)
        .where(*_period(since, until))
    )
    with store.transaction() as session:
        row = session.execute(query).one()
    return Counts(**{name: int(value) for name, value in row._mapping.items()})


def counts_by_day(
    store: Store, counting: Counting, *, since: dt.datetime, until: dt.datetime | None = None
) -> dict[str, Counts]:
    """The same figures per UTC day (``YYYY-MM-DD``), days without messages left out."""
    day = _day(store.dialect).label("day")
    query = (
        select(day, *_columns(counting))
        .select_from(RecipientRow)
        .join(MessageRow, RecipientRow.message_id == MessageRow.id)
        .where(*_period(since, until))
        .group_by(day)
        .order_by(day)
    )
    with store.transaction() as session:
        rows = session.execute(query).all()
    return {
        str(row.day): Counts(
            **{name: int(value) for name, value in row._mapping.items() if name != "day"}
        )
        for row in rows
    }


def window_start(
    store: Store, counting: Counting, *, volume: int, oldest: dt.datetime
) -> dt.datetime:
    """When the window of the latest ``volume`` counted recipients opens, never before ``oldest``:
    SES judges a representative volume, not a fixed time span (docs/ses.md#reputation)."""
    condition = _conditions(counting)["counted_recipients"]
    query = (
        select(MessageRow.created_at)
        .select_from(RecipientRow)
        .join(MessageRow, RecipientRow.message_id == MessageRow.id)
        .where(MessageRow.created_at >= oldest, condition)
        .order_by(MessageRow.created_at.desc())
        .offset(max(volume - 1, 0))
        .limit(1)
    )
    with store.transaction() as session:
        found = session.scalar(query)
    if found is None:
        return oldest
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)
