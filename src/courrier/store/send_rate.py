"""The send-rate bucket every process shares: one row per SES region, updated atomically.

Each call is one short transaction that holds the row: ``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` (the file's write lock) on SQLite. Nobody sleeps inside it:
a caller told to wait has its tokens already (the bucket owes them); it commits, sleeps,
and sends.

Time is the store's clock (PostgreSQL's ``clock_timestamp()``; a SQLite file lives on one
machine, whose clock every process using it shares), read once the row is held, so machines
whose clocks disagree still refill the bucket alike and in order.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from courrier.store.feedback import _insert
from courrier.store.store import Store
from courrier.store.tables import SendRateRow, table_of

__all__ = [
    "Bucket",
    "Grant",
    "SendRate",
    "TokenRequest",
    "admit",
    "read",
    "refill",
    "set_rate",
    "take",
    "take_in",
    "take_in_store",
]


@dataclass(frozen=True)
class Bucket:
    """What the row holds; ``tokens`` below zero is a debt left by a large message."""

    tokens: float
    refilled_at: float


@dataclass(frozen=True)
class Grant:
    """The answer to one :func:`take`.

    The recipients were taken: they may be sent once ``wait`` seconds have passed.
    ``recheck``: this caller was picked to re-read the rate from SES (the row now says it
    was checked, so the others do not all ask at once). ``missing``: there is no row yet,
    nothing was taken; :func:`set_rate` creates it.
    """

    wait: float = 0.0
    rate: float = 0.0
    recheck: bool = False
    missing: bool = False


@dataclass(frozen=True)
class SendRate:
    name: str
    tokens: float
    refilled_at: float
    max_send_rate: float
    rate_source: str
    rate_checked_at: float | None
    admitted: int


def refill(bucket: Bucket, now: float, *, rate: float, capacity: float) -> Bucket:
    """The bucket at ``now``: ``rate`` tokens a second, never more than ``capacity``.

    A clock that reads earlier than the last refill (another machine's, or a fake one) adds
    nothing and does not move the bucket back in time.
    """
    elapsed = max(0.0, now - bucket.refilled_at)
    return Bucket(min(capacity, bucket.tokens + elapsed * rate), max(bucket.refilled_at, now))


def admit(
    bucket: Bucket, recipients: int, *, now: float, rate: float, capacity: float
) -> tuple[Bucket, float]:
    """Take ``recipients`` tokens: the bucket after, and the seconds until they may be sent.

    A refilled ``bucket`` that holds too few gives them all the same, as a debt, and the
    caller waits until it would have held them: senders go in the order they asked, a large
    message is never overtaken for good by a stream of small ones, and a waiting sender needs
    no second transaction. A message with more recipients than the bucket holds waits for a
    full bucket (it is never refused for its size); the rest is a debt the next senders wait
    out, so the long-run rate stays ``rate``.
    """
    need = min(float(recipients), capacity)
    missing = need - bucket.tokens
    # A float hair under the need (refills are sums of products) is not a reason to wait.
    wait = 0.0 if missing <= 1e-9 else bucket.refilled_at - now + missing / rate
    return Bucket(bucket.tokens - recipients, bucket.refilled_at), max(0.0, wait)


@dataclass(frozen=True)
class TokenRequest:
    """How to take tokens from the bucket ``name`` (see :func:`take`), without the count:
    a send's intent takes them in its own transaction once it knows who is not suppressed."""

    name: str
    burst: float
    headroom: float = 1.0
    recheck_after: float | None = None
    fixed_rate: float | None = None
    now: float | None = None


def take(
    store: Store,
    name: str,
    recipients: int,
    *,
    burst: float,
    headroom: float = 1.0,
    recheck_after: float | None = None,
    fixed_rate: float | None = None,
    now: float | None = None,
) -> Grant:
    """Take ``recipients`` tokens from the bucket ``name`` (see :func:`admit`).

    The bucket refills at ``headroom`` times the row's max send rate and holds ``burst``
    seconds of it (at least one recipient). ``recheck_after``: seconds after which one
    caller is told to re-read the rate (None: never). ``fixed_rate``: the rate to use, from
    a setting, written into the row when it says otherwise. ``now`` replaces the store's
    clock.
    """
    request = TokenRequest(name, burst, headroom, recheck_after, fixed_rate, now)
    return take_in_store(store, request, recipients)


def take_in_store(store: Store, request: TokenRequest, recipients: int) -> Grant:
    """:func:`take` for a :class:`TokenRequest`, in a transaction of its own."""
    with store.transaction() as session:
        return take_in(session, request, recipients)


_RATES = table_of(SendRateRow)
# Built once (a send takes tokens every time): SQLAlchemy Core, from its compiled cache.
_HOLD = select(_RATES).where(_RATES.c.name == bindparam("bucket")).with_for_update()
#: PostgreSQL: the row and the store's clock in one round trip, the clock read once the row
#: is held (so the order of the clock is the order of the holders).
_HOLD_WITH_CLOCK = (
    select(_RATES, func.extract("epoch", func.clock_timestamp()).label("clock"))
    .where(_RATES.c.name == bindparam("bucket"))
    .with_for_update()
)
_SET = update(_RATES).where(_RATES.c.name == bindparam("bucket"))


def take_in(session: Session, request: TokenRequest, recipients: int) -> Grant:
    """:func:`take` inside the caller's transaction (a send's intent)."""
    connection = session.connection()
    row, moment = _hold(connection, request.name, request.now)
    if row is None:
        return Grant(missing=True)
    burst = request.burst
    rate_row: dict[str, Any] = {}
    max_rate = float(row.max_send_rate)
    if request.fixed_rate is not None and max_rate != request.fixed_rate:
        rate_row = _rate_changes(row.tokens, request.fixed_rate, "setting", moment, burst)
        max_rate = request.fixed_rate
    rate = max_rate * request.headroom
    capacity = max(1.0, burst * max_rate)
    tokens = rate_row.get("tokens", row.tokens)
    bucket = refill(Bucket(tokens, row.refilled_at), moment, rate=rate, capacity=capacity)
    after, wait = admit(bucket, recipients, now=moment, rate=rate, capacity=capacity)
    checked_at = rate_row.get("rate_checked_at", row.rate_checked_at)
    recheck = request.recheck_after is not None and (
        checked_at is None or moment - checked_at >= request.recheck_after
    )
    changes = {
        **rate_row,
        "tokens": after.tokens,
        "refilled_at": after.refilled_at,
        "admitted": row.admitted + recipients,
    }
    if recheck:
        changes["rate_checked_at"] = moment
    connection.execute(_SET, {"bucket": request.name, **changes})
    return Grant(wait=wait, rate=max_rate, recheck=recheck)


def _hold(connection: Connection, name: str, now: float | None) -> tuple[Any, float]:
    """The bucket's row, held until the transaction ends, and the time (``now``, else the
    store's clock)."""
    if connection.dialect.name == "postgresql":
        row = connection.execute(_HOLD_WITH_CLOCK, {"bucket": name}).first()
        clock = float(row.clock) if row is not None else 0.0
    else:
        row = connection.execute(_HOLD, {"bucket": name}).first()
        clock = time.time()
    return row, clock if now is None else now


def set_rate(
    store: Store, name: str, rate: float, *, source: str, burst: float, now: float | None = None
) -> None:
    """Record the max send rate; creates the row with a full bucket when there is none.

    Tokens already in the bucket are kept (capped to the new size): a lower rate takes
    effect on the next refill, not by cancelling what was admitted.
    """
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"max send rate must be a positive number, not {rate!r}")
    with store.transaction() as session:
        moment = _now(session) if now is None else now
        capacity = max(1.0, burst * rate)
        # Two processes starting at once both insert: one row wins, the other changes it.
        _insert(
            session,
            SendRateRow.__table__,
            {
                "name": name,
                "tokens": capacity,
                "refilled_at": moment,
                "max_send_rate": rate,
                "rate_source": source,
                "rate_checked_at": moment,
                "admitted": 0,
            },
        )
        row = session.scalar(select(SendRateRow).where(SendRateRow.name == name).with_for_update())
        assert row is not None
        _change_rate(row, rate, source, moment, burst)


def _change_rate(row: SendRateRow, rate: float, source: str, now: float, burst: float) -> None:
    for name, value in _rate_changes(row.tokens, rate, source, now, burst).items():
        setattr(row, name, value)


def _rate_changes(
    tokens: float, rate: float, source: str, now: float, burst: float
) -> dict[str, Any]:
    return {
        "max_send_rate": rate,
        "rate_source": source,
        "rate_checked_at": now,
        "tokens": min(tokens, max(1.0, burst * rate)),
    }


def read(store: Store, name: str) -> SendRate | None:
    with store.transaction(read_only=True) as session:
        row = session.get(SendRateRow, name)
        if row is None:
            return None
        return SendRate(
            row.name,
            row.tokens,
            row.refilled_at,
            row.max_send_rate,
            row.rate_source,
            row.rate_checked_at,
            row.admitted,
        )


def _now(session: Session) -> float:
    if session.get_bind().dialect.name == "postgresql":
        return float(session.scalar(text("SELECT extract(epoch FROM clock_timestamp())")))
    return time.time()
