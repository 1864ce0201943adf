"""The send-rate bucket every process shares: one row per SES region, updated atomically.

Each call is one short transaction that holds the row: ``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` (the file's write lock) on SQLite. Nobody sleeps inside it:
a caller told to wait commits, sleeps, and asks again.

Time is the store's clock (PostgreSQL's ``clock_timestamp()``; a SQLite file lives on one
machine, whose clock every process using it shares), read once the row is held, so machines
whose clocks disagree still refill the bucket alike and in order.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from courrier.store.feedback import _insert
from courrier.store.store import Store
from courrier.store.tables import SendRateRow

__all__ = ["Bucket", "Grant", "SendRate", "read", "refill", "set_rate", "take"]


@dataclass(frozen=True)
class Bucket:
    """What the row holds; ``tokens`` below zero is a debt left by a large message."""

    tokens: float
    refilled_at: float


@dataclass(frozen=True)
class Grant:
    """The answer to one :func:`take`.

    ``admitted``: the recipients may be sent now. Otherwise ``wait`` seconds should pass
    before asking again. ``recheck``: this caller was picked to re-read the rate from SES
    (the row now says it was checked, so the others do not all ask at once). ``missing``:
    there is no row yet; :func:`set_rate` creates it.
    """

    admitted: bool
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


def admit(bucket: Bucket, recipients: int, *, rate: float, capacity: float) -> tuple[Bucket, float]:
    """``(bucket after, 0.0)`` when ``recipients`` may go now, else ``(bucket, wait)``.

    A message with more recipients than the bucket holds goes once it is full, leaving a
    debt that the next senders wait out: it is never refused for its size, and the long-run
    rate stays ``rate``.
    """
    need = min(float(recipients), capacity)
    # A float hair under the need (refills are sums of products) is not a reason to wait.
    if bucket.tokens >= need - 1e-9:
        return Bucket(bucket.tokens - recipients, bucket.refilled_at), 0.0
    return bucket, (need - bucket.tokens) / rate


def take(
    store: Store,
    name: str,
    recipients: int,
    *,
    burst: float,
    headroom: float = 1.0,
    recheck_after: float | None = None,
    now: float | None = None,
) -> Grant:
    """Take ``recipients`` tokens from the bucket ``name`` if it holds them.

    The bucket refills at ``headroom`` times the row's max send rate and holds ``burst``
    seconds of it (at least one recipient). ``recheck_after``: seconds after which one
    caller is told to re-read the rate (None: never). ``now`` replaces the store's clock.
    """
    with store.transaction() as session:
        row = session.scalar(select(SendRateRow).where(SendRateRow.name == name).with_for_update())
        if row is None:
            return Grant(admitted=False, missing=True)
        moment = _now(session) if now is None else now
        rate = row.max_send_rate * headroom
        capacity = max(1.0, burst * row.max_send_rate)
        bucket = refill(Bucket(row.tokens, row.refilled_at), moment, rate=rate, capacity=capacity)
        after, wait = admit(bucket, recipients, rate=rate, capacity=capacity)
        row.tokens, row.refilled_at = after.tokens, after.refilled_at
        if not wait:
            row.admitted = row.admitted + recipients
        recheck = recheck_after is not None and (
            row.rate_checked_at is None or moment - row.rate_checked_at >= recheck_after
        )
        if recheck:
            row.rate_checked_at = moment
        return Grant(admitted=not wait, wait=wait, rate=row.max_send_rate, recheck=recheck)


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
        row.max_send_rate = rate
        row.rate_source = source
        row.rate_checked_at = moment
        row.tokens = min(row.tokens, capacity)


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
