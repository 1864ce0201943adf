"""Counting queries behind ``courrier stats``, the guard and the dashboard.

Every figure is a number of recipients (SES counts recipients, not messages, docs/ses.md#limits)
except ``messages``. A recipient belongs to the day (UTC) and the window of the message it was
sent in; its feedback counts there, whenever it arrived. Which recipients SES leaves out of
its rates is decided by :func:`rate_bases` (see :mod:`courrier.reputation.stats` for why).

The figures are read from the rollups (:mod:`courrier.store.rollups`): a few hundred rows
per month whatever the store's size; only the partial hours at the ends of a period are
counted from the recipients' flags.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    extract,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from courrier.store.rollups import (
    ACCOUNT_LIST,
    MESSAGES,
    NO_COMPLAINT_FEEDBACK_DOMAINS,
    SIMULATOR_DOMAIN,
    Flag,
    hour_of,
    hours,
    tenant_hours,
)
from courrier.store.store import Store
from courrier.store.tables import MessageRow, RecipientRow

__all__ = [
    "ACCOUNT_LIST",
    "SIMULATOR_DOMAIN",
    "Base",
    "Counting",
    "Counts",
    "counts",
    "counts_by_day",
    "messages_by_status",
    "rate_bases",
    "window_start",
]


@dataclass(frozen=True)
class Counting:
    """Which recipients count toward the rates, as SES decides it (docs/ses.md#reputation,
    #account-level-suppression-list)."""

    count_simulator: bool = False
    no_complaint_feedback_domains: tuple[str, ...] = NO_COMPLAINT_FEEDBACK_DOMAINS


@dataclass(frozen=True)
class Counts:
    messages: int = 0
    recipients: int = 0
    delivered: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    auto_replies: int = 0
    complaints: int = 0
    rejects: int = 0
    rendering_failures: int = 0
    suppressed_at_send: int = 0
    account_suppressed: int = 0
    simulator: int = 0
    counted_recipients: int = 0
    counted_hard_bounces: int = 0
    complaint_recipients: int = 0
    counted_complaints: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def without(self, other: Counts) -> Counts:
        """These counts less ``other``'s (a part of them: one tenant's messages)."""
        return Counts(
            **{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class Base:
    """A rate's base as flags: the recipients with every ``required`` bit and no
    ``excluded`` bit."""

    required: int
    excluded: int

    def holds(self, flags: int) -> bool:
        return flags & self.required == self.required and not flags & self.excluded

    def condition(self, column: Any) -> ColumnElement[bool]:
        """The same test in SQL, on a flags column."""
        return and_(
            column.op("&")(self.required) == self.required, column.op("&")(self.excluded) == 0
        )


def rate_bases(counting: Counting) -> tuple[Base, Base]:
    """The recipients the bounce rate and the complaint rate are counted over: the one place
    that decides which recipients are in SES's base (docs/ses.md#reputation).

    Both leave out recipients SES never attempted (on the account-level list, rejected, or
    whose template data did not render) and, unless counted, simulator traffic; the complaint
    rate also leaves out the domains that send SES no complaint feedback.
    """
    excluded = Flag.ACCOUNT_LISTED | Flag.REJECTED | Flag.RENDERING_FAILURE
    if not counting.count_simulator:
        excluded |= Flag.SIMULATOR
    return (
        Base(int(Flag.SENT), int(excluded)),
        Base(int(Flag.SENT), int(excluded | Flag.NO_COMPLAINT_FEEDBACK)),
    )


#: Figures that count the sent recipients with one bit.
_BY_BIT = {
    "delivered": Flag.DELIVERED,
    "hard_bounces": Flag.HARD_BOUNCE,
    "soft_bounces": Flag.SOFT_BOUNCE,
    "auto_replies": Flag.AUTO_REPLY,
    "complaints": Flag.COMPLAINED,
    "rejects": Flag.REJECTED,
    "rendering_failures": Flag.RENDERING_FAILURE,
    "account_suppressed": Flag.ACCOUNT_LISTED,
    "simulator": Flag.SIMULATOR,
}


def _figures(by_flags: Mapping[int, int], counting: Counting) -> Counts:
    counted, complaint = rate_bases(counting)
    total = dict.fromkeys((f.name for f in fields(Counts)), 0)
    total["messages"] = by_flags.get(MESSAGES, 0)
    for flags, n in by_flags.items():
        if flags == MESSAGES:
            continue
        if flags & Flag.SUPPRESSED_AT_SEND:
            total["suppressed_at_send"] += n
        if not flags & Flag.SENT:
            continue
        total["recipients"] += n
        for name, bit in _BY_BIT.items():
            if flags & bit:
                total[name] += n
        if counted.holds(flags):
            total["counted_recipients"] += n
            if flags & Flag.HARD_BOUNCE:
                total["counted_hard_bounces"] += n
        if complaint.holds(flags):
            total["complaint_recipients"] += n
            if flags & Flag.COMPLAINED:
                total["counted_complaints"] += n
    return Counts(**total)


def _hour_column(dialect: str) -> Any:
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", MessageRow.created_at) / 3600), Integer)
    # SQLite keeps the UTC timestamp as text, which strftime reads.
    return cast(func.strftime("%s", MessageRow.created_at), Integer) / 3600


def _flags_column(counting: Counting) -> Any:
    """The stored flags, with NO_COMPLAINT_FEEDBACK recomputed for a list of domains other
    than the one the rollups were counted with."""
    if counting.no_complaint_feedback_domains == NO_COMPLAINT_FEEDBACK_DOMAINS:
        return RecipientRow.flags
    in_list = or_(
        false(),
        *[
            RecipientRow.address.endswith(f"@{domain}", autoescape=True)
            for domain in counting.no_complaint_feedback_domains
        ],
    )
    kept = RecipientRow.flags.op("&")(~int(Flag.NO_COMPLAINT_FEEDBACK) & 0x7FFFFFFF)
    return kept.op("|")(case((in_list, int(Flag.NO_COMPLAINT_FEEDBACK)), else_=0))


def _from_rows(
    session: Session,
    counting: Counting,
    since: dt.datetime,
    until: dt.datetime | None,
    tenant: str | None = None,
) -> dict[int, Counter[int]]:
    """Per hour and flags, counted from the recipients created in [since, until) (of the
    messages sent for ``tenant`` only, when given)."""
    hour = _hour_column(session.get_bind().dialect.name).label("hour")
    flags = _flags_column(counting).label("flags")
    period = [MessageRow.created_at >= since]
    if until is not None:
        period.append(MessageRow.created_at < until)
    if tenant is not None:
        period.append(MessageRow.tenant == tenant)
    joined = (
        select(hour, flags, func.count())
        .select_from(RecipientRow)
        .join(MessageRow, RecipientRow.message_id == MessageRow.id)
        .where(*period, RecipientRow.flags.is_not(None))
    )
    found: dict[int, Counter[int]] = defaultdict(Counter)
    for h, f, n in session.execute(joined.group_by(hour, flags)).all():
        found[int(h)][int(f)] += int(n)
    sent_messages = (
        select(hour, func.count(func.distinct(MessageRow.id)))
        .select_from(RecipientRow)
        .join(MessageRow, RecipientRow.message_id == MessageRow.id)
        .where(*period, RecipientRow.flags.op("&")(int(Flag.SENT)) != 0)
        .group_by(hour)
    )
    for h, n in session.execute(sent_messages).all():
        found[int(h)][MESSAGES] += int(n)
    return found


def _by_hour(
    session: Session,
    counting: Counting,
    since: dt.datetime,
    until: dt.datetime | None,
    tenant: str | None = None,
) -> dict[int, Counter[int]]:
    """Per hour and flags: whole hours from the rollups (the tenant's own, for a tenant),
    the partial hours at either end (and everything, for a domain list the rollups were not
    counted with) from the rows."""
    if counting.no_complaint_feedback_domains != NO_COMPLAINT_FEEDBACK_DOMAINS:
        return _from_rows(session, counting, since, until, tenant)
    first = -(-int(since.timestamp()) // 3600)  # the first whole hour
    last = hour_of(until) if until is not None else None
    if last is not None and last <= first:
        return _from_rows(session, counting, since, until, tenant)
    found = _from_rows(session, counting, since, _at(first), tenant)
    rolled = (
        hours(session, first, last)
        if tenant is None
        else tenant_hours(session, tenant, first, last)
    )
    for h, f, n in rolled:
        found.setdefault(h, Counter())[f] += n
    if last is not None and until is not None:
        for h, by_flags in _from_rows(session, counting, _at(last), until, tenant).items():
            found.setdefault(h, Counter()).update(by_flags)
    return found


def _at(hour: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(hour * 3600, dt.UTC)


def counts(
    store: Store,
    counting: Counting,
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    tenant: str | None = None,
) -> Counts:
    """The figures of every message created from ``since`` (until ``until``); of the
    messages sent for ``tenant`` only, when given."""
    with store.transaction(read_only=True) as session:
        found = _by_hour(session, counting, since, until, tenant)
    total: Counter[int] = Counter()
    for by_flags in found.values():
        total.update(by_flags)
    return _figures(total, counting)


def counts_by_day(
    store: Store,
    counting: Counting,
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    tenant: str | None = None,
) -> dict[str, Counts]:
    """The same figures per UTC day (``YYYY-MM-DD``), days without messages left out."""
    with store.transaction(read_only=True) as session:
        found = _by_hour(session, counting, since, until, tenant)
    days: dict[str, Counter[int]] = defaultdict(Counter)
    for h, by_flags in found.items():
        days[_at(h).strftime("%Y-%m-%d")].update(by_flags)
    figures = {day: _figures(by_flags, counting) for day, by_flags in sorted(days.items())}
    return {day: f for day, f in figures.items() if f.recipients or f.suppressed_at_send}


def window_start(
    store: Store,
    counting: Counting,
    *,
    volume: int,
    oldest: dt.datetime,
    tenant: str | None = None,
) -> dt.datetime:
    """When the window of the latest ``volume`` counted recipients opens, never before
    ``oldest``: SES judges a representative volume, not a fixed time span (docs/ses.md#reputation).

    The hours are summed from the newest back in the rollups; only the hour where the
    volume is reached is read row by row, for the exact time.
    """
    counted, _ = rate_bases(counting)
    first = -(-int(oldest.timestamp()) // 3600)
    with store.transaction(read_only=True) as session:
        per_hour: Counter[int] = Counter()
        rolled = hours(session, first) if tenant is None else tenant_hours(session, tenant, first)
        for h, f, n in rolled:
            if f != MESSAGES and counted.holds(f):
                per_hour[h] += n
        seen = 0
        for h in sorted(per_hour, reverse=True):
            if seen + per_hour[h] >= volume:
                latest = _nth_latest(session, counted, volume - seen, _at(h), _at(h + 1), tenant)
                return latest or oldest
            seen += per_hour[h]
        return _nth_latest(session, counted, volume - seen, oldest, _at(first), tenant) or oldest


def _nth_latest(
    session: Session,
    counted: Base,
    n: int,
    since: dt.datetime,
    until: dt.datetime,
    tenant: str | None = None,
) -> dt.datetime | None:
    """When the ``n``-th latest counted recipient created in [since, until) was."""
    conditions = [
        MessageRow.created_at >= since,
        MessageRow.created_at < until,
        counted.condition(RecipientRow.flags),
    ]
    if tenant is not None:
        conditions.append(MessageRow.tenant == tenant)
    query = (
        select(MessageRow.created_at)
        .select_from(RecipientRow)
        .join(MessageRow, RecipientRow.message_id == MessageRow.id)
        .where(*conditions)
        .order_by(MessageRow.created_at.desc())
        .offset(max(n - 1, 0))
        .limit(1)
    )
    found = session.scalar(query)
    if found is None:
        return None
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


def messages_by_status(store: Store) -> dict[str, int]:
    """How many messages the store holds in each status (sent, suppressed, failed, ...)."""
    with store.transaction() as session:
        rows = session.execute(
            select(MessageRow.status, func.count()).group_by(MessageRow.status)
        ).all()
    return {str(status): int(count) for status, count in rows}
